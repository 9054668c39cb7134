//! Anthropic Messages (`POST {base}/v1/messages` with `stream: true`).
//!
//! The stream is typed SSE: `message_start`, then per content block
//! `content_block_start` / `content_block_delta` / `content_block_stop`, then
//! `message_delta` (stop reason, output tokens) and `message_stop`; `ping`
//! events keep the connection alive and an `error` event (such as
//! `overloaded_error`) can arrive mid-stream.

use std::collections::HashMap;

use minicode::Usage;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::http::{HttpSettings, SseHandler, error_message, stream_sse};
use super::sse::SseEvent;
use super::{ChatRequest, EventStream, FinishReason, LlmError, LlmMessage, Provider, StreamEvent};
use crate::config::secret::Secret;

const API_VERSION: &str = "2023-06-01";

pub struct Anthropic {
    base_url: String,
    api_key: Secret,
    client: reqwest::Client,
    settings: HttpSettings,
}

impl Anthropic {
    pub fn new(
        base_url: &str,
        api_key: Secret,
        client: reqwest::Client,
        settings: HttpSettings,
    ) -> Self {
        Self {
            base_url: base_url.trim_end_matches('/').to_string(),
            api_key,
            client,
            settings,
        }
    }
}

impl Provider for Anthropic {
    fn name(&self) -> &str {
        "anthropic"
    }

    fn stream(&self, request: ChatRequest, cancel: CancellationToken) -> EventStream {
        let body = body(&request);
        let url = format!("{}/v1/messages", self.base_url);
        let client = self.client.clone();
        let key = self.api_key.clone();
        let build = move || {
            client
                .post(&url)
                .header("x-api-key", key.expose())
                .header("anthropic-version", API_VERSION)
                .json(&body)
        };
        stream_sse(build, self.settings, Handler::default(), cancel)
    }
}

/// The request body in the Messages format. Consecutive messages of the same
/// role are merged (the API wants user and assistant to alternate), and tool
/// results travel as `tool_result` blocks of a user message.
pub fn body(request: &ChatRequest) -> Value {
    let mut messages: Vec<(String, Vec<Value>)> = Vec::new();
    for message in &request.messages {
        let (role, blocks) = match message {
            LlmMessage::User { content, images } => {
                // Images first, then the words about them: Anthropic's advice.
                let mut blocks: Vec<Value> = images
                    .iter()
                    .map(|image| {
                        json!({"type": "image", "source": {
                            "type": "base64", "media_type": image.media_type, "data": image.base64(),
                        }})
                    })
                    .collect();
                blocks.push(json!({"type": "text", "text": content}));
                ("user", blocks)
            }
            LlmMessage::Assistant {
                content,
                tool_calls,
            } => {
                let mut blocks = Vec::new();
                if !content.is_empty() {
                    blocks.push(json!({"type": "text", "text": content}));
                }
                for call in tool_calls {
                    blocks.push(json!({"type": "tool_use", "id": call.id, "name": call.name, "input": call.arguments}));
                }
                ("assistant", blocks)
            }
            LlmMessage::ToolResult {
                tool_call_id,
                content,
                is_error,
            } => (
                "user",
                vec![
                    json!({"type": "tool_result", "tool_use_id": tool_call_id, "content": content, "is_error": is_error}),
                ],
            ),
        };
        if blocks.is_empty() {
            continue;
        }
        match messages.last_mut() {
            Some((last, existing)) if last == role => existing.extend(blocks),
            _ => messages.push((role.to_string(), blocks)),
        }
    }
    let mut body = json!({
        "model": request.model,
        "max_tokens": request.max_tokens,
        "stream": true,
        "messages": messages.into_iter().map(|(role, content)| json!({"role": role, "content": content})).collect::<Vec<_>>(),
    });
    if !request.system.is_empty() {
        body["system"] = json!(request.system);
    }
    if let Some(t) = request.temperature {
        body["temperature"] = json!(t);
    }
    if !request.tools.is_empty() {
        body["tools"] = request
            .tools
            .iter()
            .map(|t| json!({"name": t.name, "description": t.description, "input_schema": t.input_schema}))
            .collect();
    }
    body
}

#[derive(Default)]
struct Handler {
    usage: Usage,
    finish: Option<FinishReason>,
    /// Content block index → tool-call index.
    tools: HashMap<u64, usize>,
}

impl SseHandler for Handler {
    fn on_event(&mut self, event: SseEvent, out: &mut Vec<StreamEvent>) -> Result<bool, LlmError> {
        let data: Value = serde_json::from_str(&event.data).map_err(|e| {
            LlmError::Protocol(format!(
                "`{}` event is not JSON ({e}): {}",
                event.event,
                event.data.chars().take(120).collect::<String>()
            ))
        })?;
        // The `type` inside the data is authoritative; `event:` mirrors it.
        let kind = data
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or(event.event.as_str());
        match kind {
            "message_start" => {
                let usage = &data["message"]["usage"];
                self.usage.input_tokens = usage["input_tokens"].as_u64().unwrap_or(0)
                    + usage["cache_read_input_tokens"].as_u64().unwrap_or(0)
                    + usage["cache_creation_input_tokens"].as_u64().unwrap_or(0);
                self.usage.output_tokens = usage["output_tokens"].as_u64().unwrap_or(0);
            }
            "content_block_start" => {
                let block = &data["content_block"];
                if block["type"] == "tool_use" {
                    let index = self.tools.len();
                    self.tools
                        .insert(data["index"].as_u64().unwrap_or(index as u64), index);
                    out.push(StreamEvent::ToolCallStart {
                        index,
                        id: block["id"].as_str().unwrap_or_default().to_string(),
                        name: block["name"].as_str().unwrap_or_default().to_string(),
                    });
                } else if let Some(text) = block
                    .get("text")
                    .and_then(Value::as_str)
                    .filter(|t| !t.is_empty())
                {
                    out.push(StreamEvent::Text(text.to_string()));
                }
            }
            "content_block_delta" => {
                let delta = &data["delta"];
                match delta["type"].as_str() {
                    Some("text_delta") => {
                        if let Some(text) = delta["text"].as_str().filter(|t| !t.is_empty()) {
                            out.push(StreamEvent::Text(text.to_string()));
                        }
                    }
                    Some("input_json_delta") => {
                        let block = data["index"].as_u64().unwrap_or(0);
                        let Some(&index) = self.tools.get(&block) else {
                            return Err(LlmError::Protocol(format!(
                                "arguments for unknown content block {block}"
                            )));
                        };
                        if let Some(fragment) =
                            delta["partial_json"].as_str().filter(|f| !f.is_empty())
                        {
                            out.push(StreamEvent::ToolCallArgs {
                                index,
                                fragment: fragment.to_string(),
                            });
                        }
                    }
                    // Thinking and signature deltas are not shown.
                    _ => {}
                }
            }
            "message_delta" => {
                if let Some(reason) = data["delta"]["stop_reason"].as_str() {
                    self.finish = Some(match reason {
                        "end_turn" | "stop_sequence" => FinishReason::Stop,
                        "tool_use" => FinishReason::ToolCalls,
                        "max_tokens" => FinishReason::Length,
                        other => FinishReason::Other(other.to_string()),
                    });
                }
                if let Some(output) = data["usage"]["output_tokens"].as_u64() {
                    self.usage.output_tokens = output;
                }
            }
            "message_stop" => {
                out.push(StreamEvent::Finish {
                    reason: self.finish.take().unwrap_or(FinishReason::Stop),
                    usage: self.usage,
                });
                return Ok(true);
            }
            "error" => {
                let message = error_message(&data.to_string());
                return Err(LlmError::Interrupted(format!(
                    "the provider reported an error mid-answer: {message}"
                )));
            }
            // ping, content_block_stop, and types added later.
            _ => {}
        }
        Ok(false)
    }

    fn on_end(&mut self, _out: &mut Vec<StreamEvent>) -> Result<(), LlmError> {
        Err(LlmError::Interrupted(
            "the stream ended before `message_stop`".into(),
        ))
    }
}
