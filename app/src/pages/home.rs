//! `/`: what minicode is, and the sign-in and register forms.

use leptos::either::Either;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_navigate;
use leptos_router::hooks::use_query_map;
use minicode::{ApiError, Credentials, Registration, RegistrationMode};

use crate::api::current_user;
use crate::client;
use crate::components::{error_note, hydrated};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    SignIn,
    Register,
}

#[component]
pub fn Home() -> impl IntoView {
    let user = Resource::new(|| (), |_| current_user());

    view! {
        <Title text=""/>
        <main class="home">
            <section class="hero">
                <p class="brand big"><span class="logo">"◆"</span>" minicode"</p>
                <h1>"Describe an app. Watch it being built."</h1>
                <p class="lead">
                    "minicode is a self-hosted AI app builder. Say what you want in a sentence: an agent "
                    "plans it phase by phase, streams every file into your editor, installs it in a sandbox "
                    "and shows it running. Then chat to change it, and undo any step."
                </p>
                <ul class="features">
                    <li><strong>"Live from the first file"</strong>" — code streams into the editor as it is written, and the preview starts as soon as the app can run."</li>
                    <li><strong>"Nothing lost"</strong>" — reload, open a second tab or restart the server: the run and the conversation carry on where they were."</li>
                    <li><strong>"Any model"</strong>" — OpenRouter, Anthropic, or a local OpenAI-compatible server such as Ollama or llama.cpp; a built-in offline generator works with no key."</li>
                    <li><strong>"Yours to host"</strong>" — one binary, SQLite or PostgreSQL, a process or Docker sandbox."</li>
                </ul>
            </section>
            <section class="auth card">
                <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                    {move || Suspend::new(async move {
                        match user.await {
                            Ok(Some(user)) => Either::Left(view! {
                                <h2>"Welcome back, " {user.username}</h2>
                                <a class="button primary" href="/dashboard" data-testid="to-dashboard">"Open your projects"</a>
                            }),
                            _ => Either::Right(view! { <AuthForms/> }),
                        }
                    })}
                </Suspense>
            </section>
        </main>
    }
}

/// The username and password typed into a form, read when it is sent (the
/// fields are not bound to signals, so what was typed before the page
/// hydrated is kept).
fn typed(
    username: NodeRef<leptos::html::Input>,
    password: NodeRef<leptos::html::Input>,
    invite: Option<String>,
) -> Option<Credentials> {
    Some(Credentials {
        username: username.get_untracked()?.value(),
        password: password.get_untracked()?.value(),
        invite,
    })
}

#[component]
fn AuthForms() -> impl IntoView {
    // An invitation link (`/?invite=…`) opens the registration form with the code in it.
    let invite = use_query_map()
        .get_untracked()
        .get("invite")
        .filter(|code| !code.trim().is_empty());
    let mode = RwSignal::new(if invite.is_some() {
        Mode::Register
    } else {
        Mode::SignIn
    });
    // Who may register here, asked in the browser: the form says so up front
    // instead of after a refused attempt.
    let registration = RwSignal::new(None::<Registration>);
    Effect::new(move |_| {
        leptos::task::spawn_local(async move {
            if let Ok(r) = client::registration().await {
                registration.set(Some(r));
            }
        });
    });
    let has_invite = invite.is_some();
    let register_note = move || {
        registration.get().map(|r| {
            let text = if r.first_account {
                "You are the first: this account becomes the server's administrator."
            } else if !r.accepting {
                "Registration is closed on this server."
            } else if r.mode == RegistrationMode::Invite && !has_invite {
                "Registration here is by invitation: open the link an administrator sent you."
            } else {
                return None;
            };
            Some(view! { <p class="note small" data-testid="registration-note">{text}</p> })
        })
    };
    let invite = StoredValue::new(invite);
    let invite_note = move || {
        invite.get_value().map(|_| {
            view! {
                <p class="note small" data-testid="invite-note">"You were invited: choose a username and a password."</p>
            }
        })
    };

    // Both forms: the call, then the dashboard, or the server's sentence.
    let ready = hydrated();
    let busy = RwSignal::new(false);
    let login_error = RwSignal::new(None::<ApiError>);
    let register_error = RwSignal::new(None::<ApiError>);
    let navigate = use_navigate();
    let sign_in = move |credentials: Credentials, new_account: bool| {
        if busy.get_untracked() {
            return;
        }
        busy.set(true);
        let error = if new_account {
            register_error
        } else {
            login_error
        };
        error.set(None);
        let navigate = navigate.clone();
        leptos::task::spawn_local(async move {
            let result = if new_account {
                client::register(&credentials).await
            } else {
                client::login(&credentials).await
            };
            match result {
                Ok(_) => navigate("/dashboard", Default::default()),
                Err(e) => {
                    busy.set(false);
                    error.set(Some(e));
                }
            }
        });
    };
    let sign_in = StoredValue::new(sign_in);
    let login_name: NodeRef<leptos::html::Input> = NodeRef::new();
    let login_password: NodeRef<leptos::html::Input> = NodeRef::new();
    let new_name: NodeRef<leptos::html::Input> = NodeRef::new();
    let new_password: NodeRef<leptos::html::Input> = NodeRef::new();

    view! {
        <div class="tabs" role="tablist">
            <button
                type="button"
                role="tab"
                class:active=move || mode.get() == Mode::SignIn
                on:click=move |_| mode.set(Mode::SignIn)
            >"Sign in"</button>
            <button
                type="button"
                role="tab"
                data-testid="tab-register"
                class:active=move || mode.get() == Mode::Register
                on:click=move |_| mode.set(Mode::Register)
            >"Create account"</button>
        </div>
        <Show
            when=move || mode.get() == Mode::SignIn
            fallback=move || view! {
                <form method="post" class="stack" data-testid="register-form" on:submit=move |e| {
                    e.prevent_default();
                    if let Some(c) = typed(new_name, new_password, invite.get_value()) {
                        sign_in.with_value(|f| f(c, true));
                    }
                }>
                    {register_note}
                    {invite_note}
                    <label>"Username"
                        <input name="username" autocomplete="username" required minlength="3" maxlength="32"
                            pattern="[A-Za-z0-9_.\\-]+" title="letters, digits, _ . and -" node_ref=new_name/>
                    </label>
                    <label>"Password"
                        <input name="password" type="password" autocomplete="new-password" required minlength="8"
                            node_ref=new_password/>
                    </label>
                    <p class="hint">"At least 8 characters."</p>
                    {error_note(register_error)}
                    <button type="submit" class="button primary" disabled=move || !ready.get() || busy.get()>
                        {move || if busy.get() { "Creating…" } else { "Create account" }}
                    </button>
                </form>
            }
        >
            <form method="post" class="stack" data-testid="login-form" on:submit=move |e| {
                e.prevent_default();
                if let Some(c) = typed(login_name, login_password, None) {
                    sign_in.with_value(|f| f(c, false));
                }
            }>
                <label>"Username"
                    <input name="username" autocomplete="username" required node_ref=login_name/>
                </label>
                <label>"Password"
                    <input name="password" type="password" autocomplete="current-password" required
                        node_ref=login_password/>
                </label>
                {error_note(login_error)}
                <button type="submit" class="button primary" disabled=move || !ready.get() || busy.get()>
                    {move || if busy.get() { "Signing in…" } else { "Sign in" }}
                </button>
            </form>
        </Show>
    }
}
