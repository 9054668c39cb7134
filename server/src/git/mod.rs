//! Each project's files as a git repository: one commit per change, read
//! back as the project's history and served to `git clone`.
//!
//! The database stays the source of truth; the repository is a mirror of
//! it, written from `files::snapshot` (never from the workspace, which the
//! sandbox can write). So a commit that fails is logged and never fails the
//! change it records, and a repository that is missing (a new data folder,
//! a project from before this existed) starts again from the current files
//! ("Start of the history") the first time it is needed.
//!
//! When a commit is made (hooks in `checkpoints/`):
//! - after each generation phase: "Phase 2: Features", by
//!   `minicode agent (<model id>)`;
//! - after a chat turn that changed files: "Chat: <the user's first line>",
//!   by the agent;
//! - after a restore: "Restore: <the checkpoint's message>", by the user
//!   (a new commit; history only grows);
//! - the user's own saves (editor, upload, delete, visual edit) are gathered
//!   per project and committed together once the project has been quiet for
//!   `MINICODE_GIT_QUIET_MS` ("Edit src/App.tsx and 2 more files"), earlier
//!   if the agent is about to start or a restore is made, and at shutdown.
//!   While the agent is working the batch waits, and a save made then goes
//!   into the agent's commit.
//!
//! A commit whose files equal its parent's is not made. Commits of one
//! project are serialised by `Repos::lock`, which also covers reading the
//! files, so each commit is the database as it was at one moment.

pub(crate) mod config;
pub mod credentials;
pub(crate) mod http;
pub mod push;
pub mod remote;
pub mod repo;
pub(crate) mod routes;

pub use config::GitConfig;
use minicode::Commit;
pub use repo::{Changes, GitError, Repos, Signature};
use uuid::Uuid;

use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// Who made a change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Author {
    /// A signed-in user, by username.
    User(String),
    /// The agent, with the model it ran on.
    Agent(String),
    /// minicode itself (the start of a history).
    Minicode,
}

impl Author {
    /// Name and a placeholder address: minicode knows no real one.
    pub fn signature(&self) -> Signature {
        match self {
            Author::User(name) => Signature {
                name: name.clone(),
                email: format!("{name}@users.minicode"),
            },
            Author::Agent(model) => Signature {
                name: format!("minicode agent ({model})"),
                email: "agent@minicode".into(),
            },
            Author::Minicode => Signature {
                name: "minicode".into(),
                email: "git@minicode".into(),
            },
        }
    }
}

impl From<GitError> for AppError {
    fn from(e: GitError) -> Self {
        AppError::internal(e.to_string())
    }
}

/// Commits the project's files as they are now, with `message` (subject,
/// then body after a blank line). Failures are logged: history mirrors the
/// database and never fails the change it records.
pub async fn commit(state: &AppState, project: Uuid, author: &Author, message: &str) {
    let message = message.to_string();
    if let Err(e) = commit_with(state, project, author, move |_| message).await {
        tracing::warn!(project_id = %project, error = %e, "could not commit to the project's history");
    }
}

/// Commits with a message made from what changed; the new commit's id, or
/// `None` when nothing changed since the newest commit.
#[tracing::instrument(name = "git.commit", skip_all, fields(project_id = %project))]
async fn commit_with(
    state: &AppState,
    project: Uuid,
    author: &Author,
    message: impl FnOnce(&Changes) -> String,
) -> AppResult<Option<String>> {
    let _turn = state.git.lock(project).await;
    commit_locked(state, project, author, message).await
}

/// [`commit_with`] for a caller that holds the project's lock.
async fn commit_locked(
    state: &AppState,
    project: Uuid,
    author: &Author,
    message: impl FnOnce(&Changes) -> String,
) -> AppResult<Option<String>> {
    let files: Vec<(String, Vec<u8>)> = crate::files::snapshot(state, project)
        .await?
        .into_iter()
        .map(|(path, _, bytes)| (path, bytes))
        .collect();
    let sha = state
        .git
        .commit(
            project,
            &files,
            &author.signature(),
            crate::db::now_ms() / 1000,
            message,
        )
        .await?;
    if let Some(sha) = &sha {
        tracing::debug!(sha, "committed");
    }
    Ok(sha)
}

/// Makes sure the project has a repository, and a first commit when it has
/// files: a repository lost or never made starts from the current files.
pub async fn ensure_started(state: &AppState, project: Uuid) -> AppResult<()> {
    if state.git.head(project).await?.is_some() {
        return Ok(());
    }
    let _turn = state.git.lock(project).await;
    if state.git.head(project).await?.is_none() {
        commit_locked(state, project, &Author::Minicode, |_| {
            "Start of the history: the project's files as they were".to_string()
        })
        .await?;
        // A project without files still gets its (empty) repository.
        state.git.init(project).await?;
    }
    Ok(())
}

/// One page of the project's history, newest first, and its length.
pub async fn history(
    state: &AppState,
    project: Uuid,
    limit: i64,
    offset: i64,
) -> AppResult<(Vec<Commit>, u64)> {
    ensure_started(state, project).await?;
    let (entries, total) = state.git.log(project, limit, offset).await?;
    let commits = entries
        .into_iter()
        .map(|e| Commit {
            sha: e.sha,
            message: e.message,
            author: e.author,
            created_at: crate::db::rfc3339(e.time.saturating_mul(1000)),
            changed_files: e.changed_files,
        })
        .collect();
    Ok((commits, total))
}

/// "Edit src/App.tsx and 2 more files" (or Add, Delete when that is all
/// the batch did), with every path in the body when there are several.
pub fn describe_saves(changes: &Changes) -> String {
    let paths = changes.paths();
    let verb = if changes.modified.is_empty() && changes.deleted.is_empty() {
        "Add"
    } else if changes.modified.is_empty() && changes.added.is_empty() {
        "Delete"
    } else {
        "Edit"
    };
    let first = paths.first().copied().unwrap_or_default();
    match paths.len() {
        0 | 1 => format!("{verb} {first}"),
        n => {
            let more = n - 1;
            let mut message = format!(
                "{verb} {first} and {more} more file{}\n\n",
                if more == 1 { "" } else { "s" }
            );
            for (label, list) in [
                ("added", &changes.added),
                ("changed", &changes.modified),
                ("deleted", &changes.deleted),
            ] {
                for path in list {
                    message.push_str(&format!("{label}: {path}\n"));
                }
            }
            message
        }
    }
}

/// Records a save by the user: it is committed with the project's other
/// saves once the project has been quiet for the configured time.
pub fn saved(state: &AppState, project: Uuid, username: &str) {
    let due = tokio::time::Instant::now() + state.config.git.quiet();
    let start_waiting = {
        let mut pending = state.git.pending.lock().unwrap_or_else(|e| e.into_inner());
        let fresh = !pending.contains_key(&project);
        pending.insert(
            project,
            repo::Batch {
                author: username.to_string(),
                due,
            },
        );
        fresh
    };
    if start_waiting && !state.git.stopping.is_cancelled() {
        tokio::spawn(wait_and_commit(state.clone(), project));
    }
}

/// Waits until the project's batch is due and the agent is not working on
/// it, then commits it. Gone when the batch was taken by [`flush`].
async fn wait_and_commit(state: AppState, project: Uuid) {
    loop {
        let due = {
            let pending = state.git.pending.lock().unwrap_or_else(|e| e.into_inner());
            match pending.get(&project) {
                Some(batch) => batch.due,
                None => return,
            }
        };
        tokio::select! {
            () = tokio::time::sleep_until(due) => {}
            () = state.git.stopping.cancelled() => return,
        }
        let batch = {
            let mut pending = state.git.pending.lock().unwrap_or_else(|e| e.into_inner());
            let now = tokio::time::Instant::now();
            match pending.get_mut(&project) {
                None => return,
                Some(batch) if batch.due > now => continue,
                Some(batch) if state.agents.busy(project).is_some() => {
                    batch.due = now + state.config.git.quiet();
                    continue;
                }
                Some(_) => pending.remove(&project),
            }
        };
        if let Some(batch) = batch {
            commit_batch(&state, project, batch).await;
        }
        return;
    }
}

async fn commit_batch(state: &AppState, project: Uuid, batch: repo::Batch) {
    if let Err(e) = commit_with(state, project, &Author::User(batch.author), describe_saves).await {
        tracing::warn!(project_id = %project, error = %e, "could not commit the user's saves");
    }
}

/// Commits the user's waiting saves now: before the agent starts on the
/// project or a restore, so they are not mixed into that change.
pub async fn flush(state: &AppState, project: Uuid) {
    let batch = {
        let mut pending = state.git.pending.lock().unwrap_or_else(|e| e.into_inner());
        pending.remove(&project)
    };
    if let Some(batch) = batch {
        commit_batch(state, project, batch).await;
    }
}

/// At shutdown: no batch waits any longer, and every waiting one is committed.
pub async fn shutdown(state: &AppState) {
    state.git.stopping.cancel();
    let batches: Vec<(Uuid, repo::Batch)> = {
        let mut pending = state.git.pending.lock().unwrap_or_else(|e| e.into_inner());
        pending.drain().collect()
    };
    if !batches.is_empty() {
        tracing::info!(projects = batches.len(), "committing the user's last saves");
    }
    for (project, batch) in batches {
        commit_batch(state, project, batch).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn changes(added: &[&str], modified: &[&str], deleted: &[&str]) -> Changes {
        let own = |l: &[&str]| l.iter().map(|s| s.to_string()).collect();
        Changes {
            added: own(added),
            modified: own(modified),
            deleted: own(deleted),
        }
    }

    #[test]
    fn saves_are_described_by_what_they_did() {
        assert_eq!(
            describe_saves(&changes(&[], &["src/App.tsx"], &[])),
            "Edit src/App.tsx"
        );
        assert_eq!(
            describe_saves(&changes(&["public/a.png"], &[], &[])),
            "Add public/a.png"
        );
        assert_eq!(
            describe_saves(&changes(&[], &[], &["old.txt"])),
            "Delete old.txt"
        );
        let several = describe_saves(&changes(&["b.txt"], &["a.txt"], &["c.txt"]));
        assert!(
            several.starts_with("Edit a.txt and 2 more files\n\n"),
            "{several}"
        );
        assert!(several.contains("added: b.txt\nchanged: a.txt\ndeleted: c.txt"));
    }

    #[test]
    fn authors_have_placeholder_addresses() {
        let agent = Author::Agent("offline:builtin".into()).signature();
        assert_eq!(agent.name, "minicode agent (offline:builtin)");
        let user = Author::User("ana".into()).signature();
        assert_eq!(user.email, "ana@users.minicode");
    }
}
