//! Chat turns: the user asks for a change, a tool-using agent makes it.
//!
//! A turn stores the user's message first, takes a checkpoint (so the turn
//! can be undone), then loops: call the model with the conversation and the
//! five tools, stream its text to the client, run the tool calls it makes,
//! feed the results back, until it answers without tools. Guards stop a turn
//! that takes too many steps, spends too many tokens, or goes in circles.
//! The assistant message, with its tool calls and token usage, is stored
//! when the turn ends (completed, cancelled or failed).
//!
//! The conversation is rebuilt from the database on every turn, so it
//! continues across reconnects, new tabs and restarts; long histories are
//! trimmed oldest-first to a character budget, never losing the latest turns.

pub mod tools;

use std::collections::HashMap;

use futures::StreamExt;
use minicode::protocol::ServerEvent;
use minicode::{MAX_MESSAGE_CHARS, Message, Role, ToolCallRecord, Usage};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::agent::prompts;
use crate::agent::registry::Work;
use crate::auth::Caller;
use crate::checkpoints;
use crate::error::{AppError, AppResult};
use crate::llm::models::ResolvedModel;
use crate::llm::{
    ChatRequest, FinishReason, LlmError, LlmMessage, Purpose, StreamEvent, ToolCall,
    ToolCallAssembler, text_tools,
};
use crate::state::AppState;
use crate::{chats, projects};

use crate::agent::config::ChatGuards as Guards;

/// Starts a turn; returns the id the assistant's message will have.
pub async fn start_turn(
    state: &AppState,
    caller: &Caller,
    project: Uuid,
    chat_id: Uuid,
    content: String,
    images: Vec<Uuid>,
    fix_error: bool,
) -> AppResult<Uuid> {
    let chat = chats::owned(state, caller, chat_id).await?;
    if chat.project_id != project {
        return Err(AppError::not_found("chat"));
    }
    let project_row = projects::owned(state, caller, project).await?;
    let content = if fix_error {
        let error = latest_error(state, project).await?;
        let request = content.trim();
        format!(
            "Fix this error:\n{error}{}",
            if request.is_empty() {
                String::new()
            } else {
                format!("\n\n{request}")
            }
        )
    } else {
        content.trim().to_string()
    };
    if content.is_empty() {
        return Err(AppError::validation("the message is empty"));
    }
    AppError::check_length(&content, MAX_MESSAGE_CHARS, "message")?;
    let model = state.models.resolve(project_row.model.as_deref())?;
    // Images are refused before anything is stored: a text-only model, a
    // stranger's image, one sent before.
    crate::images::ensure_model_sees(state, &model, &images)?;
    crate::images::check_sendable(state, project, &images).await?;
    let reply_id = Uuid::new_v4();
    let cancel = state
        .agents
        .claim(project, Work::Chat, reply_id, Some(chat_id))
        .await?;
    // Over a quota or budget: nothing is stored, and the claim is released.
    if let Err(e) =
        crate::quota::admit_work(state, caller.id(), project, Work::Chat, reply_id, &model.id).await
    {
        state.agents.release(project, reply_id).await;
        return Err(e);
    }

    // The user's words are kept before anything else can fail.
    let user_message = Uuid::new_v4();
    let stored = async {
        chats::append_message(
            state,
            chat_id,
            user_message,
            Role::User,
            &content,
            &[],
            None,
        )
        .await?;
        crate::images::attach(state, &images, crate::images::Owner::Message(user_message)).await
    }
    .await;
    if let Err(e) = stored {
        crate::quota::ledger::forget_start(state, reply_id).await;
        state.agents.release(project, reply_id).await;
        return Err(e);
    }
    // The user's waiting saves are committed first, so the turn's commit
    // holds only the turn's changes.
    crate::git::flush(state, project).await;
    let undo_point = match checkpoints::before_turn(state, project, &content).await {
        Ok(id) => Some(id),
        Err(e) => {
            tracing::warn!(error = %e, "could not take a checkpoint before a chat turn");
            None
        }
    };

    let turn = Turn {
        state: state.clone(),
        project,
        chat: chat_id,
        reply: reply_id,
        model,
        cancel,
        guards: state.config.agent.chat_guards(),
        undo_point,
        images: Default::default(),
    };
    let agents = state.agents.clone();
    tokio::spawn(async move {
        turn.run().await;
        agents.release(project, reply_id).await;
    });
    Ok(reply_id)
}

/// The latest sandbox error with its log, for "fix this error".
async fn latest_error(state: &AppState, project: Uuid) -> AppResult<String> {
    let last = state.events.last_seq(project).await?;
    let from = last.saturating_sub(2000);
    let frames = state.events.replay(project, from, last).await?;
    for frame in frames.iter().rev() {
        if frame.kind != "error" {
            continue;
        }
        let value: serde_json::Value = serde_json::from_str(frame.json()).unwrap_or_default();
        let message = value["payload"]["message"].as_str().unwrap_or_default();
        let tail: Vec<&str> = value["payload"]["logTail"]
            .as_array()
            .map(|t| t.iter().filter_map(|l| l.as_str()).collect())
            .unwrap_or_default();
        let tail = if tail.is_empty() {
            state.sandboxes.log_tail(project, 30)
        } else {
            tail.into_iter().map(String::from).collect()
        };
        return Ok(format!(
            "{message}\n\nLast lines of the log:\n{}",
            tail.join("\n")
        ));
    }
    Err(AppError::validation("there is no error to fix"))
}

struct Turn {
    state: AppState,
    project: Uuid,
    chat: Uuid,
    reply: Uuid,
    model: ResolvedModel,
    cancel: CancellationToken,
    guards: Guards,
    /// The "Before: …" checkpoint taken for this turn, finished when it ends.
    undo_point: Option<Uuid>,
    /// The images of the messages resent to the model, by message, read
    /// from the database once per turn (not on each of its steps).
    images: std::sync::Mutex<HashMap<Uuid, Vec<crate::llm::LlmImage>>>,
}

/// How a turn ended.
enum Ending {
    Done,
    Stopped(String),
    Cancelled,
    Failed(String),
}

impl Turn {
    /// Publishes one of the turn's events on the project's log, tagged with
    /// the chat so its socket (`/api/chats/:id/ws`) gets it.
    async fn publish(&self, event: ServerEvent) {
        self.state
            .events
            .emit_for_chat(self.project, self.chat, event)
            .await;
    }

    #[tracing::instrument(name = "chat.turn", skip_all, fields(project_id = %self.project, chat_id = %self.chat))]
    async fn run(self) {
        self.publish(ServerEvent::MessageStart {
            message_id: self.reply,
            chat_id: self.chat,
        })
        .await;
        self.publish(ServerEvent::Status {
            status: "thinking".into(),
        })
        .await;
        let mut text = String::new();
        let mut records = Vec::new();
        let mut usage = Usage::default();
        let ending = self.steps(&mut text, &mut records, &mut usage).await;
        // Before the reply is complete, so a client that sees it done finds
        // the turn's undo point in the list.
        if let Some(id) = self.undo_point
            && let Err(e) = checkpoints::after_turn(
                &self.state,
                self.project,
                id,
                &crate::git::Author::Agent(self.model.id.clone()),
            )
            .await
        {
            tracing::warn!(error = %e, "could not finish a chat turn's checkpoint");
        }

        let content = match &ending {
            Ending::Done => text.clone(),
            Ending::Stopped(why) => join(&text, &format!("_{why}_")),
            Ending::Cancelled
                if !self
                    .state
                    .agents
                    .cancelled_by_user(self.project, self.reply) =>
            {
                join(
                    &text,
                    "_Interrupted: the server restarted during this reply. Send a message to continue._",
                )
            }
            Ending::Cancelled => join(&text, "_Cancelled._"),
            Ending::Failed(why) => join(&text, &format!("_The model failed: {why}_")),
        };
        let stored = chats::save_message(
            &self.state,
            self.chat,
            self.reply,
            Role::Assistant,
            &content,
            &records,
            Some(usage),
            false,
        )
        .await;
        match stored {
            Ok(message) => self.publish(ServerEvent::MessageComplete { message }).await,
            Err(e) => tracing::error!(error = %e, "could not store the assistant's message"),
        }
        if let Ending::Failed(why) = &ending {
            self.publish(ServerEvent::error("MODEL_ERROR", why.clone()))
                .await;
        }
        self.publish(ServerEvent::Status {
            status: "idle".into(),
        })
        .await;
        tracing::info!(
            tools = records.len(),
            tokens = usage.total_tokens(),
            "chat turn ended"
        );
    }

    async fn steps(
        &self,
        text: &mut String,
        records: &mut Vec<ToolCallRecord>,
        usage: &mut Usage,
    ) -> Ending {
        let mut conversation = match self.history().await {
            Ok(h) => h,
            Err(e) => return Ending::Failed(minicode::ApiError::from(e).error),
        };
        let files: Vec<String> = crate::files::list_latest(&self.state, self.project)
            .await
            .map(|f| f.into_iter().map(|f| f.path).collect())
            .unwrap_or_default();
        let system = prompts::chat_agent(&files);
        let specs = tools::specs();
        let tool_names: Vec<&str> = specs.iter().map(|t| t.name.as_str()).collect();
        let mut seen_calls: HashMap<String, u32> = HashMap::new();
        let mut idle_steps = 0;
        for step in 1..=self.guards.max_steps {
            if self.cancel.is_cancelled() {
                return Ending::Cancelled;
            }
            let request = ChatRequest {
                model: self.model.name.clone(),
                system: system.clone(),
                messages: conversation.clone(),
                tools: specs.clone(),
                max_tokens: 8192,
                temperature: Some(0.2),
                purpose: Purpose::Chat,
            };
            let (mut step_text, mut calls, step_usage, finish) =
                match self.call(request, text).await {
                    Ok(r) => r,
                    Err(LlmError::Cancelled) => return Ending::Cancelled,
                    Err(e) => return Ending::Failed(e.to_string()),
                };
            if calls.is_empty()
                && let Some((clean, written)) = text_tools::extract(&step_text, &tool_names)
            {
                // The model wrote its calls as text: run them, and keep only
                // its words as the reply.
                tracing::info!(
                    calls = written.len(),
                    "tool calls read from the model's text"
                );
                text.truncate(text.len() - step_text.len());
                text.push_str(&clean);
                let kept = text.trim_end().len();
                text.truncate(kept);
                step_text = clean;
                calls = written;
            }
            usage.add(step_usage);
            if let Err(e) = crate::quota::ledger::record_model_call(
                &self.state,
                self.project,
                Work::Chat,
                self.reply,
                &self.model.id,
                step_usage,
            )
            .await
            {
                tracing::warn!(error = %e, "could not record the model call's usage");
            }
            if calls.is_empty() {
                if finish == FinishReason::Length {
                    return Ending::Stopped(
                        "Stopped: the model's answer was cut off by its length limit.".into(),
                    );
                }
                if step_text.trim().is_empty() && records.is_empty() {
                    return Ending::Stopped(
                        "The model sent an empty reply. Send the message again, or choose another model."
                            .into(),
                    );
                }
                return Ending::Done;
            }
            conversation.push(LlmMessage::Assistant {
                content: step_text,
                tool_calls: calls.clone(),
            });
            let mut progressed = false;
            for call in calls {
                if self.cancel.is_cancelled() {
                    return Ending::Cancelled;
                }
                let key = format!("{}:{}", call.name, call.arguments);
                let repeats = seen_calls.entry(key).or_insert(0);
                *repeats += 1;
                if *repeats >= 3 {
                    return Ending::Stopped(format!(
                        "Stopped: the same {} call was repeated {} times without getting anywhere.",
                        call.name, repeats
                    ));
                }
                self.publish(ServerEvent::ToolUse {
                    message_id: self.reply,
                    tool_call_id: call.id.clone(),
                    tool_name: call.name.clone(),
                    tool_input: call.arguments.clone(),
                })
                .await;
                self.publish(ServerEvent::Status {
                    status: format!("running {}", call.name),
                })
                .await;
                let outcome =
                    tools::run(&self.state, self.project, &call.name, &call.arguments).await;
                progressed |= outcome.ok && (outcome.changed_files || *repeats == 1);
                self.publish(ServerEvent::ToolResult {
                    message_id: self.reply,
                    tool_call_id: call.id.clone(),
                    tool_name: call.name.clone(),
                    ok: outcome.ok,
                    summary: outcome.summary.clone(),
                })
                .await;
                records.push(ToolCallRecord {
                    id: call.id.clone(),
                    tool_name: call.name.clone(),
                    tool_input: call.arguments.clone(),
                    ok: outcome.ok,
                    summary: outcome.summary.clone(),
                });
                conversation.push(LlmMessage::ToolResult {
                    tool_call_id: call.id,
                    content: outcome.content,
                    is_error: !outcome.ok,
                });
            }
            // Saved after every step: a restart keeps the reply so far.
            if let Err(e) = chats::save_message(
                &self.state,
                self.chat,
                self.reply,
                Role::Assistant,
                text,
                records,
                Some(*usage),
                true,
            )
            .await
            {
                tracing::warn!(error = %e, "could not save the reply so far");
            }
            idle_steps = if progressed { 0 } else { idle_steps + 1 };
            if idle_steps >= self.guards.max_idle_steps {
                return Ending::Stopped(format!(
                    "Stopped: {idle_steps} steps in a row made no progress."
                ));
            }
            if usage.total_tokens() > self.guards.token_budget {
                return Ending::Stopped(format!(
                    "Stopped: this reply used {} tokens, over the budget of {}.",
                    usage.total_tokens(),
                    self.guards.token_budget
                ));
            }
            if step == self.guards.max_steps {
                return Ending::Stopped(format!(
                    "Stopped after {step} steps (the limit for one reply)."
                ));
            }
            self.publish(ServerEvent::Status {
                status: "thinking".into(),
            })
            .await;
        }
        Ending::Done
    }

    /// One model call: text streams to the client, tool calls are assembled.
    async fn call(
        &self,
        request: ChatRequest,
        text: &mut String,
    ) -> Result<(String, Vec<ToolCall>, Usage, FinishReason), LlmError> {
        let mut stream = self.model.provider.stream(request, self.cancel.clone());
        let mut assembler = ToolCallAssembler::default();
        let mut usage = Usage::default();
        let mut finish = FinishReason::Stop;
        let mut step_text = String::new();
        while let Some(event) = tokio::select! {
            e = stream.next() => e,
            () = self.cancel.cancelled() => return Err(LlmError::Cancelled),
        } {
            let event = event?;
            match &event {
                StreamEvent::Text(delta) => {
                    step_text.push_str(delta);
                    // A step's words after a tool call start a paragraph of
                    // their own instead of running on from the last sentence.
                    let delta = if step_text.len() == delta.len()
                        && !text.is_empty()
                        && !text.ends_with('\n')
                    {
                        format!("\n\n{delta}")
                    } else {
                        delta.clone()
                    };
                    text.push_str(&delta);
                    self.publish(ServerEvent::MessageDelta {
                        message_id: self.reply,
                        delta,
                    })
                    .await;
                }
                StreamEvent::Finish { usage: u, reason } => {
                    usage = *u;
                    finish = reason.clone();
                }
                StreamEvent::ToolCallStart { .. } | StreamEvent::ToolCallArgs { .. } => {}
            }
            assembler.push(&event);
        }
        let (_, calls) = assembler.finish()?;
        Ok((step_text, calls, usage, finish))
    }

    /// The chat so far, as model messages, trimmed to the context budget
    /// (oldest first; the newest message always stays).
    async fn history(&self) -> AppResult<Vec<LlmMessage>> {
        let messages = chats::all_messages(&self.state, self.chat).await?;
        let mut history: Vec<LlmMessage> = messages.iter().map(to_llm).collect();
        // The newest messages with images send them again; older ones only
        // say they had some, so a long chat does not resend every picture.
        let mut shown = 0;
        for (message, llm) in messages.iter().zip(history.iter_mut()).rev() {
            let LlmMessage::User { content, images } = llm else {
                continue;
            };
            if message.images.is_empty() {
                continue;
            }
            if shown < IMAGE_MESSAGES_IN_CONTEXT {
                let cached = self
                    .images
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get(&message.id)
                    .cloned();
                *images = match cached {
                    Some(cached) => cached,
                    None => {
                        let loaded = crate::images::for_model(
                            &self.state,
                            crate::images::Owner::Message(message.id),
                        )
                        .await?;
                        self.images
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .insert(message.id, loaded.clone());
                        loaded
                    }
                };
                shown += 1;
            } else {
                content.push_str(&format!(
                    "\n\n({} image(s) were attached here; not shown again.)",
                    message.images.len()
                ));
            }
        }
        Ok(trim_history(history, self.guards.context_chars))
    }
}

/// User messages whose images go to the model again on later turns.
const IMAGE_MESSAGES_IN_CONTEXT: usize = 2;

fn join(text: &str, note: &str) -> String {
    if text.trim().is_empty() {
        note.to_string()
    } else {
        format!("{}\n\n{note}", text.trim_end())
    }
}

/// A stored message as the model sees it. Past tool calls are summarised in
/// the text: their full results are not kept, and the files they touched are
/// in the workspace for the model to read again.
fn to_llm(message: &Message) -> LlmMessage {
    match message.role {
        Role::User => LlmMessage::User {
            images: Vec::new(),
            content: message.content.clone(),
        },
        Role::Assistant => {
            let mut content = message.content.clone();
            if !message.tool_calls.is_empty() {
                content.push_str("\n\n(Tools used in this reply: ");
                content.push_str(
                    &message
                        .tool_calls
                        .iter()
                        .map(|c| format!("{} — {}", c.tool_name, c.summary))
                        .collect::<Vec<_>>()
                        .join("; "),
                );
                content.push(')');
            }
            LlmMessage::Assistant {
                content,
                tool_calls: Vec::new(),
            }
        }
    }
}

fn size(message: &LlmMessage) -> usize {
    match message {
        LlmMessage::User { content, .. }
        | LlmMessage::Assistant { content, .. }
        | LlmMessage::ToolResult { content, .. } => content.len(),
    }
}

/// Drops the oldest messages until the rest fit `budget` characters; the
/// newest message always stays, and the history never starts with an
/// assistant message (providers want a user message first).
pub fn trim_history(mut messages: Vec<LlmMessage>, budget: usize) -> Vec<LlmMessage> {
    let mut total: usize = messages.iter().map(size).sum();
    while messages.len() > 1 && total > budget {
        total -= size(&messages[0]);
        messages.remove(0);
    }
    while messages.len() > 1 && !matches!(messages[0], LlmMessage::User { .. }) {
        messages.remove(0);
    }
    messages
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(s: &str) -> LlmMessage {
        LlmMessage::user(s)
    }

    fn assistant(s: &str) -> LlmMessage {
        LlmMessage::Assistant {
            content: s.into(),
            tool_calls: Vec::new(),
        }
    }

    #[test]
    fn trimming_keeps_the_latest_turns() {
        let history = vec![
            user(&"a".repeat(100)),
            assistant(&"b".repeat(100)),
            user("c"),
            assistant("d"),
            user("newest"),
        ];
        let trimmed = trim_history(history.clone(), 1000);
        assert_eq!(trimmed, history, "under budget nothing goes");
        let trimmed = trim_history(history.clone(), 50);
        assert_eq!(trimmed, vec![user("c"), assistant("d"), user("newest")]);
        let trimmed = trim_history(vec![user(&"x".repeat(500))], 10);
        assert_eq!(trimmed.len(), 1, "the newest message always stays");
    }
}
