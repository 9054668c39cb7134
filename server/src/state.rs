//! The state every handler can reach.

use std::sync::Arc;

use axum::extract::FromRef;
use leptos::config::LeptosOptions;

use crate::agent::registry::Agents;
use crate::auth::rate_limit::RateLimiter;
use crate::config::Config;
use crate::db::Db;
use crate::events::EventBus;
use crate::llm::models::Models;
use crate::sandbox::Sandboxes;
use crate::workspace::Workspaces;

/// What every handler can reach, in one allocation: cloning it (every
/// request, every open socket) is one reference count, not a copy of the
/// half-kilobyte of handles below.
#[derive(Clone)]
pub struct AppState(Arc<Services>);

impl AppState {
    pub fn new(services: Services) -> Self {
        AppState(Arc::new(services))
    }
}

impl std::ops::Deref for AppState {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.0
    }
}

/// Leptos' handlers take their options from the router's state.
impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos.clone()
    }
}

/// The server's services and settings (see [`AppState`]).
pub struct Services {
    pub config: Arc<Config>,
    pub db: Db,
    pub leptos: LeptosOptions,
    pub auth_limiter: Arc<RateLimiter>,
    pub events: EventBus,
    pub workspaces: Workspaces,
    pub sandboxes: Sandboxes,
    /// Generation runs and chat turns in progress.
    pub agents: Agents,
    /// The configured model providers.
    pub models: Arc<Models>,
    /// Serialises quota checks with the rows that record what they admitted.
    pub admissions: crate::quota::admissions::Admissions,
    /// Preview hosts and the key their tickets are signed with.
    pub previews: Arc<crate::preview::origin::Previews>,
    /// Published sites: their hosts and where deployments are kept.
    pub sites: Arc<crate::deploy::sites::Sites>,
    /// The projects' git repositories (their locks and waiting saves).
    pub git: Arc<crate::git::repo::Repos>,
    /// The clock of the live sockets' pings.
    pub heartbeat: crate::ws::heartbeat::Heartbeat,
}
