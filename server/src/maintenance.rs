//! Periodic housekeeping: expired sessions now; idle workspaces and sandboxes
//! as those arrive.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::state::AppState;

const EVERY: Duration = Duration::from_secs(15 * 60);

pub async fn run(state: AppState, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(EVERY);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        match crate::auth::service::purge_expired_sessions(&state).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(sessions = n, "expired sessions removed"),
            Err(e) => tracing::warn!(error = %e, "could not remove expired sessions"),
        }
    }
}
