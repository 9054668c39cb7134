//! The project's running app, on a host of its own.
//!
//! minicode's origin only lets the owner in: `/preview/<id>/…` checks the
//! session and redirects to the project's preview host with a short-lived
//! signed ticket (`ticket.rs`); the preview host (`origin.rs`) exchanges it
//! for a cookie of its own and from then on proxies HTTP and WebSocket
//! (Vite's hot-module reload) to the project's dev server. The preview host
//! never sees minicode's session cookie, serves nothing of minicode's (no
//! API, no pages), and passes only an allow-list of the dev server's
//! response headers: a generated app cannot set minicode's cookies, register
//! a service worker over minicode's origin, or clear its site data. Anyone
//! but the owner gets a plain 404 on either side.
//!
//! When the dev server is not running (never started, stopped when idle, or
//! crashed) the answer is a page saying so, and the sandbox is (re)started
//! in the background: the next request finds it running.

pub mod origin;
pub mod ticket;

use minicode::paths;
use std::net::SocketAddr;

use axum::Router;
use axum::body::Body;
use axum::extract::ws::{Message as AxumMessage, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts, Path, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::any;
use futures::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::auth::service::{authenticate, cookie_value};
use crate::db::now_ms;
use crate::projects;
use crate::sandbox::Phase;
use crate::state::AppState;
pub use origin::{PreviewHosts, Previews};
use ticket::{Claims, Kind};

/// The path on a preview host that takes a ticket.
pub const ENTER_PATH: &str = "/__minicode/enter";
/// The bridge (see `bridge.js`), inlined first in every app page: it runs
/// before the app's own scripts and costs the page no extra request.
const BRIDGE_TAG: &str = concat!("<script>", include_str!("bridge.js"), "</script>");
/// HTML pages larger than this pass through without the bridge.
const BRIDGE_MAX_PAGE: usize = 4 << 20;
/// The generated app may use images and fonts from anywhere, but runs its
/// scripts only from its own origin, and may only be framed by minicode.
pub fn preview_csp(frame_ancestors: &str) -> String {
    format!(
        "default-src 'self' data: blob:; script-src 'self' 'unsafe-inline' 'unsafe-eval' blob:; \
         style-src 'self' 'unsafe-inline' https:; img-src * data: blob:; font-src * data:; \
         media-src * data: blob:; connect-src 'self' ws: wss: https:; \
         frame-ancestors {frame_ancestors}; base-uri 'self'"
    )
}

/// Headers that describe one connection, not the message: never forwarded.
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// The dev server's response headers that reach the browser; everything
/// else (`Set-Cookie`, `Service-Worker-Allowed`, `Clear-Site-Data`, its own
/// CSP or framing rules, HSTS, `Refresh`, …) is dropped.
const PASSED_RESPONSE_HEADERS: [&str; 15] = [
    "content-type",
    "content-length",
    "content-encoding",
    "content-language",
    "content-range",
    "accept-ranges",
    "cache-control",
    "etag",
    "last-modified",
    "expires",
    "vary",
    "date",
    "location",
    "x-content-type-options",
    "access-control-allow-origin",
];

/// Routes on minicode's own origin: the owner's way in.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/preview/{id}", any(enter_from_builder))
        .route(paths::PREVIEW, any(enter_from_builder))
        .route("/preview/{id}/{*rest}", any(enter_from_builder))
}

fn not_found() -> Response {
    let mut response = (
        StatusCode::NOT_FOUND,
        Html(page("Not found", "There is no preview here.", None, false)),
    )
        .into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `/preview/<id>/<rest>` on minicode's origin: the owner is sent to the
/// same path on the project's preview host with a fresh ticket.
async fn enter_from_builder(
    State(state): State<AppState>,
    Path(params): Path<Vec<(String, String)>>,
    request: Request,
) -> Response {
    let Some(project) = params.first().and_then(|(_, id)| Uuid::parse_str(id).ok()) else {
        return not_found();
    };
    // Owner only; everyone else (signed out included) sees the same 404.
    let caller = match authenticate(&state, request.headers()).await {
        Ok(Some(caller)) if projects::owned(&state, &caller, project).await.is_ok() => caller,
        _ => return not_found(),
    };
    let rest = params.get(1).map(|(_, r)| r.as_str()).unwrap_or("");
    let mut next = format!("/{rest}");
    if let Some(query) = request.uri().query() {
        next.push('?');
        next.push_str(query);
    }
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok());
    let origin = state.previews.hosts.origin_for(project, host);
    let ticket = state.previews.signer.issue(
        Kind::Ticket,
        Claims {
            project,
            user: caller.id(),
        },
        now_ms(),
        ticket::TICKET_TTL,
    );
    let location = format!(
        "{origin}{ENTER_PATH}?ticket={ticket}&next={}",
        urlencode(&next)
    );
    let mut response = Redirect::to(&location).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // The ticket must not leak through a Referer.
    response.headers_mut().insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

/// Percent-encodes everything but unreserved characters and `/`.
fn urlencode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub(crate) fn urldecode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

pub(crate) fn query_param(query: &str, name: &str) -> Option<String> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == name)
        .and_then(|(_, v)| urldecode(v))
}

/// Runs before everything else: a request to a preview host is the
/// preview's, whatever its path; all others go on to minicode.
pub async fn by_host(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| request.uri().host());
    let Some(project) = host.and_then(|h| state.previews.hosts.project_of(h)) else {
        return next.run(request).await;
    };
    let mut response = serve_preview(&state, project, request).await;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, state.previews.csp.clone());
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

async fn serve_preview(state: &AppState, project: Uuid, request: Request) -> Response {
    let now = now_ms();
    if request.uri().path() == ENTER_PATH {
        return exchange_ticket(state, project, &request, now);
    }
    let pass = cookie_value(request.headers(), state.previews.pass_cookie_name());
    let claims = pass.and_then(|p| state.previews.signer.verify(Kind::Pass, &p, now));
    let Some(claims) = claims.filter(|c| c.project == project) else {
        return not_found();
    };
    // Still the owner (the project may be gone or the account deleted).
    if projects::owned_by(state, claims.user, project)
        .await
        .is_err()
    {
        return not_found();
    }
    match state.sandboxes.upstream(project) {
        Some(upstream) => {
            let (mut parts, body) = request.into_parts();
            if is_websocket(&parts.headers) {
                let url = format!("ws://{upstream}");
                match WebSocketUpgrade::from_request_parts(&mut parts, state).await {
                    Ok(upgrade) => proxy_websocket(upgrade, &url, &parts, HeaderMap::new()).await,
                    Err(rejection) => rejection.into_response(),
                }
            } else {
                proxy_http(state, upstream, Request::from_parts(parts, body)).await
            }
        }
        None => {
            // Not here: another instance may run it. A request that was
            // forwarded already is served here whatever happens (no loops).
            let stopped_here = state.sandboxes.status(project).phase == Phase::Stopped;
            if stopped_here && !was_forwarded(state, project, request.headers(), now) {
                match crate::cluster::hosts::sandbox_elsewhere(state, project).await {
                    Ok(Some(base)) => return forward(state, project, &base, request, now).await,
                    Ok(None) => {}
                    Err(e) => {
                        tracing::warn!(project_id = %project, error = %e, "could not look up the sandbox's instance")
                    }
                }
            }
            not_running(state, project, request.headers()).await
        }
    }
}

/// Marks a request one instance forwards to another (see [`Kind::Forward`]).
const FORWARDED: &str = "x-minicode-forwarded";

/// True when another instance forwarded this request (its mark is signed
/// with the key every instance shares; a client cannot forge it).
fn was_forwarded(state: &AppState, project: Uuid, headers: &HeaderMap, now: i64) -> bool {
    headers
        .get(FORWARDED)
        .and_then(|v| v.to_str().ok())
        .and_then(|mark| state.previews.signer.verify(Kind::Forward, mark, now))
        .is_some_and(|claims| claims.project == project)
}

/// Sends a preview request on to the instance at `base` that runs the
/// project's sandbox: the same method, path, headers (the preview host and
/// its pass cookie) and body, marked as forwarded. That instance checks the
/// pass again and answers as if it had been asked; its answer comes back
/// as it is. WebSockets (Vite's hot reload) are piped through the same way.
async fn forward(
    state: &AppState,
    project: Uuid,
    base: &str,
    request: Request,
    now: i64,
) -> Response {
    let mark = state.previews.signer.issue(
        Kind::Forward,
        Claims {
            project,
            user: Uuid::nil(),
        },
        now,
        std::time::Duration::from_secs(60),
    );
    let Ok(mark) = HeaderValue::from_str(&mark) else {
        return StatusCode::BAD_GATEWAY.into_response();
    };
    let (mut parts, body) = request.into_parts();
    let mut headers = forwardable(&parts.headers);
    headers.insert(HeaderName::from_static(FORWARDED), mark);
    if is_websocket(&parts.headers) {
        let url = base.replacen("http", "ws", 1);
        return match WebSocketUpgrade::from_request_parts(&mut parts, state).await {
            Ok(upgrade) => proxy_websocket(upgrade, &url, &parts, headers).await,
            Err(rejection) => rejection.into_response(),
        };
    }
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let result = preview_client(state)
        .request(parts.method.clone(), format!("{base}{path}"))
        .headers(headers)
        .body(reqwest::Body::wrap_stream(body.into_data_stream()))
        .send()
        .await;
    match result {
        Ok(answer) => {
            let mut response = Response::builder().status(answer.status().as_u16());
            if let Some(h) = response.headers_mut() {
                // The other instance already filtered the dev server's
                // headers; a cookie is never set on a forwarded answer
                // (tickets are exchanged on the instance asked).
                *h = forwardable(answer.headers());
                h.remove(header::SET_COOKIE);
            }
            response
                .body(Body::from_stream(answer.bytes_stream()))
                .unwrap_or_else(|_| StatusCode::BAD_GATEWAY.into_response())
        }
        Err(e) => {
            tracing::warn!(project_id = %project, error = %e, "the instance running the preview did not answer");
            (
                StatusCode::BAD_GATEWAY,
                "the server running this app did not answer; reload to try again",
            )
                .into_response()
        }
    }
}

/// `/__minicode/enter?ticket=…&next=/…`: a valid ticket for this host's
/// project becomes the host's cookie, then the browser goes on to `next`.
fn exchange_ticket(state: &AppState, project: Uuid, request: &Request, now: i64) -> Response {
    let query = request.uri().query().unwrap_or("");
    let Some((pass, next)) = redeem(state, query, project, now, Kind::Ticket, Kind::Pass) else {
        return not_found();
    };
    let secure = state.previews.hosts.secure_context();
    // Host-only (no Domain), so no other preview host and not minicode ever
    // gets it. Where the host is a secure context: `SameSite=None; Secure;
    // Partitioned`, so the framed preview keeps it when the builder is
    // another site (`127.0.0.1` framing `*.preview.localhost`, or a separate
    // preview domain) even in browsers that block third-party cookies: it is
    // kept in the builder's partition only. `Lax` on a plain-http preview
    // domain (there the builder must be the same site).
    let cookie = format!(
        "{}={pass}; Path=/; HttpOnly; Max-Age={}; SameSite={}",
        state.previews.pass_cookie_name(),
        ticket::PASS_TTL.as_secs(),
        if secure {
            "None; Secure; Partitioned"
        } else {
            "Lax"
        },
    );
    enter_with(&next, &cookie)
}

/// Redeems the ticket of an `enter` request (`?ticket=…&next=/…`) for
/// `project`: the pass to set as the host's cookie, and where to go next
/// (a path on this host only: never `//elsewhere` or a full URL). Preview
/// hosts and private sites (`deploy/serve.rs`) enter the same way, each
/// with its own kinds of token.
pub(crate) fn redeem(
    state: &AppState,
    query: &str,
    project: Uuid,
    now: i64,
    ticket_kind: Kind,
    pass_kind: Kind,
) -> Option<(String, String)> {
    let claims = query_param(query, "ticket")
        .and_then(|t| state.previews.signer.verify(ticket_kind, &t, now))
        .filter(|c| c.project == project)?;
    let next = query_param(query, "next")
        .filter(|n| n.starts_with('/') && !n.starts_with("//") && !n.contains('\\'))
        .unwrap_or_else(|| "/".into());
    let pass = state
        .previews
        .signer
        .issue(pass_kind, claims, now, ticket::PASS_TTL);
    Some((pass, next))
}

/// The redirect to `next` that sets the host's `cookie`, never cached.
pub(crate) fn enter_with(next: &str, cookie: &str) -> Response {
    let mut response = Redirect::to(next).into_response();
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(cookie) {
        headers.insert(header::SET_COOKIE, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn is_websocket(headers: &HeaderMap) -> bool {
    headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// The dev server is not running: say so, and start it for the next request.
async fn not_running(state: &AppState, project: Uuid, headers: &HeaderMap) -> Response {
    let status = state.sandboxes.status(project);
    let has_app = state.workspaces.has_entry(project, "package.json")
        || crate::files::list_latest(state, project)
            .await
            .is_ok_and(|files| files.iter().any(|f| f.path == "package.json"));
    if !has_app {
        return preview_page(
            headers,
            StatusCode::SERVICE_UNAVAILABLE,
            "No app yet",
            "The preview appears here once the agent has written the app.",
            None,
            false,
        );
    }
    let busy = matches!(status.phase, Phase::Installing | Phase::Starting);
    if !busy {
        // Within the owner's limit on running previews (stopping an idle
        // one of theirs if need be), or a page that says why not.
        if let Err(e) = crate::quota::make_room_for_preview(state, project).await {
            let api = minicode::ApiError::from(e);
            return preview_page(
                headers,
                StatusCode::from_u16(api.status).unwrap_or(StatusCode::TOO_MANY_REQUESTS),
                "Too many previews running",
                &api.error,
                None,
                false,
            );
        }
        let sandboxes = state.sandboxes.clone();
        let state = state.clone();
        tokio::spawn(async move {
            // A workspace removed while idle comes back from the database first.
            if let Err(e) = crate::files::ensure_workspace(&state, project).await {
                tracing::warn!(project_id = %project, error = %e, "could not restore the workspace");
                return;
            }
            crate::cluster::hosts::host_sandbox(&state, project).await;
            if let Err(e) = sandboxes
                .ensure_running(project, &CancellationToken::new())
                .await
            {
                tracing::info!(project_id = %project, error = %e, "preview could not be started");
            }
        });
    }
    let (title, message) = match status.phase {
        Phase::Crashed => (
            "The app stopped",
            "The dev server stopped; it is being restarted. This page reloads by itself.",
        ),
        Phase::Failed => (
            "The app could not start",
            "Starting it again. This page reloads by itself; the log below says what went wrong last time.",
        ),
        Phase::Installing => (
            "Installing dependencies…",
            "This page reloads by itself when the app is ready.",
        ),
        _ => (
            "Starting the app…",
            "This page reloads by itself when the app is ready.",
        ),
    };
    let tail =
        matches!(status.phase, Phase::Crashed | Phase::Failed).then(|| status.log_tail.join("\n"));
    preview_page(
        headers,
        StatusCode::SERVICE_UNAVAILABLE,
        title,
        message,
        tail,
        true,
    )
}

/// An HTML page for browsers, plain text for everything else (scripts, assets).
fn preview_page(
    headers: &HeaderMap,
    status: StatusCode,
    title: &str,
    message: &str,
    log: Option<String>,
    refresh: bool,
) -> Response {
    let wants_html = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"));
    let mut response = if wants_html {
        (status, Html(page(title, message, log.as_deref(), refresh))).into_response()
    } else {
        (status, format!("{title}: {message}")).into_response()
    };
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn page(title: &str, message: &str, log: Option<&str>, refresh: bool) -> String {
    let escape = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    let refresh = if refresh {
        r#"<meta http-equiv="refresh" content="2">"#
    } else {
        ""
    };
    let log = log
        .filter(|l| !l.is_empty())
        .map(|l| format!("<pre>{}</pre>", escape(l)))
        .unwrap_or_default();
    format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">{refresh}<title>{title}</title>\
         <style>body{{font:15px/1.5 system-ui,sans-serif;color:#1b1e2b;background:#f6f7fb;margin:0;padding:3rem;}}\
         h1{{font-size:1.2rem;margin:0 0 .5rem}}p{{color:#646a80}}pre{{background:#1b1e2b;color:#e6e8f0;padding:1rem;\
         border-radius:8px;overflow:auto;font-size:12px;max-height:50vh}}@media(prefers-color-scheme:dark){{body{{background:#0f1117;color:#e6e8f0}}}}</style>\
         </head><body><h1>{title}</h1><p>{message}</p>{log}</body></html>",
        title = escape(title),
        message = escape(message),
    )
}

/// Forwards one HTTP request to the dev server and streams the answer back.
async fn proxy_http(state: &AppState, upstream: SocketAddr, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let url = format!("http://{upstream}{path}");
    let mut headers = forwardable(&parts.headers);
    // The app never sees minicode's credentials.
    headers.remove(header::COOKIE);
    headers.remove(header::AUTHORIZATION);
    headers.remove(header::HOST);
    let client = preview_client(state);
    let result = client
        .request(parts.method.clone(), &url)
        .headers(headers)
        .body(reqwest::Body::wrap_stream(body.into_data_stream()))
        .send()
        .await;
    match result {
        Ok(answer) => {
            let status = answer.status();
            let mut headers = passed_response_headers(answer.headers());
            // Only a page with a body (not a 304, not a HEAD's answer).
            let page =
                status == reqwest::StatusCode::OK && parts.method != axum::http::Method::HEAD;
            let body = if page && is_plain_html(&headers) {
                headers.remove(header::CONTENT_LENGTH);
                with_bridge(answer).await
            } else {
                Body::from_stream(answer.bytes_stream())
            };
            let mut response = Response::builder().status(status.as_u16());
            if let Some(h) = response.headers_mut() {
                *h = headers;
            }
            response
                .body(body)
                .unwrap_or_else(|_| StatusCode::BAD_GATEWAY.into_response())
        }
        Err(e) => {
            tracing::info!(error = %e, "preview upstream did not answer");
            (
                StatusCode::BAD_GATEWAY,
                "the app's dev server did not answer; reload to try again",
            )
                .into_response()
        }
    }
}

/// An HTML page sent as it is (not compressed): the bridge can go in.
fn is_plain_html(headers: &HeaderMap) -> bool {
    let html = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("text/html"));
    html && !headers.contains_key(header::CONTENT_ENCODING)
}

/// The page with the bridge's script tag added (see [`add_bridge`]); a page
/// over [`BRIDGE_MAX_PAGE`] passes through as it is.
async fn with_bridge(answer: reqwest::Response) -> Body {
    use futures::StreamExt;
    let mut stream = answer.bytes_stream();
    let mut page = Vec::new();
    while let Some(chunk) = stream.next().await {
        let Ok(chunk) = chunk else {
            return Body::from(page);
        };
        page.extend_from_slice(&chunk);
        if page.len() > BRIDGE_MAX_PAGE {
            let head = futures::stream::once(async move { Ok::<_, reqwest::Error>(page.into()) });
            return Body::from_stream(head.chain(stream));
        }
    }
    Body::from(add_bridge(&page))
}

/// Inserts the bridge's script tag right after `<head …>` (or `<html …>`,
/// or at the start), so it runs before the app's own scripts.
fn add_bridge(page: &[u8]) -> Vec<u8> {
    let lower = page.to_ascii_lowercase();
    let after_tag = |name: &[u8]| -> Option<usize> {
        let start = lower
            .windows(name.len())
            .position(|w| w == name)
            .filter(|&i| {
                lower
                    .get(i + name.len())
                    .is_some_and(|c| *c == b'>' || c.is_ascii_whitespace())
            })?;
        let end = lower[start..].iter().position(|c| *c == b'>')?;
        Some(start + end + 1)
    };
    let at = after_tag(b"<head")
        .or_else(|| after_tag(b"<html"))
        .unwrap_or(0);
    let mut out = Vec::with_capacity(page.len() + BRIDGE_TAG.len());
    out.extend_from_slice(&page[..at]);
    out.extend_from_slice(BRIDGE_TAG.as_bytes());
    out.extend_from_slice(&page[at..]);
    out
}

/// One client for every preview request: keeps connections to dev servers alive.
fn preview_client(_state: &AppState) -> &'static reqwest::Client {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default()
    })
}

/// The dev server's answer headers that may reach the browser.
fn passed_response_headers(headers: &HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::with_capacity(headers.len());
    for (name, value) in headers {
        if PASSED_RESPONSE_HEADERS.contains(&name.as_str()) {
            out.append(name.clone(), value.clone());
        }
    }
    out
}

fn forwardable(headers: &HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::with_capacity(headers.len());
    for (name, value) in headers {
        if !HOP_BY_HOP.contains(&name.as_str()) && !name.as_str().starts_with("sec-websocket") {
            out.append(name.clone(), value.clone());
        }
    }
    out
}

/// Accepts the browser's WebSocket and connects a second one to `base`
/// (the dev server, or the instance that runs it, with `headers`), then
/// pipes messages both ways until either side closes.
async fn proxy_websocket(
    upgrade: WebSocketUpgrade,
    base: &str,
    parts: &axum::http::request::Parts,
    headers: HeaderMap,
) -> Response {
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/")
        .to_string();
    let protocols: Vec<String> = parts
        .headers
        .get(header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(',')
                .map(|p| p.trim().to_string())
                .filter(|p| !p.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let mut request = match format!("{base}{path}").into_client_request() {
        Ok(r) => r,
        Err(_) => return StatusCode::BAD_REQUEST.into_response(),
    };
    for (name, value) in &headers {
        request.headers_mut().insert(name.clone(), value.clone());
    }
    if !protocols.is_empty()
        && let Ok(value) = HeaderValue::from_str(&protocols.join(", "))
    {
        request
            .headers_mut()
            .insert(HeaderName::from_static("sec-websocket-protocol"), value);
    }
    let upstream_socket = match tokio_tungstenite::connect_async(request).await {
        Ok((socket, _)) => socket,
        Err(e) => {
            tracing::info!(error = %e, "preview websocket upstream refused");
            return (
                StatusCode::BAD_GATEWAY,
                "the app's dev server refused the connection",
            )
                .into_response();
        }
    };
    upgrade
        .protocols(protocols)
        .on_upgrade(move |client| pipe(client, upstream_socket))
}

async fn pipe(
    client: WebSocket,
    upstream: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
) {
    let (mut client_tx, mut client_rx) = client.split();
    let (mut up_tx, mut up_rx) = upstream.split();
    let to_upstream = async {
        while let Some(Ok(message)) = client_rx.next().await {
            let forwarded = match message {
                AxumMessage::Text(t) => tungstenite::Message::Text(t.as_str().into()),
                AxumMessage::Binary(b) => tungstenite::Message::Binary(b),
                AxumMessage::Ping(p) => tungstenite::Message::Ping(p),
                AxumMessage::Pong(p) => tungstenite::Message::Pong(p),
                AxumMessage::Close(_) => break,
            };
            if up_tx.send(forwarded).await.is_err() {
                break;
            }
        }
        let _ = up_tx.close().await;
    };
    let to_client = async {
        while let Some(Ok(message)) = up_rx.next().await {
            let forwarded = match message {
                tungstenite::Message::Text(t) => AxumMessage::Text(t.as_str().into()),
                tungstenite::Message::Binary(b) => AxumMessage::Binary(b),
                tungstenite::Message::Ping(p) => AxumMessage::Ping(p),
                tungstenite::Message::Pong(p) => AxumMessage::Pong(p),
                tungstenite::Message::Close(_) | tungstenite::Message::Frame(_) => break,
            };
            if client_tx.send(forwarded).await.is_err() {
                break;
            }
        }
        let _ = client_tx.close().await;
    };
    tokio::select! {
        () = to_upstream => {},
        () = to_client => {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bridged(page: &str) -> String {
        String::from_utf8(add_bridge(page.as_bytes())).unwrap()
    }

    #[test]
    fn the_bridge_goes_first_in_the_head() {
        // Inlined, it must not end its own script element early.
        assert_eq!(BRIDGE_TAG.matches("</script").count(), 1);
        assert_eq!(
            bridged("<!doctype html><html lang=\"en\"><HEAD>\n<title>x</title></head></html>"),
            format!(
                "<!doctype html><html lang=\"en\"><HEAD>{BRIDGE_TAG}\n<title>x</title></head></html>"
            )
        );
        // `<header>` is not `<head>`; without a head, after `<html>`.
        assert_eq!(
            bridged("<html><body><header>h</header></body></html>"),
            format!("<html>{BRIDGE_TAG}<body><header>h</header></body></html>")
        );
        assert_eq!(bridged("<p>bare</p>"), format!("{BRIDGE_TAG}<p>bare</p>"));
        assert_eq!(bridged(""), BRIDGE_TAG);
    }

    #[test]
    fn only_uncompressed_html_is_touched() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            "text/html; charset=utf-8".parse().unwrap(),
        );
        assert!(is_plain_html(&headers));
        headers.insert(header::CONTENT_ENCODING, "gzip".parse().unwrap());
        assert!(!is_plain_html(&headers));
        let mut js = HeaderMap::new();
        js.insert(header::CONTENT_TYPE, "text/javascript".parse().unwrap());
        assert!(!is_plain_html(&js));
    }
}
