//! The UI's server functions (reads for server rendering; changes go through
//! REST) reach the service layer through this implementation of
//! [`app::backend::Backend`]: the same functions the REST routes call, so
//! every rule lives in one place.

use app::backend::{Backend, BackendFuture};
use axum::http::request::Parts;
use minicode::{ApiError, Page, PageQuery, Project, User};
use uuid::Uuid;

use crate::auth::{Caller, service};
use crate::error::{AppError, AppResult};
use crate::projects;
use crate::state::AppState;

pub struct UiBackend {
    pub state: AppState,
}

impl UiBackend {
    async fn caller(&self, req: &Parts) -> AppResult<Caller> {
        service::authenticate(&self.state, &req.headers)
            .await?
            .ok_or_else(AppError::unauthorized)
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

    fn list_projects<'a>(
        &'a self,
        req: &'a Parts,
        page: PageQuery,
    ) -> BackendFuture<'a, Page<Project>> {
        boxed(async move { projects::list(&self.state, &self.caller(req).await?, page).await })
    }

    fn get_project<'a>(&'a self, req: &'a Parts, id: Uuid) -> BackendFuture<'a, Project> {
        boxed(async move { projects::owned(&self.state, &self.caller(req).await?, id).await })
    }
}
