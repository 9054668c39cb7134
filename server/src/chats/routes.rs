//! `/api/projects/:id/chats`, `/api/chats`, `/api/chats/:id`, `/api/chats/:id/messages`

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use minicode::paths;
use minicode::{Chat, ChatPatch, Data, Message, NewChat, Page, PageQuery};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::api::extract::{Json, Query, parse_id};
use crate::auth::Caller;
use crate::error::{AppError, AppResult};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            paths::PROJECT_CHATS,
            get(list_for_project).post(create_for_project),
        )
        .route(paths::CHATS, get(list_all).post(create))
        .route(paths::CHAT, get(show).patch(update).delete(remove))
        .route(paths::CHAT_MESSAGES, get(messages).post(send_message))
        .route(paths::CHAT_FIX_ERROR, axum::routing::post(fix_error))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ChatListQuery {
    #[serde(default = "default_limit")]
    limit: i64,
    #[serde(default)]
    offset: i64,
    #[serde(default)]
    project_id: Option<String>,
}

fn default_limit() -> i64 {
    i64::from(minicode::DEFAULT_PAGE_LIMIT)
}

async fn list_for_project(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(page): Query<PageQuery>,
) -> AppResult<axum::Json<Page<Chat>>> {
    let project = parse_id(&id, "project")?;
    Ok(axum::Json(
        super::list(&state, &caller, Some(project), page).await?,
    ))
}

async fn create_for_project(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(input): Json<NewChat>,
) -> AppResult<(StatusCode, axum::Json<Data<Chat>>)> {
    let project = parse_id(&id, "project")?;
    let chat = super::create(&state, &caller, project, input).await?;
    Ok((StatusCode::CREATED, axum::Json(Data { data: chat })))
}

async fn list_all(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<ChatListQuery>,
) -> AppResult<axum::Json<Page<Chat>>> {
    let project = query
        .project_id
        .as_deref()
        .map(|p| parse_id(p, "project"))
        .transpose()?;
    Ok(axum::Json(
        super::list(
            &state,
            &caller,
            project,
            PageQuery {
                limit: query.limit,
                offset: query.offset,
            },
        )
        .await?,
    ))
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Json(input): Json<NewChat>,
) -> AppResult<(StatusCode, axum::Json<Data<Chat>>)> {
    let project: Uuid = input
        .project_id
        .ok_or_else(|| AppError::validation("projectId is required"))?;
    let chat = super::create(&state, &caller, project, input).await?;
    Ok((StatusCode::CREATED, axum::Json(Data { data: chat })))
}

async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> AppResult<axum::Json<Data<Chat>>> {
    let id = parse_id(&id, "chat")?;
    Ok(axum::Json(Data {
        data: super::owned(&state, &caller, id).await?,
    }))
}

async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(patch): Json<ChatPatch>,
) -> AppResult<axum::Json<Data<Chat>>> {
    let id = parse_id(&id, "chat")?;
    Ok(axum::Json(Data {
        data: super::update(&state, &caller, id, patch).await?,
    }))
}

async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> AppResult<StatusCode> {
    let id = parse_id(&id, "chat")?;
    super::delete(&state, &caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn messages(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(page): Query<PageQuery>,
) -> AppResult<axum::Json<Page<Message>>> {
    let id = parse_id(&id, "chat")?;
    Ok(axum::Json(
        super::messages(&state, &caller, id, page).await?,
    ))
}

/// REST mirror of the socket's `send_message`: starts a chat turn; its
/// progress arrives on the project's WebSocket.
#[derive(Deserialize)]
struct MessageBody {
    #[serde(default)]
    content: String,
    #[serde(default)]
    images: Vec<Uuid>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Accepted {
    message_id: Uuid,
}

async fn send_message(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(body): Json<MessageBody>,
) -> AppResult<(StatusCode, axum::Json<Data<Accepted>>)> {
    let chat = crate::chats::owned(&state, &caller, parse_id(&id, "chat")?).await?;
    let message_id = crate::agent::chat::start_turn(
        &state,
        &caller,
        chat.project_id,
        chat.id,
        body.content,
        body.images,
        false,
    )
    .await?;
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(Data {
            data: Accepted { message_id },
        }),
    ))
}

async fn fix_error(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> AppResult<(StatusCode, axum::Json<Data<Accepted>>)> {
    let chat = crate::chats::owned(&state, &caller, parse_id(&id, "chat")?).await?;
    let message_id = crate::agent::chat::start_turn(
        &state,
        &caller,
        chat.project_id,
        chat.id,
        String::new(),
        Vec::new(),
        true,
    )
    .await?;
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(Data {
            data: Accepted { message_id },
        }),
    ))
}
