//! Pieces shared by several pages, and the workspace's parts by domain.

pub mod chat;
pub mod checkpoints;
pub mod code_editor;
pub mod editor;
pub mod file_tree;
pub mod http;
pub mod markdown;
pub mod preview;
pub mod project_settings;
pub mod usage;
pub mod workspace;
pub mod ws;

use leptos::prelude::*;
use minicode::{ApiError, User};

use crate::api::Logout;

/// Ctrl+Enter (⌘+Enter on a Mac): sends a prompt box.
pub fn is_send_shortcut(e: &leptos::ev::KeyboardEvent) -> bool {
    e.key() == "Enter" && (e.ctrl_key() || e.meta_key())
}

/// The bar at the top of every signed-in page.
#[component]
pub fn TopBar(user: User) -> impl IntoView {
    let logout = ServerAction::<Logout>::new();
    view! {
        <header class="topbar">
            <a class="brand" href="/dashboard">
                <span class="logo">"◆"</span>
                " minicode"
            </a>
            <nav class="topbar-right">
                {user.is_admin.then(|| view! { <a href="/admin" data-testid="to-admin">"Admin"</a> })}
                <a href="/account" class="muted" data-testid="current-user" title="Your account">{user.username}</a>
                <ActionForm action=logout>
                    <button type="submit" class="button ghost" data-testid="logout">"Log out"</button>
                </ActionForm>
            </nav>
        </header>
    }
}

/// Shows the error of the last submission of a server action, if any:
/// `{action_error(move || action.value().get())}`.
pub fn action_error<T>(
    value: impl Fn() -> Option<Result<T, ApiError>> + Send + Sync + 'static,
) -> impl IntoView
where
    T: Send + Sync + 'static,
{
    move || {
        value()
            .and_then(Result::err)
            .map(|e| view! { <p class="form-error" role="alert">{e.error}</p> })
    }
}

/// `2026-11-22T21:03:00.123Z` → `2026-11-22 21:03`: dates the same on server and client.
pub fn short_time(rfc3339: &str) -> String {
    rfc3339.get(..16).unwrap_or(rfc3339).replace('T', " ")
}
