//! `/account`: the signed-in user's own account: password, sessions, API
//! tokens, usage, and deleting it all.
//!
//! The page talks to the REST API (`/api/auth/*`) from the browser, like the
//! workspace does: one contract for the UI and every other client.

use leptos::either::Either;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::Redirect;
use minicode::{
    ApiError, ApiToken, CreatedApiToken, DEFAULT_TOKEN_DAYS, MAX_NAME_CHARS, NewApiToken,
    PasswordChange, PasswordConfirmation, TokenScope, User,
};

use crate::api::current_user;
use crate::client;
use crate::components::project_settings::go_to;
use crate::components::usage::UsagePanel;
use crate::components::{TopBar, short_time};

#[component]
pub fn AccountPage() -> impl IntoView {
    let user = Resource::new(|| (), |_| current_user());
    view! {
        <Title text="Your account"/>
        <Suspense fallback=|| view! { <p class="muted pad">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match user.await {
                    Ok(Some(user)) => Either::Left(view! {
                        <TopBar user=user.clone()/>
                        <Account user/>
                    }),
                    _ => Either::Right(view! { <Redirect path="/"/> }),
                }
            })}
        </Suspense>
    }
}

/// What a form says after it was sent: a note, or an error.
type Outcome = RwSignal<Option<Result<String, ApiError>>>;

fn outcome_view(outcome: Outcome) -> impl IntoView {
    move || {
        outcome.get().map(|m| match m {
            Ok(text) => view! { <p class="note small" role="status">{text}</p> }.into_any(),
            Err(e) => view! { <p class="form-error small" role="alert">{e.error}</p> }.into_any(),
        })
    }
}

#[component]
fn Account(user: User) -> impl IntoView {
    view! {
        <main class="account">
            <section class="card" data-testid="profile">
                <h1>{user.username.clone()}</h1>
                <p class="muted small">
                    "Member since " {short_time(&user.created_at)}
                    {user.is_admin.then(|| view! { " · " <span class="badge">"admin"</span> " · " <a href="/admin">"Admin page"</a> })}
                </p>
            </section>
            <section class="card">
                <h2>"Usage and limits"</h2>
                <UsagePanel/>
            </section>
            <ChangePassword/>
            <Sessions/>
            <Tokens/>
            <GitCredentials/>
            <DeleteAccount username=user.username/>
        </main>
    }
}

#[component]
fn ChangePassword() -> impl IntoView {
    let current = RwSignal::new(String::new());
    let new = RwSignal::new(String::new());
    let repeat = RwSignal::new(String::new());
    let outcome: Outcome = RwSignal::new(None);
    let busy = RwSignal::new(false);
    let submit = move || {
        if new.get_untracked() != repeat.get_untracked() {
            outcome.set(Some(Err(ApiError::validation(
                "the two new passwords differ",
            ))));
            return;
        }
        let body = PasswordChange {
            current_password: current.get_untracked(),
            new_password: new.get_untracked(),
        };
        busy.set(true);
        leptos::task::spawn_local(async move {
            let result = client::change_password(&body).await;
            busy.set(false);
            outcome.set(Some(result.map(|()| {
                current.set(String::new());
                new.set(String::new());
                repeat.set(String::new());
                "Password changed. Every other browser signed in as you has been signed out.".into()
            })));
        });
    };
    view! {
        <section class="card">
            <h2>"Password"</h2>
            <form class="stack narrow-form" data-testid="change-password"
                on:submit=move |e| { e.prevent_default(); submit(); }>
                <label>"Current password"
                    <input type="password" autocomplete="current-password" required name="current"
                        prop:value=move || current.get() on:input=move |e| current.set(event_target_value(&e))/>
                </label>
                <label>"New password"
                    <input type="password" autocomplete="new-password" required minlength="8" name="new"
                        prop:value=move || new.get() on:input=move |e| new.set(event_target_value(&e))/>
                </label>
                <label>"New password again"
                    <input type="password" autocomplete="new-password" required minlength="8" name="repeat"
                        prop:value=move || repeat.get() on:input=move |e| repeat.set(event_target_value(&e))/>
                </label>
                <p class="hint">"Changing it signs out every other browser. API tokens keep working; revoke them below if they may have leaked."</p>
                <button type="submit" class="button primary" disabled=move || busy.get()>"Change password"</button>
                {outcome_view(outcome)}
            </form>
        </section>
    }
}

#[component]
fn Sessions() -> impl IntoView {
    let outcome: Outcome = RwSignal::new(None);
    let sign_out = move |_| {
        leptos::task::spawn_local(async move {
            match client::logout_everywhere().await {
                Ok(()) => go_to("/"),
                Err(e) => outcome.set(Some(Err(e))),
            }
        });
    };
    view! {
        <section class="card">
            <h2>"Sessions"</h2>
            <p class="muted small">"Lost a laptop, or signed in on a shared computer? End every session, this one included."</p>
            <button type="button" class="button" data-testid="logout-everywhere" on:click=sign_out>"Sign out everywhere"</button>
            {outcome_view(outcome)}
        </section>
    }
}

/// How long a new token lasts: the choices offered.
const TOKEN_DAYS: [(u32, &str); 4] = [
    (7, "7 days"),
    (30, "30 days"),
    (90, "90 days"),
    (365, "1 year"),
];

#[component]
fn Tokens() -> impl IntoView {
    let tokens = RwSignal::new(None::<Result<Vec<ApiToken>, ApiError>>);
    let reload = move || {
        leptos::task::spawn_local(async move {
            let list = client::tokens().await;
            tokens.set(Some(list.map(|p| p.data)));
        });
    };
    Effect::new(move |_| reload());

    let name = RwSignal::new(String::new());
    let scope = RwSignal::new(TokenScope::Read);
    let days = RwSignal::new(DEFAULT_TOKEN_DAYS);
    let password = RwSignal::new(String::new());
    let created = RwSignal::new(None::<CreatedApiToken>);
    let outcome: Outcome = RwSignal::new(None);
    let create = move || {
        let body = NewApiToken {
            name: name.get_untracked(),
            scope: scope.get_untracked(),
            expires_in_days: Some(days.get_untracked()),
            password: password.get_untracked(),
        };
        leptos::task::spawn_local(async move {
            match client::create_token(&body).await {
                Ok(made) => {
                    outcome.set(None);
                    name.set(String::new());
                    password.set(String::new());
                    created.set(Some(made));
                    reload();
                }
                Err(e) => outcome.set(Some(Err(e))),
            }
        });
    };
    let revoke = move |id: uuid::Uuid| {
        leptos::task::spawn_local(async move {
            match client::revoke_token(id).await {
                Ok(()) => {
                    if created.with_untracked(|c| c.as_ref().is_some_and(|c| c.token.id == id)) {
                        created.set(None);
                    }
                    reload();
                }
                Err(e) => outcome.set(Some(Err(e))),
            }
        });
    };

    view! {
        <section class="card" data-testid="tokens">
            <h2>"API tokens"</h2>
            <p class="muted small">
                "For scripts and other tools: send one as " <code>"Authorization: Bearer …"</code>
                ". A read-only token can look at your projects but not change them."
            </p>
            {move || created.get().map(|c| view! {
                <div class="secret-once" role="status" data-testid="new-token">
                    <p class="small"><strong>"Copy your new token now"</strong>" — it is not shown again."</p>
                    <code class="secret" data-testid="new-token-secret">{c.secret.clone()}</code>
                    <button type="button" class="button small ghost" on:click=move |_| created.set(None)>"Done"</button>
                </div>
            })}
            {move || match tokens.get() {
                None => view! { <p class="muted small">"Loading tokens…"</p> }.into_any(),
                Some(Err(e)) => view! { <p class="form-error small" role="alert">{e.error}</p> }.into_any(),
                Some(Ok(list)) if list.is_empty() => view! { <p class="muted small" data-testid="no-tokens">"No tokens yet."</p> }.into_any(),
                Some(Ok(list)) => view! {
                    <table class="table" data-testid="token-list">
                        <thead><tr><th>"Name"</th><th>"Token"</th><th>"Access"</th><th>"Last used"</th><th>"Expires"</th><th></th></tr></thead>
                        <tbody>
                            {list.into_iter().map(|t| {
                                let id = t.id;
                                view! {
                                    <tr>
                                        <td>{t.name}</td>
                                        <td><code>{t.prefix} "…"</code></td>
                                        <td>{match t.scope { TokenScope::Read => "read-only", TokenScope::Full => "full" }}</td>
                                        <td class="muted">{t.last_used_at.as_deref().map(short_time).unwrap_or_else(|| "never".into())}</td>
                                        <td class="muted">{t.expires_at.as_deref().map(short_time).unwrap_or_else(|| "never".into())}</td>
                                        <td><button type="button" class="button small danger-ghost" on:click=move |_| revoke(id)>"Revoke"</button></td>
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any(),
            }}
            <form class="token-form" data-testid="create-token" on:submit=move |e| { e.prevent_default(); create(); }>
                <label>"Name"
                    <input required maxlength=MAX_NAME_CHARS name="token-name" placeholder="deploy script"
                        prop:value=move || name.get() on:input=move |e| name.set(event_target_value(&e))/>
                </label>
                <label>"Access"
                    <select name="token-scope" on:change=move |e| scope.set(
                        if event_target_value(&e) == "full" { TokenScope::Full } else { TokenScope::Read })>
                        <option value="read" selected=true>"Read-only"</option>
                        <option value="full">"Full"</option>
                    </select>
                </label>
                <label>"Expires after"
                    <select name="token-days" on:change=move |e| {
                        if let Ok(d) = event_target_value(&e).parse() { days.set(d) }
                    }>
                        {TOKEN_DAYS.iter().map(|(d, label)| view! {
                            <option value=d.to_string() selected=*d == DEFAULT_TOKEN_DAYS>{*label}</option>
                        }).collect_view()}
                    </select>
                </label>
                <label>"Your password"
                    <input type="password" required autocomplete="current-password" name="token-password"
                        prop:value=move || password.get() on:input=move |e| password.set(event_target_value(&e))/>
                </label>
                <button type="submit" class="button primary">"Create token"</button>
            </form>
            {outcome_view(outcome)}
        </section>
    }
}

/// Tokens for pushing projects to other git hosts: one per host, stored
/// encrypted, never shown again.
#[component]
fn GitCredentials() -> impl IntoView {
    let list = RwSignal::new(None::<Result<Vec<minicode::GitCredential>, ApiError>>);
    let reload = move || {
        leptos::task::spawn_local(async move {
            list.set(Some(client::git_credentials().await.map(|p| p.data)));
        });
    };
    Effect::new(move |_| reload());
    let host = RwSignal::new(String::new());
    let username = RwSignal::new(String::new());
    let token = RwSignal::new(String::new());
    let outcome: Outcome = RwSignal::new(None);
    let save = move || {
        let body = minicode::NewGitCredential {
            host: host.get_untracked(),
            username: username.get_untracked(),
            token: token.get_untracked(),
        };
        leptos::task::spawn_local(async move {
            match client::save_git_credential(&body).await {
                Ok(saved) => {
                    token.set(String::new());
                    outcome.set(Some(Ok(format!(
                        "Saved the credential for {}.",
                        saved.host
                    ))));
                    reload();
                }
                Err(e) => outcome.set(Some(Err(e))),
            }
        });
    };
    let remove = move |id: uuid::Uuid| {
        leptos::task::spawn_local(async move {
            match client::delete_git_credential(id).await {
                Ok(()) => reload(),
                Err(e) => outcome.set(Some(Err(e))),
            }
        });
    };

    view! {
        <section class="card" data-testid="git-credentials">
            <h2>"Git credentials"</h2>
            <p class="muted small">
                "For pushing projects to GitHub, GitLab, Gitea… and importing private repositories: "
                "a user name and an access token per host. Tokens are stored encrypted and never shown again."
            </p>
            {move || match list.get() {
                None => view! { <p class="muted small">"Loading…"</p> }.into_any(),
                Some(Err(e)) => view! { <p class="form-error small" role="alert">{e.error}</p> }.into_any(),
                Some(Ok(items)) if items.is_empty() => view! { <p class="muted small">"No credentials yet."</p> }.into_any(),
                Some(Ok(items)) => view! {
                    <table class="table" data-testid="git-credential-list">
                        <thead><tr><th>"Host"</th><th>"User name"</th><th>"Added"</th><th></th></tr></thead>
                        <tbody>
                            {items.into_iter().map(|c| {
                                let id = c.id;
                                view! {
                                    <tr>
                                        <td>{c.host}</td>
                                        <td>{c.username}</td>
                                        <td class="muted">{short_time(&c.created_at)}</td>
                                        <td><button type="button" class="button small danger-ghost" on:click=move |_| remove(id)>"Remove"</button></td>
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any(),
            }}
            <form class="token-form" on:submit=move |e| { e.prevent_default(); save(); }>
                <label>"Host"
                    <input required name="git-host" placeholder="github.com"
                        prop:value=move || host.get() on:input=move |e| host.set(event_target_value(&e))/>
                </label>
                <label>"User name"
                    <input required name="git-username" autocomplete="off"
                        prop:value=move || username.get() on:input=move |e| username.set(event_target_value(&e))/>
                </label>
                <label>"Token"
                    <input type="password" required name="git-token" autocomplete="off"
                        prop:value=move || token.get() on:input=move |e| token.set(event_target_value(&e))/>
                </label>
                <button type="submit" class="button primary">"Save credential"</button>
            </form>
            {outcome_view(outcome)}
        </section>
    }
}

#[component]
fn DeleteAccount(username: String) -> impl IntoView {
    let typed = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let outcome: Outcome = RwSignal::new(None);
    let name = username.clone();
    let ready = move || typed.get() == name;
    let delete = move || {
        let body = PasswordConfirmation {
            password: password.get_untracked(),
        };
        leptos::task::spawn_local(async move {
            match client::delete_account(&body).await {
                Ok(()) => go_to("/"),
                Err(e) => outcome.set(Some(Err(e))),
            }
        });
    };
    view! {
        <section class="card danger-card" data-testid="delete-account">
            <h2>"Delete account"</h2>
            <p class="small">"Deletes your account and everything in it: every project with its files, chats, checkpoints and running preview, and your API tokens. This cannot be undone."</p>
            <form class="stack narrow-form" on:submit=move |e| { e.prevent_default(); delete(); }>
                <label>{format!("Type your username ({username}) to confirm")}
                    <input required name="confirm-username" autocomplete="off"
                        prop:value=move || typed.get() on:input=move |e| typed.set(event_target_value(&e))/>
                </label>
                <label>"Your password"
                    <input type="password" required autocomplete="current-password" name="delete-password"
                        prop:value=move || password.get() on:input=move |e| password.set(event_target_value(&e))/>
                </label>
                <button type="submit" class="button danger" disabled=move || !ready()>"Delete my account"</button>
                {outcome_view(outcome)}
            </form>
        </section>
    }
}
