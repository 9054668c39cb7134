//! The project's sandbox over REST: its status, and a restart of its dev
//! server (progress arrives as events on the project's log).

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use minicode::Data;
use minicode::paths;
use tokio_util::sync::CancellationToken;

use crate::api::extract::parse_id;
use crate::auth::Caller;
use crate::error::{AppError, AppResult};
use crate::projects;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(paths::PROJECT_SANDBOX, get(sandbox))
        .route(paths::PROJECT_SANDBOX_RESTART, post(restart))
}

async fn sandbox(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> AppResult<axum::Json<Data<super::Status>>> {
    let project = projects::owned(&state, &caller, parse_id(&id, "project")?).await?;
    Ok(axum::Json(Data {
        data: state.sandboxes.status(project.id),
    }))
}

/// Restarts the dev server in the background; progress arrives as events.
async fn restart(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> AppResult<StatusCode> {
    let project = projects::owned(&state, &caller, parse_id(&id, "project")?).await?;
    if crate::files::list_latest(&state, project.id)
        .await?
        .iter()
        .all(|f| f.path != "package.json")
    {
        return Err(AppError::validation("the project has no app to run yet"));
    }
    crate::quota::make_room_for_preview(&state, project.id).await?;
    let sandboxes = state.sandboxes.clone();
    let state2 = state.clone();
    tokio::spawn(async move {
        if let Err(e) = crate::files::ensure_workspace(&state2, project.id).await {
            tracing::warn!(project_id = %project.id, error = %e, "could not restore the workspace");
            return;
        }
        if let Err(e) = sandboxes
            .restart(project.id, &CancellationToken::new())
            .await
        {
            tracing::info!(project_id = %project.id, error = %e, "restart failed");
        }
    });
    Ok(StatusCode::ACCEPTED)
}
