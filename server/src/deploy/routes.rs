//! Publishing's REST routes (owner only): publish, list, roll back,
//! unpublish, visibility, and the way into a private site.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use minicode::{Data, Deployment, Publishing, Site, SitePatch, Visibility, paths};

use super::serve::{ENTER_PATH, ticket_for};
use crate::api::extract::{Json, parse_id};
use crate::auth::Caller;
use crate::error::{AppError, AppResult};
use crate::preview::ticket::Claims;
use crate::projects;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(paths::PROJECT_DEPLOYMENTS, get(list).post(publish))
        .route(paths::PROJECT_DEPLOYMENT_ACTIVATE, post(activate))
        .route(
            paths::PROJECT_SITE,
            axum::routing::patch(visibility).delete(unpublish),
        )
        .route(paths::PROJECT_SITE_OPEN, get(open))
}

fn host(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::HOST).and_then(|v| v.to_str().ok())
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> AppResult<axum::Json<Data<Publishing>>> {
    let project = projects::owned(&state, &caller, parse_id(&id, "project")?).await?;
    let data = super::publishing(&state, project.id, host(&headers)).await?;
    Ok(axum::Json(Data { data }))
}

/// Builds and publishes; answers when the build is over (201 either way:
/// a failed build is a deployment too, with its error and log).
async fn publish(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> AppResult<(StatusCode, axum::Json<Data<Deployment>>)> {
    let project = projects::owned(&state, &caller, parse_id(&id, "project")?).await?;
    let data = super::publish(&state, project.id, &project.name, host(&headers)).await?;
    Ok((StatusCode::CREATED, axum::Json(Data { data })))
}

async fn activate(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, deployment)): Path<(String, String)>,
    headers: HeaderMap,
) -> AppResult<axum::Json<Data<Publishing>>> {
    let project = projects::owned(&state, &caller, parse_id(&id, "project")?).await?;
    super::activate(&state, project.id, parse_id(&deployment, "deployment")?).await?;
    let data = super::publishing(&state, project.id, host(&headers)).await?;
    Ok(axum::Json(Data { data }))
}

async fn visibility(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    Json(body): Json<SitePatch>,
) -> AppResult<axum::Json<Data<Site>>> {
    let project = projects::owned(&state, &caller, parse_id(&id, "project")?).await?;
    super::set_visibility(&state, project.id, &project.name, body.visibility).await?;
    let site = super::site(&state, project.id, host(&headers))
        .await?
        .ok_or_else(|| AppError::not_found("site"))?;
    Ok(axum::Json(Data { data: site }))
}

async fn unpublish(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> AppResult<StatusCode> {
    let project = projects::owned(&state, &caller, parse_id(&id, "project")?).await?;
    super::unpublish(&state, project.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Goes to the site: straight there when anyone may open it, through a
/// one-minute ticket that the site host turns into its own cookie when it
/// is private.
async fn open(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> AppResult<Response> {
    let project = projects::owned(&state, &caller, parse_id(&id, "project")?).await?;
    let site = super::site(&state, project.id, host(&headers))
        .await?
        .filter(|s| s.live.is_some())
        .ok_or_else(|| AppError::not_found("published site"))?;
    let location = if site.visibility == Visibility::Private {
        let ticket = ticket_for(
            &state,
            Claims {
                project: project.id,
                user: caller.id(),
            },
        );
        format!("{}{ENTER_PATH}?ticket={ticket}", site.url)
    } else {
        format!("{}/", site.url)
    };
    let mut response = Redirect::to(&location).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // The ticket must not leak through a Referer.
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    Ok(response)
}
