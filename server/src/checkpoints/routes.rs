//! `/api/projects/:id/checkpoints…`: list, one checkpoint's diff, restore.

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::{get, post};
use minicode::paths;
use minicode::{Checkpoint, CheckpointDiff, Restored};
use minicode::{Data, Page, PageQuery};
use uuid::Uuid;

use crate::api::extract::{Query, parse_id};
use crate::auth::Caller;
use crate::db::page_bounds;
use crate::error::AppResult;
use crate::projects;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(paths::PROJECT_CHECKPOINTS, get(list))
        .route(paths::PROJECT_CHECKPOINT, get(show))
        .route(paths::PROJECT_CHECKPOINT_RESTORE, post(restore))
}

async fn owned(state: &AppState, caller: &Caller, id: &str) -> AppResult<Uuid> {
    let project = parse_id(id, "project")?;
    projects::owned(state, caller, project).await?;
    Ok(project)
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(page): Query<PageQuery>,
) -> AppResult<axum::Json<Page<Checkpoint>>> {
    let project = owned(&state, &caller, &id).await?;
    let (limit, offset) = page_bounds(page)?;
    let (data, total) = super::list(&state, project, limit, offset).await?;
    Ok(axum::Json(Page { data, total }))
}

async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, cp)): Path<(String, String)>,
) -> AppResult<axum::Json<Data<CheckpointDiff>>> {
    let project = owned(&state, &caller, &id).await?;
    let cp = parse_id(&cp, "checkpoint")?;
    let (checkpoint, files) = super::diff(&state, project, cp).await?;
    Ok(axum::Json(Data {
        data: CheckpointDiff { checkpoint, files },
    }))
}

async fn restore(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, cp)): Path<(String, String)>,
) -> AppResult<axum::Json<Data<Restored>>> {
    let project = owned(&state, &caller, &id).await?;
    let cp = parse_id(&cp, "checkpoint")?;
    Ok(axum::Json(Data {
        data: super::restore(&state, project, cp, &caller.user.username).await?,
    }))
}
