//! The single task that stores published events, in batched transactions:
//! one insert per event would make a streaming generation write-bound.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use super::{Frame, WRITER_PENDING};
use crate::db::Db;

/// Longest an event waits before its batch is written.
const LINGER: Duration = Duration::from_millis(50);
/// Most events in one transaction.
const BATCH: usize = 1024;

enum Command {
    Store(Uuid, Vec<Arc<Frame>>),
    Flush(oneshot::Sender<()>),
    /// Flush, then stop: the database closes next.
    Close(oneshot::Sender<()>),
}

#[derive(Clone)]
pub(super) struct Handle {
    tx: mpsc::Sender<Command>,
    /// Set by `close`: later events are not stored (the task has stopped).
    closed: Arc<AtomicBool>,
}

impl Handle {
    pub async fn store(&self, project: Uuid, frames: Vec<Arc<Frame>>) {
        if self.closed.load(Ordering::Acquire) {
            // A dev server's last log lines as shutdown kills it, say: live
            // clients got them; there is no database to keep them in.
            tracing::debug!(events = frames.len(), "event after shutdown not stored");
            return;
        }
        if self.tx.send(Command::Store(project, frames)).await.is_err()
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
    tokio::spawn(run(db, rx));
    Handle {
        tx,
        closed: Arc::default(),
    }
}

async fn run(db: Db, mut rx: mpsc::Receiver<Command>) {
    let mut pending: Vec<(Uuid, Arc<Frame>)> = Vec::new();
    let mut waiters: Vec<oneshot::Sender<()>> = Vec::new();
    loop {
        let command = if pending.is_empty() {
            match rx.recv().await {
                Some(c) => Some(c),
                None => break,
            }
        } else {
            match tokio::time::timeout(LINGER, rx.recv()).await {
                Ok(Some(c)) => Some(c),
                Ok(None) => break,
                Err(_) => None,
            }
        };
        // `None`: the linger ran out, write what there is.
        let timed_out = command.is_none();
        let mut closing = command.is_some_and(|c| take(c, &mut pending, &mut waiters));
        if !timed_out && waiters.is_empty() && pending.len() < BATCH {
            // A store, and the batch has room: keep gathering.
            continue;
        }
        // Drain whatever else is already queued before writing.
        while let Ok(command) = rx.try_recv() {
            closing |= take(command, &mut pending, &mut waiters);
        }
        write(&db, &mut pending).await;
        for done in waiters.drain(..) {
            let _ = done.send(());
        }
        if closing {
            // Dropping the receiver makes later sends fail: nothing is
            // written to a closed pool.
            return;
        }
    }
    write(&db, &mut pending).await;
    for done in waiters {
        let _ = done.send(());
    }
}

/// Adds a command to the batch being gathered; true for `Close`.
fn take(
    command: Command,
    pending: &mut Vec<(Uuid, Arc<Frame>)>,
    waiters: &mut Vec<oneshot::Sender<()>>,
) -> bool {
    match command {
        Command::Store(project, frames) => {
            pending.extend(frames.into_iter().map(|f| (project, f)));
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

async fn write(db: &Db, pending: &mut Vec<(Uuid, Arc<Frame>)>) {
    for chunk in pending.chunks(BATCH) {
        if let Err(e) = write_batch(db, chunk).await {
            tracing::error!(error = %e, events = chunk.len(), "could not store events");
        }
    }
    pending.clear();
}

async fn write_batch(db: &Db, batch: &[(Uuid, Arc<Frame>)]) -> Result<(), sqlx::Error> {
    let mut tx = db.pool().begin().await?;
    for (project, frame) in batch {
        // A project deleted meanwhile has no row to reference: skip quietly.
        sqlx::query(
            "INSERT INTO events (project_id, seq, kind, frame, created_at, chat_id) \
             SELECT $1, $2, $3, $4, $5, $6 WHERE EXISTS (SELECT 1 FROM projects WHERE id = $1) \
             ON CONFLICT (project_id, seq) DO NOTHING",
        )
        .bind(project.to_string())
        .bind(frame.seq as i64)
        .bind(frame.kind)
        .bind(frame.json.as_str())
        .bind(frame.created_ms)
        .bind(frame.chat.map(|c| c.to_string()))
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await
}
