//! `/api/auth/*`: register, login, logout, me and personal API tokens.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use minicode::{ApiToken, CreatedApiToken, Credentials, Data, NewApiToken, Page, PageQuery, User};

use super::{Caller, ClientIp, service};
use crate::api::extract::{Json, Query, parse_id};
use crate::error::{AppError, AppResult};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/auth/register", post(register))
        .route("/api/auth/login", post(login))
        .route("/api/auth/logout", post(logout))
        .route("/api/auth/me", get(me))
        .route("/api/auth/tokens", get(list_tokens).post(create_token))
        .route("/api/auth/tokens/{id}", delete(revoke_token))
}

fn with_cookie(
    status: StatusCode,
    set_cookie: &str,
    body: impl IntoResponse,
) -> AppResult<Response> {
    let cookie =
        HeaderValue::from_str(set_cookie).map_err(|e| AppError::internal(e.to_string()))?;
    let mut response = (status, body).into_response();
    response.headers_mut().append(SET_COOKIE, cookie);
    Ok(response)
}

async fn register(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Json(input): Json<Credentials>,
) -> AppResult<Response> {
    let session = service::register(&state, ip, input).await?;
    with_cookie(
        StatusCode::CREATED,
        &session.set_cookie,
        axum::Json(Data { data: session.user }),
    )
}

async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Json(input): Json<Credentials>,
) -> AppResult<Response> {
    let session = service::login(&state, ip, &headers, input).await?;
    with_cookie(
        StatusCode::OK,
        &session.set_cookie,
        axum::Json(Data { data: session.user }),
    )
}

async fn logout(State(state): State<AppState>, headers: HeaderMap) -> AppResult<Response> {
    let cleared = service::logout(&state, &headers).await?;
    with_cookie(StatusCode::NO_CONTENT, &cleared, ())
}

async fn me(caller: Caller) -> axum::Json<Data<User>> {
    axum::Json(Data { data: caller.user })
}

async fn create_token(
    State(state): State<AppState>,
    caller: Caller,
    Json(input): Json<NewApiToken>,
) -> AppResult<(StatusCode, axum::Json<Data<CreatedApiToken>>)> {
    let created = service::create_token(&state, &caller, &input.name).await?;
    Ok((StatusCode::CREATED, axum::Json(Data { data: created })))
}

async fn list_tokens(
    State(state): State<AppState>,
    caller: Caller,
    Query(page): Query<PageQuery>,
) -> AppResult<axum::Json<Page<ApiToken>>> {
    Ok(axum::Json(
        service::list_tokens(&state, &caller, page).await?,
    ))
}

async fn revoke_token(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> AppResult<StatusCode> {
    let id = parse_id(&id, "token")?;
    service::revoke_token(&state, &caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
