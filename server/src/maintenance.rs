//! Periodic housekeeping: expired sessions, idle sandboxes, unsent images,
//! stale workspaces.
//!
//! Cleaning up never loses work: a project's files are all in the database
//! (`generated_files`), and a removed workspace is rebuilt from there the
//! next time the project's app runs.

use std::time::Duration;

use sqlx::Row;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::db::now_ms;
use crate::error::AppResult;
use crate::state::AppState;

const EVERY: Duration = Duration::from_secs(5 * 60);

pub async fn run(state: AppState, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(EVERY);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        sweep(&state).await;
    }
}

/// One round of housekeeping.
pub async fn sweep(state: &AppState) {
    match crate::auth::service::purge_expired_sessions(state).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(sessions = n, "expired sessions removed"),
        Err(e) => tracing::warn!(error = %e, "could not remove expired sessions"),
    }
    let idle = Duration::from_secs(state.config.sandbox.idle_minutes * 60);
    let stopped = state.sandboxes.stop_idle(idle).await;
    if !stopped.is_empty() {
        tracing::info!(count = stopped.len(), "idle sandboxes stopped");
    }
    match crate::images::remove_unsent(state).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(count = n, "unsent images removed"),
        Err(e) => tracing::warn!(error = %e, "could not remove unsent images"),
    }
    match crate::deploy::remove_orphans(state).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(count = n, "files of deleted deployments removed"),
        Err(e) => tracing::warn!(error = %e, "could not clean up deployments"),
    }
    let max_age = Duration::from_secs(state.config.workspace.idle_hours * 3600);
    match remove_stale_workspaces(state, max_age).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(count = n, "stale workspaces removed"),
        Err(e) => tracing::warn!(error = %e, "could not clean up workspaces"),
    }
}

/// Removes the workspace folders of projects nothing happened in for
/// `max_age` (and of projects that no longer exist). Returns how many.
pub async fn remove_stale_workspaces(state: &AppState, max_age: Duration) -> AppResult<usize> {
    let cutoff = now_ms() - i64::try_from(max_age.as_millis()).unwrap_or(i64::MAX / 2);
    let mut removed = 0;
    for project in state.workspaces.all().await {
        let row = sqlx::query("SELECT last_active_at FROM projects WHERE id = $1")
            .bind(project.to_string())
            .fetch_optional(state.db.pool())
            .await?;
        let stale = match row {
            None => true,
            Some(row) => {
                row.try_get::<i64, _>("last_active_at")? < cutoff
                    && !state.sandboxes.used_within(project, max_age)
            }
        };
        if stale {
            remove_workspace(state, project).await;
            removed += 1;
        }
    }
    Ok(removed)
}

async fn remove_workspace(state: &AppState, project: Uuid) {
    state.sandboxes.stop(project).await;
    if let Err(e) = state.workspaces.remove(project).await {
        tracing::warn!(project_id = %project, error = %e, "could not remove a workspace");
    }
}
