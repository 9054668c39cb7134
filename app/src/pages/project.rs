//! `/project/:id`: one project. The full workspace (chat, editor, preview)
//! grows here; for now the project's details and its files.

use leptos::either::Either;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::Redirect;
use leptos_router::hooks::use_params_map;
use uuid::Uuid;

use crate::api::{current_user, get_project, list_files};
use crate::components::{TopBar, short_time};
use crate::pages::NotFound;

#[component]
pub fn ProjectPage() -> impl IntoView {
    let params = use_params_map();
    let id = Memo::new(move |_| {
        params
            .read()
            .get("id")
            .and_then(|s| Uuid::parse_str(&s).ok())
    });
    let user = Resource::new(|| (), |_| current_user());
    let project = Resource::new(
        move || id.get(),
        |id| async move {
            match id {
                Some(id) => get_project(id).await.map(Some),
                None => Ok(None),
            }
        },
    );
    let files = Resource::new(
        move || id.get(),
        |id| async move {
            match id {
                Some(id) => list_files(id).await,
                None => Ok(Vec::new()),
            }
        },
    );

    view! {
        <Suspense fallback=|| view! { <p class="muted pad">"Loading…"</p> }>
            {move || Suspend::new(async move {
                let user = match user.await {
                    Ok(Some(user)) => user,
                    _ => return Either::Left(view! { <Redirect path="/"/> }.into_any()),
                };
                match project.await {
                    Ok(Some(project)) => {
                        let files = files.await.unwrap_or_default();
                        Either::Right(view! {
                            <Title text=project.name.clone()/>
                            <TopBar user/>
                            <main class="project-page">
                                <nav class="crumbs"><a href="/dashboard">"Projects"</a>" / "</nav>
                                <h1 data-testid="project-title">{project.name.clone()}</h1>
                                <p class="lead">{project.description.clone()}</p>
                                <p class="muted small">"Created " {short_time(&project.created_at)}</p>
                                <section class="card">
                                    <h2>"Files"</h2>
                                    {if files.is_empty() {
                                        Either::Left(view! {
                                            <p class="muted" data-testid="no-files">"No files yet: they appear here as the agent writes them."</p>
                                        })
                                    } else {
                                        Either::Right(view! {
                                            <ul class="file-list">
                                                {files.into_iter().map(|f| view! {
                                                    <li><code>{f.path}</code><span class="muted small">{f.size} " bytes"</span></li>
                                                }).collect_view()}
                                            </ul>
                                        })
                                    }}
                                </section>
                            </main>
                        }.into_any())
                    }
                    _ => Either::Left(view! { <TopBar user/><NotFound/> }.into_any()),
                }
            })}
        </Suspense>
    }
}
