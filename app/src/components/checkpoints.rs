//! Checkpoints: the project's undo points — list, what changed, restore —
//! and, beside them, its git history (`history.rs`).

use leptos::prelude::*;
use minicode::{ApiError, Checkpoint, CheckpointDiff, CheckpointKind, Restored};
use uuid::Uuid;

use super::history::HistoryPanel;
use super::short_time;
use super::workspace::Workspace;
use crate::client;

fn kind_label(kind: CheckpointKind) -> &'static str {
    match kind {
        CheckpointKind::Phase => "Phase",
        CheckpointKind::Chat => "Chat",
        CheckpointKind::BeforeRestore => "Before restore",
        CheckpointKind::Restore => "Restore",
    }
}

fn kind_attr(kind: CheckpointKind) -> &'static str {
    match kind {
        CheckpointKind::Phase => "phase",
        CheckpointKind::Chat => "chat",
        CheckpointKind::BeforeRestore => "before_restore",
        CheckpointKind::Restore => "restore",
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// What a card says about its files: a turn's point undoes the turn's
/// changes; the others changed files since the point before them.
fn files_sentence(kind: CheckpointKind, files: usize) -> String {
    match kind {
        CheckpointKind::Chat => format!(
            "Restoring undoes this turn's changes to {files} file{}",
            plural(files)
        ),
        _ if files == 0 => "No file changed since the point before".to_string(),
        _ => format!("{files} changed file{}", plural(files)),
    }
}

/// The sentence after a restore.
fn restored_sentence(r: &Restored) -> String {
    let n = r.changed_files.len();
    if n == 0 {
        "The files already match this point: nothing to restore.".to_string()
    } else {
        format!(
            "Restored {n} file{}. The files as they were just before are kept as a point too, so this can be undone.",
            plural(n)
        )
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

/// The tab's two views: restore points (the default) and the git history.
#[component]
pub fn CheckpointsPanel() -> impl IntoView {
    let history = RwSignal::new(false);
    let switch = move |to_history: bool, label: &'static str, testid: &'static str| {
        view! {
            <button type="button" role="tab" class:active=move || history.get() == to_history
                aria-selected=move || (history.get() == to_history).to_string()
                data-testid=testid on:click=move |_| history.set(to_history)>{label}</button>
        }
    };
    view! {
        <div class="tabs sub-tabs" role="tablist" aria-label="Checkpoints view">
            {switch(false, "Restore points", "view-restore-points")}
            {switch(true, "History", "view-history")}
        </div>
        <Show when=move || history.get() fallback=|| view! { <RestorePoints/> }>
            <HistoryPanel/>
        </Show>
    }
}

#[component]
fn RestorePoints() -> impl IntoView {
    let ws = expect_context::<Workspace>();
    let list = RwSignal::new(None::<Result<Vec<Checkpoint>, ApiError>>);
    let open = RwSignal::new(None::<Uuid>);
    let diff = RwSignal::new(None::<Result<CheckpointDiff, ApiError>>);
    let confirming = RwSignal::new(None::<Uuid>);
    let message = RwSignal::new(None::<String>);

    // Reload the list whenever the server announces a checkpoint.
    Effect::new(move |_| {
        ws.checkpoints_changed.track();
        leptos::task::spawn_local(async move {
            list.set(Some(client::checkpoints(ws.project).await.map(|p| p.data)));
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
            diff.set(Some(client::checkpoint(ws.project, id).await));
        });
    };
    let restore = move |id: Uuid| {
        confirming.set(None);
        leptos::task::spawn_local(async move {
            message.set(Some(match client::restore(ws.project, id).await {
                Ok(done) => restored_sentence(&done),
                Err(e) => format!("Not restored: {e}"),
            }));
        });
    };

    view! {
        <section class="checkpoints" aria-label="Checkpoints" data-testid="checkpoints">
            {move || message.get().map(|m| view! { <p class="note small" role="status" data-testid="restore-message">{m}</p> })}
            {move || match list.get() {
                None => view! { <p class="muted small pad-s">"Loading checkpoints…"</p> }.into_any(),
                Some(Err(e)) => view! { <p class="form-error small" role="alert">{e.error}</p> }.into_any(),
                Some(Ok(items)) if items.is_empty() => view! {
                    <p class="muted small pad-s">"No checkpoints yet: one is taken after every build phase and for every chat turn that changes files."</p>
                }.into_any(),
                Some(Ok(items)) => items.into_iter().map(|cp| {
                    let id = cp.id;
                    let files = files_sentence(cp.kind, cp.changed_files.len());
                    let file_list = cp.changed_files.join(", ");
                    view! {
                        <article class="checkpoint" data-testid="checkpoint" data-kind=kind_attr(cp.kind)>
                            <div class="checkpoint-head">
                                <span class="badge">{kind_label(cp.kind)}</span>
                                <span class="muted small">{short_time(&cp.created_at)}</span>
                            </div>
                            <p class="checkpoint-message" data-testid="checkpoint-message">{cp.message.clone()}</p>
                            <p class="muted small" title=file_list data-testid="checkpoint-files">{files}</p>
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
                                    <span class="small confirm-text">"Restore the files to this point?"</span>
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
                                    Some(Err(e)) => view! { <p class="form-error small">{e.error}</p> }.into_any(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_restore_that_changes_nothing_says_so() {
        let id = Uuid::nil();
        let noop = Restored {
            checkpoint_id: id,
            undo_checkpoint_id: id,
            changed_files: vec![],
        };
        assert!(restored_sentence(&noop).contains("nothing to restore"));
        let real = Restored {
            changed_files: vec!["src/App.tsx".into()],
            ..noop
        };
        assert!(restored_sentence(&real).starts_with("Restored 1 file."));
        assert_eq!(
            files_sentence(CheckpointKind::Chat, 2),
            "Restoring undoes this turn's changes to 2 files"
        );
    }
}
