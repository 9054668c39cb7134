//! REST mirrors of the WebSocket's agent messages, the sandbox controls, the
//! model list, and the project export.

use std::io::Write;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use minicode::protocol::RunSnapshot;
use minicode::{Data, GenerateBody};
use serde::Serialize;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::api::extract::{Json, parse_id};
use crate::auth::Caller;
use crate::error::{AppError, AppResult};
use crate::llm::models::ModelInfo;
use crate::projects;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/models", get(models))
        .route("/api/projects/{id}/generate", post(generate))
        .route("/api/projects/{id}/stop", post(stop))
        .route("/api/projects/{id}/state", get(state))
        .route("/api/projects/{id}/sandbox", get(sandbox))
        .route("/api/projects/{id}/sandbox/restart", post(restart))
        .route("/api/projects/{id}/export.zip", get(export))
}

async fn models(
    State(state): State<AppState>,
    _caller: Caller,
) -> axum::Json<Data<Vec<ModelInfo>>> {
    axum::Json(Data {
        data: state.models.list(),
    })
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Started {
    run_id: Uuid,
}

async fn generate(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(body): Json<GenerateBody>,
) -> AppResult<(StatusCode, axum::Json<Data<Started>>)> {
    let project = projects::owned(&state, &caller, parse_id(&id, "project")?).await?;
    let run_id = state
        .agents
        .generate(&state, &project, body.description)
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(Data {
            data: Started { run_id },
        }),
    ))
}

#[derive(Serialize)]
struct Stopped {
    cancelled: bool,
}

async fn stop(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> AppResult<axum::Json<Data<Stopped>>> {
    let project = projects::owned(&state, &caller, parse_id(&id, "project")?).await?;
    let cancelled = state.agents.cancel(&state, project.id).await;
    Ok(axum::Json(Data {
        data: Stopped { cancelled },
    }))
}

async fn state(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> AppResult<axum::Json<Data<RunSnapshot>>> {
    let project = projects::owned(&state, &caller, parse_id(&id, "project")?).await?;
    Ok(axum::Json(Data {
        data: state.agents.snapshot(&state, project.id).await?,
    }))
}

async fn sandbox(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> AppResult<axum::Json<Data<crate::sandbox::Status>>> {
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
        if !state2.workspaces.has_entry(project.id, "package.json") {
            let _ = crate::files::restore_workspace(&state2, project.id).await;
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

/// The project's files as a zip (newest version of each; no installed packages).
async fn export(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let project = projects::owned(&state, &caller, parse_id(&id, "project")?).await?;
    let files = crate::files::snapshot(&state, project.id).await?;
    let folder = slug(&project.name);
    let bytes = tokio::task::spawn_blocking(move || -> Result<Vec<u8>, zip::result::ZipError> {
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for (path, _, content) in files {
            zip.start_file(format!("{folder}/{path}"), options)?;
            zip.write_all(&content)?;
        }
        Ok(zip.finish()?.into_inner())
    })
    .await
    .map_err(|e| AppError::internal(e.to_string()))?
    .map_err(|e| AppError::internal(format!("zip: {e}")))?;
    let disposition = format!("attachment; filename=\"{}.zip\"", slug(&project.name));
    Ok((
        [
            (header::CONTENT_TYPE, "application/zip".to_string()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        bytes,
    )
        .into_response())
}

/// A file-name-safe version of a project name.
fn slug(name: &str) -> String {
    let slug: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect::<String>()
        .split('-')
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("-");
    if slug.is_empty() {
        "project".into()
    } else {
        slug
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn slugs() {
        assert_eq!(super::slug("Recipe Box!"), "recipe-box");
        assert_eq!(super::slug("???"), "project");
    }
}
