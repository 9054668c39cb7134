//! `GET /api/projects/:id/history`: the project's commits, newest first.

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::get;
use minicode::paths;
use minicode::{Commit, Page, PageQuery};

use crate::api::extract::{Query, parse_id};
use crate::auth::Caller;
use crate::db::page_bounds;
use crate::error::AppResult;
use crate::projects;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route(paths::PROJECT_HISTORY, get(list))
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
