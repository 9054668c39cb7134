//! `/dashboard`: the signed-in user's projects, newest first.

use leptos::either::{Either, EitherOf3};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::{A, Redirect};
use leptos_router::hooks::use_query_map;
use minicode::{
    ApiError, GenerateBody, MAX_DESCRIPTION_CHARS, MAX_NAME_CHARS, ModelInfo, NewProject, Project,
    ProjectPatch,
};
use uuid::Uuid;

use crate::api::{current_user, list_projects};
use crate::client;
use crate::components::attach::{AttachButton, AttachmentList, Attachments, model_refusal};
use crate::components::project_settings::go_to;
use crate::components::{
    LengthNote, TopBar, error_note, hydrated, is_send_shortcut, over_limit, short_time,
};

/// Projects per dashboard page.
const PER_PAGE: u32 = 12;

#[component]
pub fn Dashboard() -> impl IntoView {
    let user = Resource::new(|| (), |_| current_user());
    view! {
        <Title text="Projects"/>
        <Suspense fallback=|| view! { <p class="muted pad">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match user.await {
                    Ok(Some(user)) => Either::Left(view! {
                        <TopBar user/>
                        <Projects/>
                    }),
                    _ => Either::Right(view! { <Redirect path="/"/> }),
                }
            })}
        </Suspense>
    }
}

#[component]
fn Projects() -> impl IntoView {
    let query = use_query_map();
    let page = Memo::new(move |_| {
        query
            .read()
            .get("page")
            .and_then(|p| p.parse::<u64>().ok())
            .filter(|p| *p >= 1)
            .unwrap_or(1)
    });
    // Bumped by every change made here: the list is read again.
    let changes = RwSignal::new(0_u64);
    let projects = Resource::new(
        move || (page.get(), changes.get()),
        |(page, _)| {
            let offset = (page - 1) * u64::from(PER_PAGE);
            list_projects(
                i64::from(PER_PAGE),
                i64::try_from(offset).unwrap_or(i64::MAX),
            )
        },
    );

    let ready = hydrated();
    let form: NodeRef<leptos::html::Form> = NodeRef::new();
    let name: NodeRef<leptos::html::Input> = NodeRef::new();
    let described: NodeRef<leptos::html::Textarea> = NodeRef::new();
    // The description as typed, for its length note.
    let description = RwSignal::new(String::new());
    let creating = RwSignal::new(false);
    let create_error = RwSignal::new(None::<ApiError>);
    // A refused rename or deletion.
    let card_error = RwSignal::new(None::<ApiError>);
    let create = move || {
        let (Some(name), Some(described)) = (name.get_untracked(), described.get_untracked())
        else {
            return;
        };
        let new = NewProject {
            name: name.value(),
            description: described.value(),
            model: None,
        };
        creating.set(true);
        leptos::task::spawn_local(async move {
            let result = client::create_project(&new).await;
            creating.set(false);
            match result {
                Ok(_) => {
                    create_error.set(None);
                    if let Some(form) = form.get_untracked() {
                        form.reset();
                    }
                    description.set(String::new());
                    changes.update(|n| *n += 1);
                }
                Err(e) => create_error.set(Some(e)),
            }
        });
    };

    view! {
        <main class="dashboard">
            <StartFromPrompt/>
            <section class="card create">
                <h2>"New project"</h2>
                <form method="post" node_ref=form class="create-form" data-testid="create-project"
                    on:submit=move |e| { e.prevent_default(); create(); }>
                    <label>"Name"
                        <input name="name" required maxlength=MAX_NAME_CHARS placeholder="Recipe box" node_ref=name/>
                    </label>
                    <label class="grow">"Description"
                        <textarea name="description" rows="2" data-testid="create-description" node_ref=described
                            on:input=move |e| description.set(event_target_value(&e))
                            placeholder="A recipe app where I can save recipes, tag them and search by ingredient"></textarea>
                    </label>
                    <button type="submit" class="button primary"
                        disabled=move || !ready.get() || creating.get() || description.with(|d| over_limit(d, MAX_DESCRIPTION_CHARS))>
                        "Create project"
                    </button>
                </form>
                <LengthNote text=description limit=MAX_DESCRIPTION_CHARS what="description" test_id="create-description-length"/>
                {error_note(create_error)}
            </section>

            <ImportProject/>

            <section class="projects">
                <Transition fallback=|| view! { <p class="muted">"Loading projects…"</p> }>
                    {move || Suspend::new(async move {
                        match projects.await {
                            Err(e) => EitherOf3::A(view! { <p class="form-error" role="alert">{e.error}</p> }),
                            Ok(list) if list.total == 0 => EitherOf3::B(view! {
                                <div class="empty" data-testid="empty-projects">
                                    <h3>"No projects yet"</h3>
                                    <p class="muted">"Give your first app a name and a sentence about what it should do."</p>
                                </div>
                            }),
                            Ok(list) => {
                                let total = list.total;
                                let pages = total.div_ceil(u64::from(PER_PAGE)).max(1);
                                let current = page.get_untracked();
                                EitherOf3::C(view! {
                                    <h2>"Your projects " <span class="muted">"(" {total} ")"</span></h2>
                                    <ul class="project-grid" data-testid="project-list">
                                        <For
                                            each=move || list.data.clone()
                                            key=|p| (p.id, p.updated_at.clone())
                                            children=move |project| view! { <ProjectCard project changes error=card_error/> }
                                        />
                                    </ul>
                                    <Pager current pages/>
                                })
                            }
                        }
                    })}
                </Transition>
                {error_note(card_error)}
            </section>
        </main>
    }
}

/// A new project from a zip (the export's or any) or a git repository's
/// URL; the new project opens when it is made.
#[component]
fn ImportProject() -> impl IntoView {
    let ready = hydrated();
    let file: NodeRef<leptos::html::Input> = NodeRef::new();
    let url = RwSignal::new(String::new());
    let working = RwSignal::new(false);
    let error = RwSignal::new(None::<ApiError>);
    let finish = move |result: Result<Project, ApiError>| {
        working.set(false);
        match result {
            Ok(project) => go_to(&format!("/project/{}", project.id)),
            Err(e) => error.set(Some(e)),
        }
    };
    let send_zip = move || {
        #[cfg(feature = "hydrate")]
        {
            let chosen = file
                .get_untracked()
                .and_then(|input| input.files())
                .and_then(|list| list.get(0));
            let Some(chosen) = chosen else {
                error.set(Some(ApiError::validation("Choose a zip file first.")));
                return;
            };
            let Ok(form) = web_sys::FormData::new() else {
                return;
            };
            let _ = form.append_with_blob_and_filename("file", &chosen, &chosen.name());
            working.set(true);
            leptos::task::spawn_local(async move { finish(client::import_zip(form).await) });
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = (file, finish);
    };
    let send_url = move || {
        let body = minicode::GitImport {
            url: url.get_untracked(),
            name: None,
        };
        working.set(true);
        leptos::task::spawn_local(async move { finish(client::import_git(&body).await) });
    };

    view! {
        <section class="card create" data-testid="import-project">
            <h2>"Import a project"</h2>
            <form class="create-form" data-testid="import-zip"
                on:submit=move |e| { e.prevent_default(); send_zip(); }>
                <label class="grow">"A zip (such as an export)"
                    <input type="file" name="file" accept=".zip,application/zip" node_ref=file/>
                </label>
                <button type="submit" class="button" disabled=move || !ready.get() || working.get()>"Import zip"</button>
            </form>
            <form class="create-form" data-testid="import-git"
                on:submit=move |e| { e.prevent_default(); send_url(); }>
                <label class="grow">"Or a git repository (https)"
                    <input type="url" name="url" required placeholder="https://github.com/you/app.git"
                        prop:value=move || url.get() on:input=move |e| url.set(event_target_value(&e))/>
                </label>
                <button type="submit" class="button" disabled=move || !ready.get() || working.get()>"Import repository"</button>
            </form>
            <p class="hint">"A private repository is read with your git credential for its host (account page)."</p>
            {error_note(error)}
        </section>
    }
}

/// A project name from the first words of a prompt.
pub fn name_from_prompt(prompt: &str) -> String {
    let mut name = String::new();
    for word in prompt.split_whitespace() {
        if !name.is_empty() && name.chars().count() + word.chars().count() >= 48 {
            break;
        }
        if !name.is_empty() {
            name.push(' ');
        }
        name.push_str(word);
    }
    let name: String = name
        .trim_end_matches(|c: char| c.is_ascii_punctuation())
        .chars()
        .take(MAX_NAME_CHARS)
        .collect();
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => "New app".to_string(),
    }
}

/// "Describe your app": creates the project, uploads the attached images to
/// it, starts the build with them, and opens the workspace with the run going.
#[component]
fn StartFromPrompt() -> impl IntoView {
    let prompt = RwSignal::new(String::new());
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<ApiError>);
    // No project yet: the images wait for it.
    let attach = Attachments::new(None);
    // Made by an attempt that failed later (an upload, the build): the next
    // one uses it, with the images already stored, instead of another project.
    let created = RwSignal::new(None::<Uuid>);
    // A new project uses the server's default model.
    let models = RwSignal::new(None::<Vec<ModelInfo>>);
    Effect::new(move |_| {
        leptos::task::spawn_local(async move {
            if let Ok(list) = client::models().await {
                models.try_set(Some(list));
            }
        });
    });
    let model_note = Signal::derive(move || {
        models.with(|m| m.as_ref().and_then(|list| model_refusal(list, None)))
    });
    let held = move || attach.blocked() || (!attach.is_empty() && model_note.with(Option::is_some));
    let start = move || {
        let description = prompt.get_untracked().trim().to_string();
        let too_long = over_limit(&description, MAX_DESCRIPTION_CHARS);
        if description.is_empty() || too_long || busy.get_untracked() || untrack(held) {
            return;
        }
        busy.set(true);
        error.set(None);
        leptos::task::spawn_local(async move {
            let new = NewProject {
                name: name_from_prompt(&description),
                description: description.clone(),
                model: None,
            };
            // `Err(None)`: an upload failed, and its image says why.
            let result = async {
                let id = match created.get_untracked() {
                    Some(id) => id,
                    None => {
                        let id = client::create_project(&new).await?.id;
                        created.set(Some(id));
                        id
                    }
                };
                let images = attach.upload_all(id).await.map_err(|_| None)?;
                // The workspace shows the prompt and its images from the
                // build's `run_started` event.
                let body = GenerateBody {
                    description,
                    images: images.iter().map(|image| image.id).collect(),
                };
                client::generate(id, &body).await?;
                Ok::<_, Option<ApiError>>(id)
            }
            .await;
            match result {
                Ok(id) => go_to(&format!("/project/{id}")),
                Err(e) => {
                    busy.set(false);
                    error.set(e);
                }
            }
        });
    };
    view! {
        <section class="card start">
            <h2>"Describe your app"</h2>
            <form class="start-form" data-testid="start-from-prompt" class:dropping=move || attach.dropping()
                on:submit=move |e| { e.prevent_default(); start(); }
                on:dragenter=move |e| attach.on_drag_enter(&e)
                on:dragover=move |e| attach.on_drag_over(&e)
                on:dragleave=move |e| attach.on_drag_leave(&e)
                on:drop=move |e| attach.on_drop(&e)>
                <label class="sr-only" for="start-prompt">"Describe your app"</label>
                <textarea id="start-prompt" rows="3" data-testid="start-prompt"
                    placeholder="A habit tracker with a weekly grid, streaks and a dark mode toggle"
                    prop:value=move || prompt.get()
                    on:input=move |e| prompt.set(event_target_value(&e))
                    on:paste=move |e| attach.on_paste(&e)
                    on:keydown=move |e| {
                        if is_send_shortcut(&e) {
                            e.prevent_default();
                            start();
                        }
                    }></textarea>
                <div class="start-actions">
                    <AttachButton attach/>
                    <button type="submit" class="button primary" data-testid="start-build"
                        disabled=move || busy.get() || held() || prompt.with(|p| p.trim().is_empty() || over_limit(p, MAX_DESCRIPTION_CHARS))>
                        {move || if busy.get() { "Starting…" } else { "Build it" }}
                    </button>
                </div>
                <div class="start-notes">
                    <LengthNote text=prompt limit=MAX_DESCRIPTION_CHARS what="description" test_id="start-prompt-length"/>
                    <AttachmentList attach note=model_note/>
                </div>
            </form>
            {move || error.get().map(|e| view! { <p class="form-error" role="alert">{e.error}</p> })}
        </section>
    }
    .into_any()
}

#[component]
fn Pager(current: u64, pages: u64) -> impl IntoView {
    (pages > 1).then(|| {
        view! {
            <nav class="pager" aria-label="pages">
                {(current > 1).then(|| view! { <A href=format!("/dashboard?page={}", current - 1)>"← Newer"</A> })}
                <span class="muted">"Page " {current} " of " {pages}</span>
                {(current < pages).then(|| view! { <A href=format!("/dashboard?page={}", current + 1)>"Older →"</A> })}
            </nav>
        }
    })
}

/// A project on the dashboard: open, rename, delete. A change bumps
/// `changes` (the list is read again); a refusal goes to `error`.
#[component]
fn ProjectCard(
    project: Project,
    changes: RwSignal<u64>,
    error: RwSignal<Option<ApiError>>,
) -> impl IntoView {
    let editing = RwSignal::new(false);
    let confirming = RwSignal::new(false);
    let new_name: NodeRef<leptos::html::Input> = NodeRef::new();
    let after = move |result: Result<(), ApiError>| match result {
        Ok(()) => {
            error.set(None);
            changes.update(|n| *n += 1);
        }
        Err(e) => error.set(Some(e)),
    };
    let rename = move |id: Uuid| {
        let Some(input) = new_name.get_untracked() else {
            return;
        };
        let patch = ProjectPatch {
            name: Some(input.value()),
            ..Default::default()
        };
        leptos::task::spawn_local(async move {
            after(client::update_project(id, &patch).await.map(drop));
        });
    };
    let delete = move |id: Uuid| {
        leptos::task::spawn_local(async move { after(client::delete_project(id).await) });
    };
    let id = project.id.to_string();
    let href = format!("/project/{}", project.id);
    let name = project.name.clone();
    let description = if project.description.is_empty() {
        "No description".to_string()
    } else {
        project.description.clone()
    };
    // Copy or stored values: these are read inside nested `Fn` children.
    let project_id = project.id;
    let stored_name = StoredValue::new(name.clone());
    let link_name = name.clone();

    view! {
        <li class="project-card" data-testid="project-card" data-project-id=id>
            <Show
                when=move || editing.get()
                fallback=move || view! {
                    <a class="project-name" href=href.clone()>{link_name.clone()}</a>
                }
            >
                <form method="post" class="rename-form" on:submit=move |e| { e.prevent_default(); rename(project_id); }>
                    <input name="name" required maxlength=MAX_NAME_CHARS value=move || stored_name.get_value()
                        aria-label="New name" data-testid="rename-input" node_ref=new_name/>
                    <button type="submit" class="button primary small">"Save"</button>
                    <button type="button" class="button ghost small" on:click=move |_| editing.set(false)>"Cancel"</button>
                </form>
            </Show>
            <p class="description">{description}</p>
            <p class="muted small">"Updated " {short_time(&project.updated_at)}</p>
            <div class="card-actions">
                <Show
                    when=move || confirming.get()
                    fallback=move || view! {
                        <button type="button" class="button ghost small" data-testid="rename"
                            on:click=move |_| editing.set(true)>"Rename"</button>
                        <button type="button" class="button danger-ghost small" data-testid="delete"
                            on:click=move |_| confirming.set(true)>"Delete"</button>
                    }
                >
                    <form method="post" class="confirm" on:submit=move |e| { e.prevent_default(); delete(project_id); }>
                        <span>"Delete it with its files and chats?"</span>
                        <button type="submit" class="button danger small" data-testid="confirm-delete">"Delete"</button>
                        <button type="button" class="button ghost small" on:click=move |_| confirming.set(false)>"Keep"</button>
                    </form>
                </Show>
            </div>
        </li>
    }
}

#[cfg(test)]
mod tests {
    use super::name_from_prompt;

    #[test]
    fn names_come_from_the_first_words() {
        let long = name_from_prompt(
            "a recipe box where I save recipes, tag them and search them by ingredient.",
        );
        assert!(long.starts_with("A recipe box where"), "{long}");
        assert!(long.chars().count() <= 48, "{long}");
        assert_eq!(name_from_prompt("todo list."), "Todo list");
        assert_eq!(name_from_prompt("   "), "New app");
    }
}
