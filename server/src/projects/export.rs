//! `GET /api/projects/:id/export.zip`: the project's files as a zip, to take
//! anywhere (the newest version of each file; no installed packages).

use std::io::Write;

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};

use crate::api::extract::parse_id;
use crate::auth::Caller;
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// The project's files as a zip (newest version of each; no installed packages).
pub(super) async fn export(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let project = super::owned(&state, &caller, parse_id(&id, "project")?).await?;
    let files = crate::files::snapshot(&state, project.id).await?;
    let folder = slug(&project.name);
    let bytes = tokio::task::spawn_blocking(move || -> Result<Vec<u8>, zip::result::ZipError> {
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for (path, _, content) in files {
            zip.start_file(format!("{folder}/{path}"), options)?;
            zip.write_all(&content)?;
        }
        Ok(zip.finish()?.into_inner())
    })
    .await
    .map_err(|e| AppError::internal(e.to_string()))?
    .map_err(|e| AppError::internal(format!("zip: {e}")))?;
    let disposition = format!("attachment; filename=\"{}.zip\"", slug(&project.name));
    Ok((
        [
            (header::CONTENT_TYPE, "application/zip".to_string()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        bytes,
    )
        .into_response())
}

/// A file-name-safe version of a project name.
fn slug(name: &str) -> String {
    let slug: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect::<String>()
        .split('-')
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("-");
    if slug.is_empty() {
        "project".into()
    } else {
        slug
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn slugs() {
        assert_eq!(super::slug("Recipe Box!"), "recipe-box");
        assert_eq!(super::slug("???"), "project");
    }
}
