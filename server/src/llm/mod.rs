//! Language models behind one streaming interface.
//!
//! Three providers implement [`Provider`]: OpenAI-compatible chat completions
//! (OpenRouter, OpenAI, Ollama, vLLM, llama.cpp server, LM Studio — any base
//! URL), Anthropic Messages, and the built-in `offline` generator that needs
//! no key. All stream: text and tool-call arguments arrive in pieces as
//! [`StreamEvent`]s, and the call ends with [`StreamEvent::Finish`] carrying
//! the token usage.
//!
//! Providers retry 429, 5xx and connection failures that happen before the
//! first byte (with backoff, honouring `Retry-After`), enforce a request
//! timeout and an idle timeout between chunks, and stop promptly when the
//! [`CancellationToken`] is cancelled or the stream is dropped. Errors never
//! contain the API key.

pub mod anthropic;
pub(crate) mod config;
pub mod http;
pub mod models;
pub mod offline;
pub mod openai;
pub mod reasoning;
pub(crate) mod routes;
pub(crate) mod sse;
pub(crate) mod text_tools;

use std::pin::Pin;
use std::time::Duration;

use futures::Stream;
use minicode::Usage;
use minicode::protocol::Phase;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

/// What a model call is for. Real models only see the prompt; the offline
/// generator uses this to produce its deterministic answer.
#[derive(Clone, Debug, PartialEq)]
pub enum Purpose {
    /// Design the next phase of an app. The answer is JSON (see `prompts/phase_designer.md`).
    DesignPhase {
        description: String,
        /// 1-based number of the phase to design.
        phase_number: u32,
        /// Phases already designed and implemented.
        previous: Vec<Phase>,
        /// Paths of the files the project has now.
        files: Vec<String>,
    },
    /// Implement a designed phase. The answer is the heredoc file format.
    Implement {
        description: String,
        phase: Phase,
        files: Vec<String>,
    },
    /// A chat turn of the tool-using agent.
    Chat,
}

/// An image sent to a model with a user message, in each provider's own
/// format (an `image_url` data URL, an Anthropic `image` block).
#[derive(Clone, PartialEq)]
pub struct LlmImage {
    /// `image/png`, `image/jpeg` or `image/webp`.
    pub media_type: String,
    pub data: std::sync::Arc<Vec<u8>>,
}

impl LlmImage {
    pub fn base64(&self) -> String {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(self.data.as_slice())
    }
}

impl std::fmt::Debug for LlmImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "LlmImage({}, {} bytes)",
            self.media_type,
            self.data.len()
        )
    }
}

/// One message of the conversation sent to a model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "snake_case")]
pub enum LlmMessage {
    User {
        content: String,
        /// Attached images (screenshots, mock-ups); never serialized.
        #[serde(skip)]
        images: Vec<LlmImage>,
    },
    Assistant {
        content: String,
        #[serde(default)]
        tool_calls: Vec<ToolCall>,
    },
    /// The outcome of one tool call, sent back to the model.
    ToolResult {
        tool_call_id: String,
        content: String,
        #[serde(default)]
        is_error: bool,
    },
}

impl LlmMessage {
    /// A user message of text only.
    pub fn user(content: impl Into<String>) -> Self {
        LlmMessage::User {
            content: content.into(),
            images: Vec::new(),
        }
    }
}

/// A tool the model may call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ToolSpec {
    pub name: String,
    pub description: String,
    /// JSON Schema of the arguments object.
    pub input_schema: serde_json::Value,
}

/// A complete tool call, as the model made it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    pub arguments: serde_json::Value,
}

/// One model call.
#[derive(Clone, Debug, PartialEq)]
pub struct ChatRequest {
    /// The provider's own model name (after `provider:` is stripped).
    pub model: String,
    pub system: String,
    pub messages: Vec<LlmMessage>,
    /// Empty: no tools offered.
    pub tools: Vec<ToolSpec>,
    pub max_tokens: u32,
    pub temperature: Option<f32>,
    pub purpose: Purpose,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FinishReason {
    /// The model finished its answer.
    Stop,
    /// The model wants the tool calls it streamed to be run.
    ToolCalls,
    /// The answer hit `max_tokens`.
    Length,
    Other(String),
}

/// A piece of a streamed answer.
#[derive(Clone, Debug, PartialEq)]
pub enum StreamEvent {
    /// Assistant text.
    Text(String),
    /// A tool call starts; its arguments follow as `ToolCallArgs` with the same index.
    ToolCallStart {
        index: usize,
        id: String,
        name: String,
    },
    /// A fragment of a tool call's JSON arguments.
    ToolCallArgs { index: usize, fragment: String },
    /// The end of the answer, with what the call used.
    Finish { reason: FinishReason, usage: Usage },
}

#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum LlmError {
    #[error("the model provider rejected the API key (HTTP {status})")]
    Auth { status: u16 },
    #[error("the model provider is rate limiting requests; try again later")]
    RateLimited { retry_after: Option<Duration> },
    #[error("the model provider answered HTTP {status}: {message}")]
    Http { status: u16, message: String },
    #[error("could not reach the model provider: {0}")]
    Connect(String),
    #[error("the model provider did not answer in time ({0})")]
    Timeout(String),
    #[error("the model's answer broke off: {0}")]
    Interrupted(String),
    #[error("the model provider sent something unreadable: {0}")]
    Protocol(String),
    #[error("the model call was cancelled")]
    Cancelled,
    #[error("{0}")]
    Config(String),
}

pub type EventStream = Pin<Box<dyn Stream<Item = Result<StreamEvent, LlmError>> + Send>>;

/// A model provider.
pub trait Provider: Send + Sync + 'static {
    /// `openrouter`, `openai`, `anthropic`, `offline`.
    fn name(&self) -> &str;

    /// Starts a call. The stream ends after `Finish` or after one `Err`.
    fn stream(&self, request: ChatRequest, cancel: CancellationToken) -> EventStream;
}

/// Collects streamed tool calls into complete [`ToolCall`]s.
///
/// Arguments arrive as JSON fragments that only parse once all are in.
/// Arguments that still do not parse are kept as a JSON string, so the tool
/// answers the model with a clear error instead of the turn failing.
#[derive(Debug, Default)]
pub struct ToolCallAssembler {
    text: String,
    calls: Vec<(usize, String, String, String)>,
}

impl ToolCallAssembler {
    pub fn push(&mut self, event: &StreamEvent) {
        match event {
            StreamEvent::Text(t) => self.text.push_str(t),
            StreamEvent::ToolCallStart { index, id, name } => {
                self.calls
                    .push((*index, id.clone(), name.clone(), String::new()));
            }
            StreamEvent::ToolCallArgs { index, fragment } => {
                if let Some(call) = self.calls.iter_mut().rev().find(|c| c.0 == *index) {
                    call.3.push_str(fragment);
                }
            }
            StreamEvent::Finish { .. } => {}
        }
    }

    /// The text and the tool calls, in the order the model made them.
    pub fn finish(self) -> Result<(String, Vec<ToolCall>), LlmError> {
        let mut calls = Vec::with_capacity(self.calls.len());
        for (n, (_, id, name, raw)) in self.calls.into_iter().enumerate() {
            if name.is_empty() {
                return Err(LlmError::Protocol("a tool call came without a name".into()));
            }
            let arguments = if raw.trim().is_empty() {
                serde_json::Value::Object(Default::default())
            } else {
                serde_json::from_str(&raw).unwrap_or(serde_json::Value::String(raw))
            };
            let id = if id.is_empty() {
                format!("call_{n}")
            } else {
                id
            };
            calls.push(ToolCall {
                id,
                name,
                arguments,
            });
        }
        Ok((self.text, calls))
    }
}
