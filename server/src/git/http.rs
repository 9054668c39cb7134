//! `git clone https://…/git/<project id>.git` over smart HTTP, read-only.
//!
//! The two requests of a fetch are answered by `git upload-pack
//! --stateless-rpc` on the project's repository (the advertisement with
//! `--advertise-refs`), protocol v2 included (`Git-Protocol` is passed on as
//! `GIT_PROTOCOL`). The caller signs in with HTTP Basic: any username, a
//! personal API token as the password (a read-only one is enough); only the
//! owner's token reaches a project, anyone else gets 404. Pushing is refused
//! (403) with a sentence git shows. The `Authorization` header is never
//! logged, and git's own errors are logged, not returned.

use std::process::Stdio;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use base64::Engine;
use futures::StreamExt;
use minicode::{ErrorCode, paths};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower_http::decompression::RequestDecompressionLayer;
use uuid::Uuid;

use crate::error::AppError;
use crate::state::AppState;

/// The largest negotiation accepted (after gzip): a clone's is a few
/// hundred bytes per branch; a fetch adds 50 bytes per commit it has.
const MAX_REQUEST_BYTES: usize = 16 * 1024 * 1024;

/// How long the advertisement may take.
const ADVERTISE_TIMEOUT: Duration = Duration::from_secs(60);

pub fn router() -> Router<AppState> {
    Router::new()
        .route(paths::GIT_INFO_REFS, get(info_refs))
        .route(
            paths::GIT_UPLOAD_PACK,
            // git gzips large negotiations (`Content-Encoding: gzip`).
            post(upload_pack).layer(RequestDecompressionLayer::new()),
        )
        .route(paths::GIT_RECEIVE_PACK, any(receive_pack))
}

/// What a git client is told when a request is refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum GitHttpError {
    #[error("no or invalid credentials")]
    Unauthorized,
    #[error("no such repository")]
    NotFound,
    #[error("push refused")]
    PushRefused,
    #[error("not a smart HTTP request")]
    DumbHttp,
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Internal(String),
}

impl From<AppError> for GitHttpError {
    fn from(e: AppError) -> Self {
        match e {
            AppError::Api(api) if api.code == ErrorCode::NotFound => GitHttpError::NotFound,
            other => GitHttpError::Internal(other.to_string()),
        }
    }
}

impl From<super::GitError> for GitHttpError {
    fn from(e: super::GitError) -> Self {
        GitHttpError::Internal(e.to_string())
    }
}

impl IntoResponse for GitHttpError {
    fn into_response(self) -> Response {
        let (status, text) = match &self {
            GitHttpError::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                "Sign in with any username and a minicode API token as the password (create one on your account page).",
            ),
            GitHttpError::NotFound => (StatusCode::NOT_FOUND, "Repository not found."),
            GitHttpError::PushRefused => (
                StatusCode::FORBIDDEN,
                "This repository is read-only: minicode does not take pushes yet. Change the files in minicode.",
            ),
            GitHttpError::DumbHttp => (
                StatusCode::FORBIDDEN,
                "minicode serves git over smart HTTP only.",
            ),
            GitHttpError::BadRequest(why) => (StatusCode::BAD_REQUEST, why.as_str()),
            GitHttpError::Internal(why) => {
                tracing::error!(error = %why, "git request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "minicode could not read this repository.",
                )
            }
        };
        let mut response = (
            status,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("{text}\n"),
        )
            .into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"minicode\""),
            );
        }
        no_cache(response.headers_mut());
        response
    }
}

/// Answers about repositories must never be cached by a proxy.
fn no_cache(headers: &mut HeaderMap) {
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, max-age=0, must-revalidate"),
    );
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::EXPIRES,
        HeaderValue::from_static("Fri, 01 Jan 1980 00:00:00 GMT"),
    );
}

/// The password of an `Authorization: Basic …` header.
fn basic_password(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (_, password) = text.split_once(':')?;
    Some(password.to_string())
}

/// The project behind `<id>.git`, if the token's owner owns it.
async fn authorize(
    state: &AppState,
    headers: &HeaderMap,
    repo: &str,
) -> Result<Uuid, GitHttpError> {
    let token = basic_password(headers).ok_or(GitHttpError::Unauthorized)?;
    let (user, _scope) = crate::auth::service::user_for_token(state, &token)
        .await?
        .ok_or(GitHttpError::Unauthorized)?;
    tracing::Span::current().record("user_id", tracing::field::display(user.id));
    let project = repo
        .strip_suffix(".git")
        .and_then(|id| Uuid::parse_str(id).ok())
        .ok_or(GitHttpError::NotFound)?;
    crate::projects::owned_by(state, user.id, project).await?;
    Ok(project)
}

/// The client's `Git-Protocol` header (`version=2`), if it is made of the
/// characters such a value has: it goes into git's environment.
fn git_protocol(headers: &HeaderMap) -> Option<String> {
    let value = headers.get("git-protocol")?.to_str().ok()?;
    let fine = value.len() <= 256
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"=:._-".contains(&b));
    fine.then(|| value.to_string())
}

fn pkt_line(text: &str) -> Vec<u8> {
    let mut out = format!("{:04x}", text.len() + 4).into_bytes();
    out.extend_from_slice(text.as_bytes());
    out
}

/// `GET /git/<id>.git/info/refs?service=git-upload-pack`: the refs and
/// capabilities, with the service announcement before them (protocol v0/v1).
async fn info_refs(
    State(state): State<AppState>,
    Path(repo): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, GitHttpError> {
    let service = query
        .as_deref()
        .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("service=")));
    match service {
        Some("git-upload-pack") => {}
        Some("git-receive-pack") => return Err(GitHttpError::PushRefused),
        _ => return Err(GitHttpError::DumbHttp),
    }
    let project = authorize(&state, &headers, &repo).await?;
    super::ensure_started(&state, project).await?;
    let protocol = git_protocol(&headers);
    let mut cmd = state.git.command(None);
    cmd.args(["upload-pack", "--stateless-rpc", "--advertise-refs"])
        .arg(state.git.path(project));
    if let Some(protocol) = &protocol {
        cmd.env("GIT_PROTOCOL", protocol);
    }
    let output = tokio::time::timeout(ADVERTISE_TIMEOUT, cmd.output())
        .await
        .map_err(|_| GitHttpError::Internal("upload-pack did not advertise in time".into()))?
        .map_err(|e| GitHttpError::Internal(format!("could not run git: {e}")))?;
    if !output.status.success() {
        return Err(GitHttpError::Internal(format!(
            "upload-pack --advertise-refs: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    let mut body = Vec::with_capacity(output.stdout.len() + 40);
    // Protocol v2 starts with its capabilities; v0/v1 with this (as
    // git-http-backend does).
    if !protocol.as_deref().is_some_and(|p| p.contains("version=2")) {
        body.extend(pkt_line("# service=git-upload-pack\n"));
        body.extend_from_slice(b"0000");
    }
    body.extend(output.stdout);
    let mut response = (
        [(
            header::CONTENT_TYPE,
            "application/x-git-upload-pack-advertisement",
        )],
        body,
    )
        .into_response();
    no_cache(response.headers_mut());
    Ok(response)
}

/// `POST /git/<id>.git/git-upload-pack`: the negotiation in, the pack out,
/// streamed from `git upload-pack` as it writes it.
async fn upload_pack(
    State(state): State<AppState>,
    Path(repo): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, GitHttpError> {
    let project = authorize(&state, &headers, &repo).await?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if content_type != "application/x-git-upload-pack-request" {
        return Err(GitHttpError::BadRequest(
            "expected an application/x-git-upload-pack-request body".into(),
        ));
    }
    let request = axum::body::to_bytes(body, MAX_REQUEST_BYTES)
        .await
        .map_err(|_| {
            GitHttpError::BadRequest("the request was too large or could not be read".into())
        })?;
    super::ensure_started(&state, project).await?;
    let mut cmd = state.git.command(None);
    cmd.args(["upload-pack", "--stateless-rpc"])
        .arg(state.git.path(project))
        .stdin(Stdio::piped());
    if let Some(protocol) = git_protocol(&headers) {
        cmd.env("GIT_PROTOCOL", protocol);
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| GitHttpError::Internal(format!("could not run git: {e}")))?;
    let (Some(mut stdin), Some(stdout), Some(mut stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        return Err(GitHttpError::Internal("git's pipes are missing".into()));
    };
    tokio::spawn(async move {
        // git stops reading once it has what it needs; that is no error.
        let _ = stdin.write_all(&request).await;
    });
    tokio::spawn(async move {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text).await;
        if !text.trim().is_empty() {
            tracing::warn!(project_id = %project, stderr = %text.trim(), "git upload-pack complained");
        }
    });
    // The child lives as long as the body: a client that goes away ends it.
    let stream = tokio_util::io::ReaderStream::new(stdout).map(move |chunk| {
        let _alive = &child;
        chunk
    });
    let mut response = (
        [(header::CONTENT_TYPE, "application/x-git-upload-pack-result")],
        Body::from_stream(stream),
    )
        .into_response();
    no_cache(response.headers_mut());
    Ok(response)
}

/// Any request for `git-receive-pack`: pushing is not offered.
async fn receive_pack() -> GitHttpError {
    GitHttpError::PushRefused
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_is_the_token() {
        let mut headers = HeaderMap::new();
        let encoded =
            base64::engine::general_purpose::STANDARD.encode("anyone:mc_secret:with:colons");
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Basic {encoded}")).unwrap(),
        );
        assert_eq!(
            basic_password(&headers).as_deref(),
            Some("mc_secret:with:colons")
        );
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer mc_x"),
        );
        assert_eq!(basic_password(&headers), None);
    }

    #[test]
    fn only_plain_protocol_values_pass() {
        let mut headers = HeaderMap::new();
        headers.insert("git-protocol", HeaderValue::from_static("version=2"));
        assert_eq!(git_protocol(&headers).as_deref(), Some("version=2"));
        headers.insert("git-protocol", HeaderValue::from_static("version=2;$(x)"));
        assert_eq!(git_protocol(&headers), None);
    }

    #[test]
    fn pkt_lines_carry_their_length() {
        assert_eq!(
            pkt_line("# service=git-upload-pack\n"),
            b"001e# service=git-upload-pack\n"
        );
    }
}
