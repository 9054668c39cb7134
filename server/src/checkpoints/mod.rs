//! Checkpoints: undo points of a project's files.
//!
//! A checkpoint is a manifest `{path: version id}` of the project's live files
//! at one moment. Every version of every file is already stored
//! (`generated_files`), so the versions table is the content-addressed store
//! and a checkpoint costs one small row. The list reads as a history:
//! "After phase 2: Features" after each generation phase; "Before: make it
//! dark" for each chat turn that changed files (taken before the turn, so
//! restoring it undoes the turn; it shows what the turn changed); "Before
//! restoring to: …" and "Restored to: …" around a restore, which writes
//! exactly the bytes of those versions back, removes files that did not
//! exist then and tells open editors, so a restore can be undone too.
//!
//! The same moments are commits of the project's git history (`git/`):
//! after a phase, after a turn that changed files, after a restore; a
//! user's own change (a visual edit) joins the user's batch of saves.

pub(crate) mod routes;

use std::collections::BTreeMap;

use minicode::protocol::{Phase, ServerEvent};
pub use minicode::{Checkpoint, CheckpointKind as Kind, FileDiff};
use sqlx::Row;
use uuid::Uuid;

use crate::db::{self, now_ms, rfc3339};
use crate::error::{AppError, AppResult};
use crate::files::{self, Source};
use crate::git::{self, Author};
use crate::state::AppState;
use crate::workspace::RelPath;

fn kind_str(kind: Kind) -> &'static str {
    match kind {
        Kind::Phase => "phase",
        Kind::Chat => "chat",
        Kind::BeforeRestore => "before_restore",
        Kind::Restore => "restore",
    }
}

fn parse_kind(s: &str) -> Kind {
    match s {
        "phase" => Kind::Phase,
        "restore" => Kind::Restore,
        "before_restore" => Kind::BeforeRestore,
        _ => Kind::Chat,
    }
}

type Manifest = BTreeMap<String, Uuid>;

async fn current_manifest(state: &AppState, project: Uuid) -> AppResult<Manifest> {
    files::manifest(state, project).await
}

/// The project's newest checkpoint: its id, its files, and the files after
/// it (for a chat checkpoint, as its turn left them; the same otherwise).
struct Newest {
    id: Uuid,
    files: Manifest,
    after: Manifest,
}

async fn newest(state: &AppState, project: Uuid) -> AppResult<Option<Newest>> {
    let row = sqlx::query(
        "SELECT id, manifest, after_manifest FROM checkpoints \
         WHERE project_id = $1 ORDER BY position DESC LIMIT 1",
    )
    .bind(project.to_string())
    .fetch_optional(state.db.pool())
    .await?;
    row.map(|row| {
        let files: Manifest =
            serde_json::from_str(&row.try_get::<String, _>("manifest")?).unwrap_or_default();
        let after = match row.try_get::<Option<String>, _>("after_manifest")? {
            Some(raw) => serde_json::from_str(&raw).unwrap_or_default(),
            None => files.clone(),
        };
        Ok(Newest {
            id: db::uuid(&row.try_get::<String, _>("id")?),
            files,
            after,
        })
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
    // The same files as the newest point: that point is this one too.
    if kind != Kind::Restore
        && let Some(newest) = &previous
        && newest.files == manifest
    {
        return Ok(newest.id);
    }
    let changed_files = changed(&previous.map(|n| n.after).unwrap_or_default(), &manifest);
    let message = insert(state, project, kind, message, &manifest, &changed_files).await?;
    state
        .events
        .emit(
            project,
            ServerEvent::CheckpointCreated {
                id: message.0,
                message: message.1,
            },
        )
        .await;
    Ok(message.0)
}

/// Stores a checkpoint row; returns its id and (bounded) message.
async fn insert(
    state: &AppState,
    project: Uuid,
    kind: Kind,
    message: &str,
    manifest: &Manifest,
    changed_files: &[String],
) -> AppResult<(Uuid, String)> {
    let id = Uuid::new_v4();
    let message: String = message.chars().take(200).collect();
    sqlx::query(
        "INSERT INTO checkpoints (id, project_id, message, kind, manifest, changed_files, created_at, position) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, (SELECT COALESCE(MAX(position), 0) + 1 FROM checkpoints WHERE project_id = $2))",
    )
    .bind(id.to_string())
    .bind(project.to_string())
    .bind(&message)
    .bind(kind_str(kind))
    .bind(serde_json::to_string(manifest).map_err(|e| AppError::internal(e.to_string()))?)
    .bind(serde_json::to_string(changed_files).map_err(|e| AppError::internal(e.to_string()))?)
    .bind(now_ms())
    .execute(state.db.writer())
    .await?;
    Ok((id, message))
}

/// How a turn's undo point is named, before the first line of its words.
const TURN_PREFIX: &str = "Before: ";

/// The undo point of a chat turn, taken before it starts: "Before: <the
/// user's words>". It is announced only by [`after_turn`], once it is known
/// the turn changed files.
pub async fn before_turn(state: &AppState, project: Uuid, words: &str) -> AppResult<Uuid> {
    let first_line: String = words
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default()
        .trim()
        .chars()
        .take(80)
        .collect();
    let manifest = current_manifest(state, project).await?;
    let (id, _) = insert(
        state,
        project,
        Kind::Chat,
        &format!("{TURN_PREFIX}{first_line}"),
        &manifest,
        &[],
    )
    .await?;
    Ok(id)
}

/// Ends a turn's undo point: a turn that changed no file leaves none (it
/// would undo nothing); otherwise the point records the files the turn left
/// and what it changed, and is announced. The agent's turn is then
/// committed ("Chat: <the user's first line>"); a user's own change `by` a
/// user joins their batch of saves.
#[tracing::instrument(name = "checkpoints.after_turn", skip_all, fields(project_id = %project))]
pub async fn after_turn(
    state: &AppState,
    project: Uuid,
    checkpoint: Uuid,
    by: &Author,
) -> AppResult<()> {
    let (before, _, info) = load(state, project, checkpoint).await?;
    let after = current_manifest(state, project).await?;
    let turn_changed = changed(&before, &after);
    if turn_changed.is_empty() {
        sqlx::query("DELETE FROM checkpoints WHERE id = $1")
            .bind(checkpoint.to_string())
            .execute(state.db.writer())
            .await?;
        return Ok(());
    }
    sqlx::query("UPDATE checkpoints SET after_manifest = $1, changed_files = $2 WHERE id = $3")
        .bind(serde_json::to_string(&after).map_err(|e| AppError::internal(e.to_string()))?)
        .bind(serde_json::to_string(&turn_changed).map_err(|e| AppError::internal(e.to_string()))?)
        .bind(checkpoint.to_string())
        .execute(state.db.writer())
        .await?;
    let words = info
        .message
        .strip_prefix(TURN_PREFIX)
        .unwrap_or(&info.message)
        .to_string();
    state
        .events
        .emit(
            project,
            ServerEvent::CheckpointCreated {
                id: checkpoint,
                message: info.message,
            },
        )
        .await;
    match by {
        Author::User(name) => git::saved(state, project, name),
        agent => git::commit(state, project, agent, &format!("Chat: {words}")).await,
    }
    Ok(())
}

/// The checkpoint and the commit after a generation phase, by the agent
/// running on `model`; failures are logged, not fatal.
pub async fn after_phase(
    state: &AppState,
    project: Uuid,
    number: u32,
    phase: Option<&Phase>,
    model: &str,
) {
    let name = phase.map(|p| p.name.as_str()).unwrap_or("phase");
    let goal = phase.map(|p| p.goal.trim()).unwrap_or_default();
    if let Err(e) = create(
        state,
        project,
        Kind::Phase,
        &format!("After phase {number}: {name}"),
    )
    .await
    {
        tracing::warn!(error = %e, "could not take a checkpoint after a phase");
    }
    let mut message = format!("Phase {number}: {name}");
    if !goal.is_empty() {
        message.push_str(&format!("\n\n{goal}"));
    }
    git::commit(state, project, &Author::Agent(model.to_string()), &message).await;
}

fn from_row(row: &sqlx::any::AnyRow) -> AppResult<Checkpoint> {
    let changed: String = row.try_get("changed_files")?;
    Ok(Checkpoint {
        id: db::uuid(&row.try_get::<String, _>("id")?),
        kind: parse_kind(&row.try_get::<String, _>("kind")?),
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

/// The SHA-256 of each of the versions `ids` (looked up one by one by id,
/// so the cost follows the files that differ, not the project's history).
async fn content_hashes(
    state: &AppState,
    ids: std::collections::BTreeSet<Uuid>,
) -> AppResult<BTreeMap<Uuid, String>> {
    let mut out = BTreeMap::new();
    for id in ids {
        let hash: Option<String> =
            sqlx::query_scalar("SELECT sha256 FROM generated_files WHERE id = $1")
                .bind(id.to_string())
                .fetch_optional(state.db.pool())
                .await?;
        if let Some(hash) = hash {
            out.insert(id, hash);
        }
    }
    Ok(out)
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
    let (at, position, info) = load(state, project, checkpoint).await?;
    // A turn's undo point shows what the turn changed: its files → the files
    // the turn left.
    if info.kind == Kind::Chat
        && let Some(after) = after_manifest(state, checkpoint).await?
    {
        return Ok((info, file_diffs(state, &at, &after).await?));
    }
    let after = at;
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
    Ok((info, file_diffs(state, &before, &after).await?))
}

async fn after_manifest(state: &AppState, checkpoint: Uuid) -> AppResult<Option<Manifest>> {
    let raw: Option<String> =
        sqlx::query_scalar("SELECT after_manifest FROM checkpoints WHERE id = $1")
            .bind(checkpoint.to_string())
            .fetch_one(state.db.pool())
            .await?;
    Ok(raw.and_then(|m| serde_json::from_str(&m).ok()))
}

/// The unified diffs of every file that differs between two manifests.
async fn file_diffs(
    state: &AppState,
    before: &Manifest,
    after: &Manifest,
) -> AppResult<Vec<FileDiff>> {
    let paths = changed(before, after);
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
            FileDiff {
                path,
                change: change.to_string(),
                diff,
            }
        })
        .collect();
    Ok(diffs)
}

pub use minicode::Restored;

/// Puts the project's files back as they were at `checkpoint`, byte for byte.
/// The files as they are now are checkpointed first, so nothing is lost.
/// The restore is a new commit by `username` ("Restore: <the point's
/// message>"), after the user's waiting saves: history only grows.
#[tracing::instrument(name = "checkpoints.restore", skip_all, fields(project_id = %project, checkpoint = %checkpoint))]
pub async fn restore(
    state: &AppState,
    project: Uuid,
    checkpoint: Uuid,
    username: &str,
) -> AppResult<Restored> {
    if state.agents.busy_anywhere(project).await?.is_some() {
        return Err(AppError::Api(minicode::ApiError::new(
            minicode::ErrorCode::Busy,
            "the agent is working on this project; cancel it or wait before restoring",
        )));
    }
    let (target, _, info) = load(state, project, checkpoint).await?;
    let now = current_manifest(state, project).await?;
    // Compared by content: a file written back with the same bytes (by an
    // earlier restore, or a save of unchanged text) is a new version but no
    // change.
    let differ = changed(&now, &target);
    let hashes = content_hashes(
        state,
        differ
            .iter()
            .flat_map(|path| now.get(path).into_iter().chain(target.get(path)))
            .copied()
            .collect(),
    )
    .await?;
    let same = |a: Option<&Uuid>, b: Option<&Uuid>| match (a, b) {
        (Some(a), Some(b)) => a == b || (hashes.contains_key(a) && hashes.get(a) == hashes.get(b)),
        (None, None) => true,
        _ => false,
    };
    let changed_files: Vec<String> = differ
        .into_iter()
        .filter(|path| !same(now.get(path), target.get(path)))
        .collect();
    if changed_files.is_empty() {
        // Nothing to put back: no new points, and the answer says so.
        return Ok(Restored {
            checkpoint_id: checkpoint,
            undo_checkpoint_id: checkpoint,
            changed_files,
        });
    }
    git::flush(state, project).await;
    let undo = create(
        state,
        project,
        Kind::BeforeRestore,
        &format!("Before restoring to: {}", info.message),
    )
    .await?;
    let to_write: Vec<(&String, &Uuid)> = target
        .iter()
        .filter(|(p, id)| !same(now.get(*p), Some(*id)))
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
        files::apply(state, project, writes, deletes, Source::Restore, None).await?;
    }
    let restored = create(
        state,
        project,
        Kind::Restore,
        &format!("Restored to: {}", info.message),
    )
    .await?;
    git::commit(
        state,
        project,
        &Author::User(username.to_string()),
        &format!("Restore: {}", info.message),
    )
    .await;
    tracing::info!(files = changed_files.len(), "checkpoint restored");
    Ok(Restored {
        checkpoint_id: restored,
        undo_checkpoint_id: undo,
        changed_files,
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
