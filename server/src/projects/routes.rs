//! `/api/projects`, and imports (`/api/projects/import…`).

use axum::Router;
use axum::extract::{DefaultBodyLimit, Multipart, Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use minicode::paths;
use minicode::{Data, GitImport, NewProject, Page, PageQuery, Project, ProjectPatch};

use super::import;
use crate::api::extract::{Json, Query, multipart_error, parse_id};
use crate::auth::Caller;
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// `upload_limit` caps a zip import's request, as it caps file uploads.
pub fn router(upload_limit: usize) -> Router<AppState> {
    Router::new()
        .route(paths::PROJECTS, get(list).post(create))
        .route(
            paths::PROJECTS_IMPORT,
            post(import_zip).layer(DefaultBodyLimit::max(upload_limit)),
        )
        .route(paths::PROJECTS_IMPORT_GIT, post(import_git))
        .route(paths::PROJECT, get(show).patch(update).delete(remove))
        .route(paths::PROJECT_EXPORT, get(super::export::export))
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(page): Query<PageQuery>,
) -> AppResult<axum::Json<Page<Project>>> {
    Ok(axum::Json(super::list(&state, &caller, page).await?))
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Json(input): Json<NewProject>,
) -> AppResult<(StatusCode, axum::Json<Data<Project>>)> {
    let project = super::create(&state, &caller, input).await?;
    Ok((StatusCode::CREATED, axum::Json(Data { data: project })))
}

async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> AppResult<axum::Json<Data<Project>>> {
    let id = parse_id(&id, "project")?;
    Ok(axum::Json(Data {
        data: super::owned(&state, &caller, id).await?,
    }))
}

async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(patch): Json<ProjectPatch>,
) -> AppResult<axum::Json<Data<Project>>> {
    let id = parse_id(&id, "project")?;
    Ok(axum::Json(Data {
        data: super::update(&state, &caller, id, patch).await?,
    }))
}

async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> AppResult<StatusCode> {
    let id = parse_id(&id, "project")?;
    super::delete(&state, &caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A new project from a zip: a `file` part (the zip) and an optional `name`
/// field (else the zip's folder or file name).
async fn import_zip(
    State(state): State<AppState>,
    caller: Caller,
    mut multipart: Multipart,
) -> AppResult<(StatusCode, axum::Json<Data<Project>>)> {
    let mut name: Option<String> = None;
    let mut zip: Option<(String, axum::body::Bytes)> = None;
    while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
        match field.name() {
            Some("name") => name = Some(field.text().await.map_err(multipart_error)?),
            Some("file") => {
                let file_name = field.file_name().unwrap_or_default().to_string();
                zip = Some((file_name, field.bytes().await.map_err(multipart_error)?));
            }
            _ => {}
        }
    }
    let Some((file_name, bytes)) = zip else {
        return Err(AppError::validation("the import has no `file` part"));
    };
    let limits = import::ImportLimits::of(&state);
    let unpacked = tokio::task::spawn_blocking(move || import::unzip(&bytes, limits))
        .await
        .map_err(|e| AppError::internal(e.to_string()))??;
    let name = match name.filter(|n| !n.trim().is_empty()) {
        Some(name) => name,
        None => import::name_from(unpacked.folder.as_deref().unwrap_or(&file_name)),
    };
    let origin = format!("a zip ({})", import::name_from(&file_name));
    let project =
        import::create_with_files(&state, &caller, &name, unpacked.files, &origin).await?;
    Ok((StatusCode::CREATED, axum::Json(Data { data: project })))
}

/// A new project from the files of a git repository's default branch.
async fn import_git(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<GitImport>,
) -> AppResult<(StatusCode, axum::Json<Data<Project>>)> {
    let allow_file = state.config.git.allow_file_remotes;
    let url = crate::git::remote::check_url(&body.url, allow_file)?;
    let limits = import::ImportLimits::of(&state);
    let bounds = crate::git::remote::FileBounds {
        max_file_bytes: limits.max_file_bytes,
        max_files: limits.max_files,
        max_total_bytes: limits.max_total_bytes,
    };
    // A private repository: the user's credential for its host, if any.
    let auth = match crate::git::remote::host_of(&url) {
        Some(host) => crate::git::credentials::for_host(&state, caller.id(), &host).await?,
        None => None,
    };
    let files =
        crate::git::remote::read_files(&state.git, &url, allow_file, auth.as_ref(), bounds).await?;
    let files = files
        .into_iter()
        .map(|(path, bytes)| Ok((import::writable(&path)?, bytes)))
        .collect::<Result<Vec<_>, import::ImportError>>()?;
    let name = match body.name.filter(|n| !n.trim().is_empty()) {
        Some(name) => name,
        None => import::name_from(url.trim_end_matches('/')),
    };
    let project = import::create_with_files(&state, &caller, &name, files, &url).await?;
    Ok((StatusCode::CREATED, axum::Json(Data { data: project })))
}
