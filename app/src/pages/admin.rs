//! `/admin`: the server's users and invitations, for admins.
//!
//! Like the account page, it talks to the REST API (`/api/admin/*`) from the
//! browser; the server refuses everyone but admins, whatever this page shows.

use leptos::either::EitherOf3;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::Redirect;
use minicode::usage::{QuotaLimits, QuotaOverrides, UserUsage};
use minicode::{
    AdminUser, AdminUserPatch, ApiError, CreatedInvite, Invite, NewInvite, RegistrationMode,
    ServerSettings, User,
};
use uuid::Uuid;

use crate::api::current_user;
use crate::client;
use crate::components::usage::dollars;
use crate::components::{TopBar, short_time};
use minicode::thousands;

#[component]
pub fn AdminPage() -> impl IntoView {
    let user = Resource::new(|| (), |_| current_user());
    view! {
        <Title text="Admin"/>
        <Suspense fallback=|| view! { <p class="muted pad">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match user.await {
                    Ok(Some(user)) if user.is_admin => EitherOf3::A(view! {
                        <TopBar user=user.clone()/>
                        <Admin me=user/>
                    }),
                    Ok(Some(user)) => EitherOf3::B(view! {
                        <TopBar user/>
                        <main class="account">
                            <section class="card" data-testid="not-admin">
                                <h1>"Admins only"</h1>
                                <p class="muted">"This page is for the server's administrators. "<a href="/dashboard">"Back to your projects"</a></p>
                            </section>
                        </main>
                    }),
                    _ => EitherOf3::C(view! { <Redirect path="/"/> }),
                }
            })}
        </Suspense>
    }
}

#[component]
fn Admin(me: User) -> impl IntoView {
    let settings = RwSignal::new(None::<Result<ServerSettings, ApiError>>);
    Effect::new(move |_| {
        leptos::task::spawn_local(async move {
            settings.set(Some(client::server_settings().await));
        });
    });
    view! {
        <main class="account admin">
            <section class="card" data-testid="server-settings">
                <h1>"Server"</h1>
                {move || match settings.get() {
                    None => view! { <p class="muted small">"Loading…"</p> }.into_any(),
                    Some(Err(e)) => view! { <p class="form-error small" role="alert">{e.error}</p> }.into_any(),
                    Some(Ok(s)) => view! {
                        <dl class="facts">
                            <dt>"Registration"</dt>
                            <dd data-testid="registration-mode">{registration_sentence(s.registration)}</dd>
                            <dt>"Sandbox"</dt><dd><code>{s.sandbox}</code></dd>
                            <dt>"Accounts"</dt><dd>{s.users}</dd>
                        </dl>
                        <p class="hint">"Registration is set with " <code>"MINICODE_REGISTRATION"</code> " (open, invite or closed); see docs/configuration.md."</p>
                    }.into_any(),
                }}
            </section>
            {move || settings.get().and_then(Result::ok)
                .filter(|s| s.registration == RegistrationMode::Invite)
                .map(|_| view! { <Invites/> })}
            <Users me=me.id/>
            {move || settings.get().and_then(Result::ok).map(|s| view! { <Quotas defaults=s.quota_defaults/> })}
        </main>
    }
}

fn registration_sentence(mode: RegistrationMode) -> &'static str {
    match mode {
        RegistrationMode::Open => "open: anyone who reaches this server can create an account",
        RegistrationMode::Invite => "by invitation: new accounts need a link from an admin",
        RegistrationMode::Closed => "closed: no new accounts",
    }
}

/// The invitation link for a path the server returned (`/?invite=…`).
fn absolute(path: &str) -> String {
    #[cfg(feature = "hydrate")]
    if let Some(origin) = web_sys::window().and_then(|w| w.location().origin().ok()) {
        return format!("{origin}{path}");
    }
    path.to_string()
}

#[component]
fn Invites() -> impl IntoView {
    let invites = RwSignal::new(None::<Result<Vec<Invite>, ApiError>>);
    let reload = move || {
        leptos::task::spawn_local(async move {
            let list = client::invites().await;
            invites.set(Some(list.map(|p| p.data)));
        });
    };
    Effect::new(move |_| reload());
    let note = RwSignal::new(String::new());
    let created = RwSignal::new(None::<CreatedInvite>);
    let error = RwSignal::new(None::<ApiError>);
    let create = move || {
        let body = NewInvite {
            note: note.get_untracked(),
            expires_in_days: None,
        };
        leptos::task::spawn_local(async move {
            match client::create_invite(&body).await {
                Ok(made) => {
                    error.set(None);
                    note.set(String::new());
                    created.set(Some(made));
                    reload();
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    let withdraw = move |id: Uuid| {
        leptos::task::spawn_local(async move {
            match client::revoke_invite(id).await {
                Ok(()) => reload(),
                Err(e) => error.set(Some(e)),
            }
        });
    };
    view! {
        <section class="card" data-testid="invites">
            <h2>"Invitations"</h2>
            <p class="muted small">"Each link creates one account and lasts 7 days."</p>
            <form class="token-form" data-testid="create-invite" on:submit=move |e| { e.prevent_default(); create(); }>
                <label class="grow">"Who is it for? (a note for you)"
                    <input name="invite-note" maxlength="200" placeholder="Grace, from the design team"
                        prop:value=move || note.get() on:input=move |e| note.set(event_target_value(&e))/>
                </label>
                <button type="submit" class="button primary">"Create invitation"</button>
            </form>
            {move || created.get().map(|c| view! {
                <div class="secret-once" role="status" data-testid="new-invite">
                    <p class="small"><strong>"Send this link"</strong>" — it is not shown again."</p>
                    <code class="secret" data-testid="invite-link">{absolute(&c.path)}</code>
                    <button type="button" class="button small ghost" on:click=move |_| created.set(None)>"Done"</button>
                </div>
            })}
            {move || error.get().map(|e| view! { <p class="form-error small" role="alert">{e.error}</p> })}
            {move || match invites.get() {
                None => view! { <p class="muted small">"Loading…"</p> }.into_any(),
                Some(Err(e)) => view! { <p class="form-error small" role="alert">{e.error}</p> }.into_any(),
                Some(Ok(list)) if list.is_empty() => view! { <p class="muted small">"No invitations yet."</p> }.into_any(),
                Some(Ok(list)) => view! {
                    <table class="table" data-testid="invite-list">
                        <thead><tr><th>"Note"</th><th>"Created"</th><th>"Status"</th><th></th></tr></thead>
                        <tbody>
                            {list.into_iter().map(|i| {
                                let id = i.id;
                                let unused = i.used_at.is_none();
                                let status = match (&i.used_by, &i.used_at) {
                                    (Some(who), _) => format!("used by {who}"),
                                    (None, Some(at)) => format!("used {}", short_time(at)),
                                    (None, None) => format!("unused, expires {}", short_time(&i.expires_at)),
                                };
                                view! {
                                    <tr>
                                        <td>{if i.note.is_empty() { "—".to_string() } else { i.note }}</td>
                                        <td class="muted">{short_time(&i.created_at)}</td>
                                        <td>{status}</td>
                                        <td>{unused.then(|| view! {
                                            <button type="button" class="button small danger-ghost" on:click=move |_| withdraw(id)>"Withdraw"</button>
                                        })}</td>
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any(),
            }}
        </section>
    }
}

#[component]
fn Users(me: Uuid) -> impl IntoView {
    let users = RwSignal::new(None::<Result<Vec<AdminUser>, ApiError>>);
    let reload = move || {
        leptos::task::spawn_local(async move {
            let list = client::users().await;
            users.set(Some(list.map(|p| p.data)));
        });
    };
    Effect::new(move |_| reload());
    let error = RwSignal::new(None::<ApiError>);
    let confirm_delete = RwSignal::new(None::<Uuid>);
    // The password just generated for a user, to pass on: (username, password).
    let reset = RwSignal::new(None::<(String, String)>);
    let reset_password = move |id: Uuid, name: String| {
        leptos::task::spawn_local(async move {
            match client::reset_password(id).await {
                Ok(done) => {
                    error.set(None);
                    reset.set(Some((name, done.password)));
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    let update = move |id: Uuid, patch: AdminUserPatch| {
        leptos::task::spawn_local(async move {
            match client::update_user(id, &patch).await {
                Ok(_) => {
                    error.set(None);
                    reload();
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    let delete = move |id: Uuid| {
        leptos::task::spawn_local(async move {
            match client::delete_user(id).await {
                Ok(()) => {
                    confirm_delete.set(None);
                    reload();
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    view! {
        <section class="card" data-testid="users">
            <h2>"Users"</h2>
            <p class="muted small">"Disabling a user signs them out, stops their running apps and agent work, and stops their API tokens until you enable them again. Deleting removes the account with all its projects."</p>
            {move || error.get().map(|e| view! { <p class="form-error small" role="alert">{e.error}</p> })}
            {move || reset.get().map(|(name, password)| view! {
                <div class="secret-once" role="status" data-testid="reset-password">
                    <p class="small"><strong>{format!("New password for {name}")}</strong>" — pass it on; it is not shown again. Their sessions have ended."</p>
                    <code class="secret" data-testid="reset-password-value">{password}</code>
                    <button type="button" class="button small ghost" on:click=move |_| reset.set(None)>"Done"</button>
                </div>
            })}
            {move || match users.get() {
                None => view! { <p class="muted small">"Loading…"</p> }.into_any(),
                Some(Err(e)) => view! { <p class="form-error small" role="alert">{e.error}</p> }.into_any(),
                Some(Ok(list)) => view! {
                    <table class="table" data-testid="user-list">
                        <thead><tr><th>"User"</th><th>"Since"</th><th>"Projects"</th><th>"Status"</th><th>"Actions"</th></tr></thead>
                        <tbody>
                            {list.into_iter().map(|u| {
                                let id = u.id;
                                let is_me = id == me;
                                let disabled = u.disabled_at.is_some();
                                let is_admin = u.is_admin;
                                let name = u.username.clone();
                                let reset_name = u.username.clone();
                                view! {
                                    <tr data-testid=format!("user-{}", u.username)>
                                        <td>{u.username.clone()} {is_admin.then(|| view! { " " <span class="badge">"admin"</span> })} {is_me.then_some(" (you)")}</td>
                                        <td class="muted">{short_time(&u.created_at)}</td>
                                        <td>{u.projects}</td>
                                        <td>{if disabled { "disabled" } else { "active" }}</td>
                                        <td class="row-actions">
                                            {(!is_me).then(|| view! {
                                                <button type="button" class="button small" data-testid="toggle-disabled"
                                                    on:click=move |_| update(id, AdminUserPatch { disabled: Some(!disabled), ..Default::default() })>
                                                    {if disabled { "Enable" } else { "Disable" }}
                                                </button>
                                                <button type="button" class="button small ghost" data-testid="toggle-admin"
                                                    on:click=move |_| update(id, AdminUserPatch { is_admin: Some(!is_admin), ..Default::default() })>
                                                    {if is_admin { "Remove admin" } else { "Make admin" }}
                                                </button>
                                                <button type="button" class="button small ghost" data-testid="reset-user-password"
                                                    on:click=move |_| reset_password(id, reset_name.clone())>"Reset password"</button>
                                                <Show when=move || confirm_delete.get() == Some(id)
                                                    fallback=move || view! {
                                                        <button type="button" class="button small danger-ghost" data-testid="delete-user"
                                                            on:click=move |_| confirm_delete.set(Some(id))>"Delete"</button>
                                                    }>
                                                    <span class="small">{format!("Delete {name} and all their projects?")}</span>
                                                    <button type="button" class="button small danger" data-testid="confirm-delete-user"
                                                        on:click=move |_| delete(id)>"Delete"</button>
                                                    <button type="button" class="button small ghost" on:click=move |_| confirm_delete.set(None)>"Keep"</button>
                                                </Show>
                                            })}
                                        </td>
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any(),
            }}
        </section>
    }
}

/// One editable limit: its label, the override's field, and the default.
struct LimitField {
    label: &'static str,
    name: &'static str,
    default: String,
    value: RwSignal<String>,
}

/// `""` → no override; a number → that (0 is unlimited).
fn parse_override(text: &str) -> Result<Option<i64>, String> {
    let text = text.trim().replace(',', "");
    if text.is_empty() {
        return Ok(None);
    }
    text.parse::<i64>()
        .map(Some)
        .map_err(|_| format!("“{text}” is not a whole number"))
}

fn shown(limit: u64) -> String {
    if limit == 0 {
        "unlimited".into()
    } else {
        thousands(limit)
    }
}

#[component]
fn Quotas(defaults: QuotaLimits) -> impl IntoView {
    let rows = RwSignal::new(None::<Result<Vec<UserUsage>, ApiError>>);
    let reload = move || {
        leptos::task::spawn_local(async move {
            rows.set(Some(client::all_usage().await));
        });
    };
    Effect::new(move |_| reload());
    let editing = RwSignal::new(None::<Uuid>);
    let defaults = StoredValue::new(defaults);
    view! {
        <section class="card" data-testid="quotas">
            <h2>"Usage and limits"</h2>
            <p class="muted small">"Model usage per user (UTC days and months) and the limits in force. Defaults come from the "
                <code>"MINICODE_QUOTA_*"</code>" settings; an override replaces one for one user (0 means unlimited, empty means the default)."</p>
            {move || match rows.get() {
                None => view! { <p class="muted small">"Loading…"</p> }.into_any(),
                Some(Err(e)) => view! { <p class="form-error small" role="alert">{e.error}</p> }.into_any(),
                Some(Ok(list)) => view! {
                    <table class="table" data-testid="quota-list">
                        <thead><tr>
                            <th>"User"</th><th>"Tokens today"</th><th>"Spent today"</th>
                            <th>"Tokens this month"</th><th>"Spent this month"</th><th>"Limits"</th><th></th>
                        </tr></thead>
                        <tbody>
                            {list.into_iter().map(|u| {
                                let id = u.user_id;
                                let overridden = u.overrides != QuotaOverrides::default();
                                let limits = u.limits.clone();
                                let summary = format!(
                                    "{} tokens/day · {} a day · {} chat turns/h · {} generations/h · {} projects · {} previews",
                                    shown(limits.tokens_per_day),
                                    if limits.usd_per_day == 0.0 { "unlimited".to_string() } else { dollars(limits.usd_per_day) },
                                    shown(limits.chat_turns_per_hour),
                                    shown(limits.generations_per_hour),
                                    shown(limits.projects),
                                    shown(limits.sandboxes),
                                );
                                let overrides = u.overrides.clone();
                                let name = u.username.clone();
                                view! {
                                    <tr data-testid=format!("quota-{}", u.username)>
                                        <td>{u.username.clone()}</td>
                                        <td>{thousands(u.today.total_tokens())}</td>
                                        <td>{dollars(u.today.cost_usd)}</td>
                                        <td>{thousands(u.this_month.total_tokens())}</td>
                                        <td>{dollars(u.this_month.cost_usd)}</td>
                                        <td class="small">{summary} {overridden.then(|| view! { " " <span class="badge">"custom"</span> })}</td>
                                        <td><button type="button" class="button small ghost" data-testid="edit-quota"
                                            on:click=move |_| editing.set(if editing.get_untracked() == Some(id) { None } else { Some(id) })>"Edit"</button></td>
                                    </tr>
                                    <Show when=move || editing.get() == Some(id)>
                                        <tr><td colspan="7">
                                            <QuotaForm user=id username=name.clone() overrides=overrides.clone()
                                                defaults=defaults.get_value() on_saved=move || { editing.set(None); reload(); }/>
                                        </td></tr>
                                    </Show>
                                }.into_any()
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any(),
            }}
        </section>
    }
}

#[component]
fn QuotaForm(
    user: Uuid,
    username: String,
    overrides: QuotaOverrides,
    defaults: QuotaLimits,
    on_saved: impl Fn() + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let text = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_default();
    let fields = [
        LimitField {
            label: "Tokens per day",
            name: "tokensPerDay",
            default: shown(defaults.tokens_per_day),
            value: RwSignal::new(text(overrides.tokens_per_day)),
        },
        LimitField {
            label: "Chat turns per hour",
            name: "chatTurnsPerHour",
            default: shown(defaults.chat_turns_per_hour),
            value: RwSignal::new(text(overrides.chat_turns_per_hour)),
        },
        LimitField {
            label: "Generations per hour",
            name: "generationsPerHour",
            default: shown(defaults.generations_per_hour),
            value: RwSignal::new(text(overrides.generations_per_hour)),
        },
        LimitField {
            label: "Projects",
            name: "projects",
            default: shown(defaults.projects),
            value: RwSignal::new(text(overrides.projects)),
        },
        LimitField {
            label: "Previews at once",
            name: "sandboxes",
            default: shown(defaults.sandboxes),
            value: RwSignal::new(text(overrides.sandboxes)),
        },
    ];
    let values: Vec<RwSignal<String>> = fields.iter().map(|f| f.value).collect();
    let usd = RwSignal::new(
        overrides
            .usd_per_day
            .map(|v| v.to_string())
            .unwrap_or_default(),
    );
    let usd_default = if defaults.usd_per_day == 0.0 {
        "unlimited".to_string()
    } else {
        format!("{:.2}", defaults.usd_per_day)
    };
    let error = RwSignal::new(None::<ApiError>);
    let save = move || {
        let read = |i: usize| parse_override(&values[i].get_untracked());
        let parsed = (|| -> Result<QuotaOverrides, String> {
            let usd_text = usd
                .get_untracked()
                .trim()
                .trim_start_matches('$')
                .to_string();
            Ok(QuotaOverrides {
                tokens_per_day: read(0)?,
                chat_turns_per_hour: read(1)?,
                generations_per_hour: read(2)?,
                projects: read(3)?,
                sandboxes: read(4)?,
                usd_per_day: if usd_text.is_empty() {
                    None
                } else {
                    Some(
                        usd_text
                            .parse::<f64>()
                            .map_err(|_| format!("“{usd_text}” is not an amount of dollars"))?,
                    )
                },
            })
        })();
        let body = match parsed {
            Ok(body) => body,
            Err(e) => {
                error.set(Some(ApiError::validation(e)));
                return;
            }
        };
        leptos::task::spawn_local(async move {
            match client::set_quota(user, &body).await {
                Ok(_) => on_saved(),
                Err(e) => error.set(Some(e)),
            }
        });
    };
    view! {
        <form class="quota-form" data-testid="quota-form" on:submit=move |e| { e.prevent_default(); save(); }>
            <p class="small"><strong>{format!("Limits for {username}")}</strong>" — leave a field empty for the server's default."</p>
            <div class="quota-fields">
                {fields.into_iter().map(|f| view! {
                    <label>{f.label}
                        <input inputmode="numeric" name=f.name placeholder=format!("default: {}", f.default)
                            prop:value=move || f.value.get() on:input=move |e| f.value.set(event_target_value(&e))/>
                    </label>
                }).collect_view()}
                <label>"Dollars per day"
                    <input inputmode="decimal" name="usdPerDay" placeholder=format!("default: {usd_default}")
                        prop:value=move || usd.get() on:input=move |e| usd.set(event_target_value(&e))/>
                </label>
            </div>
            <button type="submit" class="button primary small">"Save limits"</button>
            {move || error.get().map(|e| view! { <p class="form-error small" role="alert">{e.error}</p> })}
        </form>
    }
    .into_any()
}
