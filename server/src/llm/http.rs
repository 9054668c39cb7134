//! The HTTP side shared by the hosted providers: send the request with
//! retries, then read its SSE body with timeouts and cancellation.
//!
//! A call is retried (with exponential backoff, or the server's
//! `Retry-After`) only while nothing has been received: after the first byte
//! a retry would repeat text the user has already seen, so a broken stream
//! is reported as [`LlmError::Interrupted`] instead.

use std::time::Duration;

use futures::StreamExt;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::sse::{SseDecoder, SseEvent};
use super::{EventStream, LlmError, StreamEvent};

/// Timeouts and retries of model calls (from the configuration).
#[derive(Clone, Copy, Debug)]
pub struct HttpSettings {
    /// Longest a whole call may take.
    pub timeout: Duration,
    /// Longest silence between two chunks of the answer.
    pub idle_timeout: Duration,
    /// Retries after a 429, a 5xx or a connection error before the first byte.
    pub max_retries: u32,
    /// First backoff; doubled at every retry.
    pub backoff: Duration,
}

/// Longest `Retry-After` minicode honours; a longer one ends the call.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// How a provider turns its SSE events into [`StreamEvent`]s.
pub trait SseHandler: Send + 'static {
    /// Handles one event, pushing what it means onto `out`. Returns `true`
    /// when the answer is complete (no more events are read).
    fn on_event(&mut self, event: SseEvent, out: &mut Vec<StreamEvent>) -> Result<bool, LlmError>;

    /// The body ended before `on_event` said the answer was complete: either
    /// finish the answer (pushing its `Finish`) or report it as broken off.
    fn on_end(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), LlmError>;
}

/// Sends the request built by `build` (again for every retry) and streams
/// the answer through `handler`. Dropping the stream closes the connection.
pub fn stream_sse<B, H>(
    build: B,
    settings: HttpSettings,
    handler: H,
    cancel: CancellationToken,
) -> EventStream
where
    B: Fn() -> reqwest::RequestBuilder + Send + Sync + 'static,
    H: SseHandler,
{
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(async move {
        let deadline = Instant::now() + settings.timeout;
        let result = match connect(&build, settings, deadline, &cancel).await {
            Ok(response) => read_body(response, settings, deadline, handler, &cancel, &tx).await,
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            let _ = tx.send(Err(e)).await;
        }
    });
    Box::pin(futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    }))
}

/// Sends the request, retrying what is worth retrying.
async fn connect<B>(
    build: &B,
    settings: HttpSettings,
    deadline: Instant,
    cancel: &CancellationToken,
) -> Result<reqwest::Response, LlmError>
where
    B: Fn() -> reqwest::RequestBuilder,
{
    let mut attempt = 0u32;
    loop {
        let sent = tokio::select! {
            () = cancel.cancelled() => return Err(LlmError::Cancelled),
            r = tokio::time::timeout_at(deadline, build().send()) => r,
        };
        let (error, wait) = match sent {
            Err(_) => {
                return Err(LlmError::Timeout(format!(
                    "no answer within {} s",
                    settings.timeout.as_secs()
                )));
            }
            Ok(Err(e)) => (LlmError::Connect(describe(&e)), None),
            Ok(Ok(response)) if response.status().is_success() => return Ok(response),
            Ok(Ok(response)) => {
                let status = response.status().as_u16();
                let retry_after = retry_after(&response);
                let body = tokio::time::timeout(Duration::from_secs(10), response.text())
                    .await
                    .ok()
                    .and_then(Result::ok)
                    .unwrap_or_default();
                match status {
                    401 | 403 => return Err(LlmError::Auth { status }),
                    429 => (LlmError::RateLimited { retry_after }, retry_after),
                    500..=599 => (
                        LlmError::Http {
                            status,
                            message: error_message(&body),
                        },
                        None,
                    ),
                    _ => {
                        return Err(LlmError::Http {
                            status,
                            message: error_message(&body),
                        });
                    }
                }
            }
        };
        if attempt >= settings.max_retries {
            return Err(error);
        }
        let wait = wait
            .unwrap_or_else(|| settings.backoff * 2u32.saturating_pow(attempt))
            .min(MAX_RETRY_AFTER);
        if Instant::now() + wait >= deadline {
            return Err(error);
        }
        attempt += 1;
        tracing::warn!(attempt, wait_ms = wait.as_millis() as u64, error = %error, "model call failed; retrying");
        tokio::select! {
            () = cancel.cancelled() => return Err(LlmError::Cancelled),
            () = tokio::time::sleep(wait) => {}
        }
    }
}

async fn read_body<H: SseHandler>(
    response: reqwest::Response,
    settings: HttpSettings,
    deadline: Instant,
    mut handler: H,
    cancel: &CancellationToken,
    tx: &mpsc::Sender<Result<StreamEvent, LlmError>>,
) -> Result<(), LlmError> {
    let mut body = response.bytes_stream();
    let mut decoder = SseDecoder::default();
    let mut out = Vec::new();
    loop {
        let wake = deadline.min(Instant::now() + settings.idle_timeout);
        let chunk = tokio::select! {
            () = cancel.cancelled() => return Err(LlmError::Cancelled),
            () = tx.closed() => return Ok(()),
            r = tokio::time::timeout_at(wake, body.next()) => r,
        };
        let events = match chunk {
            Err(_) if Instant::now() >= deadline => {
                return Err(LlmError::Timeout(format!(
                    "the answer took longer than {} s",
                    settings.timeout.as_secs()
                )));
            }
            Err(_) => {
                return Err(LlmError::Timeout(format!(
                    "no data for {} s",
                    settings.idle_timeout.as_secs()
                )));
            }
            Ok(Some(Err(e))) => return Err(LlmError::Interrupted(describe(&e))),
            Ok(Some(Ok(bytes))) => decoder.push(&bytes),
            Ok(None) => {
                if let Some(event) = decoder.finish()
                    && handler.on_event(event, &mut out)?
                {
                    return send_all(tx, &mut out).await;
                }
                handler.on_end(&mut out)?;
                return send_all(tx, &mut out).await;
            }
        };
        for event in events {
            let done = handler.on_event(event, &mut out)?;
            send_all(tx, &mut out).await?;
            if done {
                return Ok(());
            }
        }
    }
}

async fn send_all(
    tx: &mpsc::Sender<Result<StreamEvent, LlmError>>,
    out: &mut Vec<StreamEvent>,
) -> Result<(), LlmError> {
    for event in out.drain(..) {
        if tx.send(Ok(event)).await.is_err() {
            // The caller dropped the stream: nothing more to do.
            return Ok(());
        }
    }
    Ok(())
}

fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    let value = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?;
    value
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64)
}

/// A connection error without the URL (which could carry credentials on
/// some self-hosted setups).
fn describe(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else if e.is_body() || e.is_decode() {
        "the response body broke off"
    } else {
        "request failed"
    };
    let mut source = std::error::Error::source(e);
    let mut detail = String::new();
    while let Some(s) = source {
        detail = s.to_string();
        source = s.source();
    }
    if detail.is_empty() {
        kind.to_string()
    } else {
        format!("{kind}: {detail}")
    }
}

/// The provider's error message from an error body (`{"error":{"message"}}`
/// for both OpenAI and Anthropic), or the start of the body.
pub fn error_message(body: &str) -> String {
    let parsed: Option<serde_json::Value> = serde_json::from_str(body).ok();
    let message = parsed.as_ref().and_then(|v| {
        v.pointer("/error/message")
            .or_else(|| v.get("error").filter(|e| e.is_string()))
            .or_else(|| v.get("message"))
            .and_then(|m| m.as_str())
            .map(str::to_string)
    });
    let text = message.unwrap_or_else(|| body.trim().to_string());
    let mut text: String = text.chars().take(300).collect();
    if text.is_empty() {
        text = "no details".into();
    }
    text
}
