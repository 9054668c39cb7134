//! A project's remote: where its history is pushed, how the remote's
//! `main` stands against ours, and the push, which refuses to overwrite
//! commits the project does not have unless forced.

use minicode::{RemoteState, RemoteSync};
use uuid::Uuid;

use super::remote::{self, Auth};
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// Sets (or replaces) the project's remote URL.
pub async fn set_url(state: &AppState, project: Uuid, raw: &str) -> AppResult<String> {
    let url = remote::check_url(raw, state.config.git.allow_file_remotes)?;
    sqlx::query(
        "INSERT INTO project_remotes (project_id, url, updated_at) VALUES ($1, $2, $3) \
         ON CONFLICT (project_id) DO UPDATE SET url = excluded.url, updated_at = excluded.updated_at",
    )
    .bind(project.to_string())
    .bind(&url)
    .bind(crate::db::now_ms())
    .execute(state.db.writer())
    .await?;
    Ok(url)
}

pub async fn remove(state: &AppState, project: Uuid) -> AppResult<()> {
    let done = sqlx::query("DELETE FROM project_remotes WHERE project_id = $1")
        .bind(project.to_string())
        .execute(state.db.writer())
        .await?;
    if done.rows_affected() == 0 {
        return Err(AppError::not_found("remote"));
    }
    Ok(())
}

/// The project's remote URL (404 when it has none) and the user's
/// credential for its host.
async fn target(state: &AppState, user: Uuid, project: Uuid) -> AppResult<(String, Option<Auth>)> {
    let url: Option<String> =
        sqlx::query_scalar("SELECT url FROM project_remotes WHERE project_id = $1")
            .bind(project.to_string())
            .fetch_optional(state.db.pool())
            .await?;
    let url = url.ok_or_else(|| AppError::not_found("remote"))?;
    // Checked again: the operator may have turned file remotes off since.
    let url = remote::check_url(&url, state.config.git.allow_file_remotes)?;
    let auth = match remote::host_of(&url) {
        Some(host) => super::credentials::for_host(state, user, &host).await?,
        None => None,
    };
    Ok((url, auth))
}

/// How the remote stands against the project (the user's waiting saves
/// committed first, so "ours" is the project as it is).
#[tracing::instrument(name = "git.remote_state", skip_all, fields(project_id = %project))]
pub async fn status(state: &AppState, user: Uuid, project: Uuid) -> AppResult<RemoteState> {
    let (url, auth) = target(state, user, project).await?;
    status_of(state, project, url, auth.as_ref()).await
}

async fn status_of(
    state: &AppState,
    project: Uuid,
    url: String,
    auth: Option<&Auth>,
) -> AppResult<RemoteState> {
    super::flush(state, project).await;
    super::ensure_started(state, project).await?;
    let allow_file = state.config.git.allow_file_remotes;
    let local = state.git.head(project).await?;
    let remote_head = remote::remote_head(&state.git, &url, allow_file, auth).await?;
    let dir = state.git.path(project);
    let sync = remote::compare(
        &state.git,
        &dir,
        &url,
        allow_file,
        auth,
        local.as_deref(),
        remote_head.as_deref(),
    )
    .await?;
    Ok(RemoteState {
        url,
        state: sync,
        local_head: local,
        remote_head,
    })
}

/// Pushes the project's `main`. Refused (409) when the remote has commits
/// the project lacks, unless `force`; then the remote's `main` is replaced,
/// provided it has not moved since it was looked at.
#[tracing::instrument(name = "git.push", skip_all, fields(project_id = %project, force))]
pub async fn push(
    state: &AppState,
    user: Uuid,
    project: Uuid,
    force: bool,
) -> AppResult<RemoteState> {
    let (url, auth) = target(state, user, project).await?;
    let before = status_of(state, project, url.clone(), auth.as_ref()).await?;
    match before.state {
        RemoteSync::InSync => return Ok(before),
        RemoteSync::Behind | RemoteSync::Diverged if !force => {
            return Err(AppError::conflict(format!(
                "The remote has commits this project does not have ({}); nothing was pushed. Push with force to replace them.",
                if before.state == RemoteSync::Behind {
                    "the remote is ahead"
                } else {
                    "the histories have diverged"
                }
            )));
        }
        _ => {}
    }
    if before.local_head.is_none() {
        return Err(AppError::validation(
            "the project has no commit to push yet",
        ));
    }
    let dir = state.git.path(project);
    remote::push(
        &state.git,
        &dir,
        &url,
        state.config.git.allow_file_remotes,
        auth.as_ref(),
        force,
        before.remote_head.as_deref(),
    )
    .await?;
    tracing::info!(
        replaced = force && before.state != RemoteSync::Ahead,
        "pushed"
    );
    status_of(state, project, url, auth.as_ref()).await
}
