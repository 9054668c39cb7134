//! Checkpoints: undo points of a project's files.
//!
//! A checkpoint is a manifest `{path: version id}` of the project's live files
//! at one moment. Every version of every file is already stored
//! (`generated_files`), so the versions table is the content-addressed store
//! and a checkpoint costs one small row. One is taken after each generation
//! phase and before each chat turn; restoring one writes exactly the bytes of
//! those versions back, removes files that did not exist then, tells open
//! editors, and is itself a checkpoint, so a restore can be undone too.

pub mod routes;

use std::collections::BTreeMap;

use minicode::protocol::{Phase, ServerEvent};
use serde::Serialize;
use sqlx::Row;
use uuid::Uuid;

use crate::db::{self, now_ms, rfc3339};
use crate::error::{AppError, AppResult};
use crate::files::{self, Source};
use crate::state::AppState;
use crate::workspace::RelPath;

/// Why a checkpoint was taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Phase,
    Chat,
    /// The files just before a restore: restoring it undoes the restore.
    #[serde(rename = "before_restore")]
    BeforeRestore,
    Restore,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Phase => "phase",
            Kind::Chat => "chat",
            Kind::BeforeRestore => "before_restore",
            Kind::Restore => "restore",
        }
    }

    fn parse(s: &str) -> Kind {
        match s {
            "phase" => Kind::Phase,
            "restore" => Kind::Restore,
            "before_restore" => Kind::BeforeRestore,
            _ => Kind::Chat,
        }
    }
}

/// A checkpoint as listed.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Checkpoint {
    pub id: Uuid,
    pub kind: Kind,
    pub message: String,
    /// Paths changed since the previous checkpoint.
    pub changed_files: Vec<String>,
    pub created_at: String,
}

/// One file's change in a checkpoint's diff.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FileDiff {
    pub path: String,
    /// `added`, `modified` or `deleted`.
    pub change: &'static str,
    /// A unified diff (empty for binary files).
    pub diff: String,
}

type Manifest = BTreeMap<String, Uuid>;

async fn current_manifest(state: &AppState, project: Uuid) -> AppResult<Manifest> {
    Ok(files::snapshot(state, project)
        .await?
        .into_iter()
        .map(|(path, id, _)| (path, id))
        .collect())
}

/// `(id, manifest)` of the project's newest checkpoint.
async fn newest(state: &AppState, project: Uuid) -> AppResult<Option<(Uuid, Manifest)>> {
    let row = sqlx::query(
        "SELECT id, manifest FROM checkpoints WHERE project_id = $1 ORDER BY position DESC LIMIT 1",
    )
    .bind(project.to_string())
    .fetch_optional(state.db.pool())
    .await?;
    row.map(|row| {
        let manifest: String = row.try_get("manifest")?;
        Ok((
            db::uuid(&row.try_get::<String, _>("id")?),
            serde_json::from_str(&manifest).unwrap_or_default(),
        ))
    })
    .transpose()
}

fn changed(before: &Manifest, after: &Manifest) -> Vec<String> {
    let mut paths: Vec<String> = after
        .iter()
        .filter(|(path, id)| before.get(*path) != Some(*id))
        .map(|(path, _)| path.clone())
        .chain(before.keys().filter(|p| !after.contains_key(*p)).cloned())
        .collect();
    paths.sort();
    paths
}

/// Takes a checkpoint of the project's files as they are now. When nothing
/// changed since the newest checkpoint, that one is returned instead (unless
/// this is a restore, which is always recorded).
#[tracing::instrument(name = "checkpoints.create", skip_all, fields(project_id = %project))]
pub async fn create(state: &AppState, project: Uuid, kind: Kind, message: &str) -> AppResult<Uuid> {
    let manifest = current_manifest(state, project).await?;
    let previous = newest(state, project).await?;
    if kind != Kind::Restore
        && let Some((id, ref before)) = previous
        && *before == manifest
    {
        return Ok(id);
    }
    let changed_files = changed(&previous.map(|(_, m)| m).unwrap_or_default(), &manifest);
    let id = Uuid::new_v4();
    let message: String = message.chars().take(200).collect();
    sqlx::query(
        "INSERT INTO checkpoints (id, project_id, message, kind, manifest, changed_files, created_at, position) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, (SELECT COALESCE(MAX(position), 0) + 1 FROM checkpoints WHERE project_id = $2))",
    )
    .bind(id.to_string())
    .bind(project.to_string())
    .bind(&message)
    .bind(kind.as_str())
    .bind(serde_json::to_string(&manifest).map_err(|e| AppError::internal(e.to_string()))?)
    .bind(serde_json::to_string(&changed_files).map_err(|e| AppError::internal(e.to_string()))?)
    .bind(now_ms())
    .execute(state.db.pool())
    .await?;
    crate::agent::publish(
        state,
        project,
        ServerEvent::CheckpointCreated { id, message },
    )
    .await;
    Ok(id)
}

/// The checkpoint after a generation phase; failures are logged, not fatal.
pub async fn after_phase(state: &AppState, project: Uuid, number: u32, phase: Option<&Phase>) {
    let name = phase.map(|p| p.name.as_str()).unwrap_or("phase");
    if let Err(e) = create(
        state,
        project,
        Kind::Phase,
        &format!("Phase {number}: {name}"),
    )
    .await
    {
        tracing::warn!(error = %e, "could not take a checkpoint after a phase");
    }
}

fn from_row(row: &sqlx::any::AnyRow) -> AppResult<Checkpoint> {
    let changed: String = row.try_get("changed_files")?;
    Ok(Checkpoint {
        id: db::uuid(&row.try_get::<String, _>("id")?),
        kind: Kind::parse(&row.try_get::<String, _>("kind")?),
        message: row.try_get("message")?,
        changed_files: serde_json::from_str(&changed).unwrap_or_default(),
        created_at: rfc3339(row.try_get("created_at")?),
    })
}

/// The project's checkpoints, newest first.
pub async fn list(
    state: &AppState,
    project: Uuid,
    limit: i64,
    offset: i64,
) -> AppResult<(Vec<Checkpoint>, u64)> {
    let rows = sqlx::query(
        "SELECT id, kind, message, changed_files, created_at FROM checkpoints WHERE project_id = $1 \
         ORDER BY position DESC LIMIT $2 OFFSET $3",
    )
    .bind(project.to_string())
    .bind(limit)
    .bind(offset)
    .fetch_all(state.db.pool())
    .await?;
    let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM checkpoints WHERE project_id = $1")
        .bind(project.to_string())
        .fetch_one(state.db.pool())
        .await?;
    Ok((
        rows.iter().map(from_row).collect::<AppResult<_>>()?,
        total.max(0) as u64,
    ))
}

/// `(manifest, position)` of one of the project's checkpoints.
async fn load(
    state: &AppState,
    project: Uuid,
    checkpoint: Uuid,
) -> AppResult<(Manifest, i64, Checkpoint)> {
    let row = sqlx::query(
        "SELECT id, kind, message, changed_files, created_at, manifest, position FROM checkpoints \
         WHERE id = $1 AND project_id = $2",
    )
    .bind(checkpoint.to_string())
    .bind(project.to_string())
    .fetch_optional(state.db.pool())
    .await?
    .ok_or_else(|| AppError::not_found("checkpoint"))?;
    let manifest: String = row.try_get("manifest")?;
    Ok((
        serde_json::from_str(&manifest)
            .map_err(|e| AppError::internal(format!("manifest unreadable: {e}")))?,
        row.try_get("position")?,
        from_row(&row)?,
    ))
}

async fn contents(
    state: &AppState,
    ids: impl Iterator<Item = &Uuid>,
) -> AppResult<BTreeMap<Uuid, Vec<u8>>> {
    let mut out = BTreeMap::new();
    for id in ids {
        let bytes: Vec<u8> =
            sqlx::query_scalar("SELECT content FROM generated_files WHERE id = $1")
                .bind(id.to_string())
                .fetch_one(state.db.pool())
                .await?;
        out.insert(*id, bytes);
    }
    Ok(out)
}

/// What a checkpoint changed compared with the one before it.
pub async fn diff(
    state: &AppState,
    project: Uuid,
    checkpoint: Uuid,
) -> AppResult<(Checkpoint, Vec<FileDiff>)> {
    let (after, position, info) = load(state, project, checkpoint).await?;
    let before: Manifest = match sqlx::query(
        "SELECT manifest FROM checkpoints WHERE project_id = $1 AND position < $2 ORDER BY position DESC LIMIT 1",
    )
    .bind(project.to_string())
    .bind(position)
    .fetch_optional(state.db.pool())
    .await?
    {
        Some(row) => serde_json::from_str(&row.try_get::<String, _>("manifest")?).unwrap_or_default(),
        None => Manifest::new(),
    };
    let paths = changed(&before, &after);
    let ids: Vec<Uuid> = paths
        .iter()
        .flat_map(|p| [before.get(p), after.get(p)])
        .flatten()
        .copied()
        .collect();
    let content = contents(state, ids.iter()).await?;
    let text = |id: Option<&Uuid>| -> Option<String> {
        id.and_then(|id| content.get(id))
            .and_then(|b| String::from_utf8(b.clone()).ok())
    };
    let diffs = paths
        .into_iter()
        .map(|path| {
            let (old, new) = (before.get(&path), after.get(&path));
            let change = match (old, new) {
                (None, _) => "added",
                (_, None) => "deleted",
                _ => "modified",
            };
            let diff = match (
                text(old).or_else(|| old.is_none().then(String::new)),
                text(new).or_else(|| new.is_none().then(String::new)),
            ) {
                (Some(a), Some(b)) => similar::TextDiff::from_lines(&a, &b)
                    .unified_diff()
                    .context_radius(3)
                    .header(&format!("a/{path}"), &format!("b/{path}"))
                    .to_string(),
                _ => String::new(),
            };
            FileDiff { path, change, diff }
        })
        .collect();
    Ok((info, diffs))
}

/// What a restore recorded.
#[derive(Clone, Copy, Debug)]
pub struct Restored {
    /// The checkpoint of the restored files.
    pub checkpoint: Uuid,
    /// The checkpoint of the files just before the restore: restore it to undo.
    pub undo: Uuid,
}

/// Puts the project's files back as they were at `checkpoint`, byte for byte.
/// The files as they are now are checkpointed first, so nothing is lost.
#[tracing::instrument(name = "checkpoints.restore", skip_all, fields(project_id = %project, checkpoint = %checkpoint))]
pub async fn restore(state: &AppState, project: Uuid, checkpoint: Uuid) -> AppResult<Restored> {
    if state.agents.busy(project).is_some() {
        return Err(AppError::Api(minicode::ApiError::new(
            minicode::ErrorCode::Busy,
            "the agent is working on this project; cancel it or wait before restoring",
        )));
    }
    let (target, _, info) = load(state, project, checkpoint).await?;
    let undo = create(
        state,
        project,
        Kind::BeforeRestore,
        &format!("Before restoring: {}", info.message),
    )
    .await?;
    let now = current_manifest(state, project).await?;
    let to_write: Vec<(&String, &Uuid)> = target
        .iter()
        .filter(|(p, id)| now.get(*p) != Some(*id))
        .collect();
    let content = contents(state, to_write.iter().map(|(_, id)| *id)).await?;
    let mut writes = Vec::with_capacity(to_write.len());
    for (path, id) in &to_write {
        let rel = RelPath::parse(path)
            .map_err(|e| AppError::internal(format!("stored path {path}: {e}")))?;
        writes.push((rel, content.get(*id).cloned().unwrap_or_default()));
    }
    let mut deletes = Vec::new();
    for path in now.keys().filter(|p| !target.contains_key(*p)) {
        deletes.push(
            RelPath::parse(path)
                .map_err(|e| AppError::internal(format!("stored path {path}: {e}")))?,
        );
    }
    // One change, so a file the checkpoint had where a folder is now (or the
    // other way round) is swapped cleanly, and a refused restore stores nothing.
    if !writes.is_empty() || !deletes.is_empty() {
        files::apply(
            state,
            project,
            writes.clone(),
            deletes.clone(),
            Source::Restore,
            None,
        )
        .await?;
    }
    for path in deletes {
        crate::agent::publish(
            state,
            project,
            ServerEvent::FileDeleted {
                path: path.to_string(),
            },
        )
        .await;
    }
    for (path, bytes) in writes {
        files::routes::announce(state, project, &path, bytes).await;
    }
    let restored = create(
        state,
        project,
        Kind::Restore,
        &format!("Restored: {}", info.message),
    )
    .await?;
    tracing::info!("checkpoint restored");
    Ok(Restored {
        checkpoint: restored,
        undo,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changed_paths_cover_adds_edits_and_deletes() {
        let (a, b, c) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let before: Manifest = [("keep".into(), a), ("edit".into(), b), ("gone".into(), c)].into();
        let after: Manifest = [("keep".into(), a), ("edit".into(), c), ("new".into(), b)].into();
        assert_eq!(changed(&before, &after), ["edit", "gone", "new"]);
        assert!(changed(&after, &after).is_empty());
    }
}
