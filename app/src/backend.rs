//! What the UI's server functions need from the server, as a trait.
//!
//! The server crate implements it on top of the same service layer the REST
//! API uses (one place per rule) and provides it as Leptos context. The trait
//! keeps `app` free of database and auth code, and the dependency one-way:
//! `server` → `app`. Only reads are left: every change goes through REST.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use http::request::Parts;
use minicode::{ApiError, Page, PageQuery, Project, User};
use uuid::Uuid;

pub type BackendFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, ApiError>> + Send + 'a>>;

/// The server's services as the pages see them while rendering. Every call
/// gets the request parts so the server can authenticate and log it.
pub trait Backend: Send + Sync + 'static {
    /// The signed-in user, or `None`.
    fn me<'a>(&'a self, req: &'a Parts) -> BackendFuture<'a, Option<User>>;
    fn list_projects<'a>(
        &'a self,
        req: &'a Parts,
        page: PageQuery,
    ) -> BackendFuture<'a, Page<Project>>;
    fn get_project<'a>(&'a self, req: &'a Parts, id: Uuid) -> BackendFuture<'a, Project>;
}

/// The backend and the current request's parts, as a server function sees them.
pub(crate) fn context() -> Result<(Arc<dyn Backend>, Parts), ApiError> {
    let backend =
        leptos::prelude::use_context::<Arc<dyn Backend>>().ok_or_else(ApiError::internal)?;
    let parts = leptos::prelude::use_context::<Parts>().ok_or_else(ApiError::internal)?;
    Ok((backend, parts))
}
