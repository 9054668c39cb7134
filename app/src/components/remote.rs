//! The project's remote, beside its history: where it is pushed, how the
//! remote stands against it, Push, and Force push (confirmed first) when
//! the remote has commits the project does not.

use leptos::prelude::*;
use minicode::{ApiError, ErrorCode, PushBody, RemoteState, RemoteSync, RemoteUrl};

use super::workspace::Workspace;
use crate::client;

/// A sentence for each state.
fn state_sentence(state: RemoteSync) -> &'static str {
    match state {
        RemoteSync::InSync => "In sync: the remote has this project's newest commit.",
        RemoteSync::Ahead => "This project has commits the remote does not: Push sends them.",
        RemoteSync::Behind => "The remote has commits this project does not have.",
        RemoteSync::Diverged => "The remote and this project each have commits the other lacks.",
        RemoteSync::Empty => "The remote has no main branch yet: Push creates it.",
    }
}

/// Whether a plain push would be refused.
fn needs_force(state: RemoteSync) -> bool {
    matches!(state, RemoteSync::Behind | RemoteSync::Diverged)
}

#[component]
pub fn RemotePanel() -> impl IntoView {
    let ws = expect_context::<Workspace>();
    // None: loading; Some(Ok(None)): no remote set.
    let remote = RwSignal::new(None::<Result<Option<RemoteState>, ApiError>>);
    let url = RwSignal::new(String::new());
    let working = RwSignal::new(false);
    let message = RwSignal::new(None::<String>);
    let confirming = RwSignal::new(false);

    let load = move || {
        leptos::task::spawn_local(async move {
            let answer = match client::remote_state(ws.project).await {
                Ok(state) => {
                    url.set(state.url.clone());
                    Ok(Some(state))
                }
                Err(e) if e.code == ErrorCode::NotFound => Ok(None),
                Err(e) => Err(e),
            };
            remote.set(Some(answer));
        });
    };
    Effect::new(move |_| load());

    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        working.set(true);
        message.set(None);
        let body = RemoteUrl {
            url: url.get_untracked(),
        };
        leptos::task::spawn_local(async move {
            match client::set_remote(ws.project, &body).await {
                Ok(_) => load(),
                Err(e) => message.set(Some(e.error)),
            }
            working.set(false);
        });
    };
    let push = move |force: bool| {
        working.set(true);
        confirming.set(false);
        message.set(None);
        leptos::task::spawn_local(async move {
            match client::push(ws.project, &PushBody { force }).await {
                Ok(state) => {
                    message.set(Some("Pushed.".into()));
                    remote.set(Some(Ok(Some(state))));
                }
                Err(e) => message.set(Some(e.error)),
            }
            working.set(false);
        });
    };

    view! {
        <div class="clone-box remote-box" data-testid="remote">
            <form on:submit=save>
                <label class="small" for="remote-url">"Push to a remote"</label>
                <input id="remote-url" class="mono" type="url" placeholder="https://github.com/you/app.git"
                    prop:value=move || url.get()
                    on:input=move |ev| url.set(event_target_value(&ev))
                    data-testid="remote-url"/>
                <button type="submit" class="button ghost small" disabled=move || working.get()
                    data-testid="remote-save">"Save"</button>
            </form>
            <p class="hint">
                "Store a token for the remote's host on your "
                <a href="/account">"account page"</a>"."
            </p>
            {move || match remote.get() {
                None => view! { <p class="muted small">"Loading…"</p> }.into_any(),
                Some(Err(e)) => view! { <p class="form-error small" role="alert">{e.error}</p> }.into_any(),
                Some(Ok(None)) => view! { <p class="muted small">"No remote yet."</p> }.into_any(),
                Some(Ok(Some(state))) => {
                    let sync = state.state;
                    view! {
                        <p class="small" data-testid="remote-state">{state_sentence(sync)}</p>
                        <div class="card-actions">
                            <button type="button" class="button small" data-testid="remote-push"
                                disabled=move || working.get() || needs_force(sync) || sync == RemoteSync::InSync
                                on:click=move |_| push(false)>"Push"</button>
                            <button type="button" class="button ghost small" on:click=move |_| load()
                                disabled=move || working.get()>"Check"</button>
                            <Show when=move || needs_force(sync)>
                                <Show when=move || confirming.get()
                                    fallback=move || view! {
                                        <button type="button" class="button danger small" data-testid="remote-force"
                                            on:click=move |_| confirming.set(true)>"Force push"</button>
                                    }>
                                    <span class="small confirm-text">"Replace the remote's commits with this project's?"</span>
                                    <button type="button" class="button danger small" data-testid="confirm-force"
                                        disabled=move || working.get()
                                        on:click=move |_| push(true)>"Force push"</button>
                                    <button type="button" class="button ghost small"
                                        on:click=move |_| confirming.set(false)>"Keep"</button>
                                </Show>
                            </Show>
                        </div>
                    }.into_any()
                }
            }}
            {move || message.get().map(|m| view! { <p class="small" role="status" data-testid="remote-message">{m}</p> })}
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_remote_with_commits_we_lack_needs_force() {
        assert!(needs_force(RemoteSync::Diverged));
        assert!(needs_force(RemoteSync::Behind));
        assert!(!needs_force(RemoteSync::Ahead));
        assert!(!needs_force(RemoteSync::Empty));
        assert!(state_sentence(RemoteSync::InSync).starts_with("In sync"));
    }
}
