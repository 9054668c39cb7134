//! `/api/admin/*`: users, their usage and limits, invitations and server
//! settings. Admins only (403 for everyone else).

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, patch, post, put};
use minicode::paths;
use minicode::usage::{QuotaLimits, QuotaOverrides, UserUsage};
use minicode::{
    AdminUser, AdminUserPatch, CreatedInvite, Data, Invite, NewInvite, Page, PageQuery,
    PasswordReset, ServerSettings,
};

use crate::api::extract::{Json, Query, parse_id};
use crate::auth::{Caller, invites};
use crate::error::AppResult;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(paths::ADMIN_SETTINGS, get(settings))
        .route(paths::ADMIN_USERS, get(list_users))
        .route(paths::ADMIN_USER, patch(update_user).delete(delete_user))
        .route(paths::ADMIN_USER_PASSWORD, post(reset_password))
        .route(paths::ADMIN_USER_QUOTA, put(set_quota))
        .route(paths::ADMIN_USAGE, get(usage))
        .route(paths::ADMIN_INVITES, get(list_invites).post(create_invite))
        .route(paths::ADMIN_INVITE, delete(revoke_invite))
}

async fn settings(
    State(state): State<AppState>,
    caller: Caller,
) -> AppResult<axum::Json<Data<ServerSettings>>> {
    caller.require_admin()?;
    Ok(axum::Json(Data {
        data: super::settings(&state).await?,
    }))
}

async fn list_users(
    State(state): State<AppState>,
    caller: Caller,
    Query(page): Query<PageQuery>,
) -> AppResult<axum::Json<Page<AdminUser>>> {
    caller.require_admin()?;
    Ok(axum::Json(super::users(&state, page).await?))
}

async fn update_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(patch): Json<AdminUserPatch>,
) -> AppResult<axum::Json<Data<AdminUser>>> {
    caller.require_admin()?;
    let id = parse_id(&id, "user")?;
    Ok(axum::Json(Data {
        data: super::update_user(&state, &caller, id, patch).await?,
    }))
}

async fn delete_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> AppResult<StatusCode> {
    caller.require_admin()?;
    let id = parse_id(&id, "user")?;
    super::delete_user(&state, &caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn reset_password(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> AppResult<axum::Json<Data<PasswordReset>>> {
    caller.require_admin()?;
    let id = parse_id(&id, "user")?;
    let password = super::reset_password(&state, &caller, id).await?;
    Ok(axum::Json(Data {
        data: PasswordReset { password },
    }))
}

/// Every user's usage today and this month, with their limits and overrides.
async fn usage(
    State(state): State<AppState>,
    caller: Caller,
) -> AppResult<axum::Json<Data<Vec<UserUsage>>>> {
    caller.require_admin()?;
    Ok(axum::Json(Data {
        data: crate::quota::usage_by_user(&state).await?,
    }))
}

/// Replaces a user's quota overrides; answers the limits now in force.
async fn set_quota(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(overrides): Json<QuotaOverrides>,
) -> AppResult<axum::Json<Data<QuotaLimits>>> {
    caller.require_admin()?;
    let id = parse_id(&id, "user")?;
    Ok(axum::Json(Data {
        data: crate::quota::set_limits(&state, id, overrides).await?,
    }))
}

async fn list_invites(
    State(state): State<AppState>,
    caller: Caller,
    Query(page): Query<PageQuery>,
) -> AppResult<axum::Json<Page<Invite>>> {
    caller.require_admin()?;
    Ok(axum::Json(invites::list(&state, page).await?))
}

async fn create_invite(
    State(state): State<AppState>,
    caller: Caller,
    Json(input): Json<NewInvite>,
) -> AppResult<(StatusCode, axum::Json<Data<CreatedInvite>>)> {
    caller.require_admin()?;
    let created = invites::create(&state, caller.id(), input).await?;
    Ok((StatusCode::CREATED, axum::Json(Data { data: created })))
}

async fn revoke_invite(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> AppResult<StatusCode> {
    caller.require_admin()?;
    let id = parse_id(&id, "invitation")?;
    invites::revoke(&state, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
