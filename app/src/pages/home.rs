//! `/`: what minicode is, and the sign-in and register forms.

use leptos::either::Either;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;
use minicode::{Registration, RegistrationMode};

use crate::api::{Login, Register, current_user};
use crate::client;
use crate::components::action_error;

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
    let login = ServerAction::<Login>::new();
    let register = ServerAction::<Register>::new();
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
    let invite_field = move || {
        invite.get_value().map(|code| {
            view! {
                <input type="hidden" name="invite" value=code/>
                <p class="note small" data-testid="invite-note">"You were invited: choose a username and a password."</p>
            }
        })
    };

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
                <ActionForm action=register attr:class="stack" attr:data-testid="register-form">
                    {register_note}
                    {invite_field}
                    <label>"Username"
                        <input name="username" autocomplete="username" required minlength="3" maxlength="32"
                            pattern="[A-Za-z0-9_.\\-]+" title="letters, digits, _ . and -"/>
                    </label>
                    <label>"Password"
                        <input name="password" type="password" autocomplete="new-password" required minlength="8"/>
                    </label>
                    <p class="hint">"At least 8 characters."</p>
                    {action_error(move || register.value().get())}
                    <button type="submit" class="button primary" disabled=move || register.pending().get()>
                        {move || if register.pending().get() { "Creating…" } else { "Create account" }}
                    </button>
                </ActionForm>
            }
        >
            <ActionForm action=login attr:class="stack" attr:data-testid="login-form">
                <label>"Username"
                    <input name="username" autocomplete="username" required/>
                </label>
                <label>"Password"
                    <input name="password" type="password" autocomplete="current-password" required/>
                </label>
                {action_error(move || login.value().get())}
                <button type="submit" class="button primary" disabled=move || login.pending().get()>
                    {move || if login.pending().get() { "Signing in…" } else { "Sign in" }}
                </button>
            </ActionForm>
        </Show>
    }
}
