//! `/api/auth/*`: register, login, logout, the account (password, sign out
//! everywhere, delete) and personal API tokens.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use minicode::paths;
use minicode::{
    ApiToken, CreatedApiToken, Credentials, Data, NewApiToken, Page, PageQuery, PasswordChange,
    PasswordConfirmation, Registration, User,
};

use super::{Caller, ClientIp, account, service};
use crate::api::extract::{Json, Query, parse_id};
use crate::error::{AppError, AppResult};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(paths::AUTH_REGISTRATION, get(registration))
        .route(paths::AUTH_REGISTER, post(register))
        .route(paths::AUTH_LOGIN, post(login))
        .route(paths::AUTH_LOGOUT, post(logout))
        .route(paths::AUTH_LOGOUT_EVERYWHERE, post(logout_everywhere))
        .route(paths::AUTH_PASSWORD, post(change_password))
        .route(paths::AUTH_ME, get(me).delete(delete_account))
        .route(paths::AUTH_TOKENS, get(list_tokens).post(create_token))
        .route(paths::AUTH_TOKEN, delete(revoke_token))
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

/// Public: what the sign-up form should offer.
async fn registration(State(state): State<AppState>) -> AppResult<axum::Json<Data<Registration>>> {
    Ok(axum::Json(Data {
        data: service::registration(&state).await?,
    }))
}

async fn logout_everywhere(State(state): State<AppState>, caller: Caller) -> AppResult<Response> {
    let cleared = account::sign_out_everywhere(&state, &caller).await?;
    with_cookie(StatusCode::NO_CONTENT, &cleared, ())
}

/// 204; a browser gets a fresh session cookie, every other session ends.
async fn change_password(
    State(state): State<AppState>,
    caller: Caller,
    Json(input): Json<PasswordChange>,
) -> AppResult<Response> {
    match account::change_password(&state, &caller, input).await? {
        Some(cookie) => with_cookie(StatusCode::NO_CONTENT, &cookie, ()),
        None => Ok(StatusCode::NO_CONTENT.into_response()),
    }
}

async fn delete_account(
    State(state): State<AppState>,
    caller: Caller,
    Json(input): Json<PasswordConfirmation>,
) -> AppResult<Response> {
    let cleared = account::delete_own(&state, &caller, &input.password).await?;
    with_cookie(StatusCode::NO_CONTENT, &cleared, ())
}

async fn create_token(
    State(state): State<AppState>,
    caller: Caller,
    Json(input): Json<NewApiToken>,
) -> AppResult<(StatusCode, axum::Json<Data<CreatedApiToken>>)> {
    let created = service::create_token(&state, &caller, input).await?;
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
