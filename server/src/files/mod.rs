//! A project's files: every version of every path is a row of
//! `generated_files` (the source of truth, so nothing is lost if a workspace
//! is cleaned up), and the newest version of each live path is mirrored in
//! the project's workspace folder, where the sandbox and the agent use it.

pub(crate) mod routes;

use std::collections::BTreeSet;
use std::ops::Bound;

use minicode::protocol::ServerEvent;
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
            // Only a write meets these: something on disk that is not stored.
            WorkspaceError::IsDirectory(path) => AppError::conflict(format!(
                "{path} is a folder in the workspace, so it cannot be a file"
            )),
            WorkspaceError::NotAFolder { .. } => AppError::conflict(e.to_string()),
            WorkspaceError::NotARegularFile(_) => AppError::validation(e.to_string()),
            WorkspaceError::Io { .. } => AppError::internal(e.to_string()),
        }
    }
}

/// The SQL of every query that finds a path's newest version, in one place
/// so the query-plan test (`tests/file_history.rs`) checks exactly what runs.
/// Each goes through `current_files` (primary key `(project_id, path)`), so
/// its cost depends on the project's live files, never on how many versions
/// `generated_files` holds.
pub mod sql {
    /// The live files of project `$1`, by path: `path, size, file_id`.
    pub const LIVE: &str = "SELECT path, size, file_id FROM current_files \
         WHERE project_id = $1 AND deleted = 0 ORDER BY path";

    /// The newest content and version number of live file `$2` of project `$1`.
    pub const READ: &str = "SELECT g.content, c.version FROM current_files c \
         JOIN generated_files g ON g.id = c.file_id \
         WHERE c.project_id = $1 AND c.path = $2 AND c.deleted = 0";

    /// The path back if project `$1` has a live file at path `$2`.
    pub const IS_LIVE: &str = "SELECT path FROM current_files \
         WHERE project_id = $1 AND path = $2 AND deleted = 0";

    /// The newest content of every live file of project `$1`: `id, path, content`.
    pub const SNAPSHOT: &str = "SELECT c.file_id AS id, c.path, g.content FROM current_files c \
         JOIN generated_files g ON g.id = c.file_id \
         WHERE c.project_id = $1 AND c.deleted = 0 ORDER BY c.path";

    /// Stores the next version of path `$3` of project `$2` (numbered after
    /// the current one, deleted or not) and returns its number.
    pub const INSERT_VERSION: &str = "INSERT INTO generated_files \
         (id, project_id, path, version, content, sha256, size, deleted, source, run_id, created_at) \
         VALUES ($1, $2, $3, \
           COALESCE((SELECT c.version FROM current_files c WHERE c.project_id = $2 AND c.path = $3), 0) + 1, \
           $4, $5, $6, $7, $8, $9, $10) RETURNING version";

    /// Makes version `$3` (number `$4`) the newest of path `$2` of project `$1`.
    pub const SET_CURRENT: &str = "INSERT INTO current_files (project_id, path, file_id, version, size, deleted) \
         VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (project_id, path) DO UPDATE SET file_id = excluded.file_id, \
           version = excluded.version, size = excluded.size, deleted = excluded.deleted";

    /// Every query above, named, with the types of its parameters in order
    /// (`t` text, `b` bytes, `i` integer), so a test can bind and `EXPLAIN` it.
    pub const ALL: [(&str, &str, &str); 6] = [
        ("live", LIVE, "t"),
        ("read", READ, "tt"),
        ("is_live", IS_LIVE, "tt"),
        ("snapshot", SNAPSHOT, "t"),
        ("insert_version", INSERT_VERSION, "tttbtiitti"),
        ("set_current", SET_CURRENT, "tttiii"),
    ];
}

/// The live files of a project: `(path, size, version id)`, sorted by path.
async fn live<'e>(
    db: impl sqlx::Executor<'e, Database = sqlx::Any>,
    project_id: Uuid,
) -> AppResult<Vec<(String, u64, Uuid)>> {
    let rows = sqlx::query(sql::LIVE)
        .bind(project_id.to_string())
        .fetch_all(db)
        .await?;
    rows.iter()
        .map(|row| {
            Ok((
                row.try_get("path")?,
                row.try_get::<i64, _>("size")?.max(0) as u64,
                crate::db::uuid(&row.try_get::<String, _>("file_id")?),
            ))
        })
        .collect()
}

/// The newest version of every live file of a project, sorted by path.
pub async fn list_latest(state: &AppState, project_id: Uuid) -> AppResult<Vec<FileEntry>> {
    Ok(live(state.db.pool(), project_id)
        .await?
        .into_iter()
        .map(|(path, size, _)| FileEntry { path, size })
        .collect())
}

/// The version id of every live file, by path: what a checkpoint records
/// (without reading any content).
pub async fn manifest(
    state: &AppState,
    project_id: Uuid,
) -> AppResult<std::collections::BTreeMap<String, Uuid>> {
    Ok(live(state.db.pool(), project_id)
        .await?
        .into_iter()
        .map(|(path, _, id)| (path, id))
        .collect())
}

/// Stores a new version of each file and writes them into the workspace;
/// see [`apply`].
pub async fn save(
    state: &AppState,
    project_id: Uuid,
    files: Vec<(RelPath, Vec<u8>)>,
    source: Source,
    run_id: Option<Uuid>,
) -> AppResult<Vec<Saved>> {
    apply(state, project_id, files, Vec::new(), source, run_id).await
}

/// Ends a path: a `deleted` version is stored and the file leaves the
/// workspace; see [`apply`].
pub async fn delete(
    state: &AppState,
    project_id: Uuid,
    path: &RelPath,
    source: Source,
) -> AppResult<()> {
    apply(
        state,
        project_id,
        Vec::new(),
        vec![path.clone()],
        source,
        None,
    )
    .await
    .map(drop)
}

/// Stores one change to a project's files — new versions of `writes`,
/// `deletes` ended — and mirrors it in the workspace, all or nothing.
///
/// The order is chosen so that no failure leaves half a state behind:
/// 1. One transaction starts by touching the project's row, which takes the
///    write lock (SQLite) or the row's lock (PostgreSQL): two writers of one
///    project take turns, so a check cannot be passed by both.
/// 2. Inside it, the stored file set (the source of truth, not the disk) is
///    checked: deletions must exist, the file count stays in bounds, and no
///    file may stand where another needs a folder ([`find_clash`]). Nothing
///    has been written yet, so a refusal stores nothing.
/// 3. The versions are inserted, then the workspace is changed, then the
///    transaction commits. If the disk fails, the transaction rolls back; if
///    the disk or the commit fails after the disk changed, the workspace is
///    put back from the stored versions read in step 2.
/// 4. Once committed, the change is announced to the project's clients
///    (`file_deleted` for each deletion, then `file_end` with the content for
///    each write): every writer (generation, chat tools, the editor, uploads,
///    restores) gets this from here, never by announcing it itself.
#[tracing::instrument(name = "files.apply", skip_all, fields(project_id = %project_id, writes = writes.len(), deletes = deletes.len()))]
pub async fn apply(
    state: &AppState,
    project_id: Uuid,
    writes: Vec<(RelPath, Vec<u8>)>,
    deletes: Vec<RelPath>,
    source: Source,
    run_id: Option<Uuid>,
) -> AppResult<Vec<Saved>> {
    let limits = state.workspaces.limits;
    for (path, content) in &writes {
        if content.len() > limits.max_file_bytes {
            return Err(WorkspaceError::FileTooLarge {
                path: path.to_string(),
                size: content.len(),
                limit: limits.max_file_bytes,
            }
            .into());
        }
    }

    let now = now_ms();
    let mut tx = state.db.writer().begin().await?;
    // Step 1: the lock (and the project's activity time).
    sqlx::query("UPDATE projects SET last_active_at = $1 WHERE id = $2")
        .bind(now)
        .bind(project_id.to_string())
        .execute(&mut *tx)
        .await?;

    // Step 2: the checks, against what is stored.
    let live: BTreeSet<String> = live(&mut *tx, project_id)
        .await?
        .into_iter()
        .map(|(path, _, _)| path)
        .collect();
    if let Some(missing) = deletes.iter().find(|p| !live.contains(p.as_str())) {
        tracing::debug!(path = %missing, "delete of a file that does not exist");
        return Err(AppError::not_found("file"));
    }
    let mut after = live.clone();
    for path in &deletes {
        after.remove(path.as_str());
    }
    if let Some(clash) = find_clash(&after, writes.iter().map(|(p, _)| p)) {
        return Err(AppError::conflict(clash.to_string()));
    }
    after.extend(writes.iter().map(|(p, _)| p.to_string()));
    if after.len() > limits.max_files {
        return Err(WorkspaceError::TooManyFiles {
            limit: limits.max_files,
        }
        .into());
    }
    // What each touched path holds now, to put the workspace back if needed.
    let mut before: Vec<(RelPath, Option<Vec<u8>>)> = Vec::new();
    let touched: BTreeSet<&RelPath> = writes.iter().map(|(p, _)| p).chain(&deletes).collect();
    for path in touched {
        let content = if live.contains(path.as_str()) {
            Some(
                sqlx::query(sql::READ)
                    .bind(project_id.to_string())
                    .bind(path.as_str())
                    .fetch_one(&mut *tx)
                    .await?
                    .try_get::<Vec<u8>, _>("content")?,
            )
        } else {
            None
        };
        before.push((path.clone(), content));
    }

    // Step 3: store, mirror, commit.
    let mut saved = Vec::with_capacity(writes.len());
    for (path, content) in &writes {
        let id = Uuid::new_v4();
        let version = insert_version(
            &mut tx,
            project_id,
            path,
            Some(content),
            source,
            run_id,
            now,
            id,
        )
        .await?;
        saved.push(Saved {
            path: path.clone(),
            version,
            id,
            size: content.len() as u64,
        });
    }
    for path in &deletes {
        insert_version(
            &mut tx,
            project_id,
            path,
            None,
            source,
            None,
            now,
            Uuid::new_v4(),
        )
        .await?;
    }
    let mut announcements: Vec<ServerEvent> = deletes
        .iter()
        .map(|path| ServerEvent::FileDeleted {
            path: path.to_string(),
        })
        .collect();
    announcements.extend(writes.iter().map(|(path, bytes)| ServerEvent::FileEnd {
        path: path.to_string(),
        // A binary file is announced empty; editors fetch it if they show it.
        content: String::from_utf8(bytes.clone()).unwrap_or_default(),
        incomplete: false,
    }));
    if let Err((e, changed)) = state.workspaces.apply(project_id, deletes, writes).await {
        before.retain(|(path, _)| changed.contains(path));
        state.workspaces.put_back(project_id, before).await;
        tx.rollback().await?;
        return Err(e.into());
    }
    if let Err(e) = tx.commit().await {
        state.workspaces.put_back(project_id, before).await;
        return Err(e.into());
    }
    state.events.emit_many(project_id, announcements).await;
    Ok(saved)
}

/// Inserts the next version of `path`: `content`, or a deletion (`None`),
/// and makes it the path's current one (same transaction, so
/// `current_files` never disagrees with the history).
#[allow(clippy::too_many_arguments)]
async fn insert_version(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    project_id: Uuid,
    path: &RelPath,
    content: Option<&Vec<u8>>,
    source: Source,
    run_id: Option<Uuid>,
    now: i64,
    id: Uuid,
) -> AppResult<i64> {
    let bytes = content.map(Vec::as_slice).unwrap_or_default();
    let deleted = i64::from(content.is_none());
    let version: i64 = sqlx::query_scalar(sql::INSERT_VERSION)
        .bind(id.to_string())
        .bind(project_id.to_string())
        .bind(path.as_str())
        .bind(bytes.to_vec())
        .bind(if content.is_some() {
            hex::encode(Sha256::digest(bytes))
        } else {
            String::new()
        })
        .bind(bytes.len() as i64)
        .bind(deleted)
        .bind(source.as_str())
        .bind(run_id.map(|r| r.to_string()))
        .bind(now)
        .fetch_one(&mut **tx)
        .await?;
    sqlx::query(sql::SET_CURRENT)
        .bind(project_id.to_string())
        .bind(path.as_str())
        .bind(id.to_string())
        .bind(version)
        .bind(bytes.len() as i64)
        .bind(deleted)
        .execute(&mut **tx)
        .await?;
    Ok(version)
}

/// Two paths that cannot both be files, because one would have to be a
/// folder holding the other.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Clash {
    /// `file` is (or would be) a file, and the new `path` needs it as a folder.
    FileInTheWay { file: String, path: String },
    /// The new file `path` is a folder holding `inner`.
    FolderInTheWay { path: String, inner: String },
}

impl std::fmt::Display for Clash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Clash::FileInTheWay { file, path } => {
                write!(f, "{file} is a file, so it cannot hold {path}")
            }
            Clash::FolderInTheWay { path, inner } => {
                write!(
                    f,
                    "{path} is a folder (it holds {inner}), so it cannot be a file"
                )
            }
        }
    }
}

/// The first clash between the `new` paths and the files `existing` (which
/// already leaves out what the change deletes), or among the `new` paths
/// themselves. Clashes among `existing` files alone (stored before this
/// rule) do not block an unrelated change.
pub fn find_clash<'a>(
    existing: &BTreeSet<String>,
    new: impl IntoIterator<Item = &'a RelPath>,
) -> Option<Clash> {
    let new: BTreeSet<&str> = new.into_iter().map(RelPath::as_str).collect();
    let is_file = |p: &str| existing.contains(p) || new.contains(p);
    for &path in &new {
        for (i, _) in path.match_indices('/') {
            if is_file(&path[..i]) {
                return Some(Clash::FileInTheWay {
                    file: path[..i].to_string(),
                    path: path.to_string(),
                });
            }
        }
    }
    for &path in &new {
        // Paths under `path/` sort together, from `path/` on.
        let prefix = format!("{path}/");
        let from = (Bound::Included(prefix.as_str()), Bound::Unbounded);
        let inner = existing
            .range::<str, _>(from)
            .next()
            .map(String::as_str)
            .filter(|p| p.starts_with(&prefix))
            .or_else(|| {
                new.range::<&str, _>(&prefix.as_str()..)
                    .next()
                    .copied()
                    .filter(|p| p.starts_with(&prefix))
            });
        if let Some(inner) = inner {
            return Some(Clash::FolderInTheWay {
                path: path.to_string(),
                inner: inner.to_string(),
            });
        }
    }
    None
}

/// The newest version of one live file.
pub async fn read(state: &AppState, project_id: Uuid, path: &RelPath) -> AppResult<FileContent> {
    let row = sqlx::query(sql::READ)
        .bind(project_id.to_string())
        .bind(path.as_str())
        .fetch_optional(state.db.pool())
        .await?;
    let Some(row) = row else {
        return Err(AppError::not_found("file"));
    };
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
    let rows = sqlx::query(sql::SNAPSHOT)
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

/// Makes sure the project's workspace folder holds its files, rebuilding it
/// from the database when it is missing (cleaned up while idle, a new
/// machine) or lacks the `package.json` the database has (a folder that
/// something recreated empty). Every user of the workspace (runs, chat
/// tools, previews, restarts) calls this rather than checking itself.
/// Returns true if it had to rebuild.
pub async fn ensure_workspace(state: &AppState, project_id: Uuid) -> AppResult<bool> {
    const MANIFEST: &str = "package.json";
    if state.workspaces.exists(project_id) {
        if state.workspaces.has_entry(project_id, MANIFEST) {
            return Ok(false);
        }
        let stored: Option<String> = sqlx::query_scalar(sql::IS_LIVE)
            .bind(project_id.to_string())
            .bind(MANIFEST)
            .fetch_optional(state.db.pool())
            .await?;
        if stored.is_none() {
            return Ok(false);
        }
    }
    let count = restore_workspace(state, project_id).await?;
    tracing::info!(project_id = %project_id, files = count, "workspace rebuilt from the database");
    Ok(true)
}

/// Brings `paths` of the workspace in line with the database, where another
/// instance saved or deleted them: the instance running the project's
/// sandbox keeps its dev server (and hot reload) on the stored files. A file
/// already as stored is not touched (no needless reload).
pub async fn refresh_workspace(
    state: &AppState,
    project_id: Uuid,
    paths: Vec<String>,
) -> AppResult<usize> {
    let mut writes = Vec::new();
    let mut deletes = Vec::new();
    for path in paths {
        let Ok(path) = RelPath::parse(&path) else {
            continue;
        };
        let row = sqlx::query(sql::READ)
            .bind(project_id.to_string())
            .bind(path.as_str())
            .fetch_optional(state.db.pool())
            .await?;
        let here = state.workspaces.read(project_id, &path).await.ok();
        match row {
            Some(row) => {
                let stored: Vec<u8> = row.try_get("content")?;
                if here.as_deref() != Some(stored.as_slice()) {
                    writes.push((path, stored));
                }
            }
            None if here.is_some() => deletes.push(path),
            None => {}
        }
    }
    let changed = writes.len() + deletes.len();
    if changed > 0 {
        state
            .workspaces
            .apply(project_id, deletes, writes)
            .await
            .map_err(|(e, _)| AppError::from(e))?;
    }
    Ok(changed)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn set(paths: &[&str]) -> BTreeSet<String> {
        paths.iter().map(|p| p.to_string()).collect()
    }

    fn clash(existing: &[&str], new: &[&str]) -> Option<String> {
        let new: Vec<RelPath> = new.iter().map(|p| RelPath::parse(p).unwrap()).collect();
        find_clash(&set(existing), &new).map(|c| c.to_string())
    }

    #[test]
    fn a_file_and_a_folder_of_the_same_name_clash() {
        assert_eq!(
            clash(&["src/app"], &["src/app/x.txt"]).as_deref(),
            Some("src/app is a file, so it cannot hold src/app/x.txt")
        );
        assert_eq!(
            clash(&["a/b.txt", "a-b", "a.txt"], &["a"]).as_deref(),
            Some("a is a folder (it holds a/b.txt), so it cannot be a file")
        );
        // Within one change.
        assert!(clash(&[], &["f", "f/x"]).is_some());
        assert!(clash(&[], &["f/x/y", "f/x"]).is_some());
        // Neighbours that only share a prefix of characters do not clash.
        assert_eq!(
            clash(
                &["a-b", "ab", "a.txt", "src/app.tsx"],
                &["a/b", "src/app/x"]
            ),
            None
        );
        assert_eq!(clash(&["src/a.ts"], &["src/a.ts", "src/b.ts"]), None);
        // An old clash among stored files alone blocks nothing else.
        assert_eq!(clash(&["old", "old/x"], &["new.txt"]), None);
    }
}
