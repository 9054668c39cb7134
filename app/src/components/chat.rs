//! The conversation pane: the build timeline, the messages with their tool
//! activity, token usage, and the prompt box.

use leptos::either::EitherOf4;
use leptos::prelude::*;
use minicode::protocol::AgentState;
use minicode::{ImageRef, MAX_DESCRIPTION_CHARS, MAX_MESSAGE_CHARS, paths};
use uuid::Uuid;

use super::attach::{AttachButton, AttachmentList, Attachments, model_refusal};
use super::workspace::{ItemKind, PhaseStatus, Reply, Workspace};
use super::{LengthNote, is_send_shortcut, markdown, over_limit};

/// A sentence for the agent's state.
fn state_label(state: AgentState) -> &'static str {
    match state {
        AgentState::Idle => "Idle",
        AgentState::DesigningPhase => "Designing",
        AgentState::ImplementingPhase => "Writing files",
        AgentState::InstallingDeps => "Installing dependencies",
        AgentState::StartingServer => "Starting the preview",
        AgentState::Complete => "Complete",
        AgentState::Cancelled => "Cancelled",
        AgentState::Failed => "Failed",
    }
}

/// Rough progress of a run, 0–100: phases count for most of it.
fn progress(state: AgentState, phases_done: usize, phases: usize) -> u32 {
    match state {
        AgentState::Idle => 0,
        AgentState::DesigningPhase | AgentState::ImplementingPhase => {
            let planned = phases.max(1) as u32;
            5 + (70 * phases_done as u32) / (planned + 1)
        }
        AgentState::InstallingDeps => 80,
        AgentState::StartingServer => 92,
        AgentState::Complete | AgentState::Cancelled | AgentState::Failed => 100,
    }
}

/// Phases, current state and progress of the latest run.
#[component]
pub fn Timeline() -> impl IntoView {
    let ws = expect_context::<Workspace>();
    let state = move || ws.state.get();
    let percent = move || {
        ws.phases.with(|rows| {
            let done = rows
                .iter()
                .filter(|r| r.status == PhaseStatus::Done)
                .count();
            progress(ws.state.get(), done, rows.len())
        })
    };
    view! {
        <Show when=move || ws.has_run.get() || ws.state.get() != AgentState::Idle>
            <section class="timeline" data-testid="timeline" aria-label="Build progress">
                <div class="timeline-head">
                    <span class=move || format!("state-badge state-{}", state().as_str())
                        data-testid="agent-state" data-state=move || state().as_str()>
                        {move || state_label(state())}
                    </span>
                    <progress max="100" value=percent aria-label="Build progress"></progress>
                </div>
                <ol class="phases">
                    <For
                        each=move || ws.phases.get()
                        key=|row| (row.phase.number, row.status == PhaseStatus::Done)
                        children=move |row| {
                            let done = row.status == PhaseStatus::Done;
                            view! {
                                <li class="phase" class:done=done data-testid="phase"
                                    data-status=if done { "done" } else { "active" }>
                                    <span class="phase-icon" aria-hidden="true">{if done { "✓" } else { "●" }}</span>
                                    <span class="phase-name">{format!("Phase {}: {}", row.phase.number, row.phase.name)}</span>
                                    <span class="muted small">{format!("{} files", row.phase.files.len())}</span>
                                </li>
                            }
                        }
                    />
                    {move || ws.designing.get().map(|n| view! {
                        <li class="phase designing" data-testid="phase" data-status="designing">
                            <span class="phase-icon spin" aria-hidden="true">"◌"</span>
                            <span class="phase-name">{format!("Designing phase {n}…")}</span>
                        </li>
                    })}
                </ol>
            </section>
        </Show>
    }
    .into_any()
}

/// Run and chat token counts.
#[component]
fn UsageLine() -> impl IntoView {
    let ws = expect_context::<Workspace>();
    let text = move || {
        let run = ws.run_usage.get();
        let chat = ws.chat_usage.get();
        let mut parts = Vec::new();
        if run.total_tokens() > 0 {
            parts.push(format!(
                "build {} in / {} out",
                run.input_tokens, run.output_tokens
            ));
        }
        if chat.total_tokens() > 0 {
            parts.push(format!(
                "chat {} in / {} out",
                chat.input_tokens, chat.output_tokens
            ));
        }
        let cost = run.cost_usd.unwrap_or(0.0) + chat.cost_usd.unwrap_or(0.0);
        if cost > 0.0 {
            parts.push(format!("${cost:.4}"));
        }
        if parts.is_empty() {
            String::new()
        } else {
            format!("Tokens: {}", parts.join(" · "))
        }
    };
    view! { <p class="usage muted small" data-testid="token-usage">{text}</p> }.into_any()
}

#[component]
fn ReplyView(reply: Reply) -> impl IntoView {
    let html = move || reply.text.with(|t| markdown::to_html(t));
    view! {
        <article class="msg assistant" data-testid="assistant-message" data-done=move || reply.done.get().to_string()>
            <div class="md" inner_html=html></div>
            {move || (reply.text.with(String::is_empty) && !reply.done.get())
                .then(|| view! { <p class="muted small typing">"Thinking…"</p> })}
            <ul class="tools">
                <For
                    each=move || reply.tools.get()
                    key=|t| (t.call_id.clone(), t.ok)
                    children=|t| {
                        let state = match t.ok { None => "running", Some(true) => "ok", Some(false) => "failed" };
                        view! {
                            <li class=format!("tool {state}") data-testid="tool-row" data-tool=t.tool.clone()>
                                <span class="tool-name">{t.tool.clone()}</span>
                                <code class="tool-target">{t.target.clone()}</code>
                                <span class="tool-result">{match t.ok {
                                    None => "…".to_string(),
                                    Some(_) => t.summary.clone(),
                                }}</span>
                            </li>
                        }
                    }
                />
            </ul>
            {move || reply.usage.get().map(|u| view! {
                <p class="muted small">{format!("{} tokens in, {} out", u.input_tokens, u.output_tokens)}</p>
            })}
        </article>
    }
    .into_any()
}

/// The images a user message carried, each a link to the full image.
#[component]
fn MessageImages(project: Uuid, images: Vec<ImageRef>) -> impl IntoView {
    (!images.is_empty()).then(|| {
        let links = images
            .into_iter()
            .map(|image| {
                let url = paths::project_image(project, image.id);
                let full = url.clone();
                view! {
                    <a href=full target="_blank" rel="noopener" title="Open the full image">
                        <img loading="lazy" src=url alt="Attached image" data-testid="message-image"
                            width=image.width height=image.height/>
                    </a>
                }
            })
            .collect_view();
        view! { <div class="message-images">{links}</div> }
    })
}

/// The messages, the timeline on top and the prompt box below.
#[component]
pub fn ChatPane() -> impl IntoView {
    let ws = expect_context::<Workspace>();
    let prompt = RwSignal::new(String::new());
    let new_build = RwSignal::new(false);
    let list: NodeRef<leptos::html::Div> = NodeRef::new();
    let input: NodeRef<leptos::html::Textarea> = NodeRef::new();
    // The project exists: images are uploaded as soon as they are chosen.
    let attach = Attachments::new(Some(ws.project));
    // Why the project's model cannot take images, if it cannot.
    let model_note = Signal::derive(move || {
        ws.models.with(|models| match models {
            Some(Ok(list)) => ws
                .project_model
                .with(|chosen| model_refusal(list, chosen.as_deref())),
            _ => None,
        })
    });
    // Attached images the model would not see, or not stored yet: no sending.
    let held = move || attach.blocked() || (!attach.is_empty() && model_note.with(Option::is_some));

    // "Ask in chat" from elsewhere on the page: the prompt takes the text,
    // ready to be finished.
    Effect::new(move |_| {
        let (n, text) = ws.chat_draft.get();
        if n == 0 {
            return;
        }
        prompt.set(text);
        if let Some(el) = input.get() {
            let _ = el.focus();
        }
    });

    // Keep the newest message in view as replies stream.
    Effect::new(move |_| {
        ws.items.track();
        ws.items.with(|items| {
            if let Some(super::workspace::ChatItem {
                kind: ItemKind::Reply(r),
                ..
            }) = items.last()
            {
                r.text.track();
            }
        });
        if let Some(el) = list.get() {
            el.set_scroll_top(el.scroll_height());
        }
    });

    let generates = move || new_build.get() || !ws.has_run.get();
    // A build prompt is a description; anything else a chat message.
    let limit = Signal::derive(move || {
        if generates() {
            MAX_DESCRIPTION_CHARS
        } else {
            MAX_MESSAGE_CHARS
        }
    });
    let submit = move || {
        let text = prompt.get_untracked().trim().to_string();
        // Over the limit: the note says so and nothing is sent or cut.
        if text.is_empty() || over_limit(&text, limit.get_untracked()) || untrack(held) {
            return;
        }
        let images = attach.ready();
        if untrack(generates) {
            ws.generate(text, images);
            new_build.set(false);
        } else {
            ws.send_message(text, images);
        }
        prompt.set(String::new());
        attach.clear();
    };

    view! {
        <div class="chat-pane">
            <Timeline/>
            <div class="messages" node_ref=list data-testid="messages" aria-live="polite">
                <Show when=move || ws.items.with(Vec::is_empty)>
                    <div class="empty-chat muted">
                        <p>"Describe the app you want and press Ctrl+Enter. Then ask for changes in plain words: "
                        <em>"“change the title to …”"</em>", "<em>"“make the background dark”"</em>"."</p>
                    </div>
                </Show>
                <For
                    each=move || ws.items.get()
                    key=|item| item.key
                    children=move |item| match item.kind {
                        ItemKind::User(prompt) => EitherOf4::A(view! {
                            <article class="msg user" data-testid="user-message">
                                <MessageImages project=ws.project images=prompt.images/>
                                <p>{prompt.text}</p>
                            </article>
                        }),
                        ItemKind::Reply(reply) => EitherOf4::B(view! { <ReplyView reply/> }),
                        ItemKind::Error { message, code, log_tail } => {
                            let fixable = log_tail.is_some() || code == "RUN_FAILED" || code.starts_with("SANDBOX") || code.contains("BUILD");
                            let tail = log_tail.map(|t| t.join("\n"));
                            let for_fix = message.clone();
                            let code_attr = code.clone();
                            EitherOf4::C(view! {
                                <article class="msg error" role="alert" data-testid="error-event" data-code=code_attr>
                                    <p><strong>{code}</strong>" "{message}</p>
                                    {tail.map(|t| view! { <pre class="log-tail">{t}</pre> })}
                                    {fixable.then(|| view! {
                                        <button type="button" class="button small" data-testid="fix-error"
                                            disabled=move || ws.busy()
                                            on:click=move |_| ws.fix_error(&for_fix)>"Fix this error"</button>
                                    })}
                                </article>
                            })
                        }
                        ItemKind::Note(text) => EitherOf4::D(view! {
                            <p class="note muted small" data-testid="note">{text}</p>
                        }),
                    }
                />
                <Show when=move || ws.chat_busy.get() && !ws.status.with(|s| s.is_empty() || s == "idle")>
                    <p class="muted small status-line" data-testid="status-line">{move || ws.status.get()}</p>
                </Show>
            </div>
            <UsageLine/>
            <form class="prompt" class:dropping=move || attach.dropping()
                on:submit=move |e| { e.prevent_default(); submit(); }
                on:dragenter=move |e| attach.on_drag_enter(&e)
                on:dragover=move |e| attach.on_drag_over(&e)
                on:dragleave=move |e| attach.on_drag_leave(&e)
                on:drop=move |e| attach.on_drop(&e)>
                <label class="sr-only" for="prompt-input">"Message"</label>
                <textarea id="prompt-input" rows="3" data-testid="prompt" node_ref=input
                    placeholder=move || if generates() { "Describe the app to build…" } else { "Ask for a change…" }
                    prop:value=move || prompt.get()
                    on:input=move |e| prompt.set(event_target_value(&e))
                    on:paste=move |e| attach.on_paste(&e)
                    on:keydown=move |e| {
                        if is_send_shortcut(&e) {
                            e.prevent_default();
                            submit();
                        }
                    }></textarea>
                <LengthNote text=prompt limit=limit test_id="prompt-length"
                    what=Signal::derive(move || if generates() { "description" } else { "message" })/>
                <AttachmentList attach note=model_note/>
                <div class="prompt-actions">
                    <label class="check small" title="Run the generator again from this description">
                        <input type="checkbox" data-testid="new-build"
                            prop:checked=move || new_build.get()
                            on:change=move |e| new_build.set(event_target_checked(&e))/>
                        "New build"
                    </label>
                    <AttachButton attach/>
                    <span class="muted small">"Ctrl+Enter"</span>
                    <Show when=move || ws.busy()>
                        <button type="button" class="button danger-ghost small" data-testid="cancel"
                            on:click=move |_| ws.cancel()>"Cancel"</button>
                    </Show>
                    <button type="submit" class="button primary small" data-testid="send"
                        disabled=move || held() || prompt.with(|p| p.trim().is_empty() || over_limit(p, limit.get()))>
                        {move || if generates() { "Build" } else { "Send" }}
                    </button>
                </div>
            </form>
        </div>
    }
    .into_any()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_moves_forward() {
        let a = progress(AgentState::DesigningPhase, 0, 0);
        let b = progress(AgentState::ImplementingPhase, 1, 2);
        let c = progress(AgentState::InstallingDeps, 2, 2);
        assert!(a < b && b < c);
        assert_eq!(progress(AgentState::Complete, 2, 2), 100);
    }
}
