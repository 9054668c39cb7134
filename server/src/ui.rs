//! The UI's server functions reach the service layer through this
//! implementation of [`app::backend::Backend`]: the same functions the REST
//! routes call, so every rule lives in one place.

use app::backend::{Backend, BackendFuture, SignedIn};
use axum::http::request::Parts;
use minicode::{
    ApiError, Credentials, FileEntry, NewProject, Page, PageQuery, Project, ProjectPatch, User,
};
use uuid::Uuid;

use crate::auth::{self, Caller, service};
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::{files, projects};

pub struct UiBackend {
    pub state: AppState,
}

impl UiBackend {
    async fn caller(&self, req: &Parts) -> AppResult<Caller> {
        service::authenticate(&self.state, &req.headers)
            .await?
            .ok_or_else(AppError::unauthorized)
    }

    /// The caller of a change: a read-only token may not make one.
    async fn writer(&self, req: &Parts) -> AppResult<Caller> {
        let caller = self.caller(req).await?;
        caller.require_write()?;
        Ok(caller)
    }
}

/// Runs a service call and turns its error into what the UI shows.
fn boxed<'a, T: Send + 'a>(
    fut: impl Future<Output = AppResult<T>> + Send + 'a,
) -> BackendFuture<'a, T> {
    Box::pin(async move { fut.await.map_err(ApiError::from) })
}

impl Backend for UiBackend {
    fn me<'a>(&'a self, req: &'a Parts) -> BackendFuture<'a, Option<User>> {
        boxed(async move {
            // An invalid bearer token is "signed out" for page rendering purposes.
            Ok(service::authenticate(&self.state, &req.headers)
                .await
                .unwrap_or(None)
                .map(|c| c.user))
        })
    }

    fn register<'a>(&'a self, req: &'a Parts, input: Credentials) -> BackendFuture<'a, SignedIn> {
        boxed(async move {
            let ip = auth::client_ip(req, self.state.config.server.trust_proxy);
            let session = service::register(&self.state, ip, input).await?;
            Ok(SignedIn {
                user: session.user,
                set_cookie: session.set_cookie,
            })
        })
    }

    fn login<'a>(&'a self, req: &'a Parts, input: Credentials) -> BackendFuture<'a, SignedIn> {
        boxed(async move {
            let ip = auth::client_ip(req, self.state.config.server.trust_proxy);
            let session = service::login(&self.state, ip, &req.headers, input).await?;
            Ok(SignedIn {
                user: session.user,
                set_cookie: session.set_cookie,
            })
        })
    }

    fn logout<'a>(&'a self, req: &'a Parts) -> BackendFuture<'a, String> {
        boxed(service::logout(&self.state, &req.headers))
    }

    fn list_projects<'a>(
        &'a self,
        req: &'a Parts,
        page: PageQuery,
    ) -> BackendFuture<'a, Page<Project>> {
        boxed(async move { projects::list(&self.state, &self.caller(req).await?, page).await })
    }

    fn create_project<'a>(
        &'a self,
        req: &'a Parts,
        input: NewProject,
    ) -> BackendFuture<'a, Project> {
        boxed(async move { projects::create(&self.state, &self.writer(req).await?, input).await })
    }

    fn get_project<'a>(&'a self, req: &'a Parts, id: Uuid) -> BackendFuture<'a, Project> {
        boxed(async move { projects::owned(&self.state, &self.caller(req).await?, id).await })
    }

    fn update_project<'a>(
        &'a self,
        req: &'a Parts,
        id: Uuid,
        patch: ProjectPatch,
    ) -> BackendFuture<'a, Project> {
        boxed(
            async move { projects::update(&self.state, &self.writer(req).await?, id, patch).await },
        )
    }

    fn delete_project<'a>(&'a self, req: &'a Parts, id: Uuid) -> BackendFuture<'a, ()> {
        boxed(async move { projects::delete(&self.state, &self.writer(req).await?, id).await })
    }

    fn list_files<'a>(&'a self, req: &'a Parts, id: Uuid) -> BackendFuture<'a, Vec<FileEntry>> {
        boxed(async move {
            let caller = self.caller(req).await?;
            projects::owned(&self.state, &caller, id).await?;
            files::list_latest(&self.state, id).await
        })
    }
}
