//! The HTTP boundary's error type.
//!
//! Handlers and services return `Result<_, AppError>` and use `?` freely.
//! Client mistakes become `{error, code, status}` with a 4xx; anything else is
//! logged in the request's span and answered with a generic 500 that reveals
//! nothing about the internals.

use axum::http::StatusCode;
use axum::http::header::RETRY_AFTER;
use axum::response::{IntoResponse, Response};
use minicode::{ApiError, ErrorCode};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// A problem the client can fix; its message is shown as-is.
    #[error("{0}")]
    Api(ApiError),
    /// Too many attempts; retry after this many seconds.
    #[error("too many attempts")]
    RateLimited { retry_after_secs: u64 },
    /// A quota or budget refused the request (429 or 402, with `limit` in the
    /// body); `Retry-After` when the limit resets at a known time.
    #[error("{error}")]
    OverLimit {
        error: ApiError,
        retry_after_secs: Option<u64>,
    },
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("{0}")]
    Internal(String),
}

pub type AppResult<T> = Result<T, AppError>;

impl AppError {
    pub fn not_found(what: &str) -> Self {
        AppError::Api(ApiError::not_found(what))
    }

    pub fn validation(message: impl Into<String>) -> Self {
        AppError::Api(ApiError::validation(message))
    }

    /// Refuses `text` over `limit` characters whole (never truncated), with
    /// the sentence the UI shows too.
    pub fn check_length(text: &str, limit: usize, what: &str) -> AppResult<()> {
        let chars = text.chars().count();
        if chars > limit {
            return Err(AppError::validation(minicode::too_long(what, chars, limit)));
        }
        Ok(())
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        AppError::Api(ApiError::new(ErrorCode::BadRequest, message))
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        AppError::Api(ApiError::new(ErrorCode::Conflict, message))
    }

    pub fn unauthorized() -> Self {
        AppError::Api(ApiError::unauthorized())
    }

    /// 503: the server cannot take this now (shutting down, say); retry soon.
    pub fn unavailable(message: impl Into<String>) -> Self {
        AppError::Api(ApiError::new(ErrorCode::Unavailable, message))
    }

    pub fn internal(message: impl Into<String>) -> Self {
        AppError::Internal(message.into())
    }

    /// What the client is told. Internal details are logged, never returned.
    pub fn to_api_error(&self) -> ApiError {
        match self {
            AppError::Api(e) | AppError::OverLimit { error: e, .. } => e.clone(),
            AppError::RateLimited { retry_after_secs } => ApiError::new(
                ErrorCode::RateLimited,
                format!("too many attempts; try again in {retry_after_secs} s"),
            ),
            AppError::Db(e) if is_contention(e) => ApiError::new(
                ErrorCode::Unavailable,
                "the server is too busy to do this right now; nothing was changed, try again in a moment",
            ),
            AppError::Db(_) | AppError::Internal(_) => ApiError::internal(),
        }
    }

    /// Lock contention or an exhausted pool: worth retrying soon.
    pub fn is_contention(&self) -> bool {
        matches!(self, AppError::Db(e) if is_contention(e))
    }
}

/// Runs `op` again while it fails only because the database is busy, for
/// up to `limit`: background work (a generation writing its files) waits
/// out a held lock instead of failing. Each attempt must be whole (a failed
/// one changed nothing), as every service call here is.
pub async fn retry_busy<T, F, Fut>(limit: std::time::Duration, mut op: F) -> AppResult<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = AppResult<T>>,
{
    let started = std::time::Instant::now();
    let mut wait = std::time::Duration::from_millis(100);
    loop {
        match op().await {
            Err(e) if e.is_contention() && started.elapsed() + wait < limit => {
                tracing::warn!(error = %e, wait_ms = wait.as_millis() as u64, "database busy; trying again");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(std::time::Duration::from_secs(2));
            }
            other => return other,
        }
    }
}

/// Seconds a client is told to wait after a 503.
const BUSY_RETRY_SECS: u64 = 2;

/// A lock another connection held for longer than the lock wait (SQLite
/// BUSY/LOCKED; PostgreSQL lock timeout, serialization failure, deadlock,
/// too many connections), or no pooled connection free in time.
fn is_contention(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut => true,
        sqlx::Error::Database(db) => {
            matches!(
                db.code().as_deref(),
                Some("5" | "6" | "261" | "262" | "517" | "40001" | "40P01" | "55P03" | "53300")
            ) || db.message().contains("database is locked")
                || db.message().contains("database table is locked")
        }
        _ => false,
    }
}

impl From<ApiError> for AppError {
    fn from(e: ApiError) -> Self {
        AppError::Api(e)
    }
}

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        e.log();
        e.to_api_error()
    }
}

impl AppError {
    /// Logs server-side failures in the current span; client errors are not worth a line.
    fn log(&self) {
        match self {
            AppError::Db(e) if is_contention(e) => {
                tracing::warn!(error = %e, "database busy; answered 503")
            }
            AppError::Db(e) => tracing::error!(error = %e, "database error"),
            AppError::Internal(e) => tracing::error!(error = %e, "internal error"),
            AppError::Api(_) | AppError::RateLimited { .. } | AppError::OverLimit { .. } => {}
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        self.log();
        let body = self.to_api_error();
        let status = StatusCode::from_u16(body.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, axum::Json(body)).into_response();
        let retry_after = match self {
            AppError::RateLimited { retry_after_secs } => Some(retry_after_secs),
            AppError::OverLimit {
                retry_after_secs, ..
            } => retry_after_secs,
            AppError::Db(e) if is_contention(&e) => Some(BUSY_RETRY_SECS),
            _ => None,
        };
        if let Some(secs) = retry_after {
            response.headers_mut().insert(RETRY_AFTER, secs.into());
        }
        response
    }
}

/// Turns a unique-constraint violation into a 409 with the given message.
pub trait ResultExt<T> {
    fn on_unique_violation(self, message: &str) -> AppResult<T>;
}

impl<T> ResultExt<T> for Result<T, sqlx::Error> {
    fn on_unique_violation(self, message: &str) -> AppResult<T> {
        self.map_err(|e| match &e {
            sqlx::Error::Database(db) if db.is_unique_violation() => AppError::conflict(message),
            _ => AppError::Db(e),
        })
    }
}
