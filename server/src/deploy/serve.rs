//! Serving published sites: a request to a site host (`<slug>.apps…`) is
//! answered from the live deployment's files, whatever its path, and never
//! reaches minicode's API or pages.
//!
//! - Hashed build assets (`/assets/…`) are cached for a year; everything
//!   else (`index.html` above all) is revalidated, so a redeploy shows at
//!   once.
//! - An unknown path that is not a file request (no extension, or the
//!   browser asks for HTML) gets `index.html`: the app's own router decides
//!   (single-page apps' deep links work).
//! - A private site lets in its owner only: minicode hands a signed ticket
//!   to the site host (`GET /api/projects/:id/site/open`), which exchanges
//!   it for a cookie of its own. minicode's session cookie is host-only, so
//!   a site never receives it.

use std::path::Path;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use minicode::Visibility;

use crate::auth::service::cookie_value;
use crate::db::now_ms;
use crate::preview::ticket::{self, Claims, Kind};
use crate::preview::{enter_with, redeem};
use crate::state::AppState;
use crate::workspace::RelPath;

/// Where a site host takes a ticket.
pub const ENTER_PATH: &str = "/__minicode/enter";

/// Runs before everything else (next to the preview hosts' layer).
pub async fn by_host(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| request.uri().host());
    let Some(slug) = host.and_then(|h| state.sites.hosts.name_of(h)) else {
        return next.run(request).await;
    };
    // Only the head of the request is needed (and a body is not `Sync`).
    let (parts, _) = request.into_parts();
    let mut response = serve(&state, &slug, &parts).await;
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("strict-origin-when-cross-origin"),
    );
    response
}

fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        [(header::CACHE_CONTROL, "no-store")],
        axum::response::Html(
            "<!doctype html><title>Not found</title><p>There is no published app here.</p>",
        ),
    )
        .into_response()
}

/// The cookie a private site's host sets once its ticket is redeemed.
fn pass_cookie(state: &AppState) -> &'static str {
    if state.sites.hosts.secure_context() {
        "__Host-minicode_site"
    } else {
        "minicode_site"
    }
}

async fn serve(state: &AppState, slug: &str, request: &axum::http::request::Parts) -> Response {
    if request.method != Method::GET && request.method != Method::HEAD {
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            [(header::ALLOW, "GET, HEAD")],
        )
            .into_response();
    }
    let served = match super::by_slug(state, slug).await {
        Ok(Some(served)) => served,
        Ok(None) => return not_found(),
        Err(e) => {
            tracing::warn!(error = %e, "could not look up a site");
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
    };
    let now = now_ms();
    if request.uri.path() == ENTER_PATH {
        return enter(
            state,
            served.project,
            request.uri.query().unwrap_or(""),
            now,
        );
    }
    let private = served.visibility == Visibility::Private;
    if private && !owner_in(state, served.project, &request.headers, now).await {
        return not_found();
    }
    let Some(folder) = served.folder else {
        return not_found();
    };
    file_response(&folder, request, private).await
}

/// True when the request carries a site pass of the project's owner.
async fn owner_in(state: &AppState, project: uuid::Uuid, headers: &HeaderMap, now: i64) -> bool {
    let claims = cookie_value(headers, pass_cookie(state))
        .and_then(|p| state.previews.signer.verify(Kind::SitePass, &p, now))
        .filter(|c| c.project == project);
    match claims {
        Some(c) => crate::projects::owned_by(state, c.user, project)
            .await
            .is_ok(),
        None => false,
    }
}

/// `/__minicode/enter?ticket=…`: a valid ticket for this site's project
/// becomes the host's cookie, then the browser goes to the site's root.
fn enter(state: &AppState, project: uuid::Uuid, query: &str, now: i64) -> Response {
    let Some((pass, next)) = redeem(state, query, project, now, Kind::SiteTicket, Kind::SitePass)
    else {
        return not_found();
    };
    // Host-only: no other site, no preview and not minicode ever gets it.
    let cookie = format!(
        "{}={pass}; Path=/; HttpOnly; Max-Age={}; SameSite=Lax{}",
        pass_cookie(state),
        ticket::PASS_TTL.as_secs(),
        if state.sites.hosts.secure_context() {
            "; Secure"
        } else {
            ""
        }
    );
    enter_with(&next, &cookie)
}

/// A ticket to open `project`'s private site, for its owner.
pub fn ticket_for(state: &AppState, claims: Claims) -> String {
    state
        .previews
        .signer
        .issue(Kind::SiteTicket, claims, now_ms(), ticket::TICKET_TTL)
}

/// The file the path names, or `index.html` for an app route.
async fn file_response(
    folder: &Path,
    request: &axum::http::request::Parts,
    private: bool,
) -> Response {
    let raw = request.uri.path().trim_start_matches('/');
    let decoded = crate::preview::urldecode(raw).unwrap_or_default();
    let wanted = if decoded.is_empty() || decoded.ends_with('/') {
        format!("{decoded}index.html")
    } else {
        decoded
    };
    // A path that is not a plain relative path is nobody's file.
    let file = RelPath::parse(&wanted).ok();
    let found = match &file {
        Some(path) => read_file(folder, path.as_str()).await,
        None => None,
    };
    let (path, bytes) = match (found, file) {
        (Some(bytes), Some(path)) => (path.as_str().to_string(), bytes),
        (None, file) => {
            let is_asset = file
                .as_ref()
                .is_some_and(|f| f.file_name().contains('.') && !f.as_str().ends_with(".html"));
            let wants_html = request
                .headers
                .get(header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|a| a.contains("text/html"));
            if is_asset && !wants_html {
                return not_found();
            }
            match read_file(folder, "index.html").await {
                Some(bytes) => ("index.html".to_string(), bytes),
                None => return not_found(),
            }
        }
        (Some(_), None) => return not_found(),
    };
    let immutable = path.starts_with("assets/");
    let cache = match (immutable, private) {
        (true, false) => "public, max-age=31536000, immutable",
        (true, true) => "private, max-age=31536000, immutable",
        (false, _) => "no-cache",
    };
    let mut response = (
        [
            (header::CONTENT_TYPE, content_type(&path)),
            (header::CACHE_CONTROL, cache),
        ],
        bytes,
    )
        .into_response();
    if private {
        response
            .headers_mut()
            .insert(header::VARY, HeaderValue::from_static("Cookie"));
    }
    response
}

/// A regular file of the deployment (folders and anything else: none).
async fn read_file(folder: &Path, relative: &str) -> Option<Vec<u8>> {
    let path = folder.join(relative);
    let meta = tokio::fs::symlink_metadata(&path).await.ok()?;
    if !meta.is_file() {
        return None;
    }
    tokio::fs::read(&path).await.ok()
}

fn content_type(path: &str) -> &'static str {
    let ext = path.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    match ext.to_ascii_lowercase().as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "webmanifest" => "application/manifest+json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "avif" => "image/avif",
        "ico" => "image/x-icon",
        "woff" => "font/woff",
        "woff2" => "font/woff2",
        "ttf" => "font/ttf",
        "otf" => "font/otf",
        "txt" => "text/plain; charset=utf-8",
        "xml" => "application/xml",
        "wasm" => "application/wasm",
        "mp4" => "video/mp4",
        "webm" => "video/webm",
        "mp3" => "audio/mpeg",
        "pdf" => "application/pdf",
        _ => "application/octet-stream",
    }
}
