//! `/api/projects`

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use minicode::paths;
use minicode::{Data, NewProject, Page, PageQuery, Project, ProjectPatch};

use crate::api::extract::{Json, Query, parse_id};
use crate::auth::Caller;
use crate::error::AppResult;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(paths::PROJECTS, get(list).post(create))
        .route(paths::PROJECT, get(show).patch(update).delete(remove))
        .route(paths::PROJECT_EXPORT, get(super::export::export))
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(page): Query<PageQuery>,
) -> AppResult<axum::Json<Page<Project>>> {
    Ok(axum::Json(super::list(&state, &caller, page).await?))
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Json(input): Json<NewProject>,
) -> AppResult<(StatusCode, axum::Json<Data<Project>>)> {
    let project = super::create(&state, &caller, input).await?;
    Ok((StatusCode::CREATED, axum::Json(Data { data: project })))
}

async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> AppResult<axum::Json<Data<Project>>> {
    let id = parse_id(&id, "project")?;
    Ok(axum::Json(Data {
        data: super::owned(&state, &caller, id).await?,
    }))
}

async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(patch): Json<ProjectPatch>,
) -> AppResult<axum::Json<Data<Project>>> {
    let id = parse_id(&id, "project")?;
    Ok(axum::Json(Data {
        data: super::update(&state, &caller, id, patch).await?,
    }))
}

async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> AppResult<StatusCode> {
    let id = parse_id(&id, "project")?;
    super::delete(&state, &caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
