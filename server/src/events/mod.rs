//! The per-project event log: every event a project's WebSocket clients see.
//!
//! [`EventBus::publish`] queues an event for the database. A single writer
//! task per instance stores what is queued in one transaction (group
//! commit: while one batch is written the next gathers). In that
//! transaction it takes the project's next seqs from `event_seqs` and
//! serialises each frame once, with its seq. Only then is the batch
//! delivered: it enters a bounded in-memory ring and goes to live
//! subscribers. So every seq a client has seen is stored and can be
//! replayed, also after a crash. A client that reconnects asks for
//! everything after its last seq: the tail comes from memory, anything
//! older from the database.
//!
//! Several instances may write one project's log (PostgreSQL): the row lock
//! on `event_seqs` makes seqs unique, dense, and committed in order. Each
//! batch announces itself (`cluster::channels::EVENTS`); an instance whose
//! clients watch that project reads the rows it has not delivered yet
//! ([`EventBus::stored_elsewhere`]). Delivery always goes through the
//! stored log in seq order: a gap before a batch is read from the database
//! first, and a seq is never delivered twice.
//!
//! When the database cannot store a batch the writer retries it, with
//! back-off, until it can: nothing is dropped. Meanwhile the queue fills and
//! publishers wait (a generation pauses), rather than events being lost.

mod writer;

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use minicode::protocol::ServerEvent;
use sqlx::Row;
use uuid::Uuid;

use crate::db::{Backend, Db, now_ms};
use crate::error::AppResult;

/// Sockets the fan-out writes to between yields to the runtime.
const FAN_OUT_GROUP: usize = 64;
/// Events kept in memory per project for fast replay.
const RING: usize = 4096;
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
    /// The whole WebSocket text frame, framed once: every socket writes
    /// these shared bytes (server frames are not masked, so they are the
    /// same for every client).
    wire: Bytes,
    /// Where the JSON starts in `wire` (after the frame's header).
    json_at: u8,
    pub created_ms: i64,
}

impl Frame {
    pub fn new(
        seq: u64,
        kind: &'static str,
        chat: Option<Uuid>,
        json: &str,
        created_ms: i64,
    ) -> Self {
        Frame {
            seq,
            kind,
            chat,
            wire: crate::ws::frame::text(json),
            json_at: crate::ws::frame::header_len(json.len()) as u8,
            created_ms,
        }
    }

    /// The event's JSON, as clients receive it.
    pub fn json(&self) -> &str {
        std::str::from_utf8(&self.wire[self.json_at as usize..]).unwrap_or_default()
    }

    /// The frame's bytes on the wire.
    pub fn wire(&self) -> &Bytes {
        &self.wire
    }
}

/// Something that takes a project's live frames: a client's socket. Called
/// with each stored batch, in seq order, never twice with a seq, until its
/// [`Subscription`] is dropped.
pub trait Subscriber: Send + Sync {
    fn deliver(&self, frames: &[Arc<Frame>]);
}

/// An event waiting for the writer to give it a seq and store it.
pub(crate) struct Unsent {
    pub event: ServerEvent,
    pub chat: Option<Uuid>,
    pub created_ms: i64,
}

struct ProjectLog {
    /// Held while frames are delivered (and a gap before them is read from
    /// the database), so delivery is in seq order whoever stored them.
    delivering: tokio::sync::Mutex<()>,
    /// Guards the stored tail and the subscribers together, so a new
    /// subscriber's starting seq and its first live frame never miss.
    inner: Mutex<LogInner>,
    /// The newest seq another instance announced for this project.
    announced: AtomicU64,
    /// A catch-up task is scheduled (announcements coalesce into it).
    catching_up: AtomicBool,
    /// Where the files other instances changed are announced (see
    /// [`EventBus::take_remote_file_changes`]); set with several instances.
    remote_files: Option<RemoteFiles>,
}

/// A project and the paths another instance saved or deleted in it.
pub type FileChanges = (Uuid, Vec<String>);
type RemoteFiles = tokio::sync::mpsc::UnboundedSender<FileChanges>;

struct LogInner {
    /// The newest seq delivered.
    last_seq: u64,
    recent: VecDeque<Arc<Frame>>,
    /// The project's live sockets.
    subscribers: Vec<Arc<dyn Subscriber>>,
    /// Stored frames the fan-out has not sent to the subscribers yet.
    unsent: Vec<Arc<Frame>>,
    /// The fan-out task is running (it ends when `unsent` is empty).
    fanning_out: bool,
}

impl ProjectLog {
    fn last_seq(&self) -> u64 {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .last_seq
    }

    /// Delivers frames read from the database (another instance stored
    /// them), and passes on which files they changed.
    fn deliver_remote(self: &Arc<Self>, project: Uuid, frames: &[Arc<Frame>]) {
        let last = self.last_seq();
        self.deliver(frames);
        let Some(remote_files) = &self.remote_files else {
            return;
        };
        let paths: Vec<String> = frames
            .iter()
            .filter(|f| f.seq > last && matches!(f.kind, "file_end" | "file_deleted"))
            .filter_map(|f| {
                let value: serde_json::Value = serde_json::from_str(f.json()).ok()?;
                value["payload"]["path"].as_str().map(str::to_string)
            })
            .collect();
        if !paths.is_empty() {
            let _ = remote_files.send((project, paths));
        }
    }

    /// Frames that are stored, in seq order, join the ring and are handed
    /// to the project's fan-out; any already delivered are skipped. Call
    /// with `delivering` held.
    fn deliver(self: &Arc<Self>, frames: &[Arc<Frame>]) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        for frame in frames {
            if frame.seq <= inner.last_seq {
                continue;
            }
            inner.last_seq = frame.seq;
            if inner.recent.len() == RING {
                inner.recent.pop_front();
            }
            inner.recent.push_back(frame.clone());
            if !inner.subscribers.is_empty() {
                inner.unsent.push(frame.clone());
            }
        }
        if !inner.unsent.is_empty() && !inner.fanning_out {
            inner.fanning_out = true;
            tokio::spawn(tokio::task::unconstrained(self.clone().fan_out()));
        }
    }

    /// Sends stored frames to every subscriber, all that are waiting at
    /// once: while one batch goes out, the next gathers, so under load each
    /// socket gets several events per write. Yields between groups of
    /// sockets so that saves and the writer keep going meanwhile; runs
    /// outside tokio's cooperative budget (a spent budget would make every
    /// later socket's write "not ready" and hand it to that socket's task).
    async fn fan_out(self: Arc<Self>) {
        loop {
            let (batch, subscribers) = {
                let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
                if inner.unsent.is_empty() {
                    inner.fanning_out = false;
                    return;
                }
                // A copy of the list: sockets come and go while it is written.
                (std::mem::take(&mut inner.unsent), inner.subscribers.clone())
            };
            for (i, subscriber) in subscribers.iter().enumerate() {
                subscriber.deliver(&batch);
                if i % FAN_OUT_GROUP == FAN_OUT_GROUP - 1 {
                    tokio::task::yield_now().await;
                }
            }
        }
    }

    /// Whether everything delivered has been sent to the subscribers.
    fn fanned_out(&self) -> bool {
        !self
            .inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .fanning_out
    }
}

/// Shared by the whole server. Cheap to clone.
#[derive(Clone)]
pub struct EventBus {
    projects: Arc<Mutex<HashMap<Uuid, Arc<ProjectLog>>>>,
    db: Db,
    writer: writer::Handle,
    remote_files: RemoteFiles,
    remote_files_rx: Arc<Mutex<Option<tokio::sync::mpsc::UnboundedReceiver<FileChanges>>>>,
}

impl EventBus {
    /// Starts the database writer. Call [`EventBus::close`] at shutdown.
    pub fn new(db: Db) -> Self {
        let projects: Arc<Mutex<HashMap<Uuid, Arc<ProjectLog>>>> = Arc::default();
        let writer = writer::spawn(db.clone());
        let (remote_files, rx) = tokio::sync::mpsc::unbounded_channel();
        Self {
            projects,
            db,
            writer,
            remote_files,
            remote_files_rx: Arc::new(Mutex::new(Some(rx))),
        }
    }

    /// The files other instances change, as their events arrive here (once:
    /// the cluster module keeps the workspaces of sandboxes running here in
    /// step). Nothing arrives with one instance.
    pub fn take_remote_file_changes(
        &self,
    ) -> Option<tokio::sync::mpsc::UnboundedReceiver<FileChanges>> {
        self.remote_files_rx
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }

    async fn log(&self, project: Uuid) -> AppResult<Arc<ProjectLog>> {
        if let Some(log) = self.lock().get(&project) {
            return Ok(log.clone());
        }
        let stored: Option<i64> =
            sqlx::query_scalar("SELECT last_seq FROM event_seqs WHERE project_id = $1")
                .bind(project.to_string())
                .fetch_optional(self.db.pool())
                .await?;
        let start = stored.unwrap_or(0).max(0) as u64;
        let (log, created) = {
            let mut projects = self.lock();
            let mut created = false;
            let log = projects
                .entry(project)
                .or_insert_with(|| {
                    created = true;
                    Arc::new(ProjectLog {
                        delivering: tokio::sync::Mutex::new(()),
                        inner: Mutex::new(LogInner {
                            last_seq: start,
                            recent: VecDeque::with_capacity(64),
                            subscribers: Vec::new(),
                            unsent: Vec::new(),
                            fanning_out: false,
                        }),
                        announced: AtomicU64::new(start),
                        catching_up: AtomicBool::new(false),
                        remote_files: self.shared().then(|| self.remote_files.clone()),
                    })
                })
                .clone();
            (log, created)
        };
        if created && self.shared() {
            // Another instance may have stored (and announced) more between
            // the read above and the log joining the map.
            self.catch_up(project, &log).await?;
        }
        Ok(log)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Arc<ProjectLog>>> {
        self.projects.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether other instances may write these logs (PostgreSQL).
    fn shared(&self) -> bool {
        self.db.backend() == Backend::Postgres
    }

    /// Publishes one event to the project's log and subscribers.
    pub async fn publish(&self, project: Uuid, event: ServerEvent) -> AppResult<()> {
        self.publish_tagged(project, None, vec![event]).await
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
    ) -> AppResult<()> {
        self.publish_tagged(project, Some(chat), vec![event]).await
    }

    /// Publishes several events in order. Returns once they are queued for
    /// the database (waiting while the queue is full); they get their seqs
    /// when stored and reach subscribers then.
    pub async fn publish_many(&self, project: Uuid, events: Vec<ServerEvent>) -> AppResult<()> {
        self.publish_tagged(project, None, events).await
    }

    async fn publish_tagged(
        &self,
        project: Uuid,
        chat: Option<Uuid>,
        events: Vec<ServerEvent>,
    ) -> AppResult<()> {
        let log = self.log(project).await?;
        let now = now_ms();
        let unsent = events
            .into_iter()
            .map(|event| Unsent {
                event,
                chat,
                created_ms: now,
            })
            .collect();
        self.writer.store(project, log, unsent).await;
        Ok(())
    }

    /// Another instance stored this project's events up to `seq` (from its
    /// announcement). If anyone here watches the project, the rows are read
    /// and delivered soon, in order; several announcements share one read.
    pub fn stored_elsewhere(&self, project: Uuid, seq: u64) {
        let Some(log) = self.lock().get(&project).cloned() else {
            return;
        };
        log.announced.fetch_max(seq, Ordering::AcqRel);
        if seq <= log.last_seq() || log.catching_up.swap(true, Ordering::AcqRel) {
            return;
        }
        let bus = self.clone();
        tokio::spawn(async move {
            loop {
                log.catching_up.store(false, Ordering::Release);
                if let Err(e) = bus.catch_up(project, &log).await {
                    tracing::warn!(project_id = %project, error = %e, "could not read another instance's events");
                    // The next announcement, or a reconnect, tries again.
                    return;
                }
                let behind = log.announced.load(Ordering::Acquire) > log.last_seq();
                if !behind || log.catching_up.swap(true, Ordering::AcqRel) {
                    return;
                }
            }
        });
    }

    /// Brings every log held here up to date with the database (after the
    /// notification connection was lost: announcements may be missing).
    pub async fn catch_up_all(&self) {
        let logs: Vec<(Uuid, Arc<ProjectLog>)> =
            self.lock().iter().map(|(p, l)| (*p, l.clone())).collect();
        for (project, log) in logs {
            if let Err(e) = self.catch_up(project, &log).await {
                tracing::warn!(project_id = %project, error = %e, "could not catch up on events");
            }
        }
    }

    /// Reads and delivers every stored frame after the log's last one.
    async fn catch_up(&self, project: Uuid, log: &Arc<ProjectLog>) -> AppResult<()> {
        let _delivering = log.delivering.lock().await;
        let after = log.last_seq();
        let frames = read_stored(&self.db, project, None, after, u64::MAX).await?;
        log.deliver_remote(project, &frames);
        Ok(())
    }

    /// Sends `subscriber` the project's live frames from now on; returns
    /// the seq of the newest frame before them. The subscription ends when
    /// the returned guard is dropped.
    pub async fn subscribe(
        &self,
        project: Uuid,
        subscriber: Arc<dyn Subscriber>,
    ) -> AppResult<(Subscription, u64)> {
        let log = self.log(project).await?;
        let mut inner = log.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.subscribers.push(subscriber.clone());
        let last_seq = inner.last_seq;
        drop(inner);
        Ok((Subscription { log, subscriber }, last_seq))
    }

    /// Like [`EventBus::subscribe`], for a reader in this process.
    pub async fn watch(&self, project: Uuid) -> AppResult<(Watch, u64)> {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let (subscription, last_seq) = self
            .subscribe(project, Arc::new(ChannelSubscriber(tx)))
            .await?;
        Ok((
            Watch {
                rx,
                _subscription: subscription,
            },
            last_seq,
        ))
    }

    /// The newest seq of a project (0 when it has no events). With several
    /// instances, what the others stored is read first, so a client that
    /// reconnects here is never told a seq it saw does not exist.
    pub async fn last_seq(&self, project: Uuid) -> AppResult<u64> {
        let log = self.log(project).await?;
        if self.shared() {
            self.catch_up(project, &log).await?;
        }
        Ok(log.last_seq())
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
        let mut frames = read_stored(
            &self.db,
            project,
            chat,
            after,
            ring_start.min(up_to.saturating_add(1)),
        )
        .await?;
        frames.extend(from_memory);
        Ok(frames)
    }

    /// At shutdown, before the database closes: stores what is queued (or
    /// logs exactly what could not be stored); later events are dropped.
    pub async fn close(&self) {
        self.writer.close().await;
    }

    /// Waits until everything published so far is stored and delivered
    /// (handed to every subscriber).
    pub async fn flush(&self) {
        self.writer.flush().await;
        loop {
            let logs: Vec<Arc<ProjectLog>> = self.lock().values().cloned().collect();
            if logs.iter().all(|log| log.fanned_out()) {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
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

/// Live frames for code in this process (tests, benchmarks, tools): an
/// unbounded channel, since such a reader is never a stranger's client.
pub struct Watch {
    rx: tokio::sync::mpsc::UnboundedReceiver<Arc<Frame>>,
    _subscription: Subscription,
}

impl Watch {
    /// The next live frame; `None` once the bus is gone.
    pub async fn recv(&mut self) -> Option<Arc<Frame>> {
        self.rx.recv().await
    }

    /// A frame already delivered, without waiting.
    pub fn try_recv(&mut self) -> Option<Arc<Frame>> {
        self.rx.try_recv().ok()
    }
}

struct ChannelSubscriber(tokio::sync::mpsc::UnboundedSender<Arc<Frame>>);

impl Subscriber for ChannelSubscriber {
    fn deliver(&self, frames: &[Arc<Frame>]) {
        for frame in frames {
            let _ = self.0.send(frame.clone());
        }
    }
}

/// A live subscription; dropping it takes the subscriber off the list.
pub struct Subscription {
    log: Arc<ProjectLog>,
    subscriber: Arc<dyn Subscriber>,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut inner = self.log.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner
            .subscribers
            .retain(|s| !Arc::ptr_eq(s, &self.subscriber));
    }
}

/// Stored frames with `after < seq < before` (of one chat's turns, if
/// given), oldest first.
async fn read_stored(
    db: &Db,
    project: Uuid,
    chat: Option<Uuid>,
    after: u64,
    before: u64,
) -> AppResult<Vec<Arc<Frame>>> {
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
        .bind(after.min(i64::MAX as u64) as i64)
        .bind(before.min(i64::MAX as u64) as i64);
    if let Some(chat) = chat {
        query = query.bind(chat.to_string());
    }
    let rows = query.fetch_all(db.pool()).await?;
    let mut frames = Vec::with_capacity(rows.len());
    for row in rows {
        let kind: String = row.try_get("kind")?;
        let chat: Option<String> = row.try_get("chat_id")?;
        let json: String = row.try_get("frame")?;
        frames.push(Arc::new(Frame::new(
            row.try_get::<i64, _>("seq")?.max(0) as u64,
            static_kind(&kind),
            chat.as_deref().map(crate::db::uuid),
            &json,
            row.try_get("created_at")?,
        )));
    }
    Ok(frames)
}

/// Delivers frames this instance just stored, after reading any older
/// ones (stored by another instance) it has not delivered yet.
async fn deliver_stored(db: &Db, project: Uuid, log: &Arc<ProjectLog>, frames: &[Arc<Frame>]) {
    let Some(first) = frames.first() else {
        return;
    };
    let _delivering = log.delivering.lock().await;
    let last = log.last_seq();
    if first.seq > last + 1 {
        match read_stored(db, project, None, last, first.seq).await {
            Ok(gap) => log.deliver_remote(project, &gap),
            Err(e) => {
                // Delivering past the gap would hide it from live clients
                // for good; they get it on their next resume instead.
                tracing::warn!(project_id = %project, error = %e, after = last, before = first.seq, "could not read events stored elsewhere");
            }
        }
    }
    log.deliver(frames);
}

/// Maps a stored kind back to the static name (kinds are a closed set).
fn static_kind(kind: &str) -> &'static str {
    minicode::protocol::EVENT_KINDS
        .iter()
        .find(|k| **k == kind)
        .copied()
        .unwrap_or("event")
}
