//! Chats and their messages (seed 003's contract), scoped to a project and
//! through it to the project's owner.

pub(crate) mod routes;

use minicode::{Chat, ChatPatch, Message, NewChat, Page, PageQuery, Role, ToolCallRecord, Usage};
use sqlx::Row;
use uuid::Uuid;

use crate::auth::Caller;
use crate::db::page_bounds;
use crate::db::{self, now_ms, rfc3339};
use crate::error::{AppError, AppResult};
use crate::projects::{self, clean_name};
use crate::state::AppState;

/// Title of a chat created without one.
pub const DEFAULT_TITLE: &str = "New chat";

const COLUMNS: &str = "c.id, c.project_id, c.title, c.created_at, c.updated_at";

fn from_row(row: &sqlx::any::AnyRow) -> AppResult<Chat> {
    Ok(Chat {
        id: db::uuid(row.try_get::<String, _>("id")?.as_str()),
        project_id: db::uuid(row.try_get::<String, _>("project_id")?.as_str()),
        title: row.try_get("title")?,
        created_at: rfc3339(row.try_get("created_at")?),
        updated_at: rfc3339(row.try_get("updated_at")?),
    })
}

/// The caller's chats, newest first; all of them or one project's.
pub async fn list(
    state: &AppState,
    caller: &Caller,
    project: Option<Uuid>,
    page: PageQuery,
) -> AppResult<Page<Chat>> {
    let (limit, offset) = page_bounds(page)?;
    if let Some(project) = project {
        projects::owned(state, caller, project).await?;
    }
    // An empty filter means every project (one query shape for both backends).
    let project_filter = project.map(|p| p.to_string()).unwrap_or_default();
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM chats c JOIN projects p ON p.id = c.project_id \
         WHERE p.user_id = $1 AND ($2 = '' OR c.project_id = $2) \
         ORDER BY c.created_at DESC, c.id DESC LIMIT $3 OFFSET $4"
    ))
    .bind(caller.id().to_string())
    .bind(&project_filter)
    .bind(limit)
    .bind(offset)
    .fetch_all(state.db.pool())
    .await?;
    let total: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM chats c JOIN projects p ON p.id = c.project_id \
         WHERE p.user_id = $1 AND ($2 = '' OR c.project_id = $2)",
    )
    .bind(caller.id().to_string())
    .bind(&project_filter)
    .fetch_one(state.db.pool())
    .await?;
    Ok(Page {
        data: rows.iter().map(from_row).collect::<AppResult<_>>()?,
        total: total.max(0) as u64,
    })
}

#[tracing::instrument(name = "chats.create", skip_all, fields(project_id = %project_id))]
pub async fn create(
    state: &AppState,
    caller: &Caller,
    project_id: Uuid,
    input: NewChat,
) -> AppResult<Chat> {
    projects::owned(state, caller, project_id).await?;
    let title = match input.title.as_deref() {
        Some(t) if !t.trim().is_empty() => clean_name(t, "title")?,
        _ => DEFAULT_TITLE.to_string(),
    };
    let id = Uuid::new_v4();
    let now = now_ms();
    sqlx::query("INSERT INTO chats (id, project_id, title, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)")
        .bind(id.to_string())
        .bind(project_id.to_string())
        .bind(&title)
        .bind(now)
        .execute(state.db.writer())
        .await?;
    Ok(Chat {
        id,
        project_id,
        title,
        created_at: rfc3339(now),
        updated_at: rfc3339(now),
    })
}

/// The chat if its project belongs to the caller; otherwise "not found".
pub async fn owned(state: &AppState, caller: &Caller, id: Uuid) -> AppResult<Chat> {
    owned_by(state, caller.id(), id).await
}

pub async fn owned_by(state: &AppState, user_id: Uuid, id: Uuid) -> AppResult<Chat> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM chats c JOIN projects p ON p.id = c.project_id WHERE c.id = $1 AND p.user_id = $2"
    ))
    .bind(id.to_string())
    .bind(user_id.to_string())
    .fetch_optional(state.db.pool())
    .await?;
    match row {
        Some(row) => from_row(&row),
        None => Err(AppError::not_found("chat")),
    }
}

pub async fn update(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
    patch: ChatPatch,
) -> AppResult<Chat> {
    let mut chat = owned(state, caller, id).await?;
    if let Some(title) = &patch.title {
        chat.title = clean_name(title, "title")?;
    }
    let now = now_ms();
    sqlx::query("UPDATE chats SET title = $1, updated_at = $2 WHERE id = $3")
        .bind(&chat.title)
        .bind(now)
        .bind(id.to_string())
        .execute(state.db.writer())
        .await?;
    chat.updated_at = rfc3339(now);
    Ok(chat)
}

pub async fn delete(state: &AppState, caller: &Caller, id: Uuid) -> AppResult<()> {
    owned(state, caller, id).await?;
    sqlx::query("DELETE FROM chats WHERE id = $1")
        .bind(id.to_string())
        .execute(state.db.writer())
        .await?;
    Ok(())
}

fn message_from_row(row: &sqlx::any::AnyRow) -> AppResult<Message> {
    let tool_calls: String = row.try_get("tool_calls")?;
    let input: Option<i64> = row.try_get("input_tokens")?;
    let output: Option<i64> = row.try_get("output_tokens")?;
    let usage = match (input, output) {
        (None, None) => None,
        (i, o) => Some(Usage {
            input_tokens: i.unwrap_or(0).max(0) as u64,
            output_tokens: o.unwrap_or(0).max(0) as u64,
            cost_usd: row.try_get("cost_usd")?,
        }),
    };
    Ok(Message {
        id: db::uuid(row.try_get::<String, _>("id")?.as_str()),
        chat_id: db::uuid(row.try_get::<String, _>("chat_id")?.as_str()),
        role: match row.try_get::<String, _>("role")?.as_str() {
            "assistant" => Role::Assistant,
            _ => Role::User,
        },
        content: row.try_get("content")?,
        tool_calls: serde_json::from_str::<Vec<ToolCallRecord>>(&tool_calls).unwrap_or_default(),
        usage,
        created_at: rfc3339(row.try_get("created_at")?),
        images: Vec::new(),
        pending: row.try_get::<i64, _>("pending")? != 0,
    })
}

const MESSAGE_COLUMNS: &str = "id, chat_id, role, content, tool_calls, input_tokens, output_tokens, cost_usd, created_at, pending";

/// A chat's messages, oldest first.
pub async fn messages(
    state: &AppState,
    caller: &Caller,
    chat_id: Uuid,
    page: PageQuery,
) -> AppResult<Page<Message>> {
    let (limit, offset) = page_bounds(page)?;
    owned(state, caller, chat_id).await?;
    let rows = sqlx::query(&format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages WHERE chat_id = $1 ORDER BY position LIMIT $2 OFFSET $3"
    ))
    .bind(chat_id.to_string())
    .bind(limit)
    .bind(offset)
    .fetch_all(state.db.pool())
    .await?;
    let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM messages WHERE chat_id = $1")
        .bind(chat_id.to_string())
        .fetch_one(state.db.pool())
        .await?;
    let mut data: Vec<Message> = rows
        .iter()
        .map(message_from_row)
        .collect::<AppResult<_>>()?;
    with_images(state, chat_id, &mut data).await?;
    Ok(Page {
        data,
        total: total.max(0) as u64,
    })
}

/// Every message of a chat, oldest first (the agent rebuilds its context from these).
pub async fn all_messages(state: &AppState, chat_id: Uuid) -> AppResult<Vec<Message>> {
    let rows = sqlx::query(&format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages WHERE chat_id = $1 ORDER BY position"
    ))
    .bind(chat_id.to_string())
    .fetch_all(state.db.pool())
    .await?;
    let mut messages: Vec<Message> = rows
        .iter()
        .map(message_from_row)
        .collect::<AppResult<_>>()?;
    with_images(state, chat_id, &mut messages).await?;
    Ok(messages)
}

/// Puts each message's attached images on it.
async fn with_images(state: &AppState, chat_id: Uuid, messages: &mut [Message]) -> AppResult<()> {
    let mut images = crate::images::of_chat(state, chat_id).await?;
    for message in messages {
        if let Some(list) = images.remove(&message.id) {
            message.images = list;
        }
    }
    Ok(())
}

/// Appends a message to a chat. The position is taken inside the insert so
/// concurrent appends cannot share one.
pub async fn append_message(
    state: &AppState,
    chat_id: Uuid,
    id: Uuid,
    role: Role,
    content: &str,
    tool_calls: &[ToolCallRecord],
    usage: Option<Usage>,
) -> AppResult<Message> {
    save_message(state, chat_id, id, role, content, tool_calls, usage, false).await
}

/// Stores a message, or updates it if `id` exists (an assistant message is
/// saved after every step while `pending`, then once more when complete).
#[allow(clippy::too_many_arguments)]
pub async fn save_message(
    state: &AppState,
    chat_id: Uuid,
    id: Uuid,
    role: Role,
    content: &str,
    tool_calls: &[ToolCallRecord],
    usage: Option<Usage>,
    pending: bool,
) -> AppResult<Message> {
    let now = now_ms();
    let tool_json =
        serde_json::to_string(tool_calls).map_err(|e| AppError::internal(e.to_string()))?;
    let updated = sqlx::query(
        "UPDATE messages SET content = $1, tool_calls = $2, input_tokens = $3, output_tokens = $4, cost_usd = $5, pending = $6 \
         WHERE id = $7 AND chat_id = $8",
    )
    .bind(content)
    .bind(&tool_json)
    .bind(usage.map(|u| u.input_tokens as i64))
    .bind(usage.map(|u| u.output_tokens as i64))
    .bind(db::OptF64(usage.and_then(|u| u.cost_usd)))
    .bind(i64::from(pending))
    .bind(id.to_string())
    .bind(chat_id.to_string())
    .execute(state.db.writer())
    .await?
    .rows_affected();
    if updated > 0 {
        return Ok(Message {
            id,
            chat_id,
            role,
            content: content.to_string(),
            tool_calls: tool_calls.to_vec(),
            usage,
            created_at: rfc3339(now),
            images: Vec::new(),
            pending,
        });
    }
    sqlx::query(
        "INSERT INTO messages (id, chat_id, role, content, tool_calls, input_tokens, output_tokens, cost_usd, created_at, pending, position) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, (SELECT COALESCE(MAX(position), 0) + 1 FROM messages WHERE chat_id = $2))",
    )
    .bind(id.to_string())
    .bind(chat_id.to_string())
    .bind(role.as_str())
    .bind(content)
    .bind(&tool_json)
    .bind(usage.map(|u| u.input_tokens as i64))
    .bind(usage.map(|u| u.output_tokens as i64))
    .bind(db::OptF64(usage.and_then(|u| u.cost_usd)))
    .bind(now)
    .bind(i64::from(pending))
    .execute(state.db.writer())
    .await?;
    sqlx::query("UPDATE chats SET updated_at = $1 WHERE id = $2")
        .bind(now)
        .bind(chat_id.to_string())
        .execute(state.db.writer())
        .await?;
    Ok(Message {
        id,
        chat_id,
        role,
        content: content.to_string(),
        tool_calls: tool_calls.to_vec(),
        usage,
        created_at: rfc3339(now),
        images: Vec::new(),
        pending,
    })
}

/// Closes the replies an instance that stopped was writing (at a restart,
/// or when another instance finds the lease of a dead one expired): their
/// text and tool calls so far stay, with a note that the reply was cut
/// short. A reply whose turn still holds a live lease somewhere is left
/// alone. Returns the `(project, chat)` of each reply closed.
pub async fn close_interrupted(state: &AppState) -> AppResult<Vec<(Uuid, Uuid)>> {
    let now = crate::db::now_ms();
    let orphaned = "SELECT c.id FROM chats c WHERE NOT EXISTS (SELECT 1 FROM work_leases l \
                    WHERE l.project_id = c.project_id AND l.work = 'chat' AND l.expires_at > $1)";
    let rows = sqlx::query(&format!(
        "SELECT m.chat_id, c.project_id FROM messages m JOIN chats c ON c.id = m.chat_id \
         WHERE m.pending = 1 AND m.chat_id IN ({orphaned})"
    ))
    .bind(now)
    .fetch_all(state.db.pool())
    .await?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    sqlx::query(&format!(
        "UPDATE messages SET pending = 0, content = content || $2 WHERE pending = 1 AND chat_id IN ({orphaned})"
    ))
    .bind(now)
    .bind("\n\n_Interrupted: the server restarted during this reply. Send a message to continue._")
    .execute(state.db.writer())
    .await?;
    let mut closed = Vec::with_capacity(rows.len());
    for row in rows {
        let chat = db::uuid(&row.try_get::<String, _>("chat_id")?);
        let project = db::uuid(&row.try_get::<String, _>("project_id")?);
        closed.push((project, chat));
    }
    Ok(closed)
}
