//! Cross-site request forgery protection for cookie-authenticated writes.
//!
//! Browsers attach the session cookie to any request to our origin, including
//! ones a hostile page triggers. Every unsafe request (POST, PUT, PATCH, DELETE)
//! that is not authenticated by a bearer token must therefore prove it comes
//! from our own pages: `Sec-Fetch-Site: same-origin`, or an `Origin` (or, as a
//! fall-back, `Referer`) equal to our origin or a configured CORS origin. A
//! request with none of these headers is let through only if it carries no
//! session cookie (a non-browser client, which cannot be forged by a page).
//! SameSite=Lax on the cookie is a second layer, not the only one.

use axum::extract::{Request, State};
use axum::http::header::{HOST, ORIGIN, REFERER};
use axum::http::{HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use minicode::{ApiError, ErrorCode};

use super::service::{bearer_from_headers, session_from_headers};
use crate::config::origin_of;
use crate::error::AppError;
use crate::state::AppState;

pub async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if is_unsafe(request.method()) && !allowed(&state, request.headers()) {
        tracing::warn!(path = request.uri().path(), "cross-site write refused");
        return AppError::Api(ApiError::new(
            ErrorCode::CsrfRejected,
            "this request did not come from a minicode page; reload the page and try again",
        ))
        .into_response();
    }
    next.run(request).await
}

fn is_unsafe(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

fn allowed(state: &AppState, headers: &HeaderMap) -> bool {
    if bearer_from_headers(headers).is_some() {
        return true;
    }
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let claimed = header(ORIGIN.as_str())
        .filter(|o| *o != "null")
        .map(origin_of)
        .or_else(|| header(REFERER.as_str()).map(origin_of));
    match claimed {
        Some(origin) => is_trusted_origin(state, headers, &origin),
        None => match header("sec-fetch-site") {
            Some(site) => site == "same-origin" || site == "none",
            // No browser metadata at all: fine unless it rides on a session cookie.
            None => {
                session_from_headers(headers, state.config.cookies_secure()).is_none()
                    && header(ORIGIN.as_str()).is_none()
            }
        },
    }
}

/// Our own origin (the configured public URL, or the Host the request was sent
/// to) or one of the configured CORS origins.
pub fn is_trusted_origin(state: &AppState, headers: &HeaderMap, origin: &str) -> bool {
    // A preview runs generated code: never trusted, whatever else is set.
    if state.previews.hosts.is_preview_origin(origin) {
        return false;
    }
    if let Some(public) = state.config.public_origin() {
        if origin == public {
            return true;
        }
    } else if let Some(host) = headers.get(HOST).and_then(|v| v.to_str().ok()) {
        let host = host.to_ascii_lowercase();
        if origin == format!("http://{host}") || origin == format!("https://{host}") {
            return true;
        }
    }
    state
        .config
        .server
        .cors_origins
        .iter()
        .any(|allowed| origin_of(allowed) == origin)
}
