//! What an admin does for the server: see its users and disable, promote or
//! delete them, hand out invitations, read how the server is run.
//! Every function here expects a caller already checked to be an admin
//! (the routes do it with [`Caller::require_admin`]).

pub(crate) mod routes;

use minicode::{AdminUser, AdminUserPatch, ApiError, ErrorCode, Page, PageQuery, ServerSettings};
use sqlx::Row;
use uuid::Uuid;

use crate::auth::{Caller, account};
use crate::db::{self, rfc3339};
use crate::error::{AppError, AppResult};
use crate::state::AppState;

const USER_COLUMNS: &str = "u.id, u.username, u.created_at, u.is_admin, u.disabled_at, \
     (SELECT COUNT(*) FROM projects p WHERE p.user_id = u.id) AS projects";

fn user_from_row(row: &sqlx::any::AnyRow) -> AppResult<AdminUser> {
    Ok(AdminUser {
        id: db::uuid(row.try_get::<String, _>("id")?.as_str()),
        username: row.try_get("username")?,
        created_at: rfc3339(row.try_get("created_at")?),
        is_admin: row.try_get::<i64, _>("is_admin")? != 0,
        disabled_at: row.try_get::<Option<i64>, _>("disabled_at")?.map(rfc3339),
        projects: row.try_get::<i64, _>("projects")?.max(0) as u64,
    })
}

/// Every user, oldest first.
pub async fn users(state: &AppState, page: PageQuery) -> AppResult<Page<AdminUser>> {
    let (limit, offset) = crate::db::page_bounds(page)?;
    let rows = sqlx::query(&format!(
        "SELECT {USER_COLUMNS} FROM users u ORDER BY u.created_at, u.id LIMIT $1 OFFSET $2"
    ))
    .bind(limit)
    .bind(offset)
    .fetch_all(state.db.pool())
    .await?;
    let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
        .fetch_one(state.db.pool())
        .await?;
    Ok(Page {
        data: rows.iter().map(user_from_row).collect::<AppResult<_>>()?,
        total: total.max(0) as u64,
    })
}

async fn user(state: &AppState, id: Uuid) -> AppResult<AdminUser> {
    let row = sqlx::query(&format!(
        "SELECT {USER_COLUMNS} FROM users u WHERE u.id = $1"
    ))
    .bind(id.to_string())
    .fetch_optional(state.db.pool())
    .await?
    .ok_or_else(|| AppError::not_found("user"))?;
    user_from_row(&row)
}

/// An admin acting on their own account through the admin page could lock
/// everyone out; they use their account page instead.
fn not_self(admin: &Caller, id: Uuid, what: &str) -> AppResult<()> {
    if admin.id() == id {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            format!("you cannot {what} your own account here"),
        )
        .into());
    }
    Ok(())
}

/// Disables or enables a user, makes them an admin or not.
#[tracing::instrument(name = "admin.update_user", skip_all, fields(admin_id = %admin.id(), target_user = %id))]
pub async fn update_user(
    state: &AppState,
    admin: &Caller,
    id: Uuid,
    patch: AdminUserPatch,
) -> AppResult<AdminUser> {
    let current = user(state, id).await?;
    if let Some(disabled) = patch.disabled
        && disabled != current.disabled_at.is_some()
    {
        not_self(admin, id, "disable")?;
        if disabled {
            account::disable(state, id).await?;
        } else {
            account::enable(state, id).await?;
        }
    }
    if let Some(is_admin) = patch.is_admin
        && is_admin != current.is_admin
    {
        not_self(admin, id, "change the admin role of")?;
        sqlx::query("UPDATE users SET is_admin = $1 WHERE id = $2")
            .bind(i64::from(is_admin))
            .bind(id.to_string())
            .execute(state.db.writer())
            .await?;
        tracing::info!(is_admin, "admin role changed");
    }
    user(state, id).await
}

/// A new random password for a user who lost theirs; their sessions end.
#[tracing::instrument(name = "admin.reset_password", skip_all, fields(admin_id = %admin.id(), target_user = %id))]
pub async fn reset_password(state: &AppState, admin: &Caller, id: Uuid) -> AppResult<String> {
    not_self(admin, id, "reset the password of")?;
    account::reset_password(state, id).await
}

/// Deletes a user and all their data.
#[tracing::instrument(name = "admin.delete_user", skip_all, fields(admin_id = %admin.id(), target_user = %id))]
pub async fn delete_user(state: &AppState, admin: &Caller, id: Uuid) -> AppResult<()> {
    not_self(admin, id, "delete")?;
    account::delete_user(state, id).await
}

/// How the server is run, for the admin page.
pub async fn settings(state: &AppState) -> AppResult<ServerSettings> {
    let users: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
        .fetch_one(state.db.pool())
        .await?;
    Ok(ServerSettings {
        registration: crate::auth::invites::effective_mode(state),
        sandbox: state.config.sandbox.kind.as_str().to_string(),
        users: users.max(0) as u64,
        quota_defaults: state.config.quota.defaults(),
    })
}
