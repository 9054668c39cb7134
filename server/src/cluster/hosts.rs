//! Which instance runs each project's sandbox (`sandbox_hosts`): previews
//! that land elsewhere are forwarded there, and the per-user limit on
//! running previews counts every instance's. A leaf of `cluster`, so the
//! preview proxy, the agent and quotas can use it.

use uuid::Uuid;

use crate::db::{Backend, now_ms};
use crate::error::AppResult;
use crate::state::AppState;

/// Records that this instance runs the project's sandbox (a dev server
/// starting or running here), so previews that land elsewhere come here.
pub async fn host_sandbox(state: &AppState, project: Uuid) {
    if state.db.backend() != Backend::Postgres {
        return;
    }
    let result = sqlx::query(
        "INSERT INTO sandbox_hosts (project_id, instance_id, updated_at) \
         SELECT id, $2, $3 FROM projects WHERE id = $1 \
         ON CONFLICT (project_id) DO UPDATE SET instance_id = excluded.instance_id, updated_at = excluded.updated_at",
    )
    .bind(project.to_string())
    .bind(state.agents.leases().instance())
    .bind(now_ms())
    .execute(state.db.writer())
    .await;
    if let Err(e) = result {
        tracing::warn!(project_id = %project, error = %e, "could not record the sandbox's instance");
    }
}

/// The internal URL of another live instance that runs the project's
/// sandbox, if one does.
pub async fn sandbox_elsewhere(state: &AppState, project: Uuid) -> AppResult<Option<String>> {
    if state.db.backend() != Backend::Postgres {
        return Ok(None);
    }
    let lease_ms = i64::try_from(state.config.cluster.lease().as_millis()).unwrap_or(0);
    let url: Option<Option<String>> = sqlx::query_scalar(
        "SELECT i.internal_url FROM sandbox_hosts h JOIN instances i ON i.id = h.instance_id \
         WHERE h.project_id = $1 AND h.instance_id <> $2 AND i.heartbeat_at > $3 AND i.draining = 0",
    )
    .bind(project.to_string())
    .bind(state.agents.leases().instance())
    .bind(now_ms() - lease_ms)
    .fetch_optional(state.db.pool())
    .await?;
    Ok(url.flatten())
}

/// How many of `user`'s sandboxes (other than `project`'s) live instances
/// other than this one run: the per-user limit on running previews counts
/// them too.
pub async fn sandboxes_elsewhere(state: &AppState, user: Uuid, project: Uuid) -> AppResult<u64> {
    if state.db.backend() != Backend::Postgres {
        return Ok(0);
    }
    let lease_ms = i64::try_from(state.config.cluster.lease().as_millis()).unwrap_or(0);
    let count: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM sandbox_hosts h JOIN projects p ON p.id = h.project_id \
         JOIN instances i ON i.id = h.instance_id \
         WHERE p.user_id = $1 AND h.project_id <> $2 AND h.instance_id <> $3 AND i.heartbeat_at > $4",
    )
    .bind(user.to_string())
    .bind(project.to_string())
    .bind(state.agents.leases().instance())
    .bind(now_ms() - lease_ms)
    .fetch_one(state.db.pool())
    .await?;
    Ok(count.max(0) as u64)
}

/// Brings `sandbox_hosts` in line with the sandboxes running here. When a
/// project's sandbox runs here and on another live instance (its work moved
/// there, or two previews started at once), one place wins: the instance
/// doing the project's work, else the one recorded; the other stops its copy.
pub(super) async fn sync(state: &AppState) -> AppResult<()> {
    let instance = state.agents.leases().instance().to_string();
    let here: std::collections::HashSet<Uuid> =
        state.sandboxes.active().iter().map(|s| s.project).collect();
    let listed: Vec<String> =
        sqlx::query_scalar("SELECT project_id FROM sandbox_hosts WHERE instance_id = $1")
            .bind(&instance)
            .fetch_all(state.db.pool())
            .await?;
    for project in &listed {
        let id = crate::db::uuid(project);
        if !here.contains(&id) {
            sqlx::query("DELETE FROM sandbox_hosts WHERE project_id = $1 AND instance_id = $2")
                .bind(project)
                .bind(&instance)
                .execute(state.db.writer())
                .await?;
        }
    }
    for project in here {
        if listed.iter().any(|p| crate::db::uuid(p) == project) {
            continue;
        }
        let elsewhere = sandbox_elsewhere(state, project).await?.is_some();
        if elsewhere && state.agents.busy(project).is_none() {
            tracing::info!(project_id = %project, "the app runs on another instance now; stopping the copy here");
            state
                .sandboxes
                .stop_with_note(project, "The app now runs on another minicode instance.")
                .await;
        } else {
            host_sandbox(state, project).await;
        }
    }
    Ok(())
}
