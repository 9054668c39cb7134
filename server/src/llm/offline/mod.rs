//! The built-in `offline` provider: a deterministic, template-driven
//! generator that lets the whole product run with no API key.
//!
//! It is **not a model**. It reads [`ChatRequest::purpose`] instead of the
//! prompt and answers from templates:
//!
//! * [`Purpose::DesignPhase`]: a JSON phase design. Phase 1 is the Vite 7 +
//!   React 19 + TypeScript scaffold, phase 2 (the last) adds the sections
//!   picked from keywords of the description (todo list, notes, timer,
//!   counter, weather, gallery, pricing, data table, contact form; a landing
//!   page with features and an FAQ when nothing matches).
//! * [`Purpose::Implement`]: every planned file in the heredoc format the
//!   SCOF parser reads, one unique marker per file.
//! * [`Purpose::Chat`]: a small tool-using agent that understands a handful
//!   of requests (title, dark/light theme, footer, accent colour, new
//!   section). It reads the files it needs, then edits them, then
//!   summarises; anything else gets an explanation of how to configure a
//!   real model.
//!
//! Answers stream in small chunks paced to `chars_per_sec`, so the UI, the
//! parser and the agent loop see the same kind of traffic as with a hosted
//! model. It reports no usage: it spends no model tokens, and estimates
//! shown as tokens would read as real usage (and count against budgets).
//!
//! # Where things are
//!
//! One file per concern, in the order a new project meets them:
//!
//! * `mod.rs` (here): the [`Offline`] provider: which answer a request gets,
//!   and how that answer is cut into stream events and paced.
//! * `describe.rs`: reading the description: the sections it asks for and
//!   the blueprint (title, tagline, topic, words) every answer takes its text
//!   from.
//! * `design.rs`: [`Purpose::DesignPhase`], the phase designer's JSON.
//! * `scaffold.rs`: [`Purpose::Implement`], every file of the generated app
//!   in the heredoc format, including the component templates.
//! * `chat.rs`: [`Purpose::Chat`], the scripted tool-using agent.
//! * `templates/`: the React components and CSS that `scaffold.rs` copies
//!   verbatim with `include_str!`. They live in their own folder so this one
//!   lists only Rust modules, and so a newcomer sees at a glance that they are
//!   the generated app's source, not the server's.
//! * `test_support.rs`: helpers the unit tests of every file share (calling
//!   the provider the way the agent does, parsing what it streams).
//!
//! Dependencies point one way: `design`, `scaffold` and `chat` read the
//! description through `describe`; `chat` borrows three text helpers from
//! `scaffold` (JSX escaping, component names, a section component); the
//! children use this file's `Answer` and `fnv`; only this file calls
//! `design`, `scaffold` and `chat`.

use std::collections::VecDeque;
use std::time::Duration;

use minicode::Usage;
use serde_json::Value;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{ChatRequest, EventStream, FinishReason, LlmError, Provider, Purpose, StreamEvent};

mod chat;
mod describe;
mod design;
mod scaffold;
#[cfg(test)]
mod test_support;

/// The offline generator. `chars_per_sec` paces the stream (0: no pauses).
pub struct Offline {
    chars_per_sec: u32,
}

impl Offline {
    pub fn new(chars_per_sec: u32) -> Self {
        Self { chars_per_sec }
    }
}

impl Provider for Offline {
    fn name(&self) -> &str {
        "offline"
    }

    fn stream(&self, request: ChatRequest, cancel: CancellationToken) -> EventStream {
        let answer = answer(&request);
        let usage = Usage::default();
        pace(
            script(answer, usage, self.chars_per_sec),
            self.chars_per_sec,
            cancel,
        )
    }
}

// ---------------------------------------------------------------------------
// Answers and streaming
// ---------------------------------------------------------------------------

/// A complete answer, before it is cut into stream events.
#[derive(Debug, Default)]
struct Answer {
    text: String,
    /// (id, tool name, arguments).
    calls: Vec<(String, String, Value)>,
}

impl Answer {
    fn text(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            calls: Vec::new(),
        }
    }
}

fn answer(request: &ChatRequest) -> Answer {
    let accent = image_accent(&request.messages, request.purpose == Purpose::Chat);
    match &request.purpose {
        Purpose::DesignPhase {
            description,
            phase_number,
            ..
        } => Answer::text(design::design_phase(description, *phase_number)),
        Purpose::Implement {
            description,
            phase,
            files,
        } => Answer::text(scaffold::implement(
            description,
            phase,
            files,
            accent.as_deref(),
        )),
        Purpose::Chat => chat::chat(&request.messages, accent.as_deref()),
    }
}

/// The accent colour of the user's images: the offline generator's way of
/// "looking" at a screenshot, so the image path runs end to end with no
/// model key. A chat looks at its newest user message only; a build at the
/// prompt's images, wherever they are. An image it cannot decode gives no
/// colour (it was checked when uploaded).
fn image_accent(messages: &[crate::llm::LlmMessage], newest_only: bool) -> Option<String> {
    let mut users = messages.iter().rev().filter_map(|m| match m {
        crate::llm::LlmMessage::User { images, .. } => Some(images),
        _ => None,
    });
    let images = if newest_only {
        users.next()?
    } else {
        users.find(|images| !images.is_empty())?
    };
    let mut colours = Vec::new();
    for image in images {
        let kind = crate::images::format::Kind::from_media_type(&image.media_type)?;
        colours.extend(crate::images::format::dominant_colours(&image.data, kind).ok()?);
    }
    crate::images::format::accent(&colours)
}

/// A small deterministic PRNG (xorshift) so chunk sizes vary like a real
/// stream but the same request always streams the same way.
struct Rng(u64);

impl Rng {
    fn seeded(text: &str) -> Self {
        Rng(fnv(text) | 1)
    }

    fn between(&mut self, min: usize, max: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        min + (self.0 % (max - min + 1) as u64) as usize
    }
}

fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Cuts `text` into pieces of `min..=max` bytes, on character boundaries.
fn split_chunks(text: &str, min: usize, max: usize, rng: &mut Rng) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let mut end = rng.between(min, max).min(rest.len());
        while !rest.is_char_boundary(end) {
            end += 1;
        }
        out.push(rest[..end].to_string());
        rest = &rest[end..];
    }
    out
}

/// The events of an answer: text chunks, then each tool call with its
/// arguments in several fragments, then `Finish`.
fn script(answer: Answer, usage: Usage, chars_per_sec: u32) -> Vec<StreamEvent> {
    let mut rng = Rng::seeded(&answer.text);
    // Paced streams look like a model (a few tokens per chunk); unpaced ones
    // still come in pieces so consumers exercise their streaming paths.
    let (min, max) = if chars_per_sec == 0 {
        (64, 256)
    } else {
        (8, 40)
    };
    let mut events: Vec<StreamEvent> = split_chunks(&answer.text, min, max, &mut rng)
        .into_iter()
        .map(StreamEvent::Text)
        .collect();
    let reason = if answer.calls.is_empty() {
        FinishReason::Stop
    } else {
        FinishReason::ToolCalls
    };
    for (index, (id, name, args)) in answer.calls.into_iter().enumerate() {
        events.push(StreamEvent::ToolCallStart { index, id, name });
        // Arguments always come in several fragments, as hosted APIs send them.
        for fragment in split_chunks(&args.to_string(), 8, 40, &mut rng) {
            events.push(StreamEvent::ToolCallArgs { index, fragment });
        }
    }
    events.push(StreamEvent::Finish { reason, usage });
    events
}

fn event_chars(event: &StreamEvent) -> u64 {
    match event {
        StreamEvent::Text(t) => t.chars().count() as u64,
        StreamEvent::ToolCallArgs { fragment, .. } => fragment.chars().count() as u64,
        _ => 0,
    }
}

struct Pacer {
    events: VecDeque<StreamEvent>,
    cancel: CancellationToken,
    chars_per_sec: u32,
    /// When the first event was asked for; each chunk is due when the
    /// characters before and in it would have been produced at the pace.
    start: Option<Instant>,
    sent_chars: u64,
    sent_events: u64,
    done: bool,
}

/// Streams `events` at `chars_per_sec`. Cancelling ends the stream with
/// `Err(Cancelled)`, also in the middle of a pause; dropping the stream
/// drops the pending pause, so nothing keeps running.
fn pace(events: Vec<StreamEvent>, chars_per_sec: u32, cancel: CancellationToken) -> EventStream {
    let pacer = Pacer {
        events: events.into(),
        cancel,
        chars_per_sec,
        start: None,
        sent_chars: 0,
        sent_events: 0,
        done: false,
    };
    Box::pin(futures::stream::unfold(pacer, |mut p| async move {
        if p.done {
            return None;
        }
        if p.cancel.is_cancelled() {
            p.done = true;
            return Some((Err(LlmError::Cancelled), p));
        }
        let event = p.events.pop_front()?;
        let cost = event_chars(&event);
        if p.chars_per_sec > 0 && cost > 0 {
            let start = *p.start.get_or_insert_with(Instant::now);
            p.sent_chars += cost;
            let due =
                start + Duration::from_secs_f64(p.sent_chars as f64 / f64::from(p.chars_per_sec));
            let cancel = p.cancel.clone();
            tokio::select! {
                biased;
                () = cancel.cancelled() => {
                    p.done = true;
                    return Some((Err(LlmError::Cancelled), p));
                }
                () = tokio::time::sleep_until(due) => {}
            }
        } else if p.sent_events % 16 == 15 {
            // Always-ready streams would otherwise hog the worker thread.
            tokio::task::yield_now().await;
        }
        p.sent_events += 1;
        Some((Ok(event), p))
    }))
}

#[cfg(test)]
mod tests {
    use futures::StreamExt;

    use super::*;
    use crate::llm::LlmMessage;
    use crate::llm::offline::test_support::{TODO_CLUB, design, phase_of, request, run};

    #[tokio::test]
    async fn tool_arguments_stream_in_fragments() {
        let messages = vec![LlmMessage::User {
            images: Vec::new(),
            content: "make the background dark".into(),
        }];
        let mut stream =
            Offline::new(0).stream(request(Purpose::Chat, messages), CancellationToken::new());
        let mut fragments = 0;
        let mut starts = 0;
        while let Some(event) = stream.next().await {
            match event.unwrap() {
                StreamEvent::ToolCallStart { name, .. } => {
                    assert_eq!(name, "Read");
                    starts += 1;
                }
                StreamEvent::ToolCallArgs { .. } => fragments += 1,
                _ => {}
            }
        }
        assert_eq!(starts, 1);
        assert!(fragments >= 2, "arguments split into fragments");
    }

    #[tokio::test]
    async fn cancellation_ends_the_stream() {
        let phase = phase_of(design(TODO_CLUB, 1).await, 1);
        let purpose = Purpose::Implement {
            description: TODO_CLUB.into(),
            phase,
            files: vec![],
        };
        // Slow enough that the whole answer would take minutes.
        let cancel = CancellationToken::new();
        let mut stream = Offline::new(50).stream(request(purpose.clone(), vec![]), cancel.clone());
        assert!(matches!(
            stream.next().await,
            Some(Ok(StreamEvent::Text(_)))
        ));
        let canceller = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            canceller.cancel();
        });
        let started = std::time::Instant::now();
        let mut last = None;
        while let Some(event) = stream.next().await {
            last = Some(event);
        }
        assert_eq!(last, Some(Err(LlmError::Cancelled)));
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "stopped promptly"
        );

        // Already cancelled: one error, then the end.
        let cancel = CancellationToken::new();
        cancel.cancel();
        let mut stream = Offline::new(0).stream(request(purpose, vec![]), cancel);
        assert_eq!(stream.next().await, Some(Err(LlmError::Cancelled)));
        assert_eq!(stream.next().await, None);
    }

    #[tokio::test]
    async fn streams_at_the_configured_pace() {
        let messages = vec![LlmMessage::User {
            images: Vec::new(),
            content: "hello".into(),
        }];
        let expected = chat::help_text().chars().count();
        let started = std::time::Instant::now();
        let (text, _, _, usage, events) =
            run(&Offline::new(4000), request(Purpose::Chat, messages)).await;
        let elapsed = started.elapsed().as_secs_f64();
        let target = expected as f64 / 4000.0;
        assert_eq!(text.chars().count(), expected);
        assert!(elapsed >= target * 0.9, "{elapsed} < {target}");
        assert!(elapsed < target + 1.0, "{elapsed}");
        assert!(events > expected / 40, "small chunks");
        assert_eq!(usage.output_tokens, 0, "no model, no usage");
    }
}
