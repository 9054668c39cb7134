//! What a user does to their own account: change the password, sign out
//! everywhere, delete the account with everything in it. Also the
//! account-wide steps an admin takes (disable, delete), which share them.

use minicode::{ApiError, ErrorCode, PasswordChange};
use uuid::Uuid;

use super::password;
use super::service::{self, AuthMethod, Caller, check_password, confirm_password};
use crate::error::AppResult;
use crate::state::AppState;

/// Sets a new password and ends every session of the account; a browser
/// that made the change gets a fresh session (returned as `Set-Cookie`), an
/// API token caller none. API tokens stay valid: they are listed, and
/// revoked, separately.
#[tracing::instrument(name = "account.change_password", skip_all, fields(user_id = %caller.id()))]
pub async fn change_password(
    state: &AppState,
    caller: &Caller,
    input: PasswordChange,
) -> AppResult<Option<String>> {
    caller.require_write()?;
    check_password(&input.new_password)?;
    confirm_password(state, caller.id(), &input.current_password).await?;
    let hash = password::hash(input.new_password).await?;
    sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
        .bind(hash)
        .bind(caller.id().to_string())
        .execute(state.db.writer())
        .await?;
    let ended = end_sessions(state, caller.id()).await?;
    tracing::info!(sessions_ended = ended, "password changed");
    match caller.method {
        AuthMethod::Cookie => Ok(Some(
            service::start_session(state, caller.user.clone())
                .await?
                .set_cookie,
        )),
        AuthMethod::Token(_) => Ok(None),
    }
}

/// Gives a user who lost their password a new random one (for an admin to
/// pass on) and ends their sessions.
#[tracing::instrument(name = "account.reset_password", skip_all, fields(target_user = %user))]
pub async fn reset_password(state: &AppState, user: Uuid) -> AppResult<String> {
    // 16 random characters from an alphabet without look-alikes (about 90 bits).
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyzACDEFGHJKLMNPQRSTUVWXYZ23456789";
    let fresh: String = (0..16)
        .map(|_| ALPHABET[rand::random_range(0..ALPHABET.len())] as char)
        .collect();
    let hash = password::hash(fresh.clone()).await?;
    let done = sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
        .bind(hash)
        .bind(user.to_string())
        .execute(state.db.writer())
        .await?;
    if done.rows_affected() == 0 {
        return Err(crate::error::AppError::not_found("user"));
    }
    end_sessions(state, user).await?;
    tracing::info!("password reset by an admin");
    Ok(fresh)
}

/// Ends every browser session of the caller, this one included; returns the
/// clearing cookie.
#[tracing::instrument(name = "account.sign_out_everywhere", skip_all, fields(user_id = %caller.id()))]
pub async fn sign_out_everywhere(state: &AppState, caller: &Caller) -> AppResult<String> {
    caller.require_write()?;
    let ended = end_sessions(state, caller.id()).await?;
    tracing::info!(sessions_ended = ended, "signed out everywhere");
    Ok(service::session_cookie(
        "",
        0,
        state.config.cookies_secure(),
    ))
}

/// Deletes the caller's account and all its data, after checking the
/// password. The last admin of a server with other users cannot leave
/// without naming another admin first (nobody could invite or disable then).
#[tracing::instrument(name = "account.delete", skip_all, fields(user_id = %caller.id()))]
pub async fn delete_own(state: &AppState, caller: &Caller, password: &str) -> AppResult<String> {
    caller.require_write()?;
    confirm_password(state, caller.id(), password).await?;
    if caller.user.is_admin {
        let (admins, users): (i64, i64) = sqlx::query_as(
            "SELECT COUNT(CASE WHEN is_admin = 1 AND disabled_at IS NULL THEN 1 END), \
             COUNT(*) FROM users",
        )
        .fetch_one(state.db.pool())
        .await?;
        if admins <= 1 && users > 1 {
            return Err(ApiError::new(
                ErrorCode::Conflict,
                "you are the only admin: make another user an admin before deleting your account",
            )
            .into());
        }
    }
    delete_user(state, caller.id()).await?;
    Ok(service::session_cookie(
        "",
        0,
        state.config.cookies_secure(),
    ))
}

/// Deletes a user and everything they own: the rows go with the cascade
/// (their sessions too, so no new work starts), then each project's running
/// work, app and files on disk (`projects::discard`).
#[tracing::instrument(name = "account.delete_user", skip_all, fields(target_user = %user))]
pub async fn delete_user(state: &AppState, user: Uuid) -> AppResult<()> {
    let projects = project_ids(state, user).await?;
    let done = sqlx::query("DELETE FROM users WHERE id = $1")
        .bind(user.to_string())
        .execute(state.db.writer())
        .await?;
    if done.rows_affected() == 0 {
        return Err(crate::error::AppError::not_found("user"));
    }
    for id in &projects {
        crate::projects::discard(state, *id).await;
    }
    tracing::info!(projects = projects.len(), "account deleted with its data");
    Ok(())
}

/// Disables a user: sessions end, running work and apps stop, tokens stop
/// working (they come back if the user is enabled again).
#[tracing::instrument(name = "account.disable", skip_all, fields(target_user = %user))]
pub async fn disable(state: &AppState, user: Uuid) -> AppResult<()> {
    sqlx::query("UPDATE users SET disabled_at = $1 WHERE id = $2 AND disabled_at IS NULL")
        .bind(crate::db::now_ms())
        .bind(user.to_string())
        .execute(state.db.writer())
        .await?;
    end_sessions(state, user).await?;
    for id in project_ids(state, user).await? {
        state.agents.cancel(id).await;
        state.sandboxes.stop(id).await;
    }
    tracing::info!("account disabled");
    Ok(())
}

pub async fn enable(state: &AppState, user: Uuid) -> AppResult<()> {
    sqlx::query("UPDATE users SET disabled_at = NULL WHERE id = $1")
        .bind(user.to_string())
        .execute(state.db.writer())
        .await?;
    tracing::info!(target_user = %user, "account enabled");
    Ok(())
}

async fn end_sessions(state: &AppState, user: Uuid) -> AppResult<u64> {
    let done = sqlx::query("DELETE FROM sessions WHERE user_id = $1")
        .bind(user.to_string())
        .execute(state.db.writer())
        .await?;
    Ok(done.rows_affected())
}

async fn project_ids(state: &AppState, user: Uuid) -> AppResult<Vec<Uuid>> {
    let ids: Vec<String> = sqlx::query_scalar("SELECT id FROM projects WHERE user_id = $1")
        .bind(user.to_string())
        .fetch_all(state.db.pool())
        .await?;
    Ok(ids.iter().map(|id| crate::db::uuid(id)).collect())
}
