//! OpenAI-compatible chat completions (`POST {base}/chat/completions` with
//! `stream: true`): OpenRouter, OpenAI, and local servers such as Ollama,
//! vLLM, llama.cpp's server and LM Studio.

use minicode::Usage;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::http::{HttpSettings, SseHandler, error_message, stream_sse};
use super::sse::SseEvent;
use super::{ChatRequest, EventStream, FinishReason, LlmError, LlmMessage, Provider, StreamEvent};
use crate::config::secret::Secret;

pub struct OpenAiCompatible {
    name: String,
    base_url: String,
    api_key: Option<Secret>,
    client: reqwest::Client,
    settings: HttpSettings,
}

impl OpenAiCompatible {
    /// `name` is the provider's id in `provider:model` (`openrouter`, `openai`).
    pub fn new(
        name: &str,
        base_url: &str,
        api_key: Option<Secret>,
        client: reqwest::Client,
        settings: HttpSettings,
    ) -> Self {
        Self {
            name: name.to_string(),
            base_url: base_url.trim_end_matches('/').to_string(),
            api_key: api_key.filter(|k| !k.is_empty()),
            client,
            settings,
        }
    }
}

impl Provider for OpenAiCompatible {
    fn name(&self) -> &str {
        &self.name
    }

    fn stream(&self, request: ChatRequest, cancel: CancellationToken) -> EventStream {
        let body = body(&request);
        let url = format!("{}/chat/completions", self.base_url);
        let client = self.client.clone();
        let key = self.api_key.clone();
        let openrouter = self.name == "openrouter";
        let build = move || {
            let mut builder = client.post(&url).json(&body);
            if let Some(key) = &key {
                builder = builder.bearer_auth(key.expose());
            }
            if openrouter {
                builder = builder.header("X-Title", "minicode");
            }
            builder
        };
        stream_sse(build, self.settings, Handler::default(), cancel)
    }
}

/// The request body in OpenAI's chat format.
pub fn body(request: &ChatRequest) -> Value {
    let mut messages = Vec::with_capacity(request.messages.len() + 1);
    if !request.system.is_empty() {
        messages.push(json!({"role": "system", "content": request.system}));
    }
    for message in &request.messages {
        messages.push(match message {
            LlmMessage::User { content, images } if images.is_empty() => {
                json!({"role": "user", "content": content})
            }
            LlmMessage::User { content, images } => {
                let mut parts = vec![json!({"type": "text", "text": content})];
                parts.extend(images.iter().map(|image| {
                    json!({"type": "image_url", "image_url": {
                        "url": format!("data:{};base64,{}", image.media_type, image.base64()),
                    }})
                }));
                json!({"role": "user", "content": parts})
            }
            LlmMessage::Assistant {
                content,
                tool_calls,
            } if tool_calls.is_empty() => {
                json!({"role": "assistant", "content": content})
            }
            LlmMessage::Assistant {
                content,
                tool_calls,
            } => json!({
                "role": "assistant",
                "content": if content.is_empty() { Value::Null } else { json!(content) },
                "tool_calls": tool_calls.iter().map(|c| json!({
                    "id": c.id,
                    "type": "function",
                    "function": {"name": c.name, "arguments": c.arguments.to_string()},
                })).collect::<Vec<_>>(),
            }),
            LlmMessage::ToolResult {
                tool_call_id,
                content,
                is_error,
            } => json!({
                "role": "tool",
                "tool_call_id": tool_call_id,
                "content": if *is_error { format!("Error: {content}") } else { content.clone() },
            }),
        });
    }
    let mut body = json!({
        "model": request.model,
        "messages": messages,
        "stream": true,
        "stream_options": {"include_usage": true},
        "max_tokens": request.max_tokens,
    });
    if let Some(t) = request.temperature {
        body["temperature"] = json!(t);
    }
    if !request.tools.is_empty() {
        body["tools"] = request
            .tools
            .iter()
            .map(|t| {
                json!({"type": "function", "function": {
                    "name": t.name, "description": t.description, "parameters": t.input_schema,
                }})
            })
            .collect();
    }
    body
}

/// Reads `data: {chunk}` events until `data: [DONE]`.
#[derive(Default)]
struct Handler {
    finish: Option<FinishReason>,
    usage: Usage,
    /// The tool calls started so far, by our index (their position here):
    /// the provider's `index` and `id` for each, to route later fragments.
    started: Vec<(Option<u64>, Option<String>)>,
}

impl Handler {
    /// Our index for one entry of a `tool_calls` delta, and whether it starts
    /// a new call. Providers disagree: OpenAI numbers parallel calls by
    /// `index` and sends `id` and `name` only in the first fragment; Gemini's
    /// endpoint and some Ollama/LiteLLM versions give every call `index` 0
    /// (or none) but a distinct `id`. So a new `id` is a new call whatever
    /// its index, a fragment without `id` continues the call of its index
    /// (or the last call), and a named fragment with neither is a new call.
    fn route(&self, index: Option<u64>, id: Option<&str>, named: bool) -> (usize, bool) {
        if let Some(id) = id {
            if let Some(at) = self
                .started
                .iter()
                .position(|(_, i)| i.as_deref() == Some(id))
            {
                return (at, false);
            }
            return (self.started.len(), true);
        }
        let same_index = index.and_then(|x| self.started.iter().rposition(|(i, _)| *i == Some(x)));
        match (same_index, named) {
            (Some(at), false) => (at, false),
            (None, false) if index.is_none() && !self.started.is_empty() => {
                (self.started.len() - 1, false)
            }
            _ => (self.started.len(), true),
        }
    }
}

impl Handler {
    fn finished(&mut self, out: &mut Vec<StreamEvent>) {
        let reason = self.finish.take().unwrap_or(FinishReason::Stop);
        let reason = if reason == FinishReason::Stop && !self.started.is_empty() {
            FinishReason::ToolCalls
        } else {
            reason
        };
        out.push(StreamEvent::Finish {
            reason,
            usage: self.usage,
        });
    }
}

impl SseHandler for Handler {
    fn on_event(&mut self, event: SseEvent, out: &mut Vec<StreamEvent>) -> Result<bool, LlmError> {
        let data = event.data.trim();
        if data == "[DONE]" {
            self.finished(out);
            return Ok(true);
        }
        if data.is_empty() {
            return Ok(false);
        }
        let chunk: Value = serde_json::from_str(data).map_err(|e| {
            LlmError::Protocol(format!("a chunk is not JSON ({e}): {}", clip(data)))
        })?;
        if let Some(error) = chunk.get("error") {
            let message = error_message(&json!({"error": error}).to_string());
            return Err(LlmError::Interrupted(format!(
                "the provider reported an error mid-answer: {message}"
            )));
        }
        if let Some(usage) = chunk.get("usage").filter(|u| u.is_object()) {
            self.usage.input_tokens = usage["prompt_tokens"]
                .as_u64()
                .unwrap_or(self.usage.input_tokens);
            self.usage.output_tokens = usage["completion_tokens"]
                .as_u64()
                .unwrap_or(self.usage.output_tokens);
            // OpenRouter reports what the call cost.
            if let Some(cost) = usage.get("cost").and_then(Value::as_f64) {
                self.usage.cost_usd = Some(cost);
            }
        }
        let Some(choice) = chunk.get("choices").and_then(|c| c.get(0)) else {
            return Ok(false);
        };
        let delta = &choice["delta"];
        if let Some(text) = delta
            .get("content")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
        {
            out.push(StreamEvent::Text(text.to_string()));
        }
        if let Some(calls) = delta.get("tool_calls").and_then(Value::as_array) {
            for call in calls {
                let function = &call["function"];
                let name = function
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let id = call
                    .get("id")
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty());
                let provider_index = call.get("index").and_then(Value::as_u64);
                let (index, new) = self.route(provider_index, id, !name.is_empty());
                if new {
                    if name.is_empty() {
                        return Err(LlmError::Protocol(format!(
                            "tool call {index} has arguments before its name"
                        )));
                    }
                    self.started.push((provider_index, id.map(str::to_string)));
                    out.push(StreamEvent::ToolCallStart {
                        index,
                        id: id.map_or_else(|| format!("call_{index}"), str::to_string),
                        name: name.to_string(),
                    });
                }
                // A string of JSON as the API says, or (some gateways) the
                // object itself.
                let args = match function.get("arguments") {
                    Some(Value::String(a)) => a.clone(),
                    Some(object @ Value::Object(_)) => object.to_string(),
                    _ => String::new(),
                };
                if !args.is_empty() {
                    out.push(StreamEvent::ToolCallArgs {
                        index,
                        fragment: args,
                    });
                }
            }
        }
        if let Some(reason) = choice.get("finish_reason").and_then(Value::as_str) {
            self.finish = Some(match reason {
                "stop" => FinishReason::Stop,
                "tool_calls" | "function_call" => FinishReason::ToolCalls,
                "length" => FinishReason::Length,
                other => FinishReason::Other(other.to_string()),
            });
        }
        Ok(false)
    }

    fn on_end(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), LlmError> {
        // Some servers close without `[DONE]` once they sent a finish reason.
        if self.finish.is_some() {
            self.finished(out);
            Ok(())
        } else {
            Err(LlmError::Interrupted(
                "the stream ended before the answer was complete".into(),
            ))
        }
    }
}

fn clip(s: &str) -> String {
    s.chars().take(120).collect()
}
