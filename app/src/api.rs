//! Server functions: only the reads a page needs to render on the server.
//!
//! The signed-in user (every page), the dashboard's list and the project
//! page's first paint are rendered into the HTML and, when the browser
//! navigates between pages, fetched by the same functions. Everything else,
//! and every change (sign-in, projects, files…), goes through the REST API
//! with [`crate::client`]: one contract for the UI and every other client.
//!
//! Each body runs on the server only and delegates to [`crate::backend::Backend`],
//! the same service layer the REST API uses. They are mounted under `/fn/`
//! so they never collide with the REST routes under `/api/`, each at its
//! own name (`/fn/get_project`), the same in every build.

use leptos::prelude::*;
use minicode::{ApiError, Page, Project, User};
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

/// Gives a failed call from the browser the HTTP status of its error (401,
/// 404…) instead of the server functions' default 500. A call made while a
/// page renders (its request accepts HTML) leaves the page's status alone:
/// the page decides it (a project that is not yours renders the 404 page).
#[cfg(feature = "ssr")]
fn answered<T>(result: Result<T, ApiError>) -> Result<T, ApiError> {
    if let Err(e) = &result {
        let rendering_page = use_context::<http::request::Parts>().is_some_and(|parts| {
            parts
                .headers
                .get(http::header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|accept| accept.contains("text/html"))
        });
        if !rendering_page
            && let Ok(status) = http::StatusCode::from_u16(e.status)
            && let Some(response) = use_context::<leptos_axum::ResponseOptions>()
        {
            response.set_status(status);
        }
    }
    result
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
