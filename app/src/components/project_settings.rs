//! Project settings: the model picker (shown in the workspace header), the
//! name, export and deletion.

use leptos::prelude::*;
use minicode::{ApiError, MAX_NAME_CHARS, ModelInfo, Project, ProjectPatch, paths};

use super::workspace::Workspace;
use crate::client;

/// What the picker shows: the offline generator says plainly it is no AI,
/// and a model that accepts images says so (the prompt box refuses them for
/// the others).
pub fn model_label(m: &ModelInfo) -> String {
    let mut base = if m.offline {
        "offline generator (no AI)".to_string()
    } else {
        format!("{} · {}", m.label, m.provider)
    };
    if m.images {
        base.push_str(" · sees images");
    }
    if m.default {
        format!("{base} — default")
    } else {
        base
    }
}

#[component]
pub fn ModelPicker(project: RwSignal<Project>) -> impl IntoView {
    let ws = expect_context::<Workspace>();
    // Read by the workspace once for the picker and the prompt box.
    let models = Memo::new(move |_| {
        ws.models
            .with(|m| m.as_ref().and_then(|r| r.as_ref().ok()).cloned())
            .unwrap_or_default()
    });
    let error = RwSignal::new(None::<ApiError>);
    Effect::new(move |_| {
        if let Some(Err(e)) = ws.models.get() {
            error.set(Some(e));
        }
    });
    let change = move |value: String| {
        let model = if value.is_empty() { None } else { Some(value) };
        leptos::task::spawn_local(async move {
            let patch = ProjectPatch {
                model: Some(model),
                ..Default::default()
            };
            match client::update_project(ws.project, &patch).await {
                Ok(p) => {
                    error.set(None);
                    project.set(p);
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    view! {
        <div class="model-picker small">
            <select data-testid="model-picker" aria-label="Model"
                prop:value=move || project.with(|p| p.model.clone().unwrap_or_default())
                on:change=move |e| change(event_target_value(&e))>
                <option value="">{move || {
                    let default = models.with(|m| m.iter().find(|m| m.default).map(model_label));
                    match default {
                        Some(label) => format!("Server default: {label}"),
                        None => "Server default".to_string(),
                    }
                }}</option>
                <For
                    each=move || models.get()
                    key=|m| m.id.clone()
                    children=move |m| {
                        let id = m.id.clone();
                        let selected = move || project.with(|p| p.model.as_deref() == Some(id.as_str()));
                        view! { <option value=m.id.clone() selected=selected>{model_label(&m)}</option> }
                    }
                />
            </select>
            {move || error.get().map(|e| view! { <span class="form-error small" role="alert">{e.error}</span> })}
        </div>
    }
    .into_any()
}

#[component]
pub fn SettingsPanel(project: RwSignal<Project>) -> impl IntoView {
    let ws = expect_context::<Workspace>();
    let name = RwSignal::new(project.get_untracked().name);
    let message = RwSignal::new(None::<Result<String, ApiError>>);
    let confirming = RwSignal::new(false);

    let rename = move || {
        let new_name = name.get_untracked().trim().to_string();
        if new_name.is_empty() {
            return;
        }
        leptos::task::spawn_local(async move {
            let patch = ProjectPatch {
                name: Some(new_name),
                ..Default::default()
            };
            match client::update_project(ws.project, &patch).await {
                Ok(p) => {
                    project.set(p);
                    message.set(Some(Ok("Renamed.".into())));
                }
                Err(e) => message.set(Some(Err(e))),
            }
        });
    };
    let delete = move || {
        leptos::task::spawn_local(async move {
            match client::delete_project(ws.project).await {
                Ok(()) => {
                    super::ws::disconnect();
                    go_to("/dashboard");
                }
                Err(e) => message.set(Some(Err(e))),
            }
        });
    };

    view! {
        <section class="settings stack" aria-label="Project settings" data-testid="settings">
            <form class="stack" on:submit=move |e| { e.prevent_default(); rename(); }>
                <label>"Name"
                    <input required maxlength=MAX_NAME_CHARS data-testid="settings-name"
                        prop:value=move || name.get() on:input=move |e| name.set(event_target_value(&e))/>
                </label>
                <button type="submit" class="button small" data-testid="settings-rename">"Rename"</button>
            </form>
            {move || message.get().map(|m| match m {
                Ok(text) => view! { <p class="note small" role="status">{text}</p> }.into_any(),
                Err(e) => view! { <p class="form-error small" role="alert">{e.error}</p> }.into_any(),
            })}
            <div>
                <a class="button small" href=paths::project_export(ws.project)
                    download data-testid="export-zip">"Download as zip"</a>
            </div>
            <div class="danger-zone">
                <Show when=move || confirming.get()
                    fallback=move || view! {
                        <button type="button" class="button danger-ghost small" data-testid="settings-delete"
                            on:click=move |_| confirming.set(true)>"Delete project"</button>
                    }>
                    <span class="small">"Delete this project with its files, chats and checkpoints?"</span>
                    <button type="button" class="button danger small" data-testid="settings-confirm-delete"
                        on:click=move |_| delete()>"Delete"</button>
                    <button type="button" class="button ghost small" on:click=move |_| confirming.set(false)>"Keep"</button>
                </Show>
            </div>
        </section>
    }
    .into_any()
}

/// A full page load of `path` (the workspace's socket and editor go with the page).
pub fn go_to(path: &str) {
    #[cfg(feature = "hydrate")]
    if let Some(window) = web_sys::window() {
        let _ = window.location().assign(path);
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = path;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offline_is_labelled_honestly() {
        let m = ModelInfo {
            id: "offline:builtin".into(),
            label: "Offline".into(),
            provider: "offline".into(),
            offline: true,
            default: true,
            images: true,
        };
        assert_eq!(
            model_label(&m),
            "offline generator (no AI) · sees images — default"
        );
        let text_only = ModelInfo {
            id: "openrouter:qwen/qwen3-coder".into(),
            label: "Qwen3 Coder (OpenRouter)".into(),
            provider: "openrouter".into(),
            offline: false,
            default: false,
            images: false,
        };
        assert_eq!(
            model_label(&text_only),
            "Qwen3 Coder (OpenRouter) · openrouter"
        );
    }
}
