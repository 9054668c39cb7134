//! The minicode server: configuration, database, accounts, projects, chats,
//! and the HTTP surface that serves the REST API and the Leptos pages.
//!
//! `main.rs` is a thin wrapper over [`run`]; tests call [`Server::start`] to run
//! the real server on a free port of 127.0.0.1.

pub mod api;
pub mod auth;
pub mod chats;
pub mod config;
pub mod db;
pub mod error;
pub mod files;
pub mod maintenance;
pub mod projects;
pub mod state;
pub mod telemetry;
mod ui;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use leptos::config::LeptosOptions;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::auth::rate_limit::RateLimiter;
use crate::config::Config;
use crate::db::Db;
use crate::state::AppState;

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
}

/// Connects to the database (migrating it) and assembles the shared state.
pub async fn build_state(config: Config) -> Result<AppState, StartError> {
    std::fs::create_dir_all(&config.data_dir).map_err(|source| StartError::DataDir {
        path: config.data_dir.display().to_string(),
        source,
    })?;
    let db = Db::connect(&config.database_url(), config.db_max_connections).await?;
    let leptos = LeptosOptions::builder()
        .output_name("minicode")
        .site_root(config.site_root.as_str())
        .site_pkg_dir("pkg")
        .site_addr(config.addr)
        .reload_port(config.reload_port)
        .env(leptos::config::Env::from(config.leptos_env.as_str()))
        .build();
    Ok(AppState {
        auth_limiter: Arc::new(RateLimiter::per_minute(config.auth_rate_per_minute)),
        config: Arc::new(config),
        db,
        leptos,
    })
}

/// A running server: its address, and a handle to stop it.
pub struct Server {
    pub addr: SocketAddr,
    pub state: AppState,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    /// Binds `config.addr` (port 0 picks a free port) and serves in the background.
    pub async fn start(config: Config) -> Result<Server, StartError> {
        let addr = config.addr;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| StartError::Bind { addr, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| StartError::Bind { addr, source })?;
        let state = build_state(config).await?;
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
async fn serve(listener: TcpListener, state: AppState, shutdown: CancellationToken) {
    let maintenance = tokio::spawn(maintenance::run(state.clone(), shutdown.clone()));
    let app = api::router(state.clone());
    let grace = Duration::from_secs(state.config.shutdown_grace_secs);
    let signal = shutdown.clone();
    let server = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move { signal.cancelled().await });
    if let Err(e) = server.await {
        tracing::error!(error = %e, "server stopped with an error");
    }
    shutdown.cancel();
    if tokio::time::timeout(grace, maintenance).await.is_err() {
        tracing::warn!("background work did not stop within the grace period");
    }
    state.db.close().await;
    tracing::info!("stopped");
}

/// Runs minicode until SIGTERM or Ctrl-C.
pub async fn run(config: Config) -> Result<(), StartError> {
    let server = Server::start(config).await?;
    tracing::info!(url = %server.url(), sandbox = server.state.config.sandbox.as_str(), "minicode is listening");
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
