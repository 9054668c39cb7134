//! One client's connection: what it sends, and the frames waiting to be
//! written to it.
//!
//! The project's events are written to every socket by the event fan-out
//! itself ([`Outbox::deliver`], called once per stored batch): it appends
//! the batch's pre-framed bytes to this socket's queue and, unless the
//! socket's writes are already waiting on the kernel, writes them at once
//! with one vectored write. No task wakes per socket per event, no frame
//! is copied per socket, and a batch of events leaves in one syscall. Only
//! when the kernel's buffer is full does the socket's own task take over
//! (it writes the rest when the socket is writable); a client whose queue
//! grows past [`QUEUE_LIMIT`] is told to resync instead of holding memory
//! or slowing anyone else.

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::Bytes;
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use uuid::Uuid;

use super::frame::{self, Decoder, Incoming, ReadError};
use super::heartbeat::Beating;
use crate::events::{Frame, Subscriber};

/// Frames one client may have waiting before it is told to resync.
pub const QUEUE_LIMIT: usize = 8192;
/// Most frames handed to the kernel in one write.
const BURST: usize = 64;
/// Bytes read from the socket per read call (on the stack, not kept).
const READ_CHUNK: usize = 2048;
/// How long a client may take to read what is queued for it when the task
/// waits for that (a replay, a close).
const CLOSE_WAIT: Duration = Duration::from_secs(5);

/// What [`Socket::recv`] returns.
pub enum Received {
    Message(Incoming),
    /// The client's bytes are not acceptable (each has its close code).
    Refused(ReadError),
    /// The heartbeat's clock ticked (see `heartbeat.rs`).
    Beat,
    /// The client went away, or the connection failed.
    Gone,
}

/// The connection, owned by its task.
pub struct Socket {
    outbox: Arc<Outbox>,
    decoder: Decoder,
}

/// The write side, shared with the event fan-out.
pub struct Outbox {
    out: Mutex<Out>,
}

struct Out {
    io: TokioIo<Upgraded>,
    /// Frames to write, with their seq (0 for replies outside the log).
    queue: VecDeque<(u64, Bytes)>,
    /// Bytes of the front frame already written.
    written: usize,
    /// The kernel's buffer was full: the socket's task writes the rest when
    /// the socket is writable, and the fan-out only queues.
    blocked: bool,
    /// The connection failed or ended: nothing more is queued.
    closed: bool,
    /// The socket's task, woken when it has writing to do.
    task: Option<Waker>,
    /// Live frames: the highest seq sent, or (on a chat's socket) passed
    /// over as another chat's; frames at or below it are not sent again.
    last_sent: u64,
    /// The highest seq whose frame is written whole (for a resync).
    last_written: u64,
    /// Set on a chat's socket: only that chat's frames are sent.
    chat: Option<Uuid>,
    /// Live frames held while the task sends something they must not be
    /// mixed into (the greeting, a replay); `None` otherwise.
    held: Option<Vec<Arc<Frame>>>,
    /// Held frames were dropped (too many): resync after the release.
    held_overflow: bool,
    /// Frames a slow client was not sent (logged, and told to resync).
    skipped: u64,
    /// The heartbeat's clock ticked; the task has not seen it yet.
    beat: bool,
}

impl Socket {
    pub fn new(upgraded: Upgraded) -> Self {
        Socket {
            outbox: Arc::new(Outbox {
                out: Mutex::new(Out {
                    io: TokioIo::new(upgraded),
                    queue: VecDeque::new(),
                    written: 0,
                    blocked: false,
                    closed: false,
                    task: None,
                    last_sent: 0,
                    last_written: 0,
                    chat: None,
                    // Frames arriving before the greeting wait for it.
                    held: Some(Vec::new()),
                    held_overflow: false,
                    skipped: 0,
                    beat: false,
                }),
            }),
            decoder: Decoder::default(),
        }
    }

    /// The write side, for the project's fan-out.
    pub fn outbox(&self) -> Arc<Outbox> {
        self.outbox.clone()
    }

    /// Queues a frame that is not part of the log (a reply, a ping).
    pub fn send(&self, bytes: Bytes) {
        self.outbox.lock().push(0, bytes);
    }

    /// Waits for the client's next whole message or the next heartbeat.
    /// Meanwhile the queue is written as the socket allows.
    pub async fn recv(&mut self, max: usize) -> Received {
        loop {
            match self.decoder.next(max) {
                Ok(Some(message)) => return Received::Message(message),
                Ok(None) => {}
                Err(e) => return Received::Refused(e),
            }
            let outbox = &self.outbox;
            let decoder = &mut self.decoder;
            let read = std::future::poll_fn(|cx| {
                let mut out = outbox.lock();
                // Queued frames go out while the task waits for the client.
                if let Poll::Ready(Err(e)) = out.drive(cx) {
                    return Poll::Ready(Err(e));
                }
                if std::mem::take(&mut out.beat) {
                    return Poll::Ready(Ok(None));
                }
                let mut chunk = [0u8; READ_CHUNK];
                let mut buf = ReadBuf::new(&mut chunk);
                match Pin::new(&mut out.io).poll_read(cx, &mut buf) {
                    Poll::Ready(Ok(())) => {
                        decoder.extend(buf.filled());
                        Poll::Ready(Ok(Some(buf.filled().len())))
                    }
                    Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                    Poll::Pending => Poll::Pending,
                }
            })
            .await;
            match read {
                Ok(None) => return Received::Beat,
                Ok(Some(0)) | Err(_) => return Received::Gone,
                Ok(Some(_)) => {}
            }
        }
    }

    /// Writes everything queued (with a time limit: a client that stopped
    /// reading does not hold the task).
    pub async fn flush(&self) -> io::Result<()> {
        let outbox = &self.outbox;
        let flushed = std::future::poll_fn(|cx| {
            let mut out = outbox.lock();
            match out.drive(cx) {
                Poll::Ready(Ok(())) if out.queue.is_empty() => Poll::Ready(Ok(())),
                Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                _ => Poll::Pending,
            }
        });
        match tokio::time::timeout(CLOSE_WAIT, flushed).await {
            Ok(result) => result,
            Err(_) => {
                // It stopped reading: the connection is over.
                self.outbox.lock().closed = true;
                Err(io::ErrorKind::TimedOut.into())
            }
        }
    }

    /// Sends a close frame and ends the connection.
    pub async fn close(&self, code: u16, reason: &str) {
        self.send(frame::close(code, reason));
        let _ = self.flush().await;
        let mut out = self.outbox.lock();
        out.closed = true;
        let _ = Pin::new(&mut out.io).poll_shutdown(&mut Context::from_waker(Waker::noop()));
    }

    /// Live frames from now on wait until [`Socket::release`]: what the
    /// task sends meanwhile (a replay) is not interleaved with them.
    pub fn hold(&self) {
        let mut out = self.outbox.lock();
        if out.held.is_none() {
            out.held = Some(Vec::new());
        }
    }

    /// Queues `frames` of the log (a replay), skipping those a chat's socket
    /// does not carry, and raises the seq below which live frames are not
    /// sent again to `up_to`. Writes as it goes, so a long replay does not
    /// sit in memory twice.
    pub async fn replay(&self, frames: &[Arc<Frame>], up_to: u64) -> io::Result<()> {
        for chunk in frames.chunks(256) {
            {
                let mut out = self.outbox.lock();
                for frame in chunk {
                    if out.wants(frame) {
                        out.push(frame.seq, frame.wire().clone());
                    }
                }
            }
            self.flush().await?;
        }
        let mut out = self.outbox.lock();
        out.last_sent = out.last_sent.max(up_to);
        Ok(())
    }

    /// Sends the live frames held since [`Socket::hold`] (those not sent
    /// already) and lets new ones through.
    pub fn release(&self) {
        let mut out = self.outbox.lock();
        let held = out.held.take().unwrap_or_default();
        out.append(&held);
        if std::mem::take(&mut out.held_overflow) {
            out.resync();
        }
    }

    /// Starts the live stream after `last_seq` (for a chat's socket, only
    /// that chat's frames).
    pub fn start_after(&self, last_seq: u64, chat: Option<Uuid>) {
        let mut out = self.outbox.lock();
        out.last_sent = last_seq;
        out.chat = chat;
    }

    /// Whether the connection is over (a write failed).
    pub fn is_closed(&self) -> bool {
        self.outbox.lock().closed
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        let mut out = self.outbox.lock();
        out.closed = true;
        out.queue.clear();
        out.task = None;
    }
}

impl Outbox {
    fn lock(&self) -> MutexGuard<'_, Out> {
        self.out.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Beating for Outbox {
    /// The heartbeat's clock ticked: the socket's task wakes to ping the
    /// client (one clock for every socket, not a timer each).
    fn beat(&self) {
        let mut out = self.lock();
        out.beat = true;
        out.wake_task();
    }
}

impl Subscriber for Outbox {
    /// Called by the fan-out with each stored batch, in seq order.
    fn deliver(&self, frames: &[Arc<Frame>]) {
        let mut out = self.lock();
        if out.closed {
            return;
        }
        if let Some(held) = &mut out.held {
            if held.len() + frames.len() <= QUEUE_LIMIT {
                held.extend(frames.iter().cloned());
            } else {
                out.held_overflow = true;
            }
            return;
        }
        out.append(frames);
        if out.blocked || out.queue.is_empty() {
            return;
        }
        // Write now, from the fan-out; if the kernel cannot take it all the
        // socket's task is woken to finish when the socket is writable.
        match out.write(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(Ok(())) => {}
            Poll::Pending => {
                out.blocked = true;
                out.wake_task();
            }
            Poll::Ready(Err(_)) => {
                out.closed = true;
                out.wake_task();
            }
        }
    }
}

impl Out {
    fn wants(&self, frame: &Frame) -> bool {
        self.chat.is_none() || frame.chat == self.chat
    }

    fn push(&mut self, seq: u64, bytes: Bytes) {
        if !self.closed {
            self.queue.push_back((seq, bytes));
        }
    }

    /// Queues the live frames not sent yet; a queue past its limit is cut
    /// back and the client told to resync.
    fn append(&mut self, frames: &[Arc<Frame>]) {
        for frame in frames {
            if frame.seq <= self.last_sent {
                continue;
            }
            self.last_sent = frame.seq;
            if self.wants(frame) {
                self.push(frame.seq, frame.wire().clone());
            }
        }
        if self.queue.len() > QUEUE_LIMIT {
            self.resync();
        }
    }

    /// Drops every frame not begun, and queues a `resync` naming the last
    /// frame the client will have whole: it resumes from there.
    fn resync(&mut self) {
        let keep = usize::from(self.written > 0);
        let dropped = self.queue.len().saturating_sub(keep);
        self.queue.truncate(keep);
        let have = match self.queue.front() {
            Some((seq, _)) if *seq > 0 => *seq,
            _ => self.last_written,
        };
        self.skipped += dropped as u64;
        tracing::info!(skipped = self.skipped, "slow client told to resync");
        let resync = super::reply(
            minicode::protocol::ServerEvent::Resync { last_seq: have },
            None,
        );
        self.push(0, resync);
    }

    fn wake_task(&mut self) {
        if let Some(task) = &self.task {
            task.wake_by_ref();
        }
    }

    /// The task's turn: writes what is queued with the task's waker, and
    /// registers the task to be woken when there is writing for it.
    fn drive(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.closed {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        if !self.task.as_ref().is_some_and(|t| t.will_wake(cx.waker())) {
            self.task = Some(cx.waker().clone());
        }
        match self.write(cx) {
            Poll::Ready(Ok(())) => {
                self.blocked = false;
                Poll::Ready(Ok(()))
            }
            Poll::Pending => {
                self.blocked = true;
                Poll::Pending
            }
            Poll::Ready(Err(e)) => {
                self.closed = true;
                Poll::Ready(Err(e))
            }
        }
    }

    /// Writes queued frames, up to [`BURST`] per call, until the queue is
    /// empty or the socket cannot take more.
    fn write(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.queue.is_empty() {
            let mut slices = [IoSlice::new(&[]); BURST];
            let mut count = 0;
            for (i, (_, bytes)) in self.queue.iter().take(BURST).enumerate() {
                let from = if i == 0 { self.written } else { 0 };
                slices[i] = IoSlice::new(&bytes[from..]);
                count += 1;
            }
            let n = match Pin::new(&mut self.io).poll_write_vectored(cx, &slices[..count]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            };
            self.advance(n);
        }
        if self.queue.capacity() > 0 {
            // An idle socket holds no queue: with thousands of sockets its
            // few slots add up, and allocating them again costs far less
            // than the write that follows.
            self.queue = VecDeque::new();
        }
        Poll::Ready(Ok(()))
    }

    /// Drops what `n` written bytes completed.
    fn advance(&mut self, mut n: usize) {
        while n > 0 {
            let Some((seq, front)) = self.queue.front() else {
                return;
            };
            let left = front.len() - self.written;
            if n < left {
                self.written += n;
                return;
            }
            n -= left;
            if *seq > 0 {
                self.last_written = *seq;
            }
            self.written = 0;
            self.queue.pop_front();
        }
    }
}
