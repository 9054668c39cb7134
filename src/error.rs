//! The one error shape every minicode API returns: `{error, code, status}`,
//! plus `limit` when a quota or budget refused the request.

use serde::{Deserialize, Serialize};

use crate::usage::LimitExceeded;

/// Machine-readable error codes. Clients branch on these, never on messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    BadRequest,
    ValidationFailed,
    Unauthorized,
    /// Signed in, but not allowed: a read-only token writing, a non-admin on
    /// an admin route.
    Forbidden,
    /// A cookie-authenticated write without a same-origin proof.
    CsrfRejected,
    NotFound,
    MethodNotAllowed,
    Conflict,
    PayloadTooLarge,
    UnsupportedMediaType,
    RateLimited,
    /// A per-user quota (projects, previews, chat turns or generations per
    /// hour) is used up; the body's `limit` says which and when it resets.
    QuotaExceeded,
    /// The user's daily model budget (tokens or money) is spent; the body's
    /// `limit` says which and when it resets.
    BudgetExceeded,
    /// This server does not take new accounts.
    RegistrationClosed,
    /// The project already has an active agent run or chat turn.
    Busy,
    /// The model provider failed or refused.
    ModelError,
    /// The sandbox could not install, start or serve the app.
    SandboxError,
    /// The server is too busy to do it now (the database is locked or its
    /// connections are all in use); nothing was changed. Retry after the
    /// `Retry-After` seconds.
    Unavailable,
    Internal,
}

impl ErrorCode {
    /// The wire name, as in JSON (`NOT_FOUND`).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadRequest => "BAD_REQUEST",
            ErrorCode::ValidationFailed => "VALIDATION_FAILED",
            ErrorCode::Unauthorized => "UNAUTHORIZED",
            ErrorCode::Forbidden => "FORBIDDEN",
            ErrorCode::CsrfRejected => "CSRF_REJECTED",
            ErrorCode::NotFound => "NOT_FOUND",
            ErrorCode::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            ErrorCode::Conflict => "CONFLICT",
            ErrorCode::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            ErrorCode::UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            ErrorCode::RateLimited => "RATE_LIMITED",
            ErrorCode::QuotaExceeded => "QUOTA_EXCEEDED",
            ErrorCode::BudgetExceeded => "BUDGET_EXCEEDED",
            ErrorCode::RegistrationClosed => "REGISTRATION_CLOSED",
            ErrorCode::Busy => "BUSY",
            ErrorCode::ModelError => "MODEL_ERROR",
            ErrorCode::SandboxError => "SANDBOX_ERROR",
            ErrorCode::Unavailable => "UNAVAILABLE",
            ErrorCode::Internal => "INTERNAL",
        }
    }

    /// The HTTP status a response with this code carries.
    pub fn status(self) -> u16 {
        match self {
            ErrorCode::BadRequest => 400,
            ErrorCode::ValidationFailed => 422,
            ErrorCode::Unauthorized => 401,
            ErrorCode::Forbidden | ErrorCode::CsrfRejected | ErrorCode::RegistrationClosed => 403,
            ErrorCode::NotFound => 404,
            ErrorCode::MethodNotAllowed => 405,
            ErrorCode::Conflict | ErrorCode::Busy => 409,
            ErrorCode::PayloadTooLarge => 413,
            ErrorCode::UnsupportedMediaType => 415,
            ErrorCode::RateLimited | ErrorCode::QuotaExceeded => 429,
            ErrorCode::BudgetExceeded => 402,
            ErrorCode::ModelError | ErrorCode::SandboxError => 502,
            ErrorCode::Internal => 500,
            ErrorCode::Unavailable => 503,
        }
    }
}

/// `{ "error": message, "code": CODE, "status": n }`, and `limit` for
/// `QUOTA_EXCEEDED` / `BUDGET_EXCEEDED`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    /// A sentence a user can read. Never contains secrets or internals.
    pub error: String,
    pub code: ErrorCode,
    pub status: u16,
    /// What was exceeded and when it resets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<LimitExceeded>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            error: message.into(),
            code,
            status: code.status(),
            limit: None,
        }
    }

    /// A refusal by a quota or budget, saying which limit and when it resets.
    pub fn limit(code: ErrorCode, message: impl Into<String>, limit: LimitExceeded) -> Self {
        Self {
            limit: Some(limit),
            ..Self::new(code, message)
        }
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(ErrorCode::NotFound, format!("{what} not found"))
    }

    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::ValidationFailed, message)
    }

    pub fn unauthorized() -> Self {
        Self::new(ErrorCode::Unauthorized, "sign in to continue")
    }

    pub fn internal() -> Self {
        Self::new(ErrorCode::Internal, "something went wrong on our side")
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.error)
    }
}

impl std::error::Error for ApiError {}

#[cfg(feature = "server-fn")]
mod server_fn_support {
    use super::{ApiError, ErrorCode};
    use server_fn::codec::JsonEncoding;
    use server_fn::error::{FromServerFnError, ServerFnErrorErr};

    /// Server functions return `ApiError` too, so the UI shows the same
    /// messages and codes as the REST API.
    impl FromServerFnError for ApiError {
        type Encoder = JsonEncoding;

        fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
            match value {
                ServerFnErrorErr::Request(_) => ApiError::new(
                    ErrorCode::Internal,
                    "could not reach the server; check your connection",
                ),
                ServerFnErrorErr::Args(m) | ServerFnErrorErr::MissingArg(m) => {
                    ApiError::new(ErrorCode::BadRequest, m)
                }
                other => ApiError::new(ErrorCode::Internal, other.to_string()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_match_serde() {
        for code in [
            ErrorCode::NotFound,
            ErrorCode::CsrfRejected,
            ErrorCode::Busy,
            ErrorCode::MethodNotAllowed,
            ErrorCode::QuotaExceeded,
            ErrorCode::BudgetExceeded,
        ] {
            assert_eq!(serde_json::to_value(code).unwrap(), code.as_str());
        }
    }

    #[test]
    fn serialises_as_documented() {
        let e = ApiError::not_found("project");
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"error": "project not found", "code": "NOT_FOUND", "status": 404})
        );
    }

    #[test]
    fn limit_errors_carry_what_was_exceeded() {
        let e = ApiError::limit(
            ErrorCode::BudgetExceeded,
            "spent",
            LimitExceeded {
                name: "usd_per_day".into(),
                unit: crate::usage::LimitUnit::MicroUsd,
                used: 1_500_000,
                allowed: 1_000_000,
                resets_at: Some("2025-01-02T00:00:00Z".into()),
            },
        );
        assert_eq!(e.status, 402);
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(
            v["limit"],
            serde_json::json!({"name": "usd_per_day", "unit": "micro_usd", "used": 1_500_000,
                "allowed": 1_000_000, "resetsAt": "2025-01-02T00:00:00Z"})
        );
        assert_eq!(serde_json::from_value::<ApiError>(v).unwrap(), e);
        assert_eq!(ErrorCode::QuotaExceeded.status(), 429);
    }
}
