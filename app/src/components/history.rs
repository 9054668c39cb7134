//! The project's git history: each commit (who, when, which files), newest
//! first, and the command that clones the project.

use leptos::prelude::*;
use minicode::{ApiError, Commit, Page, paths};

use super::workspace::Workspace;
use super::{short_time, web_origin};
use crate::client;

/// "src/App.tsx, notes.md and 3 more": a commit's files in one line.
fn files_line(files: &[String]) -> String {
    const SHOWN: usize = 3;
    match files.len() {
        0 => "No file".to_string(),
        n if n <= SHOWN => files.join(", "),
        n => format!("{} and {} more", files[..SHOWN].join(", "), n - SHOWN),
    }
}

/// The first line of a message, and the rest (if any) for its tooltip.
fn subject(message: &str) -> &str {
    message.lines().next().unwrap_or_default()
}

#[component]
pub fn HistoryPanel() -> impl IntoView {
    let ws = expect_context::<Workspace>();
    let list = RwSignal::new(None::<Result<Page<Commit>, ApiError>>);
    let load = move || {
        leptos::task::spawn_local(async move {
            list.set(Some(client::history(ws.project).await));
        });
    };
    // Phases, turns and restores announce a checkpoint; the user's own
    // saves land a few seconds later, so there is Refresh too.
    Effect::new(move |_| {
        ws.checkpoints_changed.track();
        load();
    });
    let clone_command = format!(
        "git clone {}{}",
        web_origin().unwrap_or_default(),
        paths::git_repo(ws.project)
    );

    view! {
        <section class="history" aria-label="Git history" data-testid="history">
            <div class="clone-box">
                <label class="small" for="clone-command">"Clone this project"</label>
                <input id="clone-command" class="mono" readonly=true value=clone_command
                    data-testid="clone-command"/>
                <p class="hint">
                    "When git asks, give any username and an API token from your "
                    <a href="/account">"account page"</a>
                    " as the password. Read-only: pushes are refused."
                </p>
            </div>
            <super::remote::RemotePanel/>
            <div class="history-head">
                <span class="muted small" data-testid="history-total">{move || match list.get() {
                    Some(Ok(page)) => format!("{} commit{}", page.total, if page.total == 1 { "" } else { "s" }),
                    _ => String::new(),
                }}</span>
                <button type="button" class="button ghost small" data-testid="history-refresh"
                    on:click=move |_| load()>"Refresh"</button>
            </div>
            {move || match list.get() {
                None => view! { <p class="muted small pad-s">"Loading the history…"</p> }.into_any(),
                Some(Err(e)) => view! { <p class="form-error small" role="alert">{e.error}</p> }.into_any(),
                Some(Ok(page)) if page.data.is_empty() => view! {
                    <p class="muted small pad-s">"No commits yet: every build phase, chat turn, restore and batch of your saves is one."</p>
                }.into_any(),
                Some(Ok(page)) => page.data.into_iter().map(|commit| {
                    let short: String = commit.sha.chars().take(8).collect();
                    view! {
                        <article class="checkpoint commit" data-testid="commit">
                            <div class="checkpoint-head">
                                <code class="small" title=commit.sha.clone() data-testid="commit-sha">{short}</code>
                                <span class="muted small">{short_time(&commit.created_at)}</span>
                            </div>
                            <p class="checkpoint-message" title=commit.message.clone() data-testid="commit-message">
                                {subject(&commit.message).to_string()}
                            </p>
                            <p class="muted small" data-testid="commit-author">{commit.author.clone()}</p>
                            <p class="muted small" title=commit.changed_files.join("\n") data-testid="commit-files">
                                {files_line(&commit.changed_files)}
                            </p>
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
    fn a_commit_reads_in_one_line() {
        let files: Vec<String> = ["a", "b", "c", "d", "e"].map(String::from).to_vec();
        assert_eq!(files_line(&files[..2]), "a, b");
        assert_eq!(files_line(&files), "a, b, c and 2 more");
        assert_eq!(files_line(&[]), "No file");
        assert_eq!(
            subject("Phase 2: Features\n\nThe goal"),
            "Phase 2: Features"
        );
    }
}
