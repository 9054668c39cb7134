//! Checkpoints: the project's undo points — list, what changed, restore.

use leptos::prelude::*;
use minicode::{Data, Page};
use serde::Deserialize;
use uuid::Uuid;

use super::http;
use super::short_time;
use super::workspace::Workspace;

/// `GET /api/projects/:id/checkpoints` rows (the server's `Checkpoint`).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Checkpoint {
    pub id: Uuid,
    pub kind: String,
    pub message: String,
    pub changed_files: Vec<String>,
    pub created_at: String,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct FileDiff {
    pub path: String,
    pub change: String,
    pub diff: String,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct CheckpointDiff {
    pub checkpoint: Checkpoint,
    pub files: Vec<FileDiff>,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Restored {
    pub checkpoint_id: Uuid,
    pub undo_checkpoint_id: Uuid,
}

fn kind_label(kind: &str) -> &'static str {
    match kind {
        "phase" => "Phase",
        "chat" => "Before chat",
        "before_restore" => "Before restore",
        "restore" => "Restore",
        _ => "Checkpoint",
    }
}

/// Colours a unified diff line by line.
fn diff_view(diff: &str) -> impl IntoView + use<> {
    diff.lines()
        .map(|line| {
            let class = if line.starts_with("+++") || line.starts_with("---") {
                "diff-line meta"
            } else if line.starts_with('+') {
                "diff-line add"
            } else if line.starts_with('-') {
                "diff-line del"
            } else if line.starts_with("@@") {
                "diff-line hunk"
            } else {
                "diff-line"
            };
            view! { <div class=class>{line.to_string()}</div> }
        })
        .collect_view()
}

#[component]
pub fn CheckpointsPanel() -> impl IntoView {
    let ws = expect_context::<Workspace>();
    let list = RwSignal::new(None::<Result<Vec<Checkpoint>, String>>);
    let open = RwSignal::new(None::<Uuid>);
    let diff = RwSignal::new(None::<Result<CheckpointDiff, String>>);
    let confirming = RwSignal::new(None::<Uuid>);
    let message = RwSignal::new(None::<String>);

    // Reload the list whenever the server announces a checkpoint.
    Effect::new(move |_| {
        ws.checkpoints_changed.track();
        leptos::task::spawn_local(async move {
            let url = format!("/api/projects/{}/checkpoints?limit=100", ws.project);
            list.set(Some(
                http::get::<Page<Checkpoint>>(&url).await.map(|p| p.data),
            ));
        });
    });

    let show = move |id: Uuid| {
        if open.get_untracked() == Some(id) {
            open.set(None);
            return;
        }
        open.set(Some(id));
        diff.set(None);
        leptos::task::spawn_local(async move {
            let url = format!("/api/projects/{}/checkpoints/{id}", ws.project);
            diff.set(Some(
                http::get::<Data<CheckpointDiff>>(&url)
                    .await
                    .map(|d| d.data),
            ));
        });
    };
    let restore = move |id: Uuid| {
        confirming.set(None);
        leptos::task::spawn_local(async move {
            let url = format!("/api/projects/{}/checkpoints/{id}/restore", ws.project);
            let result =
                http::send::<_, Data<Restored>>("POST", &url, &serde_json::json!({})).await;
            message.set(Some(match result {
                Ok(_) => "Restored. The state before the restore is saved as a checkpoint too, so this can be undone.".into(),
                Err(e) => format!("Not restored: {e}"),
            }));
        });
    };

    view! {
        <section class="checkpoints" aria-label="Checkpoints" data-testid="checkpoints">
            {move || message.get().map(|m| view! { <p class="note small" role="status" data-testid="restore-message">{m}</p> })}
            {move || match list.get() {
                None => view! { <p class="muted small pad-s">"Loading checkpoints…"</p> }.into_any(),
                Some(Err(e)) => view! { <p class="form-error small" role="alert">{e}</p> }.into_any(),
                Some(Ok(items)) if items.is_empty() => view! {
                    <p class="muted small pad-s">"No checkpoints yet: one is taken after every build phase and before every chat change."</p>
                }.into_any(),
                Some(Ok(items)) => items.into_iter().map(|cp| {
                    let id = cp.id;
                    let files = cp.changed_files.len();
                    let file_list = cp.changed_files.join(", ");
                    view! {
                        <article class="checkpoint" data-testid="checkpoint" data-kind=cp.kind.clone()>
                            <div class="checkpoint-head">
                                <span class="badge">{kind_label(&cp.kind)}</span>
                                <span class="muted small">{short_time(&cp.created_at)}</span>
                            </div>
                            <p class="checkpoint-message" data-testid="checkpoint-message">{cp.message.clone()}</p>
                            <p class="muted small" title=file_list>{format!("{files} changed file{}", if files == 1 { "" } else { "s" })}</p>
                            <div class="card-actions">
                                <button type="button" class="button ghost small" data-testid="checkpoint-diff"
                                    aria-expanded=move || (open.get() == Some(id)).to_string()
                                    on:click=move |_| show(id)>
                                    {move || if open.get() == Some(id) { "Hide changes" } else { "Changes" }}
                                </button>
                                <Show when=move || confirming.get() == Some(id)
                                    fallback=move || view! {
                                        <button type="button" class="button ghost small" data-testid="checkpoint-restore"
                                            on:click=move |_| confirming.set(Some(id))>"Restore"</button>
                                    }>
                                    <span class="small">"Restore the files to this point?"</span>
                                    <button type="button" class="button danger small" data-testid="confirm-restore"
                                        disabled=move || ws.busy()
                                        on:click=move |_| restore(id)>"Restore"</button>
                                    <button type="button" class="button ghost small"
                                        on:click=move |_| confirming.set(None)>"Keep"</button>
                                </Show>
                            </div>
                            <Show when=move || open.get() == Some(id)>
                                {move || match diff.get() {
                                    None => view! { <p class="muted small">"Loading…"</p> }.into_any(),
                                    Some(Err(e)) => view! { <p class="form-error small">{e}</p> }.into_any(),
                                    Some(Ok(d)) if d.files.is_empty() => view! { <p class="muted small">"No file changes."</p> }.into_any(),
                                    Some(Ok(d)) => d.files.into_iter().map(|f| view! {
                                        <details class="file-diff" open=true data-testid="file-diff">
                                            <summary><code>{f.path.clone()}</code>" "<span class="muted small">{f.change.clone()}</span></summary>
                                            <pre class="diff">{diff_view(&f.diff)}</pre>
                                        </details>
                                    }).collect_view().into_any(),
                                }}
                            </Show>
                        </article>
                    }
                }).collect_view().into_any(),
            }}
        </section>
    }
    .into_any()
}
