//! REST mirrors of the WebSocket's agent messages: start a generation, stop
//! the project's work, read its state.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use minicode::paths;
use minicode::protocol::RunSnapshot;
use minicode::{Data, GenerateBody, RunStarted};
use serde::Serialize;

use crate::api::extract::{Json, parse_id};
use crate::auth::Caller;
use crate::error::AppResult;
use crate::projects;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(paths::PROJECT_GENERATE, post(generate))
        .route(paths::PROJECT_STOP, post(stop))
        .route(paths::PROJECT_STATE, get(state))
}

async fn generate(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(body): Json<GenerateBody>,
) -> AppResult<(StatusCode, axum::Json<Data<RunStarted>>)> {
    let project = projects::owned(&state, &caller, parse_id(&id, "project")?).await?;
    let run_id = super::generate(&state, &project, body.description, body.images).await?;
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(Data {
            data: RunStarted { run_id },
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
    let cancelled = state.agents.cancel(project.id).await;
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
        data: super::snapshot(&state, project.id).await?,
    }))
}
