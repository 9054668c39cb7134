//! Invitations: while registration is by invite, an admin hands out
//! single-use codes (as links `/?invite=<code>`), and registering with one
//! uses it up. Codes are stored as their SHA-256, like sessions and tokens.

use minicode::{ApiError, CreatedInvite, ErrorCode, Invite, NewInvite, Page, PageQuery};
use sqlx::Row;
use uuid::Uuid;

use super::secret::{random_secret, sha256_hex};
use crate::db::{self, now_ms, rfc3339};
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// The registration mode in force: `MINICODE_REGISTRATION`, except that a
/// server running apps without a sandbox never takes a second account
/// (unsandboxed apps can read the database).
pub fn effective_mode(state: &AppState) -> minicode::RegistrationMode {
    if state.config.sandbox.kind == crate::sandbox::SandboxKind::ProcessUnsafe {
        minicode::RegistrationMode::Closed
    } else {
        state.config.auth.registration.mode()
    }
}

/// Longest lifetime of an invitation, in days.
const MAX_INVITE_DAYS: u32 = 30;
/// Lifetime when the admin does not say, in days.
const DEFAULT_INVITE_DAYS: u32 = 7;
/// Longest note an admin may attach (who the invite is for).
const MAX_NOTE_CHARS: usize = 200;

fn invite_from_row(row: &sqlx::any::AnyRow) -> AppResult<Invite> {
    Ok(Invite {
        id: db::uuid(row.try_get::<String, _>("id")?.as_str()),
        note: row.try_get("note")?,
        created_at: rfc3339(row.try_get("created_at")?),
        expires_at: rfc3339(row.try_get("expires_at")?),
        used_by: row.try_get("used_by_name")?,
        used_at: row.try_get::<Option<i64>, _>("used_at")?.map(rfc3339),
    })
}

/// Creates an invitation. The code is in the answer and nowhere else.
#[tracing::instrument(name = "invites.create", skip_all, fields(admin_id = %admin))]
pub async fn create(state: &AppState, admin: Uuid, input: NewInvite) -> AppResult<CreatedInvite> {
    let mode = effective_mode(state);
    if mode != minicode::RegistrationMode::Invite {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            format!(
                "registration on this server is {} (MINICODE_REGISTRATION): invitations only work when it is `invite`",
                mode.as_str()
            ),
        )
        .into());
    }
    let note = input.note.trim();
    if note.chars().count() > MAX_NOTE_CHARS {
        return Err(AppError::validation(format!(
            "the note may have at most {MAX_NOTE_CHARS} characters"
        )));
    }
    let days = input.expires_in_days.unwrap_or(DEFAULT_INVITE_DAYS);
    if !(1..=MAX_INVITE_DAYS).contains(&days) {
        return Err(AppError::validation(format!(
            "an invitation lasts 1 to {MAX_INVITE_DAYS} days"
        )));
    }
    let code = random_secret();
    let id = Uuid::new_v4();
    let now = now_ms();
    let expires = now + i64::from(days) * 86_400_000;
    sqlx::query(
        "INSERT INTO invites (id, code_hash, note, created_by, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id.to_string())
    .bind(sha256_hex(&code))
    .bind(note)
    .bind(admin.to_string())
    .bind(now)
    .bind(expires)
    .execute(state.db.writer())
    .await?;
    tracing::info!(invite_id = %id, days, "invitation created");
    Ok(CreatedInvite {
        invite: Invite {
            id,
            note: note.to_string(),
            created_at: rfc3339(now),
            expires_at: rfc3339(expires),
            used_by: None,
            used_at: None,
        },
        path: format!("/?invite={code}"),
        code,
    })
}

/// Every invitation, newest first, with who used it.
pub async fn list(state: &AppState, page: PageQuery) -> AppResult<Page<Invite>> {
    let (limit, offset) = crate::db::page_bounds(page)?;
    let rows = sqlx::query(
        "SELECT i.id, i.note, i.created_at, i.expires_at, i.used_at, u.username AS used_by_name \
         FROM invites i LEFT JOIN users u ON u.id = i.used_by \
         ORDER BY i.created_at DESC, i.id LIMIT $1 OFFSET $2",
    )
    .bind(limit)
    .bind(offset)
    .fetch_all(state.db.pool())
    .await?;
    let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM invites")
        .fetch_one(state.db.pool())
        .await?;
    Ok(Page {
        data: rows.iter().map(invite_from_row).collect::<AppResult<_>>()?,
        total: total.max(0) as u64,
    })
}

/// Withdraws an unused invitation. A used one stays as a record of who came in.
pub async fn revoke(state: &AppState, id: Uuid) -> AppResult<()> {
    let done = sqlx::query("DELETE FROM invites WHERE id = $1 AND used_at IS NULL")
        .bind(id.to_string())
        .execute(state.db.writer())
        .await?;
    if done.rows_affected() == 0 {
        return Err(AppError::not_found("unused invitation"));
    }
    tracing::info!(invite_id = %id, "invitation revoked");
    Ok(())
}

/// Uses up an invitation for the account `user`, inside the transaction that
/// creates the account, so a bad code leaves no account behind.
pub(super) async fn redeem(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    code: &str,
    user: Uuid,
    now: i64,
) -> AppResult<()> {
    let done = sqlx::query(
        "UPDATE invites SET used_by = $1, used_at = $2 \
         WHERE code_hash = $3 AND used_at IS NULL AND expires_at > $2",
    )
    .bind(user.to_string())
    .bind(now)
    .bind(sha256_hex(code))
    .execute(&mut **tx)
    .await?;
    if done.rows_affected() == 0 {
        return Err(ApiError::new(
            ErrorCode::RegistrationClosed,
            "this invitation cannot be used: it was already used, withdrawn or has expired",
        )
        .into());
    }
    Ok(())
}
