//! Accounts, sessions, API tokens, CSRF protection and rate limits.

pub mod account;
pub(crate) mod config;
pub mod csrf;
pub mod invites;
mod password;
pub mod rate_limit;
pub(crate) mod routes;
pub(crate) mod secret;
pub mod service;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::Method;
use axum::http::request::Parts;

pub use service::{AuthMethod, Caller};

use crate::error::AppError;
use crate::state::AppState;

/// Handlers that take a `Caller` require a signed-in user (401 otherwise);
/// a read-only API token gets 403 on anything but a read.
impl FromRequestParts<AppState> for Caller {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if let Some(caller) = parts.extensions.get::<Caller>() {
            return Ok(caller.clone());
        }
        let caller = service::authenticate(state, &parts.headers)
            .await?
            .ok_or_else(AppError::unauthorized)?;
        tracing::Span::current().record("user_id", tracing::field::display(caller.id()));
        if !matches!(parts.method, Method::GET | Method::HEAD) {
            caller.require_write()?;
        }
        parts.extensions.insert(caller.clone());
        Ok(caller)
    }
}

/// The client's IP: the socket peer, or the first `X-Forwarded-For` hop when
/// minicode is configured to trust its proxy.
pub fn client_ip(parts: &Parts, trust_proxy: bool) -> IpAddr {
    if trust_proxy
        && let Some(ip) = parts
            .headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .and_then(|v| v.trim().parse().ok())
    {
        return ip;
    }
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
}

/// Extracts the client IP in handlers.
pub struct ClientIp(pub IpAddr);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(client_ip(parts, state.config.server.trust_proxy)))
    }
}
