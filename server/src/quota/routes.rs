//! `GET /api/usage`: the signed-in user's usage and limits.

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use minicode::Data;
use minicode::paths;
use minicode::usage::UsageReport;

use crate::auth::Caller;
use crate::error::AppResult;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route(paths::USAGE, get(usage))
}

async fn usage(
    State(state): State<AppState>,
    caller: Caller,
) -> AppResult<axum::Json<Data<UsageReport>>> {
    Ok(axum::Json(Data {
        data: super::usage_for(&state, caller.id()).await?,
    }))
}
