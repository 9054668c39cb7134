//! What the UI's server functions need from the server, as a trait.
//!
//! The server crate implements it on top of the same service layer the REST
//! API uses (one place per rule) and provides it as Leptos context. The trait
//! keeps `app` free of database and auth code, and the dependency one-way:
//! `server` → `app`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use http::request::Parts;
use minicode::{
    ApiError, Credentials, FileEntry, NewProject, Page, PageQuery, Project, ProjectPatch, User,
};
use uuid::Uuid;

pub type BackendFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, ApiError>> + Send + 'a>>;

/// A signed-in user plus the `Set-Cookie` value that carries the session.
pub struct SignedIn {
    pub user: User,
    pub set_cookie: String,
}

/// The server's services as the UI sees them. Every call gets the request
/// parts so the server can authenticate, rate-limit and log it.
pub trait Backend: Send + Sync + 'static {
    /// The signed-in user, or `None`.
    fn me<'a>(&'a self, req: &'a Parts) -> BackendFuture<'a, Option<User>>;
    fn register<'a>(&'a self, req: &'a Parts, input: Credentials) -> BackendFuture<'a, SignedIn>;
    fn login<'a>(&'a self, req: &'a Parts, input: Credentials) -> BackendFuture<'a, SignedIn>;
    /// Ends the session; returns the `Set-Cookie` value that clears the cookie.
    fn logout<'a>(&'a self, req: &'a Parts) -> BackendFuture<'a, String>;

    fn list_projects<'a>(
        &'a self,
        req: &'a Parts,
        page: PageQuery,
    ) -> BackendFuture<'a, Page<Project>>;
    fn create_project<'a>(
        &'a self,
        req: &'a Parts,
        input: NewProject,
    ) -> BackendFuture<'a, Project>;
    fn get_project<'a>(&'a self, req: &'a Parts, id: Uuid) -> BackendFuture<'a, Project>;
    fn update_project<'a>(
        &'a self,
        req: &'a Parts,
        id: Uuid,
        patch: ProjectPatch,
    ) -> BackendFuture<'a, Project>;
    fn delete_project<'a>(&'a self, req: &'a Parts, id: Uuid) -> BackendFuture<'a, ()>;
    fn list_files<'a>(&'a self, req: &'a Parts, id: Uuid) -> BackendFuture<'a, Vec<FileEntry>>;
}

/// The backend and the current request's parts, as a server function sees them.
pub(crate) fn context() -> Result<(Arc<dyn Backend>, Parts), ApiError> {
    let backend =
        leptos::prelude::use_context::<Arc<dyn Backend>>().ok_or_else(ApiError::internal)?;
    let parts = leptos::prelude::use_context::<Parts>().ok_or_else(ApiError::internal)?;
    Ok((backend, parts))
}
