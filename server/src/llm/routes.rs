//! `GET /api/models`: the configured models, for the model picker.

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use minicode::Data;
use minicode::paths;

use super::models::ModelInfo;
use crate::auth::Caller;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route(paths::MODELS, get(models))
}

async fn models(
    State(state): State<AppState>,
    _caller: Caller,
) -> axum::Json<Data<Vec<ModelInfo>>> {
    axum::Json(Data {
        data: state.models.list(),
    })
}
