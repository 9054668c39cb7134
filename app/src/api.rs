//! Server functions: the UI's calls into the server.
//!
//! Each body runs on the server only and delegates to [`crate::backend::Backend`],
//! the same service layer the REST API uses. They are mounted under `/fn/`
//! so they never collide with the REST routes under `/api/`, each at its
//! own name (`/fn/login`), the same in every build.

use leptos::prelude::*;
use minicode::{ApiError, FileEntry, Page, Project, User};
use uuid::Uuid;

#[cfg(feature = "ssr")]
use crate::backend::context;

/// The signed-in user, if any.
#[server(prefix = "/fn", endpoint = "current_user")]
pub async fn current_user() -> Result<Option<User>, ApiError> {
    answered(
        async move {
            let (backend, parts) = context()?;
            backend.me(&parts).await
        }
        .await,
    )
}

/// Gives a failed call the HTTP status of its error (401, 404, 422…) instead
/// of the server functions' default 500, so a wrong password is not logged
/// as a server error by the browser. A plain form post (no WASM yet, which
/// accepts HTML) keeps the redirect back to its page instead.
#[cfg(feature = "ssr")]
fn answered<T>(result: Result<T, ApiError>) -> Result<T, ApiError> {
    if let Err(e) = &result {
        let plain_form = use_context::<http::request::Parts>().is_some_and(|parts| {
            parts
                .headers
                .get(http::header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|accept| accept.contains("text/html"))
        });
        if !plain_form
            && let Ok(status) = http::StatusCode::from_u16(e.status)
            && let Some(response) = use_context::<leptos_axum::ResponseOptions>()
        {
            response.set_status(status);
        }
    }
    result
}

#[cfg(feature = "ssr")]
fn set_session_cookie(value: &str) -> Result<(), ApiError> {
    let header = http::HeaderValue::from_str(value).map_err(|_| ApiError::internal())?;
    expect_context::<leptos_axum::ResponseOptions>()
        .append_header(http::header::SET_COOKIE, header);
    Ok(())
}

#[server(prefix = "/fn", endpoint = "register")]
pub async fn register(
    username: String,
    password: String,
    invite: Option<String>,
) -> Result<User, ApiError> {
    answered(
        async move {
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
        .await,
    )
}

#[server(prefix = "/fn", endpoint = "login")]
pub async fn login(username: String, password: String) -> Result<User, ApiError> {
    answered(
        async move {
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
        .await,
    )
}

#[server(prefix = "/fn", endpoint = "logout")]
pub async fn logout() -> Result<(), ApiError> {
    answered(
        async move {
            let (backend, parts) = context()?;
            let cleared = backend.logout(&parts).await?;
            set_session_cookie(&cleared)?;
            leptos_axum::redirect("/");
            Ok(())
        }
        .await,
    )
}

#[server(prefix = "/fn", endpoint = "list_projects")]
pub async fn list_projects(limit: i64, offset: i64) -> Result<Page<Project>, ApiError> {
    answered(
        async move {
            let (backend, parts) = context()?;
            backend
                .list_projects(&parts, minicode::PageQuery { limit, offset })
                .await
        }
        .await,
    )
}

#[server(prefix = "/fn", endpoint = "create_project")]
pub async fn create_project(name: String, description: String) -> Result<Project, ApiError> {
    answered(
        async move {
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
        .await,
    )
}

#[server(prefix = "/fn", endpoint = "get_project")]
pub async fn get_project(id: Uuid) -> Result<Project, ApiError> {
    answered(
        async move {
            let (backend, parts) = context()?;
            backend.get_project(&parts, id).await
        }
        .await,
    )
}

#[server(prefix = "/fn", endpoint = "rename_project")]
pub async fn rename_project(id: Uuid, name: String) -> Result<Project, ApiError> {
    answered(
        async move {
            let (backend, parts) = context()?;
            let patch = minicode::ProjectPatch {
                name: Some(name),
                ..Default::default()
            };
            backend.update_project(&parts, id, patch).await
        }
        .await,
    )
}

#[server(prefix = "/fn", endpoint = "delete_project")]
pub async fn delete_project(id: Uuid) -> Result<(), ApiError> {
    answered(
        async move {
            let (backend, parts) = context()?;
            backend.delete_project(&parts, id).await
        }
        .await,
    )
}

#[server(prefix = "/fn", endpoint = "list_files")]
pub async fn list_files(project_id: Uuid) -> Result<Vec<FileEntry>, ApiError> {
    answered(
        async move {
            let (backend, parts) = context()?;
            backend.list_files(&parts, project_id).await
        }
        .await,
    )
}
