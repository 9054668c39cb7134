//! The HTTP surface: routes of every domain, the Leptos pages and server
//! functions, and the layers around them (request ids, tracing, security
//! headers, CORS, CSRF, body limits).

pub mod extract;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use app::backend::Backend;
use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{any, get};
use leptos::prelude::provide_context;
use leptos_axum::{AxumRouteListing, LeptosRoutes, generate_route_list};
use minicode::paths;
use minicode::{ApiError, ErrorCode, Health};
use tower_http::compression::CompressionLayer;
use tower_http::compression::predicate::{DefaultPredicate, NotForContentType, Predicate};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

use crate::auth::{self, csrf};
use crate::error::AppError;
use crate::state::AppState;
use crate::ui::UiBackend;
use crate::{chats, files, preview, projects};

static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The Leptos page routes, generated once per process.
///
/// Generating them runs the app with resource loading switched off through a
/// process-global flag (leptos_server's `SuppressResourceLoad`): a page that
/// another server in the same process renders at that moment would wait
/// forever for its data (leptos-rs/leptos#4773). One server per process never
/// meets this, but the tests start many, and a dashboard request hung.
fn page_routes() -> Vec<AxumRouteListing> {
    static ROUTES: OnceLock<Vec<AxumRouteListing>> = OnceLock::new();
    ROUTES.get_or_init(|| generate_route_list(app::App)).clone()
}

/// The whole application router.
pub fn router(state: AppState) -> Router {
    let backend: Arc<dyn Backend> = Arc::new(UiBackend {
        state: state.clone(),
    });
    let leptos_routes = page_routes();
    let leptos_options = state.leptos.clone();

    let api = Router::new()
        .route(paths::HEALTH, get(health))
        .merge(auth::routes::router())
        .merge(crate::admin::routes::router())
        .merge(projects::routes::router(
            state.config.workspace.upload_limit,
        ))
        .merge(chats::routes::router())
        .merge(files::routes::router(
            state.config.workspace.upload_limit,
            state.config.workspace.max_file_bytes,
        ))
        .merge(crate::agent::routes::router())
        .merge(crate::sandbox::routes::router())
        .merge(crate::llm::routes::router())
        .merge(crate::checkpoints::routes::router())
        .merge(crate::git::routes::router())
        .merge(crate::visual::routes::router())
        .merge(crate::images::routes::router())
        .merge(crate::deploy::routes::router())
        .merge(crate::quota::routes::router())
        .route("/api", any(api_not_found))
        .route("/api/", any(api_not_found))
        .route("/api/{*rest}", any(api_not_found))
        .method_not_allowed_fallback(method_not_allowed);

    let pages = Router::new()
        .leptos_routes_with_context(
            &state,
            leptos_routes,
            move || provide_context(backend.clone()),
            move || app::shell(leptos_options.clone()),
        )
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(
            app::shell,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            require_session_for_pages,
        ));

    let mut router = api
        .merge(preview::router())
        .merge(crate::git::http::router())
        .merge(crate::ws::router())
        .merge(pages)
        .layer(DefaultBodyLimit::max(state.config.server.body_limit))
        .layer(middleware::from_fn_with_state(state.clone(), csrf::guard));
    if let Some(cors) = cors_layer(&state) {
        router = router.layer(cors);
    }
    let csp = HeaderValue::from_str(&csp(&state.previews.hosts.csp_source()))
        .unwrap_or_else(|_| HeaderValue::from_static("frame-ancestors 'self'"));
    router
        // Packs are compressed already: git's answers go as they are.
        .layer(CompressionLayer::new().compress_when(
            DefaultPredicate::new().and(NotForContentType::const_new("application/x-git-")),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            csp,
        ))
        .layer(default_header(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(default_header(header::REFERRER_POLICY, "same-origin"))
        .layer(default_header(header::X_FRAME_OPTIONS, "SAMEORIGIN"))
        // Outside minicode's own layers: a preview host serves the app with
        // its own headers, and reaches nothing of minicode's.
        .layer(middleware::from_fn_with_state(
            state.clone(),
            preview::by_host,
        ))
        // Published sites, likewise: their own hosts, their own headers.
        .layer(middleware::from_fn_with_state(
            state.clone(),
            crate::deploy::serve::by_host,
        ))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID.clone()))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|request: &Request<Body>| {
                    let id = request
                        .headers()
                        .get(&REQUEST_ID)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("-");
                    // The path only: query strings can carry tokens (`/ws/…?token=`).
                    tracing::info_span!(
                        "request",
                        id,
                        method = %request.method(),
                        path = %request.uri().path(),
                        user_id = tracing::field::Empty,
                    )
                })
                .on_request(())
                .on_response(
                    |response: &Response, latency: Duration, _span: &tracing::Span| {
                        tracing::info!(
                            status = response.status().as_u16(),
                            ms = latency.as_millis() as u64,
                            "served"
                        );
                    },
                )
                .on_failure(()),
        )
        .layer(SetRequestIdLayer::new(REQUEST_ID.clone(), MakeRequestUuid))
        .with_state(state)
}

/// Leptos hydration boots from an inline module script and the editor runs
/// workers from blob URLs, hence 'unsafe-inline' and blob:. Frames come only
/// from the preview hosts (`previews`, a CSP source such as
/// `http://*.preview.localhost:*`).
fn csp(previews: &str) -> String {
    format!(
        "default-src 'self'; script-src 'self' 'unsafe-inline' 'wasm-unsafe-eval'; \
         style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; font-src 'self' data:; \
         connect-src 'self' ws: wss:; worker-src 'self' blob:; frame-src 'self' {previews}; \
         object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'self'"
    )
}

/// Sets a header on every response that does not have its own.
fn default_header(name: HeaderName, value: &'static str) -> SetResponseHeaderLayer<HeaderValue> {
    SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value))
}

fn cors_layer(state: &AppState) -> Option<CorsLayer> {
    let origins: Vec<HeaderValue> = state
        .config
        .server
        .cors_origins
        .iter()
        .filter(|o| !o.trim().is_empty())
        .filter_map(|o| HeaderValue::from_str(&crate::config::origin_of(o)).ok())
        .collect();
    if origins.is_empty() {
        return None;
    }
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_credentials(true)
            .allow_methods([
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
            ])
            .allow_headers([header::CONTENT_TYPE, header::AUTHORIZATION])
            .max_age(Duration::from_secs(600)),
    )
}

/// `GET /health`: 200 when the database answers, 503 otherwise; names
/// this instance, the live ones, and the work this one holds leases on.
async fn health(State(state): State<AppState>) -> impl IntoResponse {
    let db_ok = state.db.is_healthy().await;
    let cluster = match db_ok {
        true => crate::cluster::health(&state).await.ok(),
        false => None,
    };
    let (instance, instances, leases) = cluster.unwrap_or_else(|| {
        let me = state.agents.leases().instance().to_string();
        (me, Vec::new(), Vec::new())
    });
    let body = Health {
        status: if db_ok { "ok" } else { "degraded" }.into(),
        db: if db_ok { "ok" } else { "unavailable" }.into(),
        sandbox: state.config.sandbox.kind.as_str().into(),
        version: env!("CARGO_PKG_VERSION").into(),
        instance,
        instances,
        leases,
    };
    let status = if db_ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(body))
}

async fn api_not_found() -> AppError {
    AppError::Api(ApiError::new(ErrorCode::NotFound, "no such API endpoint"))
}

async fn method_not_allowed() -> AppError {
    AppError::Api(ApiError::new(
        ErrorCode::MethodNotAllowed,
        "this endpoint does not accept that method",
    ))
}

/// Signed-out visits to the pages that need an account go to `/` before any
/// rendering happens (the pages redirect on the client side too).
async fn require_session_for_pages(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    let protected =
        matches!(path, "/dashboard" | "/account" | "/admin") || path.starts_with("/project/");
    if protected && request.method() == Method::GET {
        match auth::service::authenticate(&state, request.headers()).await {
            Ok(Some(_)) => {}
            Ok(None) | Err(AppError::Api(_)) => return Redirect::to("/").into_response(),
            Err(e) => return e.into_response(),
        }
    }
    next.run(request).await
}
