//! Pieces shared by several pages, and the workspace's parts by domain.

pub mod app_errors;
pub mod attach;
pub mod chat;
pub mod checkpoints;
pub mod code_editor;
pub mod device;
pub mod editor;
pub mod file_tree;
pub mod history;
pub mod markdown;
pub mod pick;
pub mod preview;
pub mod project_settings;
pub mod publish;
pub mod remote;
pub mod usage;
pub mod workspace;
pub mod ws;

use leptos::prelude::*;
use leptos_router::hooks::use_navigate;
use minicode::{ApiError, User};

use crate::client;

/// Ctrl+Enter (⌘+Enter on a Mac): sends a prompt box.
pub fn is_send_shortcut(e: &leptos::ev::KeyboardEvent) -> bool {
    e.key() == "Enter" && (e.ctrl_key() || e.meta_key())
}

/// False while the page is only the server's HTML, true once the WASM runs
/// it (effects run only in the browser). Forms that send through REST keep
/// their button disabled until then: without the WASM they would go nowhere.
pub fn hydrated() -> ReadSignal<bool> {
    let (ready, set_ready) = signal(false);
    Effect::new(move |_| set_ready.set(true));
    ready
}

/// The bar at the top of every signed-in page.
#[component]
pub fn TopBar(user: User) -> impl IntoView {
    let ready = hydrated();
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<ApiError>);
    let navigate = use_navigate();
    let logout = move || {
        busy.set(true);
        let navigate = navigate.clone();
        leptos::task::spawn_local(async move {
            match client::logout().await {
                Ok(()) => navigate("/", Default::default()),
                Err(e) => {
                    busy.set(false);
                    error.set(Some(e));
                }
            }
        });
    };
    view! {
        <header class="topbar">
            <a class="brand" href="/dashboard">
                <span class="logo">"◆"</span>
                " minicode"
            </a>
            <nav class="topbar-right">
                {user.is_admin.then(|| view! { <a href="/admin" data-testid="to-admin">"Admin"</a> })}
                <a href="/account" class="muted" data-testid="current-user" title="Your account">{user.username}</a>
                <form method="post" on:submit=move |e| { e.prevent_default(); logout(); }>
                    <button type="submit" class="button ghost" data-testid="logout"
                        disabled=move || !ready.get() || busy.get()>"Log out"</button>
                </form>
                {move || error.get().map(|e| view! { <span class="form-error small" role="alert">{e.error}</span> })}
            </nav>
        </header>
    }
}

/// Shows the sentence of a refused call, if there is one: `{error_note(error)}`.
pub fn error_note(error: RwSignal<Option<ApiError>>) -> impl IntoView {
    move || {
        error
            .get()
            .map(|e| view! { <p class="form-error" role="alert">{e.error}</p> })
    }
}

/// Characters the server will count: it trims the text first.
pub fn counted_chars(text: &str) -> usize {
    text.trim().chars().count()
}

/// Whether `text` is over `limit` characters (then sending is disabled).
pub fn over_limit(text: &str, limit: usize) -> bool {
    counted_chars(text) > limit
}

/// What the box under a text field says about its length: nothing below
/// 80 % of the limit, a counter ("3,950 / 4,000") from there, and the
/// refusal once over it. Text is never cut: `maxlength` would cut a paste
/// without a word, so the fields have none and this says it instead.
pub fn length_note(text: &str, limit: usize, what: &str) -> Option<(bool, String)> {
    let chars = counted_chars(text);
    if chars > limit {
        Some((true, minicode::too_long(what, chars, limit)))
    } else if chars * 5 >= limit * 4 {
        Some((
            false,
            format!(
                "{} / {}",
                minicode::thousands(chars),
                minicode::thousands(limit)
            ),
        ))
    } else {
        None
    }
}

/// [`length_note`] as a view, for `text` and the limit in force.
#[component]
pub fn LengthNote(
    #[prop(into)] text: Signal<String>,
    #[prop(into)] limit: Signal<usize>,
    #[prop(into)] what: Signal<&'static str>,
    test_id: &'static str,
) -> impl IntoView {
    move || {
        text.with(|t| length_note(t, limit.get(), what.get()))
            .map(|(over, note)| {
                if over {
                    leptos::either::Either::Left(view! {
                        <p class="form-error" role="alert" data-testid=test_id>{note}</p>
                    })
                } else {
                    leptos::either::Either::Right(view! {
                        <p class="hint counter" aria-live="polite" data-testid=test_id>{note}</p>
                    })
                }
            })
    }
}

/// The page's origin (`https://minicode.example.com`); none while rendering
/// on the server.
pub fn web_origin() -> Option<String> {
    #[cfg(feature = "hydrate")]
    {
        web_sys::window()?.location().origin().ok()
    }
    #[cfg(not(feature = "hydrate"))]
    None
}

/// `2026-11-22T21:03:00.123Z` → `2026-11-22 21:03`: dates the same on server and client.
pub fn short_time(rfc3339: &str) -> String {
    rfc3339.get(..16).unwrap_or(rfc3339).replace('T', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_length_note_counts_near_the_limit_and_refuses_over_it() {
        assert_eq!(length_note(&"x".repeat(3_199), 4_000, "description"), None);
        assert_eq!(
            length_note(&"x".repeat(3_950), 4_000, "description"),
            Some((false, "3,950 / 4,000".into()))
        );
        assert_eq!(
            length_note(&"x".repeat(33_000), 32_000, "message"),
            Some((
                true,
                "Your message is 33,000 characters; the limit is 32,000.".into()
            ))
        );
        assert!(!over_limit(&format!("  {}  ", "x".repeat(4_000)), 4_000));
    }
}
