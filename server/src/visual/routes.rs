//! `POST /api/projects/:id/visual-edit`: a change made on an element picked
//! in the preview, written back into its source (see the module above).

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::post;
use minicode::{Data, VisualEdit, paths};

use crate::api::extract::{Json, parse_id};
use crate::auth::Caller;
use crate::error::AppResult;
use crate::projects;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route(paths::PROJECT_VISUAL_EDIT, post(visual_edit))
}

/// The file's new version number; the change itself arrives as `file_end`.
async fn visual_edit(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(body): Json<VisualEdit>,
) -> AppResult<axum::Json<Data<serde_json::Value>>> {
    let project = parse_id(&id, "project")?;
    projects::owned(&state, &caller, project).await?;
    let saved = super::apply(&state, project, &body, &caller.user.username).await?;
    Ok(axum::Json(Data {
        data: serde_json::json!({ "path": saved.path.to_string(), "version": saved.version }),
    }))
}
