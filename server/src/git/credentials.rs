//! Each user's credentials for other git hosts: a user name and a token
//! per host, the token sealed with the server's key (`secrets`), bound to
//! its owner and host. Listed without the token; opened only to hand it to
//! git (`remote::Auth`).

use minicode::{GitCredential, NewGitCredential};
use sqlx::Row;
use uuid::Uuid;

use crate::config::secret::Secret;
use crate::db::{now_ms, rfc3339};
use crate::error::{AppError, AppResult};
use crate::secrets::Sealer;
use crate::state::AppState;

fn sealer(state: &AppState) -> AppResult<Sealer> {
    Sealer::load(
        state.config.server.secret_key.as_ref(),
        &state.config.server.data_dir,
    )
    .map_err(|e| AppError::internal(e.to_string()))
}

/// What a sealed token is bound to.
fn context(user: Uuid, host: &str) -> String {
    format!("git-credential:{user}:{host}")
}

/// A host as a credential is looked up by: lower case, an optional port.
fn clean_host(raw: &str) -> AppResult<String> {
    let host = raw.trim().to_ascii_lowercase();
    let ok = !host.is_empty()
        && host.len() <= 260
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
    if !ok {
        return Err(AppError::validation(
            "host must be a host name with an optional port, like github.com or git.example.com:8443",
        ));
    }
    Ok(host)
}

fn clean_field(raw: &str, what: &str, max: usize) -> AppResult<String> {
    let value = raw.trim();
    if value.is_empty() || value.len() > max || value.chars().any(char::is_control) {
        return Err(AppError::validation(format!(
            "{what} must be 1 to {max} characters on one line"
        )));
    }
    Ok(value.to_string())
}

fn from_row(row: &sqlx::any::AnyRow) -> AppResult<GitCredential> {
    Ok(GitCredential {
        id: crate::db::uuid(row.try_get::<String, _>("id")?.as_str()),
        host: row.try_get("host")?,
        username: row.try_get("username")?,
        created_at: rfc3339(row.try_get("created_at")?),
    })
}

/// The user's credentials, by host; never their tokens.
pub async fn list(state: &AppState, user: Uuid) -> AppResult<Vec<GitCredential>> {
    let rows = sqlx::query(
        "SELECT id, host, username, created_at FROM git_credentials WHERE user_id = $1 ORDER BY host",
    )
    .bind(user.to_string())
    .fetch_all(state.db.pool())
    .await?;
    rows.iter().map(from_row).collect()
}

/// Stores the user's credential for a host, replacing the one it had.
#[tracing::instrument(name = "git.credentials.save", skip_all, fields(user_id = %user))]
pub async fn save(state: &AppState, user: Uuid, new: NewGitCredential) -> AppResult<GitCredential> {
    let host = clean_host(&new.host)?;
    let username = clean_field(&new.username, "username", 200)?;
    let token = clean_field(&new.token, "token", 4096)?;
    let sealed = sealer(state)?.seal(&context(user, &host), token.as_bytes());
    let now = now_ms();
    sqlx::query(
        "INSERT INTO git_credentials (id, user_id, host, username, secret, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (user_id, host) DO UPDATE SET username = excluded.username, \
           secret = excluded.secret, created_at = excluded.created_at",
    )
    .bind(Uuid::new_v4().to_string())
    .bind(user.to_string())
    .bind(&host)
    .bind(&username)
    .bind(&sealed)
    .bind(now)
    .execute(state.db.writer())
    .await?;
    let row = sqlx::query(
        "SELECT id, host, username, created_at FROM git_credentials WHERE user_id = $1 AND host = $2",
    )
    .bind(user.to_string())
    .bind(&host)
    .fetch_one(state.db.pool())
    .await?;
    tracing::info!(host, "git credential stored");
    from_row(&row)
}

pub async fn delete(state: &AppState, user: Uuid, id: Uuid) -> AppResult<()> {
    let done = sqlx::query("DELETE FROM git_credentials WHERE id = $1 AND user_id = $2")
        .bind(id.to_string())
        .bind(user.to_string())
        .execute(state.db.writer())
        .await?;
    if done.rows_affected() == 0 {
        return Err(AppError::not_found("credential"));
    }
    Ok(())
}

/// The user's credential for `host`, opened, if there is one.
pub async fn for_host(
    state: &AppState,
    user: Uuid,
    host: &str,
) -> AppResult<Option<super::remote::Auth>> {
    let row = sqlx::query(
        "SELECT username, secret FROM git_credentials WHERE user_id = $1 AND host = $2",
    )
    .bind(user.to_string())
    .bind(host)
    .fetch_optional(state.db.pool())
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let sealed: String = row.try_get("secret")?;
    let token = sealer(state)?
        .open(&context(user, host), &sealed)
        .map_err(|e| AppError::conflict(format!("{e}: store the credential for {host} again")))?;
    Ok(Some(super::remote::Auth {
        username: row.try_get("username")?,
        token: Secret::new(String::from_utf8_lossy(&token).to_string()),
    }))
}
