//! `POST /api/projects/:id/images` (upload) and
//! `GET /api/projects/:id/images/:image_id` (the stored bytes), owner only.

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use minicode::{ApiError, Data, ErrorCode, ImageRef, MAX_IMAGE_BYTES, paths};

use crate::api::extract::parse_id;
use crate::auth::Caller;
use crate::error::{AppError, AppResult};
use crate::projects;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(paths::PROJECT_IMAGES, post(upload))
        .route(paths::PROJECT_IMAGE, get(read))
}

/// The body is the image itself, its type in `Content-Type`.
async fn upload(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> AppResult<(StatusCode, axum::Json<Data<ImageRef>>)> {
    let project = parse_id(&id, "project")?;
    projects::owned(&state, &caller, project).await?;
    let declared = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or(v).trim().to_ascii_lowercase());
    // Read one byte past the limit, so "too large" is told apart from a
    // broken connection and said in the API's own words.
    let bytes = axum::body::to_bytes(body, MAX_IMAGE_BYTES + 1)
        .await
        .map_err(|_| {
            AppError::Api(ApiError::new(
                ErrorCode::PayloadTooLarge,
                format!("the image is larger than the limit of {MAX_IMAGE_BYTES} bytes"),
            ))
        })?;
    let image = super::upload(&state, project, declared.as_deref(), bytes.to_vec()).await?;
    Ok((StatusCode::CREATED, axum::Json(Data { data: image })))
}

async fn read(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, image)): Path<(String, String)>,
) -> AppResult<Response> {
    let project = parse_id(&id, "project")?;
    let image = parse_id(&image, "image")?;
    projects::owned(&state, &caller, project).await?;
    let (media_type, bytes) = super::read(&state, project, image).await?;
    Ok((
        [
            (header::CONTENT_TYPE, media_type),
            // An image's bytes never change under its id.
            (
                header::CACHE_CONTROL,
                "private, max-age=31536000, immutable".into(),
            ),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".into()),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; sandbox".into(),
            ),
        ],
        bytes,
    )
        .into_response())
}
