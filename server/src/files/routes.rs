//! `/api/projects/:id/files…`: the tree, one file, edits from the editor, and uploads.
//! Every change made here joins the user's batch of saves for the project's
//! git history (`git::saved`).

use axum::Router;
use axum::extract::{DefaultBodyLimit, Multipart, Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use base64::Engine;
use minicode::paths;
use minicode::{Data, Encoding, FileContent, FileEntry, FileWrite, Page};

use super::Source;
use crate::api::extract::{Json, multipart_error, parse_id};
use crate::auth::Caller;
use crate::error::{AppError, AppResult};
use crate::projects;
use crate::state::AppState;
use crate::workspace::RelPath;

/// `upload_limit` caps multipart uploads; `max_file_bytes` sizes the JSON
/// body of an editor save so a file at the size limit fits even as base64
/// or heavily escaped JSON (the service still enforces the file limit).
pub fn router(upload_limit: usize, max_file_bytes: usize) -> Router<AppState> {
    let write_limit = max_file_bytes.saturating_mul(2).saturating_add(64 * 1024);
    Router::new()
        .route(
            paths::PROJECT_FILES,
            get(tree)
                .post(upload)
                .layer(DefaultBodyLimit::max(upload_limit)),
        )
        .route(
            paths::PROJECT_FILE,
            get(read)
                .put(write)
                .layer(DefaultBodyLimit::max(write_limit))
                .delete(remove),
        )
}

/// Resolves the project (owner only) and the path from the URL.
async fn target(
    state: &AppState,
    caller: &Caller,
    id: &str,
    path: &str,
) -> AppResult<(uuid::Uuid, RelPath)> {
    let project = parse_id(id, "project")?;
    projects::owned(state, caller, project).await?;
    let path =
        RelPath::parse(path).map_err(|e| AppError::validation(format!("invalid path: {e}")))?;
    Ok((project, path))
}

async fn tree(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> AppResult<axum::Json<Page<FileEntry>>> {
    let project = parse_id(&id, "project")?;
    projects::owned(&state, &caller, project).await?;
    let files = super::list_latest(&state, project).await?;
    Ok(axum::Json(Page {
        total: files.len() as u64,
        data: files,
    }))
}

async fn read(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, path)): Path<(String, String)>,
) -> AppResult<axum::Json<Data<FileContent>>> {
    let (project, path) = target(&state, &caller, &id, &path).await?;
    Ok(axum::Json(Data {
        data: super::read(&state, project, &path).await?,
    }))
}

fn decode(body: FileWrite) -> AppResult<Vec<u8>> {
    match body.encoding {
        Encoding::Utf8 => Ok(body.content.into_bytes()),
        Encoding::Base64 => base64::engine::general_purpose::STANDARD
            .decode(body.content.as_bytes())
            .map_err(|_| AppError::validation("content is not valid base64")),
    }
}

/// Saves a file from the editor: a new version, the workspace (so the dev
/// server reloads), and a `file_end` event so other open editors update.
async fn write(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, path)): Path<(String, String)>,
    Json(body): Json<FileWrite>,
) -> AppResult<axum::Json<Data<FileContent>>> {
    let (project, path) = {
        let project = parse_id(&id, "project")?;
        projects::owned(&state, &caller, project).await?;
        let path = RelPath::parse_writable(&path)
            .map_err(|e| AppError::validation(format!("invalid path: {e}")))?;
        (project, path)
    };
    let bytes = decode(body)?;
    let saved = super::save(
        &state,
        project,
        vec![(path.clone(), bytes.clone())],
        Source::User,
        None,
    )
    .await?;
    crate::git::saved(&state, project, &caller.user.username);
    let (content, encoding) = super::encode(bytes);
    let version = saved.first().map(|s| s.version).unwrap_or_default();
    Ok(axum::Json(Data {
        data: FileContent {
            path: path.to_string(),
            content,
            encoding,
            version,
        },
    }))
}

async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, path)): Path<(String, String)>,
) -> AppResult<StatusCode> {
    let (project, path) = target(&state, &caller, &id, &path).await?;
    super::delete(&state, project, &path, Source::User).await?;
    crate::git::saved(&state, project, &caller.user.username);
    Ok(StatusCode::NO_CONTENT)
}

/// Multipart upload of user files (a CSV the app should read, an image…).
/// Each `file` part is stored under the folder given by a preceding `dir`
/// field, `public/` by default so Vite serves it as-is.
async fn upload(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    mut multipart: Multipart,
) -> AppResult<(StatusCode, axum::Json<Page<FileEntry>>)> {
    let project = parse_id(&id, "project")?;
    projects::owned(&state, &caller, project).await?;
    let mut dir = "public".to_string();
    let mut files: Vec<(RelPath, Vec<u8>)> = Vec::new();
    while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
        match field.name() {
            Some("dir") => dir = field.text().await.map_err(multipart_error)?,
            Some("file") | Some("files") => {
                let name = field
                    .file_name()
                    .map(str::to_string)
                    .ok_or_else(|| AppError::validation("each uploaded file needs a file name"))?;
                // Only the file's own name counts: a browser never sends a folder, a forger might.
                let name = name
                    .rsplit(['/', '\\'])
                    .next()
                    .unwrap_or_default()
                    .to_string();
                let joined = if dir.trim().is_empty() {
                    name
                } else {
                    format!("{}/{name}", dir.trim_end_matches('/'))
                };
                let path = RelPath::parse_writable(&joined).map_err(|e| {
                    AppError::validation(format!("invalid upload path `{joined}`: {e}"))
                })?;
                let bytes = field.bytes().await.map_err(multipart_error)?;
                files.push((path, bytes.to_vec()));
            }
            _ => {}
        }
    }
    if files.is_empty() {
        return Err(AppError::validation("the upload has no `file` part"));
    }
    let entries: Vec<FileEntry> = files
        .iter()
        .map(|(path, bytes)| FileEntry {
            path: path.to_string(),
            size: bytes.len() as u64,
        })
        .collect();
    super::save(&state, project, files, Source::Upload, None).await?;
    crate::git::saved(&state, project, &caller.user.username);
    Ok((
        StatusCode::CREATED,
        axum::Json(Page {
            total: entries.len() as u64,
            data: entries,
        }),
    ))
}
