//! Server functions: the UI's calls into the server.
//!
//! Each body runs on the server only and delegates to [`crate::backend::Backend`],
//! the same service layer the REST API uses. They are mounted under `/fn/`
//! so they never collide with the REST routes under `/api/`.

use leptos::prelude::*;
use minicode::{ApiError, FileEntry, Page, Project, User};
use uuid::Uuid;

#[cfg(feature = "ssr")]
use crate::backend::context;

/// The signed-in user, if any.
#[server(prefix = "/fn")]
pub async fn current_user() -> Result<Option<User>, ApiError> {
    let (backend, parts) = context()?;
    backend.me(&parts).await
}

#[cfg(feature = "ssr")]
fn set_session_cookie(value: &str) -> Result<(), ApiError> {
    let header = http::HeaderValue::from_str(value).map_err(|_| ApiError::internal())?;
    expect_context::<leptos_axum::ResponseOptions>()
        .append_header(http::header::SET_COOKIE, header);
    Ok(())
}

#[server(prefix = "/fn")]
pub async fn register(
    username: String,
    password: String,
    invite: Option<String>,
) -> Result<User, ApiError> {
    let (backend, parts) = context()?;
    let signed_in = backend
        .register(
            &parts,
            minicode::Credentials {
                username,
                password,
                invite,
            },
        )
        .await?;
    set_session_cookie(&signed_in.set_cookie)?;
    leptos_axum::redirect("/dashboard");
    Ok(signed_in.user)
}

#[server(prefix = "/fn")]
pub async fn login(username: String, password: String) -> Result<User, ApiError> {
    let (backend, parts) = context()?;
    let signed_in = backend
        .login(
            &parts,
            minicode::Credentials {
                username,
                password,
                invite: None,
            },
        )
        .await?;
    set_session_cookie(&signed_in.set_cookie)?;
    leptos_axum::redirect("/dashboard");
    Ok(signed_in.user)
}

#[server(prefix = "/fn")]
pub async fn logout() -> Result<(), ApiError> {
    let (backend, parts) = context()?;
    let cleared = backend.logout(&parts).await?;
    set_session_cookie(&cleared)?;
    leptos_axum::redirect("/");
    Ok(())
}

#[server(prefix = "/fn")]
pub async fn list_projects(limit: i64, offset: i64) -> Result<Page<Project>, ApiError> {
    let (backend, parts) = context()?;
    backend
        .list_projects(&parts, minicode::PageQuery { limit, offset })
        .await
}

#[server(prefix = "/fn")]
pub async fn create_project(name: String, description: String) -> Result<Project, ApiError> {
    let (backend, parts) = context()?;
    backend
        .create_project(
            &parts,
            minicode::NewProject {
                name,
                description,
                model: None,
            },
        )
        .await
}

#[server(prefix = "/fn")]
pub async fn get_project(id: Uuid) -> Result<Project, ApiError> {
    let (backend, parts) = context()?;
    backend.get_project(&parts, id).await
}

#[server(prefix = "/fn")]
pub async fn rename_project(id: Uuid, name: String) -> Result<Project, ApiError> {
    let (backend, parts) = context()?;
    let patch = minicode::ProjectPatch {
        name: Some(name),
        ..Default::default()
    };
    backend.update_project(&parts, id, patch).await
}

#[server(prefix = "/fn")]
pub async fn delete_project(id: Uuid) -> Result<(), ApiError> {
    let (backend, parts) = context()?;
    backend.delete_project(&parts, id).await
}

#[server(prefix = "/fn")]
pub async fn list_files(project_id: Uuid) -> Result<Vec<FileEntry>, ApiError> {
    let (backend, parts) = context()?;
    backend.list_files(&parts, project_id).await
}
