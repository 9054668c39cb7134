//! A project's files: every version stored in the database (`generated_files`),
//! the newest of each path mirrored in the project's workspace on disk.

use minicode::FileEntry;
use sqlx::Row;
use uuid::Uuid;

use crate::error::AppResult;
use crate::state::AppState;

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
