//! The WebSocket opening handshake (RFC 6455 §4.2), as an axum extractor.
//!
//! Done here rather than by a WebSocket library so the upgraded connection
//! is ours: the live channel writes pre-framed, shared event bytes to it
//! (see `frame.rs` and `socket.rs`).

use axum::extract::FromRequestParts;
use axum::http::header::{
    CONNECTION, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_VERSION, UPGRADE,
};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use sha1::{Digest, Sha1};

use super::socket::Socket;

/// The GUID every server appends to the client's key (RFC 6455 §1.3).
const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Why a request is not a WebSocket handshake this server accepts.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    #[error("a WebSocket handshake is a GET request")]
    NotGet,
    #[error("the Connection header must include `upgrade`")]
    NoConnectionUpgrade,
    #[error("the Upgrade header must be `websocket`")]
    NotWebSocket,
    #[error("only WebSocket version 13 is supported")]
    Version,
    #[error("the Sec-WebSocket-Key header is missing")]
    NoKey,
    #[error("this connection cannot be upgraded (use HTTP/1.1)")]
    NotUpgradable,
}

impl IntoResponse for HandshakeError {
    fn into_response(self) -> Response {
        let status = match self {
            HandshakeError::NotGet => StatusCode::METHOD_NOT_ALLOWED,
            HandshakeError::Version | HandshakeError::NotUpgradable => StatusCode::UPGRADE_REQUIRED,
            _ => StatusCode::BAD_REQUEST,
        };
        let mut response = (status, self.to_string()).into_response();
        if matches!(self, HandshakeError::Version) {
            response
                .headers_mut()
                .insert(SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
        }
        response
    }
}

/// A valid handshake, ready to be answered with `101 Switching Protocols`.
pub struct Upgrade {
    accept: HeaderValue,
    on_upgrade: hyper::upgrade::OnUpgrade,
}

impl<S: Send + Sync> FromRequestParts<S> for Upgrade {
    type Rejection = HandshakeError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        if parts.method != Method::GET {
            return Err(HandshakeError::NotGet);
        }
        let headers = &parts.headers;
        if !has_token(headers, CONNECTION, "upgrade") {
            return Err(HandshakeError::NoConnectionUpgrade);
        }
        if !has_token(headers, UPGRADE, "websocket") {
            return Err(HandshakeError::NotWebSocket);
        }
        if headers.get(SEC_WEBSOCKET_VERSION).map(|v| v.as_bytes()) != Some(b"13") {
            return Err(HandshakeError::Version);
        }
        let key = headers
            .get(SEC_WEBSOCKET_KEY)
            .ok_or(HandshakeError::NoKey)?;
        let accept = accept_key(key.as_bytes());
        let on_upgrade = parts
            .extensions
            .remove::<hyper::upgrade::OnUpgrade>()
            .ok_or(HandshakeError::NotUpgradable)?;
        Ok(Upgrade { accept, on_upgrade })
    }
}

impl Upgrade {
    /// The `101 Switching Protocols` answer, and the connection it leads to
    /// (for a task of its own to await once the answer is sent).
    pub fn accept(self) -> (Response, Pending) {
        let mut response = StatusCode::SWITCHING_PROTOCOLS.into_response();
        let headers = response.headers_mut();
        headers.insert(CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
        headers.insert(SEC_WEBSOCKET_ACCEPT, self.accept);
        (response, Pending(self.on_upgrade))
    }
}

/// A connection whose handshake was answered.
pub struct Pending(hyper::upgrade::OnUpgrade);

impl Pending {
    /// The connection, once the client has the answer; `None` if it went
    /// away first.
    pub async fn socket(self) -> Option<Socket> {
        match self.0.await {
            Ok(upgraded) => Some(Socket::new(upgraded)),
            Err(e) => {
                tracing::debug!(error = %e, "a WebSocket upgrade did not complete");
                None
            }
        }
    }
}

/// Whether a comma-separated header lists `token` (case-insensitive).
fn has_token(headers: &HeaderMap, name: axum::http::HeaderName, token: &str) -> bool {
    headers.get_all(name).iter().any(|value| {
        value
            .to_str()
            .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    })
}

/// `Sec-WebSocket-Accept` for a client's key.
fn accept_key(key: &[u8]) -> HeaderValue {
    let mut sha1 = Sha1::new();
    sha1.update(key);
    sha1.update(GUID.as_bytes());
    let encoded = base64::engine::general_purpose::STANDARD.encode(sha1.finalize());
    HeaderValue::from_str(&encoded).expect("base64 is a valid header value")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of RFC 6455 §1.3.
    #[test]
    fn the_accept_key_is_the_rfc_example() {
        assert_eq!(
            accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn connection_tokens_are_matched_in_lists_and_any_case() {
        let mut headers = HeaderMap::new();
        headers.insert(CONNECTION, HeaderValue::from_static("keep-alive, Upgrade"));
        assert!(has_token(&headers, CONNECTION, "upgrade"));
        headers.insert(CONNECTION, HeaderValue::from_static("keep-alive, upgraded"));
        assert!(!has_token(&headers, CONNECTION, "upgrade"));
    }
}
