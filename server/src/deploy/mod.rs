//! Publishing: the app's production build, kept as an immutable deployment
//! and served by minicode itself at a site address of its own.
//!
//! "Publish" runs `vite build` in the project's sandbox (the same isolation
//! as its dev server), reads the output as hostile (no links followed,
//! bounded), and copies it to `<data dir>/sites/<deployment id>/`, plain
//! static files written once. The project's *site* points at one of them
//! (the live one): redeploying points it at the new one, rolling back at an
//! older one, unpublishing at none. A failed build is kept with its log,
//! leaves the live deployment as it was, and is announced as an `error`
//! event (`BUILD_FAILED`), so the workspace offers "Fix this error" for it
//! like for any error of the app.
//!
//! Sites live on hosts of their own (`serve.rs`), never minicode's origin,
//! for the same reason as previews: a published app must not act as its
//! owner.

pub(crate) mod routes;
pub(crate) mod serve;
pub mod sites;

pub use sites::Sites;

use std::path::{Path, PathBuf};
use std::time::Instant;

use minicode::protocol::ServerEvent;
use minicode::{ApiError, Deployment, DeploymentStatus, ErrorCode, Publishing, Site, Visibility};
use sqlx::Row;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::db::{self, now_ms, rfc3339};
use crate::error::{AppError, AppResult};
use crate::sandbox::SandboxError;
use crate::state::AppState;
use crate::workspace::{RelPath, WorkspaceDir, WorkspaceError};

/// Where the build writes in the workspace (a folder the file tree, the
/// export and the sync never list).
const OUT_DIR: &str = ".minicode/publish";
/// Most files and bytes one deployment may hold.
const MAX_FILES: usize = 5_000;
const MAX_BYTES: u64 = 100 * 1024 * 1024;
/// Lines of the build's output kept with a deployment.
const LOG_LINES: usize = 40;

/// Why a build did not become a deployment. Stored with the deployment
/// and shown to the user; never a secret (paths are the project's own).
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("the build failed: {0}")]
    Build(#[from] SandboxError),
    #[error("the build's output could not be read: {0}")]
    Output(#[from] WorkspaceError),
    #[error("the build wrote no index.html")]
    NoIndex,
    #[error(
        "the build wrote {files} files ({bytes} bytes); a deployment holds at most {MAX_FILES} files and {MAX_BYTES} bytes"
    )]
    TooLarge { files: usize, bytes: u64 },
    #[error("the deployment could not be stored: {0}")]
    Store(String),
    #[error("{0}")]
    App(#[from] AppError),
}

impl PublishError {
    fn log_tail(&self) -> Vec<String> {
        match self {
            PublishError::Build(e) => e.log_tail().to_vec(),
            _ => Vec::new(),
        }
    }
}

fn busy(message: &str) -> AppError {
    AppError::Api(ApiError::new(ErrorCode::Busy, message))
}

/// Builds the project's app and, if the build works, makes it the live
/// deployment of the project's site (created on the first publish, unlisted
/// unless `visibility` says otherwise). Returns the deployment, ready or
/// failed; a failed one changes nothing that is served.
#[tracing::instrument(name = "deploy.publish", skip_all, fields(project_id = %project))]
pub async fn publish(
    state: &AppState,
    project: Uuid,
    project_name: &str,
    request_host: Option<&str>,
) -> AppResult<Deployment> {
    let lock = state.sites.lock_for(project);
    let Ok(_publishing) = lock.try_lock() else {
        return Err(busy("this project is being published already"));
    };
    // The same on every instance sharing the database.
    let Some(_publishing_everywhere) = crate::cluster::locks::try_project_lock(
        &state.db,
        crate::cluster::locks::Purpose::Publish,
        project,
    )
    .await?
    else {
        return Err(busy("this project is being published already"));
    };
    if state.agents.busy_anywhere(project).await?.is_some() {
        return Err(busy(
            "the agent is changing the app; publish once it is done",
        ));
    }
    let id = Uuid::new_v4();
    let created = now_ms();
    let number: i64 = sqlx::query_scalar(
        "SELECT COALESCE(MAX(number), 0) + 1 FROM deployments WHERE project_id = $1",
    )
    .bind(project.to_string())
    .fetch_one(state.db.pool())
    .await?;
    sqlx::query(
        "INSERT INTO deployments (id, project_id, number, status, created_at) VALUES ($1, $2, $3, 'building', $4)",
    )
    .bind(id.to_string())
    .bind(project.to_string())
    .bind(number)
    .bind(created)
    .execute(state.db.writer())
    .await?;
    tracing::info!(deployment_id = %id, number, "publishing");

    let started = Instant::now();
    let result = build_and_store(state, project, id).await;
    let build_ms = started.elapsed().as_millis() as i64;
    match result {
        Ok((files, bytes)) => {
            sqlx::query(
                "UPDATE deployments SET status = 'ready', files = $1, bytes = $2, build_ms = $3, finished_at = $4 WHERE id = $5",
            )
            .bind(files as i64)
            .bind(bytes as i64)
            .bind(build_ms)
            .bind(now_ms())
            .bind(id.to_string())
            .execute(state.db.writer())
            .await?;
            ensure_site(state, project, project_name).await?;
            set_live(state, project, Some(id)).await?;
            tracing::info!(deployment_id = %id, files, bytes, build_ms, "published");
            let url = site(state, project, request_host).await?.map(|s| s.url);
            state
                .events
                .emit(
                    project,
                    ServerEvent::Status {
                        status: format!(
                            "published deployment {number}{}",
                            url.map(|u| format!(" at {u}")).unwrap_or_default()
                        ),
                    },
                )
                .await;
        }
        Err(e) => {
            let tail = e.log_tail();
            let tail = tail[tail.len().saturating_sub(LOG_LINES)..].to_vec();
            let message = e.to_string();
            tracing::warn!(deployment_id = %id, error = %message, "publishing failed");
            sqlx::query(
                "UPDATE deployments SET status = 'failed', error = $1, log = $2, build_ms = $3, finished_at = $4 WHERE id = $5",
            )
            .bind(&message)
            .bind(tail.join("\n"))
            .bind(build_ms)
            .bind(now_ms())
            .bind(id.to_string())
            .execute(state.db.writer())
            .await?;
            // The workspace shows it like any error of the app, with
            // "Fix this error" (the build's output goes to the agent).
            state
                .events
                .emit(
                    project,
                    ServerEvent::Error {
                        message: format!("Publishing failed: {message}"),
                        code: "BUILD_FAILED".into(),
                        log_tail: Some(tail),
                    },
                )
                .await;
        }
    }
    deployment(state, project, id).await
}

/// The build in the sandbox, then its output copied to the deployment's
/// folder. Returns the files and bytes stored.
async fn build_and_store(
    state: &AppState,
    project: Uuid,
    deployment: Uuid,
) -> Result<(usize, u64), PublishError> {
    crate::files::ensure_workspace(state, project).await?;
    let cancel = CancellationToken::new();
    state.sandboxes.install(project, &cancel).await?;
    state.sandboxes.build(project, OUT_DIR, &cancel).await?;
    let workspace = state.workspaces.dir(project);
    let target = state.sites.folder(deployment);
    let copied = tokio::task::spawn_blocking(move || copy_output(&workspace, &target))
        .await
        .map_err(|e| PublishError::Store(e.to_string()))?;
    // The output is not the project's: it never stays in its folder.
    let leftover = state.workspaces.dir(project).join(OUT_DIR);
    let _ = tokio::fs::remove_dir_all(&leftover).await;
    copied
}

/// Copies the regular files of the build's output (never through a link)
/// into `target`, written under a temporary name first so a deployment
/// folder is always whole.
fn copy_output(workspace: &Path, target: &Path) -> Result<(usize, u64), PublishError> {
    let dir = WorkspaceDir::open(workspace)?;
    let out = RelPath::parse(OUT_DIR).map_err(|e| PublishError::Store(e.to_string()))?;
    let files = dir.walk_in(&out)?;
    let bytes: u64 = files.iter().map(|f| f.size).sum();
    if files.len() > MAX_FILES || bytes > MAX_BYTES {
        return Err(PublishError::TooLarge {
            files: files.len(),
            bytes,
        });
    }
    let prefix = format!("{OUT_DIR}/");
    let relative = |f: &crate::workspace::dir::FileInfo| {
        f.path
            .as_str()
            .strip_prefix(&prefix)
            .unwrap_or(f.path.as_str())
            .to_string()
    };
    if !files.iter().any(|f| relative(f) == "index.html") {
        return Err(PublishError::NoIndex);
    }
    let partial = target.with_extension("partial");
    let store = |e: std::io::Error| PublishError::Store(e.to_string());
    let _ = std::fs::remove_dir_all(&partial);
    std::fs::create_dir_all(&partial).map_err(store)?;
    let mut total = 0u64;
    for file in &files {
        let content = dir.read_bounded(&file.path, MAX_BYTES as usize)?;
        total += content.len() as u64;
        if total > MAX_BYTES {
            return Err(PublishError::TooLarge {
                files: files.len(),
                bytes: total,
            });
        }
        let path = partial.join(relative(file));
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(store)?;
        }
        std::fs::write(&path, content).map_err(store)?;
    }
    std::fs::rename(&partial, target).map_err(store)?;
    Ok((files.len(), total))
}

/// The project's site row, made on the first publish.
async fn ensure_site(state: &AppState, project: Uuid, name: &str) -> AppResult<()> {
    let exists: Option<String> = sqlx::query_scalar("SELECT slug FROM sites WHERE project_id = $1")
        .bind(project.to_string())
        .fetch_optional(state.db.pool())
        .await?;
    if exists.is_some() {
        return Ok(());
    }
    let visibility = Visibility::default();
    sqlx::query(
        "INSERT INTO sites (project_id, slug, visibility, updated_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(project.to_string())
    .bind(slug_for(visibility, name))
    .bind(visibility.as_str())
    .bind(now_ms())
    .execute(state.db.writer())
    .await?;
    Ok(())
}

/// A site's host name: readable for public and private sites
/// (`habit-tracker-k3x9`), unguessable for unlisted ones (26 random
/// characters, 130 bits). One DNS label either way.
fn slug_for(visibility: Visibility, name: &str) -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut rng = rand::rng();
    let mut random = |n: usize| -> String {
        (0..n)
            .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
            .collect()
    };
    if visibility == Visibility::Unlisted {
        return random(26);
    }
    let mut words = String::new();
    for c in name.to_ascii_lowercase().chars() {
        if c.is_ascii_alphanumeric() {
            words.push(c);
        } else if !words.ends_with('-') && !words.is_empty() {
            words.push('-');
        }
        if words.len() >= 40 {
            break;
        }
    }
    let words = words.trim_matches('-');
    let words = if words.is_empty() { "app" } else { words };
    format!("{words}-{}", random(4))
}

async fn set_live(state: &AppState, project: Uuid, deployment: Option<Uuid>) -> AppResult<()> {
    sqlx::query("UPDATE sites SET live_deployment = $1, updated_at = $2 WHERE project_id = $3")
        .bind(deployment.map(|d| d.to_string()))
        .bind(now_ms())
        .bind(project.to_string())
        .execute(state.db.writer())
        .await?;
    Ok(())
}

/// The project's site, if it was ever published.
pub async fn site(
    state: &AppState,
    project: Uuid,
    request_host: Option<&str>,
) -> AppResult<Option<Site>> {
    let row =
        sqlx::query("SELECT slug, visibility, live_deployment FROM sites WHERE project_id = $1")
            .bind(project.to_string())
            .fetch_optional(state.db.pool())
            .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let slug: String = row.try_get("slug")?;
    let live: Option<String> = row.try_get("live_deployment")?;
    Ok(Some(Site {
        url: state.sites.hosts.origin_for(&slug, request_host),
        slug,
        visibility: parse_visibility(&row.try_get::<String, _>("visibility")?),
        live: live.as_deref().map(db::uuid),
    }))
}

fn parse_visibility(text: &str) -> Visibility {
    match text {
        "public" => Visibility::Public,
        "private" => Visibility::Private,
        _ => Visibility::Unlisted,
    }
}

const DEPLOYMENT_COLUMNS: &str =
    "id, number, status, error, log, files, bytes, build_ms, created_at";

fn deployment_from_row(row: &sqlx::any::AnyRow, live: Option<Uuid>) -> AppResult<Deployment> {
    let id = db::uuid(&row.try_get::<String, _>("id")?);
    let log: Option<String> = row.try_get("log")?;
    Ok(Deployment {
        id,
        number: row.try_get::<i64, _>("number")?.max(0) as u32,
        status: match row.try_get::<String, _>("status")?.as_str() {
            "ready" => DeploymentStatus::Ready,
            "failed" => DeploymentStatus::Failed,
            _ => DeploymentStatus::Building,
        },
        error: row.try_get("error")?,
        log_tail: log
            .filter(|l| !l.is_empty())
            .map(|l| l.lines().map(str::to_string).collect())
            .unwrap_or_default(),
        files: row.try_get::<i64, _>("files")?.max(0) as u32,
        bytes: row.try_get::<i64, _>("bytes")?.max(0) as u64,
        build_ms: row
            .try_get::<Option<i64>, _>("build_ms")?
            .map(|m| m.max(0) as u64),
        created_at: rfc3339(row.try_get("created_at")?),
        live: live == Some(id),
    })
}

async fn deployment(state: &AppState, project: Uuid, id: Uuid) -> AppResult<Deployment> {
    let live = site(state, project, None).await?.and_then(|s| s.live);
    let row = sqlx::query(&format!(
        "SELECT {DEPLOYMENT_COLUMNS} FROM deployments WHERE id = $1 AND project_id = $2"
    ))
    .bind(id.to_string())
    .bind(project.to_string())
    .fetch_optional(state.db.pool())
    .await?
    .ok_or_else(|| AppError::not_found("deployment"))?;
    deployment_from_row(&row, live)
}

/// The site and every deployment, newest first.
pub async fn publishing(
    state: &AppState,
    project: Uuid,
    request_host: Option<&str>,
) -> AppResult<Publishing> {
    let site = site(state, project, request_host).await?;
    let live = site.as_ref().and_then(|s| s.live);
    let rows = sqlx::query(&format!(
        "SELECT {DEPLOYMENT_COLUMNS} FROM deployments WHERE project_id = $1 ORDER BY number DESC"
    ))
    .bind(project.to_string())
    .fetch_all(state.db.pool())
    .await?;
    Ok(Publishing {
        site,
        deployments: rows
            .iter()
            .map(|row| deployment_from_row(row, live))
            .collect::<AppResult<_>>()?,
    })
}

/// Makes a ready deployment the live one: a rollback, or a redeploy of an
/// older build, in one step.
pub async fn activate(state: &AppState, project: Uuid, id: Uuid) -> AppResult<()> {
    let found = deployment(state, project, id).await?;
    if found.status != DeploymentStatus::Ready {
        return Err(AppError::validation(format!(
            "deployment {} did not build; only a working deployment can be served",
            found.number
        )));
    }
    if site(state, project, None).await?.is_none() {
        return Err(AppError::not_found("site"));
    }
    set_live(state, project, Some(id)).await?;
    tracing::info!(project_id = %project, deployment_id = %id, "deployment made live");
    Ok(())
}

/// Takes the site offline: its address answers 404 until a deployment is
/// made live again. Deployments are kept.
pub async fn unpublish(state: &AppState, project: Uuid) -> AppResult<()> {
    if site(state, project, None).await?.is_none() {
        return Err(AppError::not_found("site"));
    }
    set_live(state, project, None).await?;
    tracing::info!(project_id = %project, "site unpublished");
    Ok(())
}

/// Changes who may open the site. Moving to or from unlisted changes the
/// address: an unlisted site's is unguessable, and a site made unlisted
/// must not stay at the address people already know.
pub async fn set_visibility(
    state: &AppState,
    project: Uuid,
    name: &str,
    visibility: Visibility,
) -> AppResult<()> {
    let Some(current) = site(state, project, None).await? else {
        return Err(AppError::not_found("site"));
    };
    let slug =
        if (current.visibility == Visibility::Unlisted) != (visibility == Visibility::Unlisted) {
            slug_for(visibility, name)
        } else {
            current.slug
        };
    sqlx::query(
        "UPDATE sites SET visibility = $1, slug = $2, updated_at = $3 WHERE project_id = $4",
    )
    .bind(visibility.as_str())
    .bind(slug)
    .bind(now_ms())
    .bind(project.to_string())
    .execute(state.db.writer())
    .await?;
    Ok(())
}

/// What a site host serves: the project, who may see it, and the folder
/// of its live deployment (`None`: unpublished).
pub(crate) struct Served {
    pub project: Uuid,
    pub visibility: Visibility,
    pub folder: Option<PathBuf>,
}

pub(crate) async fn by_slug(state: &AppState, slug: &str) -> AppResult<Option<Served>> {
    let row =
        sqlx::query("SELECT project_id, visibility, live_deployment FROM sites WHERE slug = $1")
            .bind(slug)
            .fetch_optional(state.db.pool())
            .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let live: Option<String> = row.try_get("live_deployment")?;
    Ok(Some(Served {
        project: db::uuid(&row.try_get::<String, _>("project_id")?),
        visibility: parse_visibility(&row.try_get::<String, _>("visibility")?),
        folder: live.map(|d| state.sites.folder(db::uuid(&d))),
    }))
}

/// Removes the folders of deployments that no longer exist (their project
/// was deleted). Returns how many.
pub async fn remove_orphans(state: &AppState) -> AppResult<usize> {
    let Ok(mut entries) = tokio::fs::read_dir(&state.sites.root).await else {
        return Ok(0);
    };
    let mut removed = 0;
    while let Ok(Some(entry)) = entries.next_entry().await {
        let name = entry.file_name().to_string_lossy().to_string();
        let Ok(id) = Uuid::parse_str(name.trim_end_matches(".partial")) else {
            continue;
        };
        let known: Option<String> =
            sqlx::query_scalar("SELECT status FROM deployments WHERE id = $1")
                .bind(id.to_string())
                .fetch_optional(state.db.pool())
                .await?;
        // A `.partial` folder of a build still running is left alone.
        if known.is_none() || (name.ends_with(".partial") && known.as_deref() != Some("building")) {
            let _ = tokio::fs::remove_dir_all(entry.path()).await;
            removed += 1;
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_one_dns_label_and_unlisted_ones_unguessable() {
        let public = slug_for(Visibility::Public, "My Habit Tracker!");
        assert!(public.starts_with("my-habit-tracker-"), "{public}");
        assert_eq!(public.len(), "my-habit-tracker-".len() + 4);
        let unlisted = slug_for(Visibility::Unlisted, "My Habit Tracker");
        assert_eq!(unlisted.len(), 26);
        assert_ne!(unlisted, slug_for(Visibility::Unlisted, "My Habit Tracker"));
        for slug in [public, unlisted, slug_for(Visibility::Private, "…")] {
            assert!(slug.len() <= 63);
            assert!(
                slug.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
                "{slug}"
            );
        }
        assert!(slug_for(Visibility::Private, "…").starts_with("app-"));
    }
}
