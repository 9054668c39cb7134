//! The per-project event log: every event a project's WebSocket clients see.
//!
//! [`EventBus::publish`] gives an event the project's next `seq`, serialises
//! it once and queues it for the database (`events` table). A single writer
//! task stores what is queued in one transaction (group commit: while one
//! batch is written the next gathers), and only then delivers the batch: it
//! enters a bounded in-memory ring and goes to live subscribers. So every
//! seq a client has seen is stored and can be replayed, also after a crash.
//! A client that reconnects asks for everything after its last seq: the
//! tail comes from memory, anything older from the database.
//!
//! When the database cannot store a batch the writer retries it, with
//! back-off, until it can: nothing is dropped. Meanwhile the queue fills and
//! publishers wait (a generation pauses), rather than events being lost.
//!
//! Seq numbers only grow. After a restart the next seq jumps past the last
//! stored one by more than the writer can ever have had pending.

mod writer;

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use axum::extract::ws::Utf8Bytes;
use minicode::protocol::{ServerEvent, ServerFrame};
use sqlx::Row;
use tokio::sync::broadcast;
use uuid::Uuid;

use crate::db::{Db, now_ms};
use crate::error::AppResult;

/// Events kept in memory per project for fast replay.
const RING: usize = 4096;
/// Frames a slow subscriber may fall behind before it is told to resync.
const SUBSCRIBER_QUEUE: usize = 8192;
/// Most events the writer holds before it applies back-pressure.
pub(crate) const WRITER_PENDING: usize = 16_384;

/// A published event: its seq and the exact JSON sent to clients.
#[derive(Debug)]
pub struct Frame {
    pub seq: u64,
    pub kind: &'static str,
    /// The chat whose turn published this event (`message_start` … `status
    /// idle`); `None` for the project's other events. Lets a chat's socket
    /// forward and replay that chat's events only.
    pub chat: Option<Uuid>,
    /// Serialised once; every socket's text message is a reference-counted
    /// clone of these bytes, not a copy.
    pub json: Utf8Bytes,
    pub created_ms: i64,
}

struct ProjectLog {
    /// The last seq handed out. Held while seqs are assigned and the frames
    /// queued, so the writer receives each project's frames in seq order.
    assigned: tokio::sync::Mutex<u64>,
    /// Guards the stored tail and the broadcast send together, so every
    /// subscriber sees frames in seq order.
    inner: Mutex<LogInner>,
    tx: broadcast::Sender<Arc<Frame>>,
}

struct LogInner {
    /// The newest seq stored and delivered.
    last_seq: u64,
    recent: VecDeque<Arc<Frame>>,
}

impl ProjectLog {
    /// Called by the writer once `frames` are stored: they join the ring
    /// and go to live subscribers, in seq order.
    fn deliver(&self, frames: &[Arc<Frame>]) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        for frame in frames {
            inner.last_seq = frame.seq;
            if inner.recent.len() == RING {
                inner.recent.pop_front();
            }
            inner.recent.push_back(frame.clone());
            // No receivers is fine: nobody is watching right now.
            let _ = self.tx.send(frame.clone());
        }
    }
}

/// Shared by the whole server. Cheap to clone.
#[derive(Clone)]
pub struct EventBus {
    projects: Arc<Mutex<HashMap<Uuid, Arc<ProjectLog>>>>,
    db: Db,
    writer: writer::Handle,
}

impl EventBus {
    /// Starts the database writer. Call [`EventBus::close`] at shutdown.
    pub fn new(db: Db) -> Self {
        let writer = writer::spawn(db.clone());
        Self {
            projects: Arc::default(),
            db,
            writer,
        }
    }

    async fn log(&self, project: Uuid) -> AppResult<Arc<ProjectLog>> {
        if let Some(log) = self.lock().get(&project) {
            return Ok(log.clone());
        }
        let stored: Option<i64> =
            sqlx::query_scalar("SELECT MAX(seq) FROM events WHERE project_id = $1")
                .bind(project.to_string())
                .fetch_one(self.db.pool())
                .await?;
        let start = match stored {
            Some(seq) => seq.max(0) as u64 + WRITER_PENDING as u64 + 1,
            None => 0,
        };
        let mut projects = self.lock();
        let log = projects.entry(project).or_insert_with(|| {
            Arc::new(ProjectLog {
                assigned: tokio::sync::Mutex::new(start),
                inner: Mutex::new(LogInner {
                    last_seq: start,
                    recent: VecDeque::with_capacity(64),
                }),
                tx: broadcast::channel(SUBSCRIBER_QUEUE).0,
            })
        });
        Ok(log.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Arc<ProjectLog>>> {
        self.projects.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Publishes one event to the project's log and subscribers; returns its seq.
    pub async fn publish(&self, project: Uuid, event: ServerEvent) -> AppResult<u64> {
        let seqs = self.publish_many(project, vec![event]).await?;
        Ok(seqs.last().copied().unwrap_or_default())
    }

    /// Publishes an event the caller's work does not depend on (progress,
    /// file and state notifications): if it cannot be stored the failure is
    /// logged here, once, and the work goes on. The one "publish and log".
    pub async fn emit(&self, project: Uuid, event: ServerEvent) {
        let kind = event.kind();
        if let Err(e) = self.publish(project, event).await {
            tracing::warn!(project_id = %project, kind, error = %e, "could not publish an event");
        }
    }

    /// [`emit`](Self::emit) for several events, in order.
    pub async fn emit_many(&self, project: Uuid, events: Vec<ServerEvent>) {
        let count = events.len();
        if let Err(e) = self.publish_many(project, events).await {
            tracing::warn!(project_id = %project, count, error = %e, "could not publish events");
        }
    }

    /// [`emit`](Self::emit) for an event of a chat turn.
    pub async fn emit_for_chat(&self, project: Uuid, chat: Uuid, event: ServerEvent) {
        let kind = event.kind();
        if let Err(e) = self.publish_for_chat(project, chat, event).await {
            tracing::warn!(project_id = %project, chat_id = %chat, kind, error = %e, "could not publish a chat event");
        }
    }

    /// Publishes one event of a chat turn, tagged with its chat (see [`Frame::chat`]).
    pub async fn publish_for_chat(
        &self,
        project: Uuid,
        chat: Uuid,
        event: ServerEvent,
    ) -> AppResult<u64> {
        let seqs = self
            .publish_tagged(project, Some(chat), vec![event])
            .await?;
        Ok(seqs.last().copied().unwrap_or_default())
    }

    /// Publishes several events in order, under one lock. Returns once they
    /// are queued for the database (waiting while the queue is full); they
    /// reach subscribers when stored.
    pub async fn publish_many(
        &self,
        project: Uuid,
        events: Vec<ServerEvent>,
    ) -> AppResult<Vec<u64>> {
        self.publish_tagged(project, None, events).await
    }

    async fn publish_tagged(
        &self,
        project: Uuid,
        chat: Option<Uuid>,
        events: Vec<ServerEvent>,
    ) -> AppResult<Vec<u64>> {
        let log = self.log(project).await?;
        let now = now_ms();
        let mut stored = Vec::with_capacity(events.len());
        let mut seqs = Vec::with_capacity(events.len());
        let mut assigned = log.assigned.lock().await;
        {
            for event in events {
                *assigned += 1;
                let seq = *assigned;
                let kind = event.kind();
                let json: Utf8Bytes = serde_json::to_string(&ServerFrame {
                    event,
                    timestamp: now,
                    seq: Some(seq),
                    correlation_id: None,
                })
                .unwrap_or_default()
                .into();
                let frame = Arc::new(Frame {
                    seq,
                    kind,
                    chat,
                    json,
                    created_ms: now,
                });
                stored.push(frame);
                seqs.push(seq);
            }
        }
        self.writer.store(project, log.clone(), stored).await;
        drop(assigned);
        Ok(seqs)
    }

    /// Live frames from now on, and the seq of the newest frame before them.
    pub async fn subscribe(
        &self,
        project: Uuid,
    ) -> AppResult<(broadcast::Receiver<Arc<Frame>>, u64)> {
        let log = self.log(project).await?;
        let inner = log.inner.lock().unwrap_or_else(|p| p.into_inner());
        Ok((log.tx.subscribe(), inner.last_seq))
    }

    /// The newest seq of a project (0 when it has no events).
    pub async fn last_seq(&self, project: Uuid) -> AppResult<u64> {
        let log = self.log(project).await?;
        let inner = log.inner.lock().unwrap_or_else(|p| p.into_inner());
        Ok(inner.last_seq)
    }

    /// Every frame with `after < seq <= up_to`, oldest first: from memory when
    /// the ring still holds them, from the database otherwise.
    pub async fn replay(
        &self,
        project: Uuid,
        after: u64,
        up_to: u64,
    ) -> AppResult<Vec<Arc<Frame>>> {
        self.replay_where(project, None, after, up_to).await
    }

    /// Like [`EventBus::replay`], but only the frames of one chat's turns.
    pub async fn replay_chat(
        &self,
        project: Uuid,
        chat: Uuid,
        after: u64,
        up_to: u64,
    ) -> AppResult<Vec<Arc<Frame>>> {
        self.replay_where(project, Some(chat), after, up_to).await
    }

    async fn replay_where(
        &self,
        project: Uuid,
        chat: Option<Uuid>,
        after: u64,
        up_to: u64,
    ) -> AppResult<Vec<Arc<Frame>>> {
        if after >= up_to {
            return Ok(Vec::new());
        }
        let log = self.log(project).await?;
        let (from_memory, ring_start) = {
            let inner = log.inner.lock().unwrap_or_else(|p| p.into_inner());
            let ring_start = inner.recent.front().map(|f| f.seq).unwrap_or(u64::MAX);
            let frames: Vec<Arc<Frame>> = inner
                .recent
                .iter()
                .filter(|f| f.seq > after && f.seq <= up_to)
                .filter(|f| chat.is_none() || f.chat == chat)
                .cloned()
                .collect();
            (frames, ring_start)
        };
        if after + 1 >= ring_start {
            return Ok(from_memory);
        }
        // The older part is in the database (the ring only holds stored frames).
        // Binds are positional: the chat, when filtering, is the last one ($4).
        let sql = match chat {
            None => {
                "SELECT seq, kind, chat_id, frame, created_at FROM events \
                 WHERE project_id = $1 AND seq > $2 AND seq < $3 ORDER BY seq"
            }
            Some(_) => {
                "SELECT seq, kind, chat_id, frame, created_at FROM events \
                 WHERE project_id = $1 AND seq > $2 AND seq < $3 AND chat_id = $4 ORDER BY seq"
            }
        };
        let mut query = sqlx::query(sql)
            .bind(project.to_string())
            .bind(after as i64)
            .bind(ring_start.min(up_to + 1) as i64);
        if let Some(chat) = chat {
            query = query.bind(chat.to_string());
        }
        let rows = query.fetch_all(self.db.pool()).await?;
        let mut frames = Vec::with_capacity(rows.len() + from_memory.len());
        for row in rows {
            let kind: String = row.try_get("kind")?;
            let chat: Option<String> = row.try_get("chat_id")?;
            frames.push(Arc::new(Frame {
                seq: row.try_get::<i64, _>("seq")?.max(0) as u64,
                kind: static_kind(&kind),
                chat: chat.as_deref().map(crate::db::uuid),
                json: row.try_get::<String, _>("frame")?.into(),
                created_ms: row.try_get("created_at")?,
            }));
        }
        frames.extend(from_memory);
        Ok(frames)
    }

    /// At shutdown, before the database closes: stores what is queued (or
    /// logs exactly what could not be stored); later events are dropped.
    pub async fn close(&self) {
        self.writer.close().await;
    }

    /// Waits until everything published so far is stored and delivered.
    pub async fn flush(&self) {
        self.writer.flush().await;
    }

    /// False while the database refuses to store events (the writer is
    /// retrying): new work should wait or be refused with 503.
    pub fn storing(&self) -> bool {
        self.writer.storing()
    }

    /// Forgets a deleted project's in-memory log (its rows go with the project).
    pub fn forget(&self, project: Uuid) {
        self.lock().remove(&project);
    }
}

/// Maps a stored kind back to the static name (kinds are a closed set).
fn static_kind(kind: &str) -> &'static str {
    const KINDS: [&str; 25] = [
        "connection_established",
        "state",
        "state_change",
        "phase_designing",
        "phase_designed",
        "file_start",
        "file_chunk",
        "file_end",
        "file_deleted",
        "files_written",
        "deps_installed",
        "server_started",
        "sandbox_log",
        "generation_complete",
        "error",
        "pong",
        "message_start",
        "message_delta",
        "tool_use",
        "tool_result",
        "status",
        "message_complete",
        "checkpoint_created",
        "resync",
        "resumed",
    ];
    KINDS
        .iter()
        .find(|k| **k == kind)
        .copied()
        .unwrap_or("event")
}
