//! The browser's typed client of the REST API: one function per call the
//! UI makes, each with its wire types and its route from
//! [`minicode::paths`], answering `Result<T, ApiError>`.
//!
//! Every page talks to the same REST routes as any other client (server
//! functions are left only for what the server renders: the signed-in user,
//! the dashboard's list, the project page's first paint; see `api.rs`).
//! Requests go through `gloo-net`'s `fetch` with the session cookie (same
//! origin); the browser adds `Origin`, which the server's CSRF guard checks.
//!
//! A refusal keeps the server's `{error, code, status}`, so the UI shows the
//! sentence and can branch on the `code`. An answer without that body (a
//! proxy's 502 page) gets a code from its status; no answer at all is
//! `UNAVAILABLE` with `status: 0`. On the server these calls fail: they are
//! only made from event handlers and effects, which run in the browser.

use minicode::usage::{QuotaLimits, QuotaOverrides, UsageReport, UserUsage};
use minicode::{
    AdminUser, AdminUserPatch, ApiError, ApiToken, Chat, Checkpoint, CheckpointDiff, Commit,
    CreatedApiToken, CreatedInvite, Credentials, Data, ErrorCode, FileContent, FileWrite,
    GenerateBody, Invite, Message, ModelInfo, NewApiToken, NewChat, NewInvite, NewProject, Page,
    PageQuery, PasswordChange, PasswordConfirmation, PasswordReset, Project, ProjectPatch,
    Registration, Restored, RunStarted, ServerSettings, User, paths,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;

pub type ApiResult<T> = Result<T, ApiError>;

/// Most items a page's list asks for at once.
const LIST: u32 = 100;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verb {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

/// What a request carries.
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
enum Body {
    None,
    Json(String),
    #[cfg(feature = "hydrate")]
    Form(web_sys::FormData),
    /// Raw bytes sent as they are, with their media type.
    #[cfg(feature = "hydrate")]
    Blob(web_sys::Blob, String),
}

fn json(body: &impl Serialize) -> ApiResult<Body> {
    serde_json::to_string(body)
        .map(Body::Json)
        .map_err(|e| ApiError::new(ErrorCode::BadRequest, e.to_string()))
}

/// Sends the request; the answer's text when it is a success.
#[cfg(feature = "hydrate")]
async fn exchange(verb: Verb, url: &str, body: Body) -> ApiResult<String> {
    use gloo_net::http::{Method, RequestBuilder};

    let method = match verb {
        Verb::Get => Method::GET,
        Verb::Post => Method::POST,
        Verb::Put => Method::PUT,
        Verb::Patch => Method::PATCH,
        Verb::Delete => Method::DELETE,
    };
    let builder = RequestBuilder::new(url)
        .method(method)
        .header("Accept", "application/json");
    let request = match body {
        Body::None => builder.build(),
        Body::Json(text) => builder
            .header("Content-Type", "application/json")
            .body(text),
        Body::Form(form) => builder.body(form),
        Body::Blob(blob, media_type) => builder.header("Content-Type", &media_type).body(blob),
    }
    .map_err(|_| unreachable_server())?;
    let response = request.send().await.map_err(|_| unreachable_server())?;
    let text = response.text().await.unwrap_or_default();
    if response.ok() {
        Ok(text)
    } else {
        Err(refusal(response.status(), &text))
    }
}

#[cfg(not(feature = "hydrate"))]
async fn exchange(verb: Verb, url: &str, body: Body) -> ApiResult<String> {
    let _ = (verb, body);
    Err(ApiError::new(
        ErrorCode::Internal,
        format!("{url} is only called from the browser"),
    ))
}

/// No HTTP answer reached the browser (offline, server down, blocked).
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
fn unreachable_server() -> ApiError {
    ApiError {
        status: 0,
        ..ApiError::new(
            ErrorCode::Unavailable,
            "the server cannot be reached; check your connection",
        )
    }
}

/// The server's `{error, code, status}` from a refusal, or one made from
/// the status when the body is something else.
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
fn refusal(status: u16, body: &str) -> ApiError {
    if let Ok(error) = serde_json::from_str::<ApiError>(body) {
        return error;
    }
    let code = match status {
        400 => ErrorCode::BadRequest,
        401 => ErrorCode::Unauthorized,
        402 => ErrorCode::BudgetExceeded,
        403 => ErrorCode::Forbidden,
        404 => ErrorCode::NotFound,
        405 => ErrorCode::MethodNotAllowed,
        409 => ErrorCode::Conflict,
        413 => ErrorCode::PayloadTooLarge,
        415 => ErrorCode::UnsupportedMediaType,
        422 => ErrorCode::ValidationFailed,
        429 => ErrorCode::RateLimited,
        502..=504 => ErrorCode::Unavailable,
        _ => ErrorCode::Internal,
    };
    ApiError {
        status,
        ..ApiError::new(code, format!("the server answered {status}"))
    }
}

fn decode<T: DeserializeOwned>(url: &str, text: &str) -> ApiResult<T> {
    serde_json::from_str(text).map_err(|e| {
        ApiError::new(
            ErrorCode::Internal,
            format!("unexpected answer from {url}: {e}"),
        )
    })
}

/// `{data: T}` from `verb url`.
async fn data<T: DeserializeOwned>(verb: Verb, url: &str, body: Body) -> ApiResult<T> {
    let text = exchange(verb, url, body).await?;
    decode::<Data<T>>(url, &text).map(|d| d.data)
}

/// A page of a list (`{data, total}`).
async fn page<T: DeserializeOwned>(url: &str) -> ApiResult<Page<T>> {
    let text = exchange(Verb::Get, url, Body::None).await?;
    decode(url, &text)
}

/// A call whose answer has nothing to read (204).
async fn done(verb: Verb, url: &str, body: Body) -> ApiResult<()> {
    exchange(verb, url, body).await.map(drop)
}

// Accounts.

/// Who may register here (public).
pub async fn registration() -> ApiResult<Registration> {
    data(Verb::Get, paths::AUTH_REGISTRATION, Body::None).await
}

/// Creates the account and signs this browser in (the cookie comes with the answer).
pub async fn register(credentials: &Credentials) -> ApiResult<User> {
    data(Verb::Post, paths::AUTH_REGISTER, json(credentials)?).await
}

pub async fn login(credentials: &Credentials) -> ApiResult<User> {
    data(Verb::Post, paths::AUTH_LOGIN, json(credentials)?).await
}

pub async fn logout() -> ApiResult<()> {
    done(Verb::Post, paths::AUTH_LOGOUT, Body::None).await
}

pub async fn logout_everywhere() -> ApiResult<()> {
    done(Verb::Post, paths::AUTH_LOGOUT_EVERYWHERE, Body::None).await
}

pub async fn change_password(change: &PasswordChange) -> ApiResult<()> {
    done(Verb::Post, paths::AUTH_PASSWORD, json(change)?).await
}

pub async fn delete_account(confirmation: &PasswordConfirmation) -> ApiResult<()> {
    done(Verb::Delete, paths::AUTH_ME, json(confirmation)?).await
}

pub async fn tokens() -> ApiResult<Page<ApiToken>> {
    page(&paths::first(paths::AUTH_TOKENS, LIST)).await
}

pub async fn create_token(token: &NewApiToken) -> ApiResult<CreatedApiToken> {
    data(Verb::Post, paths::AUTH_TOKENS, json(token)?).await
}

pub async fn revoke_token(id: Uuid) -> ApiResult<()> {
    done(Verb::Delete, &paths::auth_token(id), Body::None).await
}

pub async fn usage() -> ApiResult<UsageReport> {
    data(Verb::Get, paths::USAGE, Body::None).await
}

// Administration.

pub async fn server_settings() -> ApiResult<ServerSettings> {
    data(Verb::Get, paths::ADMIN_SETTINGS, Body::None).await
}

pub async fn users() -> ApiResult<Page<AdminUser>> {
    page(&paths::first(paths::ADMIN_USERS, LIST)).await
}

pub async fn update_user(id: Uuid, patch: &AdminUserPatch) -> ApiResult<AdminUser> {
    data(Verb::Patch, &paths::admin_user(id), json(patch)?).await
}

pub async fn delete_user(id: Uuid) -> ApiResult<()> {
    done(Verb::Delete, &paths::admin_user(id), Body::None).await
}

/// A new random password for the user, to pass on.
pub async fn reset_password(id: Uuid) -> ApiResult<PasswordReset> {
    data(Verb::Post, &paths::admin_user_password(id), Body::None).await
}

pub async fn set_quota(id: Uuid, overrides: &QuotaOverrides) -> ApiResult<QuotaLimits> {
    data(Verb::Put, &paths::admin_user_quota(id), json(overrides)?).await
}

pub async fn all_usage() -> ApiResult<Vec<UserUsage>> {
    data(Verb::Get, paths::ADMIN_USAGE, Body::None).await
}

pub async fn invites() -> ApiResult<Page<Invite>> {
    page(&paths::first(paths::ADMIN_INVITES, LIST)).await
}

pub async fn create_invite(invite: &NewInvite) -> ApiResult<CreatedInvite> {
    data(Verb::Post, paths::ADMIN_INVITES, json(invite)?).await
}

pub async fn revoke_invite(id: Uuid) -> ApiResult<()> {
    done(Verb::Delete, &paths::admin_invite(id), Body::None).await
}

// Projects.

pub async fn create_project(project: &NewProject) -> ApiResult<Project> {
    data(Verb::Post, paths::PROJECTS, json(project)?).await
}

/// The project as stored after the change.
pub async fn update_project(id: Uuid, patch: &ProjectPatch) -> ApiResult<Project> {
    data(Verb::Patch, &paths::project(id), json(patch)?).await
}

/// A new project from a zip (a multipart form with a `file` part).
#[cfg(feature = "hydrate")]
pub async fn import_zip(form: web_sys::FormData) -> ApiResult<Project> {
    let text = exchange(Verb::Post, paths::PROJECTS_IMPORT, Body::Form(form)).await?;
    decode::<Data<Project>>(paths::PROJECTS_IMPORT, &text).map(|d| d.data)
}

/// A new project from a git repository's URL.
pub async fn import_git(body: &minicode::GitImport) -> ApiResult<Project> {
    data(Verb::Post, paths::PROJECTS_IMPORT_GIT, json(body)?).await
}

pub async fn delete_project(id: Uuid) -> ApiResult<()> {
    done(Verb::Delete, &paths::project(id), Body::None).await
}

/// Starts a build (202).
pub async fn generate(id: Uuid, body: &GenerateBody) -> ApiResult<RunStarted> {
    data(Verb::Post, &paths::project_generate(id), json(body)?).await
}

pub async fn models() -> ApiResult<Vec<ModelInfo>> {
    data(Verb::Get, paths::MODELS, Body::None).await
}

// Chats.

/// The project's newest `limit` chats.
pub async fn project_chats(project: Uuid, limit: u32) -> ApiResult<Page<Chat>> {
    page(&paths::first(&paths::project_chats(project), limit)).await
}

pub async fn create_chat(project: Uuid, chat: &NewChat) -> ApiResult<Chat> {
    data(Verb::Post, &paths::project_chats(project), json(chat)?).await
}

pub async fn chat_messages(chat: Uuid, at: PageQuery) -> ApiResult<Page<Message>> {
    page(&paths::paged(&paths::chat_messages(chat), at)).await
}

// Files.

/// Saves one file; the stored version comes back.
pub async fn write_file(project: Uuid, path: &str, file: &FileWrite) -> ApiResult<FileContent> {
    data(Verb::Put, &paths::project_file(project, path), json(file)?).await
}

/// Writes a change on a picked element back into its source (an undo
/// point comes with it; the new text arrives as `file_end`).
pub async fn visual_edit(
    project: Uuid,
    edit: &minicode::VisualEdit,
) -> ApiResult<serde_json::Value> {
    data(
        Verb::Post,
        &paths::project_visual_edit(project),
        json(edit)?,
    )
    .await
}

/// Uploads a multipart form (`dir`, then `file` parts); the files written.
#[cfg(feature = "hydrate")]
pub async fn upload(
    project: Uuid,
    form: web_sys::FormData,
) -> ApiResult<Page<minicode::FileEntry>> {
    let url = paths::project_files(project);
    let text = exchange(Verb::Post, &url, Body::Form(form)).await?;
    decode(&url, &text)
}

// Images.

/// Stores an image for a prompt or a message: the body is its bytes as they
/// are, `media_type` one of [`minicode::IMAGE_TYPES`]. Its id goes with the
/// message that carries it.
#[cfg(feature = "hydrate")]
pub async fn upload_image(
    project: Uuid,
    image: &web_sys::Blob,
    media_type: &str,
) -> ApiResult<minicode::ImageRef> {
    let body = Body::Blob(image.clone(), media_type.to_string());
    data(Verb::Post, &paths::project_images(project), body).await
}

// Checkpoints and the git history.

/// The newest commits of the project's git history.
pub async fn history(project: Uuid) -> ApiResult<Page<Commit>> {
    page(&paths::first(&paths::project_history(project), LIST)).await
}

pub async fn checkpoints(project: Uuid) -> ApiResult<Page<Checkpoint>> {
    page(&paths::first(&paths::project_checkpoints(project), LIST)).await
}

pub async fn checkpoint(project: Uuid, id: Uuid) -> ApiResult<CheckpointDiff> {
    data(
        Verb::Get,
        &paths::project_checkpoint(project, id),
        Body::None,
    )
    .await
}

pub async fn restore(project: Uuid, id: Uuid) -> ApiResult<Restored> {
    let url = paths::project_checkpoint_restore(project, id);
    data(Verb::Post, &url, Body::None).await
}

// Git credentials for other hosts (listed without their tokens).

pub async fn git_credentials() -> ApiResult<Page<minicode::GitCredential>> {
    page(paths::GIT_CREDENTIALS).await
}

pub async fn save_git_credential(
    credential: &minicode::NewGitCredential,
) -> ApiResult<minicode::GitCredential> {
    data(Verb::Post, paths::GIT_CREDENTIALS, json(credential)?).await
}

pub async fn delete_git_credential(id: Uuid) -> ApiResult<()> {
    done(Verb::Delete, &paths::git_credential(id), Body::None).await
}

// A project's remote.

/// How the project's remote stands against it (404 when it has none).
pub async fn remote_state(project: Uuid) -> ApiResult<minicode::RemoteState> {
    data(Verb::Get, &paths::project_remote(project), Body::None).await
}

pub async fn set_remote(
    project: Uuid,
    remote: &minicode::RemoteUrl,
) -> ApiResult<minicode::RemoteUrl> {
    data(Verb::Put, &paths::project_remote(project), json(remote)?).await
}

/// Pushes; 409 `CONFLICT` when the remote has commits the project lacks
/// and `force` is not set.
pub async fn push(project: Uuid, body: &minicode::PushBody) -> ApiResult<minicode::RemoteState> {
    data(
        Verb::Post,
        &paths::project_remote_push(project),
        json(body)?,
    )
    .await
}

// Publishing.

pub async fn publishing(project: Uuid) -> ApiResult<minicode::Publishing> {
    data(Verb::Get, &paths::project_deployments(project), Body::None).await
}

/// Builds and publishes; answers once the build is over (ready or failed).
pub async fn publish(project: Uuid) -> ApiResult<minicode::Deployment> {
    data(Verb::Post, &paths::project_deployments(project), Body::None).await
}

/// Makes a deployment the live one (a rollback).
pub async fn activate_deployment(
    project: Uuid,
    deployment: Uuid,
) -> ApiResult<minicode::Publishing> {
    let url = paths::project_deployment_activate(project, deployment);
    data(Verb::Post, &url, Body::None).await
}

pub async fn set_site_visibility(
    project: Uuid,
    visibility: minicode::Visibility,
) -> ApiResult<minicode::Site> {
    let body = json(&minicode::SitePatch { visibility })?;
    data(Verb::Patch, &paths::project_site(project), body).await
}

pub async fn unpublish(project: Uuid) -> ApiResult<()> {
    done(Verb::Delete, &paths::project_site(project), Body::None).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_keeps_the_servers_code() {
        let e = refusal(
            409,
            r#"{"error":"a build is running","code":"BUSY","status":409}"#,
        );
        assert_eq!(e.code, ErrorCode::Busy);
        assert_eq!(e.error, "a build is running");
        let limit = refusal(
            429,
            r#"{"error":"used up","code":"QUOTA_EXCEEDED","status":429,
                "limit":{"name":"projects","unit":"count","used":3,"allowed":3,"resetsAt":null}}"#,
        );
        assert_eq!(limit.code, ErrorCode::QuotaExceeded);
        assert_eq!(limit.limit.map(|l| l.name), Some("projects".into()));
    }

    #[test]
    fn an_answer_without_an_api_error_gets_a_code_from_its_status() {
        let e = refusal(502, "<html>Bad Gateway</html>");
        assert_eq!((e.code, e.status), (ErrorCode::Unavailable, 502));
        assert_eq!(e.error, "the server answered 502");
        assert_eq!(refusal(401, "").code, ErrorCode::Unauthorized);
        assert_eq!(refusal(418, "").code, ErrorCode::Internal);
        let offline = unreachable_server();
        assert_eq!((offline.code, offline.status), (ErrorCode::Unavailable, 0));
    }

    #[test]
    fn an_unexpected_answer_says_where_from() {
        let e = decode::<Data<Project>>("/api/projects", "{}").unwrap_err();
        assert_eq!(e.code, ErrorCode::Internal);
        assert!(
            e.error.starts_with("unexpected answer from /api/projects"),
            "{e}"
        );
    }
}
