//! Publish: put the app at an address of its own. Builds it (`vite build`
//! in the sandbox), lists the deployments, rolls back in one click, sets who
//! may open the site, unpublishes. A failed build shows its log and offers
//! "Fix this error", and the site keeps serving what it served.

use leptos::prelude::*;
use minicode::{ApiError, Deployment, DeploymentStatus, Publishing, Visibility, paths, thousands};
use uuid::Uuid;

use super::short_time;
use super::workspace::Workspace;
use crate::client;

fn visibility_help(v: Visibility) -> &'static str {
    match v {
        Visibility::Public => "Anyone can open it, at an address made from the project's name.",
        Visibility::Unlisted => "Anyone with the link can open it; the address cannot be guessed.",
        Visibility::Private => "Only you, signed in to minicode (open it from here).",
    }
}

fn parse_visibility(value: &str) -> Visibility {
    match value {
        "public" => Visibility::Public,
        "private" => Visibility::Private,
        _ => Visibility::Unlisted,
    }
}

/// "12 files · 143,210 bytes · built in 2.4 s"
fn sizes(d: &Deployment) -> String {
    let mut parts = Vec::new();
    if d.status == DeploymentStatus::Ready {
        parts.push(format!("{} files", d.files));
        parts.push(format!("{} bytes", thousands(d.bytes)));
    }
    if let Some(ms) = d.build_ms {
        parts.push(format!("built in {:.1} s", ms as f64 / 1000.0));
    }
    parts.join(" · ")
}

#[component]
pub fn PublishPanel() -> impl IntoView {
    let ws = expect_context::<Workspace>();
    let project = ws.project;
    let state = RwSignal::new(None::<Result<Publishing, ApiError>>);
    let building = RwSignal::new(false);
    let note = RwSignal::new(None::<String>);
    let failed = RwSignal::new(None::<Deployment>);
    let confirm_unpublish = RwSignal::new(false);

    let reload = move || {
        leptos::task::spawn_local(async move {
            state.set(Some(client::publishing(project).await));
        });
    };
    Effect::new(move |_| reload());

    let publish = move |_| {
        if building.get_untracked() {
            return;
        }
        building.set(true);
        note.set(None);
        failed.set(None);
        leptos::task::spawn_local(async move {
            match client::publish(project).await {
                Ok(d) if d.status == DeploymentStatus::Ready => {
                    note.set(Some(format!("Deployment {} is live.", d.number)));
                }
                Ok(d) => failed.set(Some(d)),
                Err(e) => note.set(Some(format!("Not published: {e}"))),
            }
            building.set(false);
            reload();
        });
    };
    let activate = move |id: Uuid, number: u32| {
        leptos::task::spawn_local(async move {
            match client::activate_deployment(project, id).await {
                Ok(p) => {
                    note.set(Some(format!("Deployment {number} is live again.")));
                    state.set(Some(Ok(p)));
                }
                Err(e) => note.set(Some(format!("Not switched: {e}"))),
            }
        });
    };
    let set_visibility = move |v: Visibility| {
        leptos::task::spawn_local(async move {
            match client::set_site_visibility(project, v).await {
                Ok(site) => note.set(Some(format!(
                    "The site is {} now, at {}.",
                    v.as_str(),
                    site.url
                ))),
                Err(e) => note.set(Some(format!("Not changed: {e}"))),
            }
            reload();
        });
    };
    let unpublish = move |_| {
        confirm_unpublish.set(false);
        leptos::task::spawn_local(async move {
            match client::unpublish(project).await {
                Ok(()) => note.set(Some(
                    "Unpublished: the address answers “not found” until you publish again.".into(),
                )),
                Err(e) => note.set(Some(format!("Not unpublished: {e}"))),
            }
            reload();
        });
    };

    let site = move || {
        state.with(|s| {
            s.as_ref()
                .and_then(|r| r.as_ref().ok())
                .and_then(|p| p.site.clone())
        })
    };
    let live = move || site().is_some_and(|s| s.live.is_some());

    view! {
        <section class="publish" aria-label="Publish" data-testid="publish">
            <div class="publish-head">
                <button type="button" class="button primary small" data-testid="publish-button"
                    disabled=move || building.get() || ws.busy()
                    title=move || if ws.busy() { "The agent is changing the app; publish once it is done" } else { "" }
                    on:click=publish>
                    {move || if building.get() { "Building…" } else if site().is_some() { "Publish again" } else { "Publish" }}
                </button>
                {move || site().map(|s| {
                    let open = paths::project_site_open(project);
                    view! {
                        <span class=move || if live() { "pill live" } else { "pill" } data-testid="site-state">
                            {if s.live.is_some() { "Live" } else { "Unpublished" }}
                        </span>
                        {s.live.is_some().then(|| view! {
                            <a class="site-url small" href=open target="_blank" rel="noopener" data-testid="site-url"
                                data-url=s.url.clone()>{format!("{} ↗", s.url)}</a>
                        })}
                    }
                })}
            </div>
            {move || building.get().then(|| view! {
                <p class="muted small" data-testid="publish-building">"Building the app for production (vite build); its output is in the console."</p>
            })}
            {move || note.get().map(|n| view! { <p class="note small" role="status" data-testid="publish-note">{n}</p> })}
            {move || failed.get().map(|d| {
                let message = d.error.clone().unwrap_or_default();
                let for_fix = message.clone();
                view! {
                    <div class="msg error" role="alert" data-testid="publish-error">
                        <p><strong>{format!("Deployment {} failed", d.number)}</strong>" "{message}</p>
                        {(!d.log_tail.is_empty()).then(|| view! { <pre class="log-tail">{d.log_tail.join("\n")}</pre> })}
                        <p class="muted small">"The site still serves what it served before."</p>
                        <button type="button" class="button small" data-testid="publish-fix"
                            disabled=move || ws.busy()
                            on:click=move |_| ws.fix_error(&format!("Publishing failed: {for_fix}"))>"Fix this error"</button>
                    </div>
                }
            })}
            {move || site().map(|s| view! {
                <div class="publish-visibility">
                    <label class="small" for="site-visibility">"Who can open it"</label>
                    <select id="site-visibility" data-testid="site-visibility"
                        on:change=move |e| set_visibility(parse_visibility(&event_target_value(&e)))>
                        {[Visibility::Unlisted, Visibility::Public, Visibility::Private].into_iter().map(|v| view! {
                            <option value=v.as_str() selected=s.visibility == v>{match v {
                                Visibility::Public => "Public",
                                Visibility::Unlisted => "Unlisted (anyone with the link)",
                                Visibility::Private => "Private (only me)",
                            }}</option>
                        }).collect_view()}
                    </select>
                    <p class="muted small">{visibility_help(s.visibility)}</p>
                    {s.live.is_some().then(|| view! {
                        <Show when=move || confirm_unpublish.get()
                            fallback=move || view! {
                                <button type="button" class="button danger-ghost small" data-testid="unpublish"
                                    on:click=move |_| confirm_unpublish.set(true)>"Unpublish"</button>
                            }>
                            <span class="small">"Take the site offline? "</span>
                            <button type="button" class="button danger small" data-testid="unpublish-confirm" on:click=unpublish>"Unpublish"</button>
                            <button type="button" class="button ghost small" on:click=move |_| confirm_unpublish.set(false)>"Keep it"</button>
                        </Show>
                    })}
                </div>
            })}
            {move || match state.get() {
                None => view! { <p class="muted small">"Loading…"</p> }.into_any(),
                Some(Err(e)) => view! { <p class="error small">{format!("Could not load the deployments: {e}")}</p> }.into_any(),
                Some(Ok(p)) if p.deployments.is_empty() => view! {
                    <p class="muted small" data-testid="no-deployments">"Not published yet. Publishing builds the app and serves it at an address of its own, which you can share."</p>
                }.into_any(),
                Some(Ok(p)) => view! {
                    <ol class="deployments" data-testid="deployments">
                        {p.deployments.into_iter().map(|d| {
                            let status = match d.status {
                                DeploymentStatus::Ready => "ready",
                                DeploymentStatus::Failed => "failed",
                                DeploymentStatus::Building => "building",
                            };
                            let (id, number) = (d.id, d.number);
                            let can_activate = d.status == DeploymentStatus::Ready && !d.live;
                            view! {
                                <li class=format!("deployment {status}") data-testid="deployment"
                                    data-number=number.to_string() data-status=status data-live=d.live.to_string()>
                                    <div class="deployment-head">
                                        <strong>{format!("#{number}")}</strong>
                                        <span class=format!("pill {status}")>{status}</span>
                                        {d.live.then(|| view! { <span class="pill live">"live"</span> })}
                                        <span class="muted small">{short_time(&d.created_at)}</span>
                                        <span class="grow"></span>
                                        {can_activate.then(|| view! {
                                            <button type="button" class="button ghost small" data-testid="deployment-activate"
                                                on:click=move |_| activate(id, number)>"Make live"</button>
                                        })}
                                    </div>
                                    <p class="muted small">{sizes(&d)}</p>
                                    {d.error.clone().map(|e| view! { <p class="small error-text">{e}</p> })}
                                </li>
                            }
                        }).collect_view()}
                    </ol>
                }.into_any(),
            }}
        </section>
    }
    .into_any()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_say_what_was_built() {
        let d = Deployment {
            id: Uuid::nil(),
            number: 2,
            status: DeploymentStatus::Ready,
            error: None,
            log_tail: vec![],
            files: 3,
            bytes: 143_210,
            build_ms: Some(2_400),
            created_at: String::new(),
            live: true,
        };
        assert_eq!(sizes(&d), "3 files · 143,210 bytes · built in 2.4 s");
        let failed = Deployment {
            status: DeploymentStatus::Failed,
            build_ms: None,
            ..d
        };
        assert_eq!(sizes(&failed), "");
        assert_eq!(parse_visibility("private"), Visibility::Private);
        assert_eq!(parse_visibility("nonsense"), Visibility::Unlisted);
    }
}
