//! The single task that stores published events, then delivers them.
//!
//! Group commit: the writer takes everything queued (up to [`BATCH`]
//! events), stores it in one transaction, delivers it, and takes what
//! gathered meanwhile. One insert per event would make a streaming
//! generation write-bound; a fixed linger would delay every event.
//!
//! Seqs are taken in the batch's transaction from `event_seqs` (one upsert
//! per project, which holds the row until commit), and each frame is
//! serialised then, with its seq. On PostgreSQL the transaction also
//! announces the batch to the other instances (`pg_notify`, sent at commit).
//!
//! A batch the database refuses is retried with back-off until it is
//! stored; it is never dropped. While it waits, the bounded queue fills and
//! publishers wait for room: work that produces events pauses instead of
//! losing them. At shutdown the writer tries for [`CLOSE_GRACE`], then logs
//! exactly which events (project and seqs) could not be stored.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use minicode::protocol::ServerEvent;

use super::{Frame, ProjectLog, Unsent, WRITER_PENDING};
use crate::db::{Backend, Db};

/// Most events in one transaction.
const BATCH: usize = 1024;
/// First wait after a failed write; it doubles up to [`RETRY_MAX`].
const RETRY_FIRST: Duration = Duration::from_millis(50);
const RETRY_MAX: Duration = Duration::from_secs(2);
/// How long shutdown keeps trying to store what is queued.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// A project's events, in order, and the log that delivers them once stored.
struct Queued {
    project: Uuid,
    log: Arc<ProjectLog>,
    events: Vec<Unsent>,
}

enum Command {
    Store(Queued),
    Flush(oneshot::Sender<()>),
    /// Store what is queued, then stop: the database closes next.
    Close(oneshot::Sender<()>),
}

#[derive(Clone)]
pub(super) struct Handle {
    tx: mpsc::Sender<Command>,
    /// Set by `close`: later events are not stored (the task has stopped).
    closed: Arc<AtomicBool>,
    /// False while a batch is being retried.
    healthy: Arc<AtomicBool>,
}

impl Handle {
    /// Queues events (in order) for storing; waits while the queue is full.
    pub(super) async fn store(&self, project: Uuid, log: Arc<ProjectLog>, events: Vec<Unsent>) {
        if self.closed.load(Ordering::Acquire) {
            // A dev server's last log lines as shutdown kills it, say: there
            // is no database to keep them in, so nobody is sent them either.
            tracing::debug!(events = events.len(), "event after shutdown dropped");
            return;
        }
        let queued = Queued {
            project,
            log,
            events,
        };
        if self.tx.send(Command::Store(queued)).await.is_err()
            && !self.closed.load(Ordering::Acquire)
        {
            tracing::error!("event writer is gone; events are not being stored");
        }
    }

    pub async fn flush(&self) {
        self.ask(Command::Flush).await;
    }

    /// Stores what is queued, then the writer stops: the database closes next.
    pub async fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.ask(Command::Close).await;
    }

    pub fn storing(&self) -> bool {
        self.healthy.load(Ordering::Acquire)
    }

    async fn ask(&self, command: fn(oneshot::Sender<()>) -> Command) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(command(done)).await.is_ok() {
            let _ = wait.await;
        }
    }
}

pub(super) fn spawn(db: Db) -> Handle {
    // Each message holds a few frames; the bound keeps memory in check if the
    // database stalls (publishers then wait instead of piling up).
    let (tx, rx) = mpsc::channel(WRITER_PENDING / 4);
    let healthy = Arc::new(AtomicBool::new(true));
    tokio::spawn(run(db, rx, healthy.clone()));
    Handle {
        tx,
        closed: Arc::default(),
        healthy,
    }
}

async fn run(db: Db, mut rx: mpsc::Receiver<Command>, healthy: Arc<AtomicBool>) {
    let mut pending: Vec<Queued> = Vec::new();
    let mut waiters: Vec<oneshot::Sender<()>> = Vec::new();
    while let Some(first) = rx.recv().await {
        let mut closing = take(first, &mut pending, &mut waiters);
        // Everything that gathered while the last batch was written.
        while count(&pending) < BATCH
            && let Ok(command) = rx.try_recv()
        {
            closing |= take(command, &mut pending, &mut waiters);
        }
        if closing {
            // Take the rest of the queue too: nothing may come after Close.
            while let Ok(command) = rx.try_recv() {
                take(command, &mut pending, &mut waiters);
            }
            let deadline = Instant::now() + CLOSE_GRACE;
            match store(&db, &pending, &healthy, Some(deadline)).await {
                Some(stored) => deliver(&db, &pending, &stored).await,
                None => report_lost(&pending),
            }
            for done in waiters.drain(..) {
                let _ = done.send(());
            }
            return;
        }
        if !pending.is_empty() {
            if let Some(stored) = store(&db, &pending, &healthy, None).await {
                deliver(&db, &pending, &stored).await;
            }
            pending.clear();
        }
        for done in waiters.drain(..) {
            let _ = done.send(());
        }
    }
}

fn count(pending: &[Queued]) -> usize {
    pending.iter().map(|q| q.events.len()).sum()
}

/// Adds a command to the batch being gathered; true for `Close`.
fn take(
    command: Command,
    pending: &mut Vec<Queued>,
    waiters: &mut Vec<oneshot::Sender<()>>,
) -> bool {
    match command {
        Command::Store(queued) => {
            pending.push(queued);
            false
        }
        Command::Flush(done) => {
            waiters.push(done);
            false
        }
        Command::Close(done) => {
            waiters.push(done);
            true
        }
    }
}

/// Delivers each queued part's stored frames (`stored[i]` for `pending[i]`).
async fn deliver(db: &Db, pending: &[Queued], stored: &[Vec<Arc<Frame>>]) {
    for (queued, frames) in pending.iter().zip(stored) {
        super::deliver_stored(db, queued.project, &queued.log, frames).await;
    }
}

/// Stores the batch, retrying with back-off until it is stored, or until
/// `deadline` (shutdown); the stored frames, or `None` when it gave up.
async fn store(
    db: &Db,
    pending: &[Queued],
    healthy: &AtomicBool,
    deadline: Option<Instant>,
) -> Option<Vec<Vec<Arc<Frame>>>> {
    let mut wait = RETRY_FIRST;
    let mut failures: u32 = 0;
    loop {
        match write_batch(db, pending).await {
            Ok(stored) => {
                if failures > 0 {
                    healthy.store(true, Ordering::Release);
                    tracing::info!(failures, events = count(pending), "events stored again");
                }
                return Some(stored);
            }
            Err(e) => {
                failures += 1;
                healthy.store(false, Ordering::Release);
                // Every failure at first, then now and then: a database down
                // for minutes must not flood the log.
                if failures <= 3 || failures.is_power_of_two() {
                    tracing::warn!(error = %e, events = count(pending), failures, "could not store events; retrying");
                }
                if deadline.is_some_and(|d| Instant::now() + wait > d) {
                    return None;
                }
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(RETRY_MAX);
            }
        }
    }
}

/// Shutdown could not store these: say exactly which, per project.
fn report_lost(pending: &[Queued]) {
    for queued in pending {
        let Some(first) = queued.events.first() else {
            continue;
        };
        tracing::error!(
            project_id = %queued.project,
            events = queued.events.len(),
            first_kind = first.event.kind(),
            "events not stored at shutdown (the database refused them); they were never sent to clients"
        );
    }
}

/// A stored frame as clients read it: `ServerFrame`'s wire format, with
/// the event borrowed (a file's content is not copied to be serialised).
#[derive(serde::Serialize)]
struct FrameOut<'a> {
    #[serde(flatten)]
    event: &'a ServerEvent,
    timestamp: i64,
    seq: u64,
}

/// One transaction for the whole batch: per project, the next seqs from
/// `event_seqs`, then one insert per event. Returns each part's frames.
async fn write_batch(db: &Db, pending: &[Queued]) -> Result<Vec<Vec<Arc<Frame>>>, sqlx::Error> {
    let mut tx = db.writer().begin().await?;
    let mut stored = Vec::with_capacity(pending.len());
    for queued in pending {
        let project = queued.project.to_string();
        let n = queued.events.len() as i64;
        if n == 0 {
            stored.push(Vec::new());
            continue;
        }
        // Holds the project's counter row until commit: another writer's
        // batch for the project waits, so seqs commit in order.
        let last: Option<i64> = sqlx::query_scalar(
            "INSERT INTO event_seqs (project_id, last_seq) SELECT id, $2 FROM projects WHERE id = $1 \
             ON CONFLICT (project_id) DO UPDATE SET last_seq = event_seqs.last_seq + excluded.last_seq \
             RETURNING last_seq",
        )
        .bind(&project)
        .bind(n)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(last) = last else {
            // The project was deleted meanwhile: nobody is left to see these.
            stored.push(Vec::new());
            continue;
        };
        let first = (last - n + 1).max(1) as u64;
        let mut frames = Vec::with_capacity(queued.events.len());
        for (i, unsent) in queued.events.iter().enumerate() {
            let seq = first + i as u64;
            let json = serde_json::to_string(&FrameOut {
                event: &unsent.event,
                timestamp: unsent.created_ms,
                seq,
            })
            .unwrap_or_default();
            let frame = Frame::new(
                seq,
                unsent.event.kind(),
                unsent.chat,
                &json,
                unsent.created_ms,
            );
            sqlx::query(
                "INSERT INTO events (project_id, seq, kind, frame, created_at, chat_id) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (project_id, seq) DO NOTHING",
            )
            .bind(&project)
            .bind(frame.seq as i64)
            .bind(frame.kind)
            .bind(json.as_str())
            .bind(frame.created_ms)
            .bind(frame.chat.map(|c| c.to_string()))
            .execute(&mut *tx)
            .await?;
            frames.push(Arc::new(frame));
        }
        if db.backend() == Backend::Postgres {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(crate::cluster::channels::EVENTS)
                .bind(format!("{project}:{last}"))
                .execute(&mut *tx)
                .await?;
        }
        stored.push(frames);
    }
    tx.commit().await?;
    Ok(stored)
}
