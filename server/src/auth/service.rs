//! Accounts, sessions and API tokens: the rules, used by both the REST routes
//! and the UI's server functions.

use std::net::IpAddr;

use axum::http::HeaderMap;
use axum::http::header::{AUTHORIZATION, COOKIE};
use minicode::{
    ApiError, ApiToken, CreatedApiToken, Credentials, DEFAULT_TOKEN_DAYS, ErrorCode,
    MAX_NAME_CHARS, MAX_TOKEN_DAYS, NewApiToken, PASSWORD_CHARS, Page, PageQuery, RegistrationMode,
    TokenScope, USERNAME_CHARS, User,
};
use sqlx::Row;
use uuid::Uuid;

use super::password;
use super::secret::{random_secret, sha256_hex};
use crate::db::{self, now_ms, rfc3339};
use crate::error::{AppError, AppResult, ResultExt};
use crate::state::AppState;

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "minicode_session";
/// The name over https: the `__Host-` prefix makes browsers refuse it from
/// anything but minicode's own host (no `Domain`, `Secure`, `Path=/`), so a
/// page on a sibling host (a preview on `*.preview.example.com`) cannot
/// plant a session of its choosing with `Domain=example.com`.
pub const SECURE_SESSION_COOKIE: &str = "__Host-minicode_session";

/// The session cookie's name for this server.
pub fn session_cookie_name(secure: bool) -> &'static str {
    if secure {
        SECURE_SESSION_COOKIE
    } else {
        SESSION_COOKIE
    }
}
/// Every API token starts with this, so leaked tokens are easy to scan for.
pub const TOKEN_PREFIX: &str = "mc_";

/// How the caller proved who they are. Cookie-authenticated writes need the
/// CSRF check; token-authenticated ones do not, but a read-only token may
/// not write at all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthMethod {
    Cookie,
    Token(TokenScope),
}

/// The authenticated user of a request.
#[derive(Clone, Debug)]
pub struct Caller {
    pub user: User,
    pub method: AuthMethod,
}

impl Caller {
    pub fn id(&self) -> Uuid {
        self.user.id
    }

    /// A read-only API token: it may look but not change anything.
    pub fn read_only(&self) -> bool {
        self.method == AuthMethod::Token(TokenScope::Read)
    }

    /// Refuses a change requested with a read-only token.
    pub fn require_write(&self) -> AppResult<()> {
        if self.read_only() {
            return Err(ApiError::new(
                ErrorCode::Forbidden,
                "this API token is read-only; create a token with full access to make changes",
            )
            .into());
        }
        Ok(())
    }

    /// Refuses anyone but an admin.
    pub fn require_admin(&self) -> AppResult<()> {
        if !self.user.is_admin {
            return Err(ApiError::new(ErrorCode::Forbidden, "only an admin may do that").into());
        }
        Ok(())
    }
}

/// A fresh session: the user and the `Set-Cookie` header value.
pub struct NewSession {
    pub user: User,
    pub set_cookie: String,
}

/// Lower-cases and checks a username: 3–32 of `a-z 0-9 _ . -`.
pub fn normalize_username(raw: &str) -> AppResult<String> {
    let name = raw.trim().to_lowercase();
    let len = name.chars().count();
    if !USERNAME_CHARS.contains(&len) {
        return Err(AppError::validation(format!(
            "username must be {} to {} characters",
            USERNAME_CHARS.start(),
            USERNAME_CHARS.end()
        )));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '.' | '-'))
    {
        return Err(AppError::validation(
            "username may only contain letters, digits, _ . and -",
        ));
    }
    Ok(name)
}

pub(crate) fn check_password(password: &str) -> AppResult<()> {
    let len = password.chars().count();
    if !PASSWORD_CHARS.contains(&len) {
        return Err(AppError::validation(format!(
            "password must be {} to {} characters",
            PASSWORD_CHARS.start(),
            PASSWORD_CHARS.end()
        )));
    }
    Ok(())
}

fn user_from_row(row: &sqlx::any::AnyRow) -> AppResult<User> {
    Ok(User {
        id: db::uuid(row.try_get::<String, _>("id")?.as_str()),
        username: row.try_get("username")?,
        created_at: rfc3339(row.try_get("created_at")?),
        is_admin: row.try_get::<i64, _>("is_admin")? != 0,
    })
}

/// The columns `user_from_row` reads, from a table aliased `u`.
pub(crate) const USER_COLUMNS: &str = "u.id, u.username, u.created_at, u.is_admin";

fn registration_closed(message: impl Into<String>) -> AppError {
    ApiError::new(ErrorCode::RegistrationClosed, message).into()
}

/// Whether an account can be created right now, for the sign-up form.
pub async fn registration(state: &AppState) -> AppResult<minicode::Registration> {
    let (users,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM users")
        .fetch_one(state.db.pool())
        .await?;
    let mode = super::invites::effective_mode(state);
    let first_account = users == 0;
    Ok(minicode::Registration {
        mode,
        first_account,
        accepting: first_account || mode != RegistrationMode::Closed,
    })
}

/// Creates an account and signs it in. The first account of a server becomes
/// its admin; after that, `MINICODE_REGISTRATION` decides who may register.
#[tracing::instrument(name = "auth.register", skip_all, fields(username = %input.username.trim()))]
pub async fn register(state: &AppState, ip: IpAddr, input: Credentials) -> AppResult<NewSession> {
    state.auth_limiter.check(&format!("register:{ip}")).await?;
    let username = normalize_username(&input.username)?;
    check_password(&input.password)?;
    let invite = input
        .invite
        .as_deref()
        .map(str::trim)
        .filter(|code| !code.is_empty());
    let open = registration(state).await?;
    if !open.first_account {
        match open.mode {
            RegistrationMode::Open => {}
            RegistrationMode::Invite if invite.is_some() => {}
            RegistrationMode::Invite => {
                return Err(registration_closed(
                    "registration on this server is by invitation: ask an admin for an invite link",
                ));
            }
            RegistrationMode::Closed
                if state.config.sandbox.kind == crate::sandbox::SandboxKind::ProcessUnsafe =>
            {
                return Err(registration_closed(
                    "registration is closed: this server runs apps without a sandbox \
                     (MINICODE_SANDBOX=process-unsafe), so it has one account only",
                ));
            }
            RegistrationMode::Closed => {
                return Err(registration_closed("registration is closed on this server"));
            }
        }
    }
    let hash = password::hash(input.password).await?;
    let id = Uuid::new_v4();
    let now = now_ms();
    // The account and the use of its invitation are one change: a used,
    // revoked or expired code creates nothing.
    let mut tx = state.db.writer().begin().await?;
    // The first account is the admin; decided inside the insert, so it is
    // the state of the table at that moment that counts.
    sqlx::query(
        "INSERT INTO users (id, username, password_hash, created_at, is_admin) \
         SELECT $1, $2, $3, $4, CASE WHEN EXISTS (SELECT 1 FROM users) THEN 0 ELSE 1 END",
    )
    .bind(id.to_string())
    .bind(&username)
    .bind(hash)
    .bind(now)
    .execute(&mut *tx)
    .await
    .on_unique_violation("that username is taken")?;
    if let (false, RegistrationMode::Invite, Some(code)) = (open.first_account, open.mode, invite) {
        super::invites::redeem(&mut tx, code, id, now).await?;
    }
    let row = sqlx::query(&format!(
        "SELECT {USER_COLUMNS} FROM users u WHERE u.id = $1"
    ))
    .bind(id.to_string())
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    let user = user_from_row(&row)?;
    tracing::info!(user_id = %user.id, admin = user.is_admin, "account created");
    start_session(state, user).await
}

/// Checks the credentials and starts a new session. The id is new every time
/// and the session the request arrived with (if any) is ended, so a session id
/// planted before sign-in is never promoted (session fixation).
#[tracing::instrument(name = "auth.login", skip_all)]
pub async fn login(
    state: &AppState,
    ip: IpAddr,
    headers: &HeaderMap,
    input: Credentials,
) -> AppResult<NewSession> {
    state.auth_limiter.check(&format!("login:{ip}")).await?;
    let username = input.username.trim().to_lowercase();
    state
        .auth_limiter
        .check(&format!("login-user:{username}"))
        .await?;
    let row = sqlx::query(
        "SELECT id, username, password_hash, created_at, is_admin, disabled_at FROM users \
         WHERE username = $1",
    )
    .bind(&username)
    .fetch_optional(state.db.pool())
    .await?;
    let wrong = || {
        AppError::Api(minicode::ApiError::new(
            minicode::ErrorCode::Unauthorized,
            "wrong username or password",
        ))
    };
    let Some(row) = row else {
        // Spend the same time as a real check so timing does not reveal which usernames exist.
        password::hash(input.password).await?;
        return Err(wrong());
    };
    let stored: String = row.try_get("password_hash")?;
    if !password::verify(input.password, stored).await? {
        tracing::info!("failed sign-in");
        return Err(wrong());
    }
    if row.try_get::<Option<i64>, _>("disabled_at")?.is_some() {
        tracing::info!("sign-in to a disabled account");
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            "this account has been disabled by an administrator",
        )
        .into());
    }
    let user = user_from_row(&row)?;
    if let Some(previous) = session_from_headers(headers, state.config.cookies_secure()) {
        sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
            .bind(sha256_hex(&previous))
            .execute(state.db.writer())
            .await?;
    }
    tracing::info!(user_id = %user.id, "signed in");
    start_session(state, user).await
}

pub(crate) async fn start_session(state: &AppState, user: User) -> AppResult<NewSession> {
    let secret = random_secret();
    let now = now_ms();
    let ttl = state.config.auth.session_ttl();
    let expires = now + i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX / 2);
    sqlx::query(
        "INSERT INTO sessions (id_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(sha256_hex(&secret))
    .bind(user.id.to_string())
    .bind(now)
    .bind(expires)
    .execute(state.db.writer())
    .await?;
    Ok(NewSession {
        set_cookie: session_cookie(&secret, ttl.as_secs(), state.config.cookies_secure()),
        user,
    })
}

/// The `Set-Cookie` value for a session; an empty value with `Max-Age=0` clears it.
pub fn session_cookie(value: &str, max_age_secs: u64, secure: bool) -> String {
    format!(
        "{}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}{}",
        session_cookie_name(secure),
        if secure { "; Secure" } else { "" }
    )
}

/// Ends the session the request carries (if any) and returns the clearing cookie.
#[tracing::instrument(name = "auth.logout", skip_all)]
pub async fn logout(state: &AppState, headers: &HeaderMap) -> AppResult<String> {
    if let Some(secret) = session_from_headers(headers, state.config.cookies_secure()) {
        sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
            .bind(sha256_hex(&secret))
            .execute(state.db.writer())
            .await?;
    }
    Ok(session_cookie("", 0, state.config.cookies_secure()))
}

/// The session cookie's value, if the request has one. Over https only the
/// `__Host-` name counts: an unprefixed one may have been planted.
pub fn session_from_headers(headers: &HeaderMap, secure: bool) -> Option<String> {
    cookie_value(headers, session_cookie_name(secure))
}

/// The non-empty value of cookie `name`, if the request has one.
pub fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, value)| *n == name && !value.is_empty())
        .map(|(_, value)| value.to_string())
}

/// The bearer token of the request, if it has an `Authorization: Bearer` header.
pub fn bearer_from_headers(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_string())
}

/// Who is calling: a bearer token wins over a cookie. A presented but invalid
/// token is an error rather than a silent fall-back to the cookie.
pub async fn authenticate(state: &AppState, headers: &HeaderMap) -> AppResult<Option<Caller>> {
    if let Some(token) = bearer_from_headers(headers) {
        return match user_for_token(state, &token).await? {
            Some((user, scope)) => Ok(Some(Caller {
                user,
                method: AuthMethod::Token(scope),
            })),
            None => Err(AppError::unauthorized()),
        };
    }
    let Some(secret) = session_from_headers(headers, state.config.cookies_secure()) else {
        return Ok(None);
    };
    Ok(user_for_session(state, &secret).await?.map(|user| Caller {
        user,
        method: AuthMethod::Cookie,
    }))
}

pub async fn user_for_session(state: &AppState, secret: &str) -> AppResult<Option<User>> {
    let row = sqlx::query(&format!(
        "SELECT {USER_COLUMNS} FROM sessions s JOIN users u ON u.id = s.user_id \
         WHERE s.id_hash = $1 AND s.expires_at > $2 AND u.disabled_at IS NULL"
    ))
    .bind(sha256_hex(secret))
    .bind(now_ms())
    .fetch_optional(state.db.pool())
    .await?;
    row.as_ref().map(user_from_row).transpose()
}

/// How often a token's `last_used_at` is written at most.
const TOKEN_USE_RECORDED_EVERY_MS: i64 = 60_000;

/// Resolves an API token (also used for `?token=` on the WebSocket): its
/// user and what it may do. Expired tokens and disabled users' are refused.
pub async fn user_for_token(
    state: &AppState,
    token: &str,
) -> AppResult<Option<(User, TokenScope)>> {
    if !token.starts_with(TOKEN_PREFIX) {
        return Ok(None);
    }
    let hash = sha256_hex(token);
    let now = now_ms();
    let row = sqlx::query(&format!(
        "SELECT {USER_COLUMNS}, t.scope, t.last_used_at FROM api_tokens t JOIN users u ON u.id = t.user_id \
         WHERE t.token_hash = $1 AND (t.expires_at IS NULL OR t.expires_at > $2) \
         AND u.disabled_at IS NULL"
    ))
    .bind(&hash)
    .bind(now)
    .fetch_optional(state.db.pool())
    .await?;
    let Some(row) = row else { return Ok(None) };
    let scope = scope_from_str(&row.try_get::<String, _>("scope")?);
    // Record use at most once a minute. The row read above says whether it
    // is due, so a token used again within the minute costs no trip to the
    // single writer (a burst of WebSocket handshakes queued behind it).
    let stale = now - TOKEN_USE_RECORDED_EVERY_MS;
    let last_used = row.try_get::<Option<i64>, _>("last_used_at")?;
    if last_used.is_none_or(|at| at < stale) {
        sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE token_hash = $2 AND (last_used_at IS NULL OR last_used_at < $3)")
            .bind(now)
            .bind(&hash)
            .bind(stale)
            .execute(state.db.writer())
            .await?;
    }
    Ok(Some((user_from_row(&row)?, scope)))
}

/// Unknown scopes (there are none today) read as the narrowest.
fn scope_from_str(value: &str) -> TokenScope {
    match value {
        "full" => TokenScope::Full,
        _ => TokenScope::Read,
    }
}

fn token_from_row(row: &sqlx::any::AnyRow) -> AppResult<ApiToken> {
    Ok(ApiToken {
        id: db::uuid(row.try_get::<String, _>("id")?.as_str()),
        name: row.try_get("name")?,
        prefix: row.try_get("prefix")?,
        created_at: rfc3339(row.try_get("created_at")?),
        last_used_at: row.try_get::<Option<i64>, _>("last_used_at")?.map(rfc3339),
        scope: scope_from_str(&row.try_get::<String, _>("scope")?),
        expires_at: row.try_get::<Option<i64>, _>("expires_at")?.map(rfc3339),
    })
}

/// Checks the signed-in user's password again before a sensitive change
/// (minting a token, deleting the account). Rate-limited per user, so a
/// stolen session cannot be used to guess the password.
pub(crate) async fn confirm_password(
    state: &AppState,
    user: Uuid,
    password: &str,
) -> AppResult<String> {
    state.auth_limiter.check(&format!("confirm:{user}")).await?;
    let stored: String = sqlx::query_scalar("SELECT password_hash FROM users WHERE id = $1")
        .bind(user.to_string())
        .fetch_one(state.db.pool())
        .await?;
    if !password::verify(password.to_string(), stored.clone()).await? {
        tracing::info!("wrong password on confirmation");
        return Err(ApiError::new(ErrorCode::Forbidden, "the password is not right").into());
    }
    Ok(stored)
}

/// Creates a personal API token. The secret is in the answer and nowhere else.
#[tracing::instrument(name = "auth.create_token", skip_all, fields(user_id = %caller.id()))]
pub async fn create_token(
    state: &AppState,
    caller: &Caller,
    input: NewApiToken,
) -> AppResult<CreatedApiToken> {
    caller.require_write()?;
    let name = input.name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        return Err(AppError::validation(format!(
            "token name must be 1 to {MAX_NAME_CHARS} characters"
        )));
    }
    let days = input.expires_in_days.unwrap_or(DEFAULT_TOKEN_DAYS);
    if !(1..=MAX_TOKEN_DAYS).contains(&days) {
        return Err(AppError::validation(format!(
            "a token lasts 1 to {MAX_TOKEN_DAYS} days"
        )));
    }
    confirm_password(state, caller.id(), &input.password).await?;
    let secret = format!("{TOKEN_PREFIX}{}", random_secret());
    let prefix: String = secret.chars().take(TOKEN_PREFIX.len() + 6).collect();
    let id = Uuid::new_v4();
    let now = now_ms();
    let expires = now + i64::from(days) * 86_400_000;
    sqlx::query(
        "INSERT INTO api_tokens (id, user_id, name, prefix, token_hash, created_at, scope, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(id.to_string())
    .bind(caller.id().to_string())
    .bind(name)
    .bind(&prefix)
    .bind(sha256_hex(&secret))
    .bind(now)
    .bind(input.scope.as_str())
    .bind(expires)
    .execute(state.db.writer())
    .await?;
    tracing::info!(token_id = %id, scope = input.scope.as_str(), days, "api token created");
    Ok(CreatedApiToken {
        token: ApiToken {
            id,
            name: name.to_string(),
            prefix,
            created_at: rfc3339(now),
            last_used_at: None,
            scope: input.scope,
            expires_at: Some(rfc3339(expires)),
        },
        secret,
    })
}

pub async fn list_tokens(
    state: &AppState,
    caller: &Caller,
    page: PageQuery,
) -> AppResult<Page<ApiToken>> {
    let (limit, offset) = crate::db::page_bounds(page)?;
    let rows = sqlx::query(
        "SELECT id, name, prefix, created_at, last_used_at, scope, expires_at FROM api_tokens \
         WHERE user_id = $1 \
         ORDER BY created_at DESC, id LIMIT $2 OFFSET $3",
    )
    .bind(caller.id().to_string())
    .bind(limit)
    .bind(offset)
    .fetch_all(state.db.pool())
    .await?;
    let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM api_tokens WHERE user_id = $1")
        .bind(caller.id().to_string())
        .fetch_one(state.db.pool())
        .await?;
    Ok(Page {
        data: rows.iter().map(token_from_row).collect::<AppResult<_>>()?,
        total: total.max(0) as u64,
    })
}

/// Revokes one of the caller's tokens; someone else's token id is a 404.
pub async fn revoke_token(state: &AppState, caller: &Caller, id: Uuid) -> AppResult<()> {
    caller.require_write()?;
    let done = sqlx::query("DELETE FROM api_tokens WHERE id = $1 AND user_id = $2")
        .bind(id.to_string())
        .bind(caller.id().to_string())
        .execute(state.db.writer())
        .await?;
    if done.rows_affected() == 0 {
        return Err(AppError::not_found("token"));
    }
    tracing::info!(token_id = %id, "api token revoked");
    Ok(())
}

/// Deletes expired sessions; run periodically.
pub async fn purge_expired_sessions(state: &AppState) -> AppResult<u64> {
    let done = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
        .bind(now_ms())
        .execute(state.db.writer())
        .await?;
    Ok(done.rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn usernames_are_normalised_and_checked() {
        assert_eq!(normalize_username("  Ada.L ").unwrap(), "ada.l");
        assert!(normalize_username("ab").is_err());
        assert!(normalize_username("has space").is_err());
        assert!(normalize_username(&"x".repeat(33)).is_err());
        assert!(normalize_username("ünïcode").is_err());
    }

    #[test]
    fn reads_the_session_cookie_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            COOKIE,
            HeaderValue::from_static("a=1; minicode_session=abc; b=2"),
        );
        assert_eq!(
            session_from_headers(&headers, false).as_deref(),
            Some("abc")
        );
        headers.insert(COOKIE, HeaderValue::from_static("minicode_session="));
        assert_eq!(session_from_headers(&headers, false), None);
    }

    /// Over https a sibling host could plant `minicode_session` with a
    /// `Domain` attribute; only the `__Host-` cookie, which it cannot set,
    /// is read.
    #[test]
    fn over_https_only_the_host_prefixed_session_counts() {
        let mut headers = HeaderMap::new();
        headers.insert(
            COOKIE,
            HeaderValue::from_static("minicode_session=planted; __Host-minicode_session=real"),
        );
        assert_eq!(
            session_from_headers(&headers, true).as_deref(),
            Some("real")
        );
        headers.insert(COOKIE, HeaderValue::from_static("minicode_session=planted"));
        assert_eq!(session_from_headers(&headers, true), None);
        assert!(session_cookie("v", 60, true).starts_with("__Host-minicode_session=v; Path=/;"));
        assert!(session_cookie("v", 60, false).starts_with("minicode_session=v;"));
    }

    #[test]
    fn reads_bearer_tokens() {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, HeaderValue::from_static("Bearer mc_x"));
        assert_eq!(bearer_from_headers(&headers).as_deref(), Some("mc_x"));
        headers.insert(AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(bearer_from_headers(&headers), None);
    }

    #[test]
    fn cookie_attributes() {
        let c = session_cookie("v", 60, true);
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Lax") && c.ends_with("; Secure"));
        assert!(!session_cookie("v", 60, false).contains("Secure"));
    }
}
