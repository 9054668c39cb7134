//! Leases on running work, kept in the database (`work_leases`), so that
//! "this project is busy" holds across every instance on the database and
//! work whose instance died can be taken over.
//!
//! A lease names the project, the work (a generation run or a chat turn), the
//! instance running it and when it expires. Its owner renews every lease it
//! holds once per heartbeat; a lease not renewed for the lease time belongs
//! to nobody, and the next claim on the project replaces it. Claiming is one
//! statement (an upsert that only overwrites an expired row), so two
//! instances racing for a project cannot both win.

use std::sync::Arc;
use std::time::Duration;

use sqlx::Row;
use uuid::Uuid;

use crate::db::{Db, now_ms};
use crate::error::AppResult;

/// What a live lease says about a project.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    pub project: Uuid,
    /// `generation` or `chat`.
    pub work: String,
    pub work_id: Uuid,
    pub chat: Option<Uuid>,
    pub instance: String,
    pub expires_ms: i64,
    pub cancel_requested: bool,
}

/// This instance's view of the lease table. Cheap to clone.
#[derive(Clone)]
pub struct Leases {
    db: Db,
    instance: Arc<str>,
    ttl: Duration,
}

impl Leases {
    pub fn new(db: Db, instance: Arc<str>, ttl: Duration) -> Self {
        Self { db, instance, ttl }
    }

    pub fn instance(&self) -> &str {
        &self.instance
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    fn expiry(&self) -> i64 {
        now_ms() + i64::try_from(self.ttl.as_millis()).unwrap_or(i64::MAX / 4)
    }

    /// Takes the project for this instance unless a live lease holds it.
    /// `Ok(None)` when claimed; `Ok(Some(work))` names what holds it
    /// (`generation` or `chat`).
    pub async fn claim(
        &self,
        project: Uuid,
        work: &str,
        work_id: Uuid,
        chat: Option<Uuid>,
    ) -> AppResult<Option<String>> {
        // Inserts, or replaces an expired lease; a live one is left alone
        // and the statement returns nothing.
        let claimed = sqlx::query(
            "INSERT INTO work_leases (project_id, work, work_id, chat_id, instance_id, expires_at, cancel_requested) \
             VALUES ($1, $2, $3, $4, $5, $6, 0) \
             ON CONFLICT (project_id) DO UPDATE SET work = excluded.work, work_id = excluded.work_id, \
                 chat_id = excluded.chat_id, instance_id = excluded.instance_id, \
                 expires_at = excluded.expires_at, cancel_requested = 0 \
             WHERE work_leases.expires_at <= $7 \
             RETURNING work_id",
        )
        .bind(project.to_string())
        .bind(work)
        .bind(work_id.to_string())
        .bind(chat.map(|c| c.to_string()))
        .bind(&*self.instance)
        .bind(self.expiry())
        .bind(now_ms())
        .fetch_optional(self.db.writer())
        .await?;
        if claimed.is_some() {
            return Ok(None);
        }
        // Released between the two statements: it was busy a moment ago.
        let holder = self.live(project).await?;
        Ok(Some(holder.map_or_else(|| work.to_string(), |l| l.work)))
    }

    /// Gives the project up, if `work_id` still holds it here.
    pub async fn release(&self, project: Uuid, work_id: Uuid) -> AppResult<()> {
        sqlx::query(
            "DELETE FROM work_leases WHERE project_id = $1 AND work_id = $2 AND instance_id = $3",
        )
        .bind(project.to_string())
        .bind(work_id.to_string())
        .bind(&*self.instance)
        .execute(self.db.writer())
        .await?;
        Ok(())
    }

    /// The project's live lease, whoever holds it.
    pub async fn live(&self, project: Uuid) -> AppResult<Option<Lease>> {
        let row = sqlx::query(
            "SELECT project_id, work, work_id, chat_id, instance_id, expires_at, cancel_requested \
             FROM work_leases WHERE project_id = $1 AND expires_at > $2",
        )
        .bind(project.to_string())
        .bind(now_ms())
        .fetch_optional(self.db.pool())
        .await?;
        row.as_ref().map(lease_from_row).transpose()
    }

    /// Asks the holder of the project's live lease to cancel its work
    /// (`chat`: only that chat's turn). True when there was such a lease.
    pub async fn request_cancel(&self, project: Uuid, chat: Option<Uuid>) -> AppResult<bool> {
        let sql = match chat {
            None => {
                "UPDATE work_leases SET cancel_requested = 1 \
                 WHERE project_id = $1 AND expires_at > $2"
            }
            Some(_) => {
                "UPDATE work_leases SET cancel_requested = 1 \
                 WHERE project_id = $1 AND expires_at > $2 AND work = 'chat' AND chat_id = $3"
            }
        };
        let mut query = sqlx::query(sql).bind(project.to_string()).bind(now_ms());
        if let Some(chat) = chat {
            query = query.bind(chat.to_string());
        }
        Ok(query.execute(self.db.writer()).await?.rows_affected() > 0)
    }

    /// Wakes the instances (the owner acts on the cancel at once rather
    /// than at its next heartbeat).
    pub async fn announce_cancel(&self, project: Uuid) {
        self.db
            .notify(
                crate::cluster::channels::CONTROL,
                &format!("cancel:{project}"),
            )
            .await;
    }

    /// Renews every lease this instance holds and returns them: work running
    /// here whose lease is not among them was taken over and must stop.
    pub async fn renew(&self) -> AppResult<Vec<Lease>> {
        let rows = sqlx::query(
            "UPDATE work_leases SET expires_at = $1 WHERE instance_id = $2 \
             RETURNING project_id, work, work_id, chat_id, instance_id, expires_at, cancel_requested",
        )
        .bind(self.expiry())
        .bind(&*self.instance)
        .fetch_all(self.db.writer())
        .await?;
        rows.iter().map(lease_from_row).collect()
    }

    /// The live leases this instance holds (for `/health`).
    pub async fn held(&self) -> AppResult<Vec<Lease>> {
        let rows = sqlx::query(
            "SELECT project_id, work, work_id, chat_id, instance_id, expires_at, cancel_requested \
             FROM work_leases WHERE instance_id = $1 AND expires_at > $2 ORDER BY project_id",
        )
        .bind(&*self.instance)
        .bind(now_ms())
        .fetch_all(self.db.pool())
        .await?;
        rows.iter().map(lease_from_row).collect()
    }

    /// Drops every lease of this instance (graceful drain: others take the
    /// work over at once instead of waiting for the leases to expire).
    pub async fn release_all(&self) -> AppResult<u64> {
        Ok(
            sqlx::query("DELETE FROM work_leases WHERE instance_id = $1")
                .bind(&*self.instance)
                .execute(self.db.writer())
                .await?
                .rows_affected(),
        )
    }
}

fn lease_from_row(row: &sqlx::any::AnyRow) -> AppResult<Lease> {
    let chat: Option<String> = row.try_get("chat_id")?;
    Ok(Lease {
        project: crate::db::uuid(&row.try_get::<String, _>("project_id")?),
        work: row.try_get("work")?,
        work_id: crate::db::uuid(&row.try_get::<String, _>("work_id")?),
        chat: chat.as_deref().map(crate::db::uuid),
        instance: row.try_get("instance_id")?,
        expires_ms: row.try_get("expires_at")?,
        cancel_requested: row.try_get::<i64, _>("cancel_requested")? != 0,
    })
}
