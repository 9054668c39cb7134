//! Projects: a user's apps. Everything else (files, chats, runs, sandboxes)
//! hangs off a project and is reachable only through its owner.

mod export;
mod import;
pub(crate) mod routes;

use minicode::{
    MAX_DESCRIPTION_CHARS, MAX_NAME_CHARS, NewProject, Page, PageQuery, Project, ProjectPatch,
};
use sqlx::Row;
use uuid::Uuid;

use crate::auth::Caller;
use crate::db::{self, now_ms, rfc3339};
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// Trims a name and checks it is 1..=MAX_NAME_CHARS characters.
pub fn clean_name(raw: &str, what: &str) -> AppResult<String> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(AppError::validation(format!("{what} must not be empty")));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(AppError::validation(format!(
            "{what} must be at most {MAX_NAME_CHARS} characters"
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(AppError::validation(format!(
            "{what} must not contain control characters"
        )));
    }
    Ok(name.to_string())
}

fn clean_description(raw: &str) -> AppResult<String> {
    let description = raw.trim();
    AppError::check_length(description, MAX_DESCRIPTION_CHARS, "description")?;
    Ok(description.to_string())
}

fn clean_model(raw: Option<String>) -> AppResult<Option<String>> {
    match raw.map(|m| m.trim().to_string()) {
        None => Ok(None),
        Some(m) if m.is_empty() => Ok(None),
        Some(m) if m.len() > 200 || m.chars().any(char::is_whitespace) => Err(
            AppError::validation("model must be a `provider:model` name without spaces"),
        ),
        Some(m) if !crate::llm::models::is_well_formed(&m) => Err(AppError::validation(format!(
            "model must be `provider:model` with a provider among {}",
            crate::llm::models::PROVIDERS.join(", ")
        ))),
        Some(m) => Ok(Some(m)),
    }
}

const COLUMNS: &str = "id, name, description, model, created_at, updated_at";

fn from_row(row: &sqlx::any::AnyRow) -> AppResult<Project> {
    Ok(Project {
        id: db::uuid(row.try_get::<String, _>("id")?.as_str()),
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        model: row.try_get("model")?,
        created_at: rfc3339(row.try_get("created_at")?),
        updated_at: rfc3339(row.try_get("updated_at")?),
    })
}

/// The caller's projects, newest first.
pub async fn list(state: &AppState, caller: &Caller, page: PageQuery) -> AppResult<Page<Project>> {
    let (limit, offset) = db::page_bounds(page)?;
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM projects WHERE user_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3"
    ))
    .bind(caller.id().to_string())
    .bind(limit)
    .bind(offset)
    .fetch_all(state.db.pool())
    .await?;
    let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM projects WHERE user_id = $1")
        .bind(caller.id().to_string())
        .fetch_one(state.db.pool())
        .await?;
    Ok(Page {
        data: rows.iter().map(from_row).collect::<AppResult<_>>()?,
        total: total.max(0) as u64,
    })
}

#[tracing::instrument(name = "projects.create", skip_all, fields(user_id = %caller.id()))]
pub async fn create(state: &AppState, caller: &Caller, input: NewProject) -> AppResult<Project> {
    let name = clean_name(&input.name, "name")?;
    let description = clean_description(&input.description)?;
    let model = clean_model(input.model)?;
    // Held until the row is stored, so two requests cannot both take the last one.
    let _admitted = crate::quota::admit_project(state, caller.id()).await?;
    let id = Uuid::new_v4();
    let now = now_ms();
    sqlx::query(
        "INSERT INTO projects (id, user_id, name, description, model, created_at, updated_at, last_active_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $6, $6)",
    )
    .bind(id.to_string())
    .bind(caller.id().to_string())
    .bind(&name)
    .bind(&description)
    .bind(&model)
    .bind(now)
    .execute(state.db.writer())
    .await?;
    tracing::info!(project_id = %id, "project created");
    Ok(Project {
        id,
        name,
        description,
        model,
        created_at: rfc3339(now),
        updated_at: rfc3339(now),
    })
}

/// The project if the caller owns it. Someone else's project is "not found",
/// exactly like one that does not exist, so ids leak nothing.
pub async fn owned(state: &AppState, caller: &Caller, id: Uuid) -> AppResult<Project> {
    owned_by(state, caller.id(), id).await
}

pub async fn owned_by(state: &AppState, user_id: Uuid, id: Uuid) -> AppResult<Project> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM projects WHERE id = $1 AND user_id = $2"
    ))
    .bind(id.to_string())
    .bind(user_id.to_string())
    .fetch_optional(state.db.pool())
    .await?;
    match row {
        Some(row) => from_row(&row),
        None => Err(AppError::not_found("project")),
    }
}

/// The user a project belongs to.
pub async fn owner_of(state: &AppState, project: Uuid) -> AppResult<Uuid> {
    let owner: Option<String> = sqlx::query_scalar("SELECT user_id FROM projects WHERE id = $1")
        .bind(project.to_string())
        .fetch_optional(state.db.pool())
        .await?;
    owner
        .map(|o| db::uuid(&o))
        .ok_or_else(|| AppError::not_found("project"))
}

/// Gives a project without a description the one its first generation was
/// asked with, so the dashboard shows what it is. Best effort: a failure is
/// logged and the generation goes on.
pub async fn describe(state: &AppState, id: Uuid, description: &str) {
    let updated =
        sqlx::query("UPDATE projects SET description = $1 WHERE id = $2 AND description = ''")
            .bind(description)
            .bind(id.to_string())
            .execute(state.db.writer())
            .await;
    if let Err(e) = updated {
        tracing::warn!(project_id = %id, error = %e, "could not store the project's description");
    }
}

#[tracing::instrument(name = "projects.update", skip_all, fields(project_id = %id))]
pub async fn update(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
    patch: ProjectPatch,
) -> AppResult<Project> {
    let mut project = owned(state, caller, id).await?;
    if let Some(name) = &patch.name {
        project.name = clean_name(name, "name")?;
    }
    if let Some(description) = &patch.description {
        project.description = clean_description(description)?;
    }
    if let Some(model) = patch.model {
        project.model = clean_model(model)?;
    }
    let now = now_ms();
    sqlx::query("UPDATE projects SET name = $1, description = $2, model = $3, updated_at = $4 WHERE id = $5 AND user_id = $6")
        .bind(&project.name)
        .bind(&project.description)
        .bind(&project.model)
        .bind(now)
        .bind(id.to_string())
        .bind(caller.id().to_string())
        .execute(state.db.writer())
        .await?;
    project.updated_at = rfc3339(now);
    Ok(project)
}

#[tracing::instrument(name = "projects.delete", skip_all, fields(project_id = %id))]
pub async fn delete(state: &AppState, caller: &Caller, id: Uuid) -> AppResult<()> {
    let done = sqlx::query("DELETE FROM projects WHERE id = $1 AND user_id = $2")
        .bind(id.to_string())
        .bind(caller.id().to_string())
        .execute(state.db.writer())
        .await?;
    if done.rows_affected() == 0 {
        return Err(AppError::not_found("project"));
    }
    discard(state, id).await;
    tracing::info!("project deleted");
    Ok(())
}

/// After a project's rows are gone (deleted, or with its owner's account):
/// stops its agent work and running app and removes its files from disk.
pub async fn discard(state: &AppState, id: Uuid) {
    // Work on another instance stops at its next heartbeat: its lease went with the project.
    state.agents.cancel(id).await;
    state.sandboxes.destroy(id).await;
    if let Err(e) = state.workspaces.remove(id).await {
        tracing::warn!(project_id = %id, error = %e, "could not remove the workspace of a deleted project");
    }
    state.events.forget(id);
    if let Err(e) = state.git.remove(id).await {
        tracing::warn!(project_id = %id, error = %e, "could not remove the git repository of a deleted project");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(clean_name("  Todo  ", "name").unwrap(), "Todo");
        assert!(clean_name("   ", "name").is_err());
        assert!(clean_name(&"é".repeat(MAX_NAME_CHARS + 1), "name").is_err());
        assert!(clean_name(&"é".repeat(MAX_NAME_CHARS), "name").is_ok());
        assert!(clean_name("a\u{0}b", "name").is_err());
    }
}
