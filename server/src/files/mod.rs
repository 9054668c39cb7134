//! A project's files: every version of every path is a row of
//! `generated_files` (the source of truth, so nothing is lost if a workspace
//! is cleaned up), and the newest version of each live path is mirrored in
//! the project's workspace folder, where the sandbox and the agent use it.

pub mod routes;

use minicode::{Encoding, FileContent, FileEntry};
use sha2::{Digest, Sha256};
use sqlx::Row;
use uuid::Uuid;

use crate::db::now_ms;
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::workspace::{RelPath, WorkspaceError};

/// Who changed a file; stored with each version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Generation,
    Chat,
    User,
    Upload,
    Restore,
}

impl Source {
    fn as_str(self) -> &'static str {
        match self {
            Source::Generation => "generation",
            Source::Chat => "chat",
            Source::User => "user",
            Source::Upload => "upload",
            Source::Restore => "restore",
        }
    }
}

/// A version just stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Saved {
    pub path: RelPath,
    pub version: i64,
    pub id: Uuid,
    pub size: u64,
}

impl From<WorkspaceError> for AppError {
    fn from(e: WorkspaceError) -> Self {
        use minicode::{ApiError, ErrorCode};
        match e {
            WorkspaceError::Path(p) => AppError::validation(format!("invalid path: {p}")),
            WorkspaceError::FileTooLarge { .. } => {
                AppError::Api(ApiError::new(ErrorCode::PayloadTooLarge, e.to_string()))
            }
            WorkspaceError::TooManyFiles { .. } => AppError::validation(e.to_string()),
            WorkspaceError::NotFound(_) => AppError::not_found("file"),
            WorkspaceError::IsDirectory(_) | WorkspaceError::NotARegularFile(_) => {
                AppError::validation(e.to_string())
            }
            WorkspaceError::Io { .. } => AppError::internal(e.to_string()),
        }
    }
}

/// The newest version of every live file of a project, sorted by path.
pub async fn list_latest(state: &AppState, project_id: Uuid) -> AppResult<Vec<FileEntry>> {
    let rows = sqlx::query(
        "SELECT g.path, g.size FROM generated_files g \
         WHERE g.project_id = $1 AND g.deleted = 0 AND g.version = \
           (SELECT MAX(v.version) FROM generated_files v WHERE v.project_id = g.project_id AND v.path = g.path) \
         ORDER BY g.path",
    )
    .bind(project_id.to_string())
    .fetch_all(state.db.pool())
    .await?;
    rows.iter()
        .map(|row| {
            Ok(FileEntry {
                path: row.try_get("path")?,
                size: row.try_get::<i64, _>("size")?.max(0) as u64,
            })
        })
        .collect()
}

/// Stores a new version of each file and writes them into the workspace.
/// Sizes and the file count are checked first; a failure stores nothing.
#[tracing::instrument(name = "files.save", skip_all, fields(project_id = %project_id, files = files.len()))]
pub async fn save(
    state: &AppState,
    project_id: Uuid,
    files: Vec<(RelPath, Vec<u8>)>,
    source: Source,
    run_id: Option<Uuid>,
) -> AppResult<Vec<Saved>> {
    let limits = state.workspaces.limits;
    for (path, content) in &files {
        if content.len() > limits.max_file_bytes {
            return Err(WorkspaceError::FileTooLarge {
                path: path.to_string(),
                size: content.len(),
                limit: limits.max_file_bytes,
            }
            .into());
        }
    }
    let live: Vec<String> = list_latest(state, project_id)
        .await?
        .into_iter()
        .map(|f| f.path)
        .collect();
    let new_paths = files
        .iter()
        .filter(|(p, _)| !live.iter().any(|l| l == p.as_str()))
        .count();
    if live.len() + new_paths > limits.max_files {
        return Err(WorkspaceError::TooManyFiles {
            limit: limits.max_files,
        }
        .into());
    }

    let now = now_ms();
    let mut saved = Vec::with_capacity(files.len());
    let mut tx = state.db.pool().begin().await?;
    for (path, content) in &files {
        let id = Uuid::new_v4();
        let version: i64 = sqlx::query_scalar(
            "INSERT INTO generated_files (id, project_id, path, version, content, sha256, size, deleted, source, run_id, created_at) \
             VALUES ($1, $2, $3, (SELECT COALESCE(MAX(version), 0) + 1 FROM generated_files WHERE project_id = $2 AND path = $3), \
                     $4, $5, $6, 0, $7, $8, $9) RETURNING version",
        )
        .bind(id.to_string())
        .bind(project_id.to_string())
        .bind(path.as_str())
        .bind(content.as_slice())
        .bind(hex::encode(Sha256::digest(content)))
        .bind(content.len() as i64)
        .bind(source.as_str())
        .bind(run_id.map(|r| r.to_string()))
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        saved.push(Saved {
            path: path.clone(),
            version,
            id,
            size: content.len() as u64,
        });
    }
    sqlx::query("UPDATE projects SET last_active_at = $1 WHERE id = $2")
        .bind(now)
        .bind(project_id.to_string())
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    state.workspaces.write_many(project_id, files).await?;
    Ok(saved)
}

/// Ends a path: a `deleted` version is stored and the file leaves the workspace.
#[tracing::instrument(name = "files.delete", skip_all, fields(project_id = %project_id, path = %path))]
pub async fn delete(
    state: &AppState,
    project_id: Uuid,
    path: &RelPath,
    source: Source,
) -> AppResult<()> {
    let live = list_latest(state, project_id).await?;
    if !live.iter().any(|f| f.path == path.as_str()) {
        return Err(AppError::not_found("file"));
    }
    sqlx::query(
        "INSERT INTO generated_files (id, project_id, path, version, content, sha256, size, deleted, source, run_id, created_at) \
         VALUES ($1, $2, $3, (SELECT COALESCE(MAX(version), 0) + 1 FROM generated_files WHERE project_id = $2 AND path = $3), \
                 $4, '', 0, 1, $5, NULL, $6)",
    )
    .bind(Uuid::new_v4().to_string())
    .bind(project_id.to_string())
    .bind(path.as_str())
    .bind(Vec::<u8>::new())
    .bind(source.as_str())
    .bind(now_ms())
    .execute(state.db.pool())
    .await?;
    match state.workspaces.delete(project_id, path).await {
        Ok(()) | Err(WorkspaceError::NotFound(_)) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// The newest version of one live file.
pub async fn read(state: &AppState, project_id: Uuid, path: &RelPath) -> AppResult<FileContent> {
    let row = sqlx::query(
        "SELECT content, version, deleted FROM generated_files WHERE project_id = $1 AND path = $2 \
         ORDER BY version DESC LIMIT 1",
    )
    .bind(project_id.to_string())
    .bind(path.as_str())
    .fetch_optional(state.db.pool())
    .await?;
    let Some(row) = row else {
        return Err(AppError::not_found("file"));
    };
    if row.try_get::<i64, _>("deleted")? != 0 {
        return Err(AppError::not_found("file"));
    }
    let bytes: Vec<u8> = row.try_get("content")?;
    let (content, encoding) = encode(bytes);
    Ok(FileContent {
        path: path.to_string(),
        content,
        encoding,
        version: row.try_get("version")?,
    })
}

/// Text stays text; anything else travels as base64.
pub fn encode(bytes: Vec<u8>) -> (String, Encoding) {
    match String::from_utf8(bytes) {
        Ok(text) => (text, Encoding::Utf8),
        Err(e) => {
            use base64::Engine;
            (
                base64::engine::general_purpose::STANDARD.encode(e.into_bytes()),
                Encoding::Base64,
            )
        }
    }
}

/// The newest content of every live file: `(path, version id, bytes)`.
pub async fn snapshot(
    state: &AppState,
    project_id: Uuid,
) -> AppResult<Vec<(String, Uuid, Vec<u8>)>> {
    let rows = sqlx::query(
        "SELECT g.id, g.path, g.content FROM generated_files g \
         WHERE g.project_id = $1 AND g.deleted = 0 AND g.version = \
           (SELECT MAX(v.version) FROM generated_files v WHERE v.project_id = g.project_id AND v.path = g.path) \
         ORDER BY g.path",
    )
    .bind(project_id.to_string())
    .fetch_all(state.db.pool())
    .await?;
    rows.iter()
        .map(|row| {
            Ok((
                row.try_get::<String, _>("path")?,
                crate::db::uuid(&row.try_get::<String, _>("id")?),
                row.try_get::<Vec<u8>, _>("content")?,
            ))
        })
        .collect()
}

/// Rewrites the workspace from the database: every live file is written.
/// Used when a workspace was cleaned up, or on a new instance.
#[tracing::instrument(name = "files.restore_workspace", skip_all, fields(project_id = %project_id))]
pub async fn restore_workspace(state: &AppState, project_id: Uuid) -> AppResult<usize> {
    let files = snapshot(state, project_id).await?;
    let mut writes = Vec::with_capacity(files.len());
    for (path, _, content) in files {
        match RelPath::parse(&path) {
            Ok(p) => writes.push((p, content)),
            Err(e) => {
                tracing::warn!(path, error = %e, "skipping a stored file with an invalid path")
            }
        }
    }
    let count = writes.len();
    state.workspaces.write_many(project_id, writes).await?;
    Ok(count)
}
