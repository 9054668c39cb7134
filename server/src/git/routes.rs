//! `GET /api/projects/:id/history`: the project's commits, newest first.
//! `/api/git/credentials…`: the signed-in user's credentials for other
//! hosts (listed without their tokens). `/api/projects/:id/remote…`: the
//! project's remote, its state, and the push.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use minicode::paths;
use minicode::{
    Commit, Data, GitCredential, NewGitCredential, Page, PageQuery, PushBody, RemoteState,
    RemoteUrl,
};

use crate::api::extract::{Json, Query, parse_id};
use crate::auth::Caller;
use crate::db::page_bounds;
use crate::error::AppResult;
use crate::projects;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(paths::PROJECT_HISTORY, get(list))
        .route(
            paths::GIT_CREDENTIALS,
            get(list_credentials).post(save_credential),
        )
        .route(paths::GIT_CREDENTIAL, delete(delete_credential))
        .route(
            paths::PROJECT_REMOTE,
            get(remote_state).put(set_remote).delete(remove_remote),
        )
        .route(paths::PROJECT_REMOTE_PUSH, post(push))
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(page): Query<PageQuery>,
) -> AppResult<axum::Json<Page<Commit>>> {
    let project = parse_id(&id, "project")?;
    projects::owned(&state, &caller, project).await?;
    let (limit, offset) = page_bounds(page)?;
    let (data, total) = super::history(&state, project, limit, offset).await?;
    Ok(axum::Json(Page { data, total }))
}

async fn list_credentials(
    State(state): State<AppState>,
    caller: Caller,
) -> AppResult<axum::Json<Page<GitCredential>>> {
    let data = super::credentials::list(&state, caller.id()).await?;
    Ok(axum::Json(Page {
        total: data.len() as u64,
        data,
    }))
}

async fn save_credential(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<NewGitCredential>,
) -> AppResult<(StatusCode, axum::Json<Data<GitCredential>>)> {
    let data = super::credentials::save(&state, caller.id(), body).await?;
    Ok((StatusCode::CREATED, axum::Json(Data { data })))
}

async fn delete_credential(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> AppResult<StatusCode> {
    let id = parse_id(&id, "credential")?;
    super::credentials::delete(&state, caller.id(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn remote_state(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> AppResult<axum::Json<Data<RemoteState>>> {
    let project = parse_id(&id, "project")?;
    projects::owned(&state, &caller, project).await?;
    let data = super::push::status(&state, caller.id(), project).await?;
    Ok(axum::Json(Data { data }))
}

async fn set_remote(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(body): Json<RemoteUrl>,
) -> AppResult<axum::Json<Data<RemoteUrl>>> {
    let project = parse_id(&id, "project")?;
    projects::owned(&state, &caller, project).await?;
    let url = super::push::set_url(&state, project, &body.url).await?;
    Ok(axum::Json(Data {
        data: RemoteUrl { url },
    }))
}

async fn remove_remote(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> AppResult<StatusCode> {
    let project = parse_id(&id, "project")?;
    projects::owned(&state, &caller, project).await?;
    super::push::remove(&state, project).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn push(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(body): Json<PushBody>,
) -> AppResult<axum::Json<Data<RemoteState>>> {
    let project = parse_id(&id, "project")?;
    projects::owned(&state, &caller, project).await?;
    let data = super::push::push(&state, caller.id(), project, body.force).await?;
    Ok(axum::Json(Data { data }))
}
