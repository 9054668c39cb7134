//! Images users attach to a build prompt or a chat message: screenshots and
//! mock-ups for the model to look at.
//!
//! An image is uploaded to its project first (`POST /api/projects/:id/images`,
//! checked and stripped of metadata by [`format::check`]), then *sent*: the
//! `generate` or `send_message` that names it claims it for its run or
//! message, once. Whether the model can see images is decided before
//! anything is stored ([`ensure_model_sees`]), so a text-only model refuses
//! up front instead of failing halfway. Unsent uploads are removed by the
//! housekeeping after a day ([`remove_unsent`]).

pub mod format;
pub(crate) mod routes;

use std::collections::HashMap;
use std::sync::Arc;

use minicode::{ImageRef, MAX_IMAGES_PER_MESSAGE};
use sqlx::Row;
use uuid::Uuid;

use crate::db::{self, now_ms};
use crate::error::{AppError, AppResult};
use crate::llm::LlmImage;
use crate::llm::models::ResolvedModel;
use crate::state::AppState;
use format::{ImageError, Kind};

/// Uploads a project may have waiting to be sent at once.
pub const MAX_UNSENT: i64 = 32;

/// How long an unsent upload is kept.
const UNSENT_TTL_MS: i64 = 24 * 3600 * 1000;

impl From<ImageError> for AppError {
    fn from(e: ImageError) -> Self {
        use minicode::{ApiError, ErrorCode};
        let code = match e {
            ImageError::NotAnImage => ErrorCode::UnsupportedMediaType,
            ImageError::TooLarge { .. } => ErrorCode::PayloadTooLarge,
            ImageError::TooManyPixels { .. } | ImageError::Broken(_) => ErrorCode::ValidationFailed,
        };
        AppError::Api(ApiError::new(code, e.to_string()))
    }
}

/// What a run or a message is sent with.
#[derive(Clone, Copy, Debug)]
pub enum Owner {
    Run(Uuid),
    Message(Uuid),
}

/// Checks and stores an upload for `project` (the caller owns it).
#[tracing::instrument(name = "images.upload", skip_all, fields(project_id = %project, bytes = body.len()))]
pub async fn upload(
    state: &AppState,
    project: Uuid,
    declared: Option<&str>,
    body: Vec<u8>,
) -> AppResult<ImageRef> {
    // The declared type only has to be an image type: the bytes decide which.
    if let Some(declared) = declared.filter(|d| Kind::from_media_type(d).is_none()) {
        return Err(AppError::Api(minicode::ApiError::new(
            minicode::ErrorCode::UnsupportedMediaType,
            format!("send a PNG, JPEG or WebP image (this request says `{declared}`)"),
        )));
    }
    let unsent: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM images WHERE project_id = $1 AND message_id IS NULL AND run_id IS NULL",
    )
    .bind(project.to_string())
    .fetch_one(state.db.pool())
    .await?;
    if unsent >= MAX_UNSENT {
        return Err(AppError::conflict(format!(
            "{unsent} images are waiting to be sent in this project; send them or wait a day for them to be removed"
        )));
    }
    let checked = tokio::task::spawn_blocking(move || format::check(&body))
        .await
        .map_err(|e| AppError::internal(format!("image check stopped: {e}")))??;
    let id = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO images (id, project_id, media_type, width, height, size, data, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(id.to_string())
    .bind(project.to_string())
    .bind(checked.kind.media_type())
    .bind(i64::from(checked.width))
    .bind(i64::from(checked.height))
    .bind(checked.bytes.len() as i64)
    .bind(&checked.bytes)
    .bind(now_ms())
    .execute(state.db.writer())
    .await?;
    tracing::info!(image_id = %id, media_type = checked.kind.media_type(), width = checked.width, height = checked.height, "image stored");
    Ok(ImageRef {
        id,
        media_type: checked.kind.media_type().into(),
        width: checked.width,
        height: checked.height,
        size: checked.bytes.len() as u64,
    })
}

/// An image's type and bytes, if it belongs to `project`.
pub async fn read(state: &AppState, project: Uuid, image: Uuid) -> AppResult<(String, Vec<u8>)> {
    let row = sqlx::query("SELECT media_type, data FROM images WHERE id = $1 AND project_id = $2")
        .bind(image.to_string())
        .bind(project.to_string())
        .fetch_optional(state.db.pool())
        .await?
        .ok_or_else(|| AppError::not_found("image"))?;
    Ok((row.try_get("media_type")?, row.try_get("data")?))
}

/// Refuses images for a model that cannot see them, before anything is
/// stored.
pub fn ensure_model_sees(
    state: &AppState,
    model: &ResolvedModel,
    images: &[Uuid],
) -> AppResult<()> {
    if images.is_empty() || state.models.accepts_images(&model.id) {
        return Ok(());
    }
    Err(AppError::validation(format!(
        "the model `{}` does not accept images: remove them, or choose a model that does (MINICODE_VISION_MODELS names more)",
        model.id
    )))
}

/// Checks that `ids` can be sent with a message or run of `project`: few
/// enough, no repeats, each uploaded to this project and not sent yet.
pub async fn check_sendable(state: &AppState, project: Uuid, ids: &[Uuid]) -> AppResult<()> {
    if ids.len() > MAX_IMAGES_PER_MESSAGE {
        return Err(AppError::validation(format!(
            "{} images attached; the limit is {MAX_IMAGES_PER_MESSAGE}",
            ids.len()
        )));
    }
    for (i, id) in ids.iter().enumerate() {
        if ids[..i].contains(id) {
            return Err(AppError::validation(format!(
                "image {id} is attached twice"
            )));
        }
        let row =
            sqlx::query("SELECT message_id, run_id FROM images WHERE id = $1 AND project_id = $2")
                .bind(id.to_string())
                .bind(project.to_string())
                .fetch_optional(state.db.pool())
                .await?;
        let Some(row) = row else {
            return Err(AppError::validation(format!(
                "image {id} was not uploaded to this project (or was removed after a day unsent); attach it again"
            )));
        };
        let message: Option<String> = row.try_get("message_id")?;
        let run: Option<String> = row.try_get("run_id")?;
        if message.is_some() || run.is_some() {
            return Err(AppError::validation(format!(
                "image {id} was already sent; attach it again to send it once more"
            )));
        }
    }
    Ok(())
}

/// Claims checked images for what they were sent with, in their order.
pub async fn attach(state: &AppState, ids: &[Uuid], owner: Owner) -> AppResult<()> {
    let (column, owner_id) = match owner {
        Owner::Run(id) => ("run_id", id),
        Owner::Message(id) => ("message_id", id),
    };
    for (position, id) in ids.iter().enumerate() {
        let claimed = sqlx::query(&format!(
            "UPDATE images SET {column} = $1, position = $2 \
             WHERE id = $3 AND message_id IS NULL AND run_id IS NULL"
        ))
        .bind(owner_id.to_string())
        .bind(position as i64)
        .bind(id.to_string())
        .execute(state.db.writer())
        .await?
        .rows_affected();
        if claimed == 0 {
            return Err(AppError::conflict(format!(
                "image {id} was sent with another message at the same time"
            )));
        }
    }
    Ok(())
}

fn ref_from_row(row: &sqlx::any::AnyRow) -> AppResult<ImageRef> {
    Ok(ImageRef {
        id: db::uuid(row.try_get::<String, _>("id")?.as_str()),
        media_type: row.try_get("media_type")?,
        width: row.try_get::<i64, _>("width")?.max(0) as u32,
        height: row.try_get::<i64, _>("height")?.max(0) as u32,
        size: row.try_get::<i64, _>("size")?.max(0) as u64,
    })
}

/// The images sent with a run (its prompt's), in order.
pub async fn of_run(state: &AppState, run: Uuid) -> AppResult<Vec<ImageRef>> {
    let rows = sqlx::query(
        "SELECT id, media_type, width, height, size FROM images WHERE run_id = $1 ORDER BY position",
    )
    .bind(run.to_string())
    .fetch_all(state.db.pool())
    .await?;
    rows.iter().map(ref_from_row).collect()
}

/// The images of a chat's messages, by message, in order.
pub async fn of_chat(state: &AppState, chat: Uuid) -> AppResult<HashMap<Uuid, Vec<ImageRef>>> {
    let rows = sqlx::query(
        "SELECT i.id, i.media_type, i.width, i.height, i.size, i.message_id FROM images i \
         JOIN messages m ON m.id = i.message_id WHERE m.chat_id = $1 ORDER BY i.position",
    )
    .bind(chat.to_string())
    .fetch_all(state.db.pool())
    .await?;
    let mut out: HashMap<Uuid, Vec<ImageRef>> = HashMap::new();
    for row in rows {
        let message = db::uuid(row.try_get::<String, _>("message_id")?.as_str());
        out.entry(message).or_default().push(ref_from_row(&row)?);
    }
    Ok(out)
}

/// The images sent with a run or a message, bytes and all, for the model.
pub async fn for_model(state: &AppState, owner: Owner) -> AppResult<Vec<LlmImage>> {
    let (column, id) = match owner {
        Owner::Run(id) => ("run_id", id),
        Owner::Message(id) => ("message_id", id),
    };
    let rows = sqlx::query(&format!(
        "SELECT media_type, data FROM images WHERE {column} = $1 ORDER BY position"
    ))
    .bind(id.to_string())
    .fetch_all(state.db.pool())
    .await?;
    rows.iter()
        .map(|row| {
            Ok(LlmImage {
                media_type: row.try_get("media_type")?,
                data: Arc::new(row.try_get::<Vec<u8>, _>("data")?),
            })
        })
        .collect()
}

/// Removes uploads that were never sent within a day. Returns how many.
pub async fn remove_unsent(state: &AppState) -> AppResult<u64> {
    Ok(sqlx::query(
        "DELETE FROM images WHERE message_id IS NULL AND run_id IS NULL AND created_at < $1",
    )
    .bind(now_ms() - UNSENT_TTL_MS)
    .execute(state.db.writer())
    .await?
    .rows_affected())
}
