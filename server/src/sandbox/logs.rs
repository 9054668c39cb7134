//! Sandbox output: lines are kept in a bounded per-project buffer (for error
//! messages and late-joining clients) and published as `sandbox_log` events
//! in batches, about every 100 ms, so a chatty install does not turn into
//! one database write and one WebSocket frame per line.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use minicode::protocol::{LogStream, ServerEvent};
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::events::EventBus;

/// Lines kept per project.
pub const BUFFER_LINES: usize = 2000;
/// Longest line kept; longer ones are cut (minified bundles in stack traces…).
const MAX_LINE_CHARS: usize = 2000;
/// How long lines gather before they are published together.
const BATCH_WINDOW: Duration = Duration::from_millis(100);

/// The recent output of one project's sandbox.
#[derive(Clone, Default)]
pub struct LogBuffer {
    lines: Arc<Mutex<VecDeque<(LogStream, String)>>>,
}

impl LogBuffer {
    fn push(&self, stream: LogStream, line: String) {
        let mut lines = self.lines.lock().unwrap_or_else(|p| p.into_inner());
        if lines.len() == BUFFER_LINES {
            lines.pop_front();
        }
        lines.push_back((stream, line));
    }

    /// The last `n` lines, oldest first.
    pub fn tail(&self, n: usize) -> Vec<String> {
        let lines = self.lines.lock().unwrap_or_else(|p| p.into_inner());
        let skip = lines.len().saturating_sub(n);
        lines.iter().skip(skip).map(|(_, l)| l.clone()).collect()
    }
}

/// Where backends send output lines. Cheap to clone.
#[derive(Clone)]
pub struct LogSink {
    /// Filled at once, so an error raised right after a line can quote it.
    buffer: LogBuffer,
    /// Publishing is batched by a task.
    tx: mpsc::UnboundedSender<(LogStream, String)>,
}

impl LogSink {
    /// Starts the batching task for a project and returns the sink feeding it.
    pub fn spawn(project: Uuid, buffer: LogBuffer, events: EventBus) -> LogSink {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(batch(project, events, rx));
        LogSink { buffer, tx }
    }

    /// One line of output.
    pub fn line(&self, stream: LogStream, line: &str) {
        let clean = clean_line(line);
        self.buffer.push(stream, clean.clone());
        let _ = self.tx.send((stream, clean));
    }

    /// minicode's own notes in the log (the commands it runs, exits).
    pub fn system(&self, line: impl AsRef<str>) {
        self.line(LogStream::System, line.as_ref());
    }
}

async fn batch(
    project: Uuid,
    events: EventBus,
    mut rx: mpsc::UnboundedReceiver<(LogStream, String)>,
) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        let deadline = tokio::time::Instant::now() + BATCH_WINDOW;
        while let Ok(Some(line)) = tokio::time::timeout_at(deadline, rx.recv()).await {
            batch.push(line);
        }
        let out = batch
            .into_iter()
            .map(|(stream, line)| ServerEvent::SandboxLog { stream, line })
            .collect();
        if let Err(e) = events.publish_many(project, out).await {
            tracing::warn!(error = %e, "could not publish sandbox logs");
        }
    }
}

/// Drops terminal colour codes and cuts very long lines.
fn clean_line(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ params letter
            if chars.peek() == Some(&'[') {
                chars.next();
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            continue;
        }
        if c == '\r' {
            continue;
        }
        out.push(c);
    }
    if out.chars().count() > MAX_LINE_CHARS {
        out = out.chars().take(MAX_LINE_CHARS).collect::<String>() + "…";
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_colours_and_cuts_long_lines() {
        assert_eq!(
            clean_line("\u{1b}[32m  VITE v7\u{1b}[39m ready\r"),
            "  VITE v7 ready"
        );
        assert_eq!(
            clean_line(&"x".repeat(5000)).chars().count(),
            MAX_LINE_CHARS + 1
        );
    }

    #[test]
    fn buffer_is_bounded() {
        let buffer = LogBuffer::default();
        for i in 0..BUFFER_LINES + 10 {
            buffer.push(LogStream::Stdout, i.to_string());
        }
        let tail = buffer.tail(3);
        assert_eq!(
            tail,
            [
                (BUFFER_LINES + 7).to_string(),
                (BUFFER_LINES + 8).to_string(),
                (BUFFER_LINES + 9).to_string()
            ]
        );
        assert_eq!(buffer.tail(usize::MAX).len(), BUFFER_LINES);
    }
}
