//! The minicode server: configuration, database, accounts, projects, chats,
//! and the HTTP surface that serves the REST API and the Leptos pages.
//!
//! `main.rs` is a thin wrapper over [`run`]; tests call [`Server::start`] to run
//! the real server on a free port of 127.0.0.1.

pub(crate) mod admin;
pub mod agent;
pub(crate) mod api;
pub(crate) mod auth;
pub mod chats;
pub mod checkpoints;
pub mod cluster;
pub mod config;
pub mod db;
pub mod deploy;
pub(crate) mod error;
pub mod events;
pub mod files;
pub mod git;
pub mod images;
pub mod listener;
pub mod llm;
pub mod maintenance;
mod memory;
pub(crate) mod preview;
pub(crate) mod projects;
pub mod quota;
pub mod sandbox;
pub mod scof;
pub mod secrets;
pub mod state;
pub mod telemetry;
mod ui;
pub mod visual;
pub mod workspace;
pub(crate) mod ws;

/// mimalloc rather than glibc's malloc, for every binary built on this crate
/// (the server, its tests and benches). With 10,000 WebSocket clients glibc
/// kept the memory of the connection burst (handshakes, HTTP buffers,
/// queries) in fragmented per-thread arenas: 390 MB taken from the system for
/// 137 MB in use. See docs/benchmarks.md.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::serve::ListenerExt;
use leptos::config::LeptosOptions;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::auth::rate_limit::RateLimiter;
use crate::config::Config;
use crate::db::Db;
use crate::events::EventBus;
use crate::state::AppState;
use crate::workspace::Workspaces;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Db(#[from] db::DbError),
    #[error("could not create the data directory {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error("could not listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("could not set up the {kind} sandbox: {message}")]
    Sandbox { kind: &'static str, message: String },
    #[error("configuration: {0}")]
    Config(String),
}

/// Connects to the database (migrating it) and assembles the shared state.
pub async fn build_state(config: Config) -> Result<AppState, StartError> {
    std::fs::create_dir_all(&config.server.data_dir).map_err(|source| StartError::DataDir {
        path: config.server.data_dir.display().to_string(),
        source,
    })?;
    let db = Db::connect(
        &config.database_url(),
        config.db.max_connections,
        config.db.lock_wait(),
    )
    .await?;
    let leptos = LeptosOptions::builder()
        .output_name("minicode")
        .site_root(config.server.site_root.as_str())
        .site_pkg_dir("pkg")
        .site_addr(config.server.addr)
        .reload_port(config.server.reload_port)
        .env(leptos::config::Env::from(config.server.leptos_env.as_str()))
        .build();
    let instance =
        cluster::instance_id(config.cluster.instance_id.as_deref()).map_err(StartError::Config)?;
    cluster::register(&db, &instance, config.cluster.lease())
        .await
        .map_err(|e| StartError::Config(format!("could not register this instance: {e}")))?;
    let leases = cluster::leases::Leases::new(db.clone(), instance.clone(), config.cluster.lease());
    let events = EventBus::new(db.clone());
    let workspaces = Workspaces::new(&config.server.data_dir, config.workspace.limits());
    let sandboxes = config
        .sandbox
        .build(&config.server.data_dir, events.clone(), workspaces.clone())
        .await
        .map_err(|message| StartError::Sandbox {
            kind: config.sandbox.kind.as_str(),
            message,
        })?;
    let reaped = sandboxes.reap_orphans().await;
    if reaped > 0 {
        tracing::warn!(
            count = reaped,
            "stopped sandbox processes left by a previous run"
        );
    }
    let models = llm::models::Models::from_config(&config.llm);
    tracing::info!(default_model = %models.default_id(), "model providers ready");
    let previews = previews_from_config(&config, &db).await?;
    let sites = deploy::Sites::new(config.server.apps_url.as_deref(), &config.server.data_dir)
        .map_err(StartError::Config)?;
    Ok(AppState::new(state::Services {
        git: Arc::new(git::Repos::new(&config.server.data_dir, &config.git.bin)),
        previews: Arc::new(previews),
        sites: Arc::new(sites),
        agents: agent::Agents::new(leases),
        admissions: quota::Admissions::default(),
        models: Arc::new(models),
        auth_limiter: Arc::new(RateLimiter::per_minute_on(config.auth.rate_per_minute, &db)),
        config: Arc::new(config),
        db,
        leptos,
        events,
        workspaces,
        sandboxes,
        heartbeat: ws::heartbeat::Heartbeat::start(),
    }))
}

/// Preview hosts, their signing key, and who may frame them.
async fn previews_from_config(config: &Config, db: &Db) -> Result<preview::Previews, StartError> {
    let hosts = preview::PreviewHosts::new(config.server.preview_url.as_deref())
        .map_err(StartError::Config)?;
    let signer = preview::ticket::Signer::load_or_create(&config.server.data_dir).map_err(|e| {
        StartError::Config(format!("the preview signing key in the data folder: {e}"))
    })?;
    let signer = signer
        .shared(db)
        .await
        .map_err(|e| StartError::Config(format!("the shared preview signing key: {e}")))?;
    // Only minicode's own pages may frame a preview: the public URL, or (on
    // a laptop) the loopback names at minicode's port.
    let frame_ancestors = match config.public_origin() {
        Some(origin) => origin,
        None => {
            let port = config.server.addr.port();
            let port = if port == 0 {
                "*".to_string()
            } else {
                port.to_string()
            };
            format!("http://localhost:{port} http://127.0.0.1:{port} http://[::1]:{port}")
        }
    };
    let csp = axum::http::HeaderValue::from_str(&preview::preview_csp(&frame_ancestors))
        .map_err(|_| StartError::Config(format!("not a header value: {frame_ancestors}")))?;
    Ok(preview::Previews { hosts, signer, csp })
}

/// A running server: its address, and a handle to stop it.
pub struct Server {
    pub addr: SocketAddr,
    pub state: AppState,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    /// Binds `config.server.addr` (port 0 picks a free port) and serves in the background.
    pub async fn start(config: Config) -> Result<Server, StartError> {
        let addr = config.server.addr;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| StartError::Bind { addr, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| StartError::Bind { addr, source })?;
        let opening = config.server.opening_connections;
        let state = build_state(config).await?;
        let listener = listener::Admission::new(listener, addr, opening);
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(serve(listener, state.clone(), shutdown.clone()));
        Ok(Server {
            addr,
            state,
            shutdown,
            task,
        })
    }

    /// Stops accepting, lets requests in flight finish, and stops background work.
    pub async fn stop(self) {
        self.shutdown.cancel();
        let _ = self.task.await;
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// Serves until `shutdown` is cancelled, then drains and cleans up.
async fn serve(listener: listener::Admission, state: AppState, shutdown: CancellationToken) {
    if let Err(e) = cluster::advertise(&state, listener.local_addr()).await {
        tracing::warn!(error = %e, "could not record this instance's internal address");
    }
    let maintenance = tokio::spawn(maintenance::run(state.clone(), shutdown.clone()));
    tokio::spawn(memory::return_freed(shutdown.clone()));
    let app = api::router(state.clone());
    // Work a previous process (or a dead instance) left unfinished continues
    // from its last step; afterwards the heartbeat keeps watch.
    let resumer = state.clone();
    tokio::spawn(async move {
        match agent::take_over(&resumer).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(runs = n, "resumed interrupted generations"),
            Err(e) => tracing::error!(error = %e, "could not resume interrupted generations"),
        }
    });
    let cluster = tokio::spawn(cluster::run(state.clone(), shutdown.clone()));
    let grace = Duration::from_secs(state.config.server.shutdown_grace_secs);
    let signal = shutdown.clone();
    // The listener admits a few opening connections at a time and turns
    // Nagle off (see `listener.rs`). The empty tap is what gives handlers
    // the client's address: axum implements `ConnectInfo<SocketAddr>` for
    // any tapped listener, and the orphan rule keeps us from doing it for
    // ours.
    let listener = listener.tap_io(|_| {});
    let server = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move { signal.cancelled().await });
    if let Err(e) = server.await {
        tracing::error!(error = %e, "server stopped with an error");
    }
    shutdown.cancel();
    // Agent tasks stop where they are; their stored state lets the next start resume them.
    state.agents.shutdown();
    state.agents.wait_idle(grace).await;
    let _ = cluster.await;
    // The stopped work is handed to the other instances at once.
    cluster::drain(&state).await;
    // The user's last saves reach the history before the database closes.
    git::shutdown(&state).await;
    if tokio::time::timeout(grace, maintenance).await.is_err() {
        tracing::warn!("background work did not stop within the grace period");
    }
    state.sandboxes.shutdown().await;
    state.events.close().await;
    state.db.close().await;
    tracing::info!("stopped");
}

/// Runs minicode until SIGTERM or Ctrl-C.
pub async fn run(config: Config) -> Result<(), StartError> {
    let server = Server::start(config).await?;
    tracing::info!(
        url = %server.url(),
        sandbox = server.state.config.sandbox.kind.as_str(),
        instance = server.state.agents.leases().instance(),
        "minicode is listening"
    );
    shutdown_signal().await;
    tracing::info!("shutting down");
    server.stop().await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
