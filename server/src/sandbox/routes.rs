//! The project's sandbox over REST: its status, a restart of its dev
//! server (progress arrives as events on the project's log), and the type
//! declarations of its installed dependencies for the editor.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
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
        .route(paths::PROJECT_TYPES, get(types))
}

/// The `.d.ts` files of the installed dependencies, so the editor's type
/// checker knows `react` and friends. Large (hundreds of KB) but
/// compressed, and revalidated with an ETag naming the installed modules,
/// so a page reload costs a `304`.
async fn types(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> AppResult<Response> {
    let project = projects::owned(&state, &caller, parse_id(&id, "project")?).await?;
    let types = state
        .sandboxes
        .types(project.id)
        .await
        .map_err(|e| AppError::internal(e.to_string()))?;
    let etag = types.tag.as_ref().map(|tag| format!("\"{tag}\""));
    let cache = [(header::CACHE_CONTROL, "private, no-cache")];
    if let Some(etag) = &etag
        && headers
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').any(|t| t.trim() == etag))
    {
        return Ok((
            StatusCode::NOT_MODIFIED,
            cache,
            [(header::ETAG, etag.clone())],
        )
            .into_response());
    }
    let mut response = (cache, axum::Json(Data { data: types })).into_response();
    if let Some(etag) = etag
        && let Ok(value) = etag.parse()
    {
        response.headers_mut().insert(header::ETAG, value);
    }
    Ok(response)
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
