//! Several minicode instances on one PostgreSQL database.
//!
//! Nothing here is needed for one instance, and all of it works with one:
//! the same code runs on SQLite (where a second instance is an error that
//! is reported) and on PostgreSQL. What the instances share, they share
//! through the database:
//!
//! - **Events.** Whichever instance stores a batch of a project's events
//!   takes their seqs from `event_seqs` in the same transaction and sends a
//!   notification (`minicode_events`, `"<project>:<last seq>"`). Every
//!   instance listens; one with clients of that project reads the new rows
//!   and delivers them (`events::EventBus::stored_elsewhere`). The stored
//!   log stays the source of truth.
//! - **Work.** A generation or chat turn runs under a lease in `work_leases`
//!   ([`leases`]); `BUSY` is the lease. The owner renews its leases every
//!   heartbeat. When an instance dies its leases expire and the next
//!   heartbeat of another instance takes its runs over ([`crate::agent::take_over`]).
//!   A cancel sent to any instance reaches the owner through its lease and a
//!   notification (`minicode_control`, `"cancel:<project>"`).
//! - **Previews.** [`hosts`] records which instance runs each project's
//!   sandbox; a preview request that lands elsewhere is forwarded to that
//!   instance's internal URL (`preview::forward`), and files saved elsewhere
//!   are written to its workspace (`follow_remote_files`).
//! - **Draining.** At SIGTERM an instance stops its work where it is (each
//!   step is persisted), drops its leases and says so (`"takeover"`), so
//!   another instance resumes the work at once.

pub mod channels;
pub mod config;
pub mod hosts;
pub mod leases;
pub mod locks;

use std::sync::Arc;
use std::time::Duration;

use minicode::{InstanceHealth, LeaseHealth};
use sqlx::Row;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::db::{Backend, Db, now_ms};
use crate::error::AppResult;
use crate::state::AppState;

/// This instance's id: the configured one, or a random one.
pub fn instance_id(configured: Option<&str>) -> Result<Arc<str>, String> {
    match configured.map(str::trim) {
        Some(id) if !id.is_empty() => {
            let fine = id.len() <= 64
                && id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
            if !fine {
                return Err(format!(
                    "MINICODE_INSTANCE_ID {id:?}: use at most 64 letters, digits, '-', '_' or '.'"
                ));
            }
            Ok(id.into())
        }
        _ => {
            let random = Uuid::new_v4().simple().to_string();
            Ok(format!("mc-{}", &random[..10]).into())
        }
    }
}

/// Records this instance as alive and clears the leases no live instance
/// holds any more, so their work is resumed here without waiting them out.
pub async fn register(db: &Db, instance: &str, lease: Duration) -> AppResult<()> {
    let now = now_ms();
    let lease_ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX / 4);
    if db.backend() == Backend::Sqlite {
        // One instance by design: whatever leases are there, their owner is
        // gone (a second instance is reported by the heartbeat, see `beat`).
        sqlx::query("DELETE FROM work_leases")
            .execute(db.writer())
            .await?;
    } else {
        // Leases of instances that stopped beating, and this id's own
        // (a restart under a fixed MINICODE_INSTANCE_ID).
        sqlx::query(
            "DELETE FROM work_leases WHERE instance_id = $1 OR instance_id NOT IN \
             (SELECT id FROM instances WHERE heartbeat_at > $2)",
        )
        .bind(instance)
        .bind(now - lease_ms)
        .execute(db.writer())
        .await?;
    }
    record_alive(db, instance, now).await
}

/// Inserts (or refreshes) this instance's row.
async fn record_alive(db: &Db, instance: &str, now: i64) -> AppResult<()> {
    sqlx::query(
        "INSERT INTO instances (id, started_at, heartbeat_at, draining) VALUES ($1, $2, $2, 0) \
         ON CONFLICT (id) DO UPDATE SET heartbeat_at = $2, draining = 0",
    )
    .bind(instance)
    .bind(now)
    .execute(db.writer())
    .await?;
    Ok(())
}

/// The other instances whose heartbeat is within the lease time, with it.
async fn others_alive(state: &AppState) -> AppResult<Vec<(String, i64)>> {
    let lease_ms = i64::try_from(state.config.cluster.lease().as_millis()).unwrap_or(0);
    Ok(sqlx::query_as(
        "SELECT id, heartbeat_at FROM instances WHERE id <> $1 AND heartbeat_at > $2 AND draining = 0",
    )
    .bind(state.agents.leases().instance())
    .bind(now_ms() - lease_ms)
    .fetch_all(state.db.pool())
    .await?)
}

/// On SQLite, another instance is one whose heartbeat moved since this one
/// started: a process that crashed a moment ago left a recent heartbeat,
/// but it never moves again.
struct SqliteWatch {
    at_start: std::collections::HashMap<String, i64>,
    warned: bool,
}

impl SqliteWatch {
    async fn check(&mut self, state: &AppState) -> AppResult<()> {
        if self.warned {
            return Ok(());
        }
        let live: Vec<String> = others_alive(state)
            .await?
            .into_iter()
            .filter(|(id, beat)| self.at_start.get(id).is_none_or(|start| beat > start))
            .map(|(id, _)| id)
            .collect();
        if !live.is_empty() {
            tracing::error!(
                others = ?live,
                "another minicode instance uses this SQLite database: SQLite supports one instance only \
                 (their work and events will collide); use PostgreSQL to run several"
            );
            self.warned = true;
        }
        Ok(())
    }
}

/// Records where the other instances reach this one (once it listens).
pub async fn advertise(state: &AppState, addr: std::net::SocketAddr) -> AppResult<()> {
    let url = state.config.cluster.internal_url(addr);
    sqlx::query("UPDATE instances SET internal_url = $1 WHERE id = $2")
        .bind(&url)
        .bind(state.agents.leases().instance())
        .execute(state.db.writer())
        .await?;
    Ok(())
}

/// Wakes the heartbeat loop early: another instance handed work over.
#[derive(Clone, Default)]
pub struct Wake(Arc<Notify>);

/// Renews the heartbeat and leases, takes over work of dead instances, and
/// (PostgreSQL) listens for other instances' events and requests. Runs
/// until `shutdown`.
pub async fn run(state: AppState, shutdown: CancellationToken) {
    let wake = Wake::default();
    let listener = tokio::spawn(listen(state.clone(), wake.clone(), shutdown.clone()));
    let files = state
        .events
        .take_remote_file_changes()
        .map(|changes| tokio::spawn(follow_remote_files(state.clone(), changes)));
    let mut tick = tokio::time::interval(state.config.cluster.heartbeat());
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut sqlite = match state.db.backend() {
        Backend::Sqlite => Some(SqliteWatch {
            at_start: others_alive(&state)
                .await
                .unwrap_or_default()
                .into_iter()
                .collect(),
            warned: false,
        }),
        Backend::Postgres => {
            if let Ok(others) = others_alive(&state).await
                && !others.is_empty()
            {
                let ids: Vec<&str> = others.iter().map(|(id, _)| id.as_str()).collect();
                tracing::info!(others = ?ids, "other instances share this database");
            }
            None
        }
    };
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            _ = tick.tick() => {}
            () = wake.0.notified() => {}
        }
        if let Err(e) = beat(&state, sqlite.as_mut()).await {
            tracing::warn!(error = %e, "heartbeat failed; retrying at the next one");
        }
    }
    listener.abort();
    if let Some(files) = files {
        files.abort();
    }
}

/// Files another instance saved in a project whose sandbox runs here are
/// written to the workspace, so the dev server (and hot reload) sees them.
async fn follow_remote_files(
    state: AppState,
    mut changes: tokio::sync::mpsc::UnboundedReceiver<crate::events::FileChanges>,
) {
    while let Some((project, paths)) = changes.recv().await {
        if !state
            .sandboxes
            .active()
            .iter()
            .any(|s| s.project == project)
        {
            continue;
        }
        match crate::files::refresh_workspace(&state, project, paths).await {
            Ok(0) => {}
            Ok(n) => {
                tracing::debug!(project_id = %project, files = n, "workspace follows another instance's saves")
            }
            Err(e) => {
                tracing::warn!(project_id = %project, error = %e, "could not write another instance's saves to the workspace")
            }
        }
    }
}

/// One heartbeat: renew, act on cancels and lost leases, take work over.
async fn beat(state: &AppState, sqlite: Option<&mut SqliteWatch>) -> AppResult<()> {
    let instance = state.agents.leases().instance().to_string();
    let now = now_ms();
    let renewed = sqlx::query("UPDATE instances SET heartbeat_at = $1 WHERE id = $2")
        .bind(now)
        .bind(&instance)
        .execute(state.db.writer())
        .await?
        .rows_affected();
    if renewed == 0 {
        // Removed as dead by someone (a very long pause): come back. Its
        // internal URL is advertised again at the next start.
        record_alive(&state.db, &instance, now).await?;
    }
    state.agents.heartbeat().await?;
    if let Some(watch) = sqlite {
        watch.check(state).await?;
    } else {
        hosts::sync(state).await?;
        crate::agent::take_over(state).await?;
    }
    // Rows of instances gone for long are only clutter.
    let forget_before =
        now - 100 * i64::try_from(state.config.cluster.lease().as_millis()).unwrap_or(0);
    sqlx::query("DELETE FROM instances WHERE heartbeat_at < $1")
        .bind(forget_before)
        .execute(state.db.writer())
        .await?;
    Ok(())
}

/// Receives other instances' notifications (PostgreSQL only). When the
/// connection drops, every project log is brought up to date once it is
/// back: notifications sent meanwhile are lost, the rows are not.
async fn listen(state: AppState, wake: Wake, shutdown: CancellationToken) {
    let mut wait = Duration::from_millis(100);
    loop {
        let mut listener = match state.db.listener().await {
            None => return,
            Some(Ok(listener)) => listener,
            Some(Err(e)) => {
                tracing::warn!(error = %e, "could not open the notification connection; retrying");
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(wait) => {}
                }
                wait = (wait * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        if let Err(e) = listener
            .listen_all([channels::EVENTS, channels::CONTROL])
            .await
        {
            tracing::warn!(error = %e, "could not LISTEN; retrying");
            continue;
        }
        wait = Duration::from_millis(100);
        // Whatever was announced while not listening.
        state.events.catch_up_all().await;
        loop {
            let next = tokio::select! {
                () = shutdown.cancelled() => return,
                next = listener.try_recv() => next,
            };
            match next {
                Ok(Some(note)) => dispatch(&state, &wake, note.channel(), note.payload()).await,
                Ok(None) => {
                    // Reconnected by sqlx: catch up on what was missed.
                    tracing::info!("notification connection re-established");
                    state.events.catch_up_all().await;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "notification connection lost");
                    break;
                }
            }
        }
    }
}

async fn dispatch(state: &AppState, wake: &Wake, channel: &str, payload: &str) {
    if channel == channels::EVENTS {
        let Some((project, seq)) = payload.split_once(':') else {
            return;
        };
        if let (Ok(project), Ok(seq)) = (project.parse::<Uuid>(), seq.parse::<u64>()) {
            state.events.stored_elsewhere(project, seq);
        }
        return;
    }
    if let Some(project) = payload.strip_prefix("cancel:") {
        if let Ok(project) = project.parse::<Uuid>()
            && state.agents.busy(project).is_some()
        {
            // Confirm through the lease (the notification only wakes us).
            wake.0.notify_one();
        }
    } else if payload == "takeover" {
        wake.0.notify_one();
    }
}

/// At shutdown, once this instance's work has stopped: its leases go, and
/// the others are told to take the work over now.
pub async fn drain(state: &AppState) {
    let instance = state.agents.leases().instance().to_string();
    let _ = sqlx::query("UPDATE instances SET draining = 1 WHERE id = $1")
        .bind(&instance)
        .execute(state.db.writer())
        .await;
    match state.agents.leases().release_all().await {
        Ok(0) => {}
        Ok(n) => tracing::info!(leases = n, "released the leases still held"),
        Err(e) => {
            tracing::warn!(error = %e, "could not release the leases; they expire on their own")
        }
    }
    let _ = sqlx::query("DELETE FROM sandbox_hosts WHERE instance_id = $1")
        .bind(&instance)
        .execute(state.db.writer())
        .await;
    // Work stopped by the shutdown released its lease as it ended: either
    // way, the others look for work to take over now, not at their next
    // heartbeat.
    state.db.notify(channels::CONTROL, "takeover").await;
    let _ = sqlx::query("DELETE FROM instances WHERE id = $1")
        .bind(&instance)
        .execute(state.db.writer())
        .await;
}

/// This instance, the live ones, and the leases this instance holds, as
/// `/health` reports them.
pub async fn health(
    state: &AppState,
) -> AppResult<(String, Vec<InstanceHealth>, Vec<LeaseHealth>)> {
    let instance = state.agents.leases().instance().to_string();
    let now = now_ms();
    let lease_ms = i64::try_from(state.config.cluster.lease().as_millis()).unwrap_or(0);
    let rows = sqlx::query(
        "SELECT id, started_at, heartbeat_at, draining FROM instances WHERE heartbeat_at > $1 ORDER BY id",
    )
    .bind(now - lease_ms)
    .fetch_all(state.db.pool())
    .await?;
    let mut instances = Vec::with_capacity(rows.len());
    for row in rows {
        instances.push(InstanceHealth {
            id: row.try_get("id")?,
            started_at: row.try_get("started_at")?,
            heartbeat_at: row.try_get("heartbeat_at")?,
            draining: row.try_get::<i64, _>("draining")? != 0,
        });
    }
    let leases = state
        .agents
        .leases()
        .held()
        .await?
        .into_iter()
        .map(|l| LeaseHealth {
            work: l.work,
            work_id: l.work_id,
            expires_in_ms: l.expires_ms - now,
        })
        .collect();
    Ok((instance, instances, leases))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_ids_are_checked_or_made_up() {
        assert_eq!(&*instance_id(Some("web-1.eu_2")).unwrap(), "web-1.eu_2");
        let made = instance_id(None).unwrap();
        assert!(made.starts_with("mc-") && made.len() == 13, "{made}");
        assert_ne!(instance_id(Some("  ")).unwrap(), made, "blank means random");
        for bad in ["a b", "a/b", "é", &"x".repeat(65)] {
            let err = instance_id(Some(bad)).unwrap_err();
            assert!(err.contains("MINICODE_INSTANCE_ID"), "{err}");
        }
    }

    #[test]
    fn the_internal_url_defaults_to_the_listening_address() {
        use clap::Parser;
        let config = crate::config::Config::parse_from(["minicode"]);
        let at = |addr: &str| config.cluster.internal_url(addr.parse().unwrap());
        assert_eq!(at("127.0.0.1:3000"), "http://127.0.0.1:3000");
        assert_eq!(at("0.0.0.0:8080"), "http://127.0.0.1:8080");
        assert_eq!(at("[::]:8080"), "http://[::1]:8080");
        assert_eq!(at("10.0.0.5:3000"), "http://10.0.0.5:3000");
        let config = crate::config::Config::parse_from([
            "minicode",
            "--internal-url",
            "http://minicode-a.internal:3000/",
        ]);
        assert_eq!(
            config.cluster.internal_url("0.0.0.0:3000".parse().unwrap()),
            "http://minicode-a.internal:3000"
        );
    }
}
