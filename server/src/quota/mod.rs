//! Quotas an operator sets, enforced per user: projects, previews running at
//! once, chat turns and generations per clock hour, and a daily model budget
//! in tokens and (for models whose provider reports a price) in dollars.
//!
//! The defaults come from the configuration (`config.rs`, 0 = unlimited);
//! an operator can override each one per user (`user_quotas`, see
//! [`set_limits`]). Usage is counted from the ledger (`ledger.rs`), which is
//! written once per admitted run or turn and once per model call.
//!
//! Every check happens before the work it guards creates anything: a refused
//! request leaves no project, run, message or event behind. Checks and the
//! row that records the admitted work are made under one lock, so two
//! requests of one user cannot both take the last unit (per server process;
//! behind a load balancer each instance admits on its own). A run or turn in
//! progress is never stopped by a budget: the budget is checked when work
//! starts, so a user can overshoot it by at most the run or turn that
//! crossed it.

pub(crate) mod admissions;
pub(crate) mod config;
pub(crate) mod ledger;
pub(crate) mod routes;

use std::collections::HashSet;

use minicode::usage::{LimitExceeded, LimitUnit, QuotaLimits, QuotaOverrides, micro_usd};
use minicode::{ApiError, ErrorCode};
use sqlx::Row;
use uuid::Uuid;

pub use ledger::{usage_by_user, usage_for};

use crate::agent::registry::Work;
use crate::db::{self, now_ms};
use crate::error::{AppError, AppResult};
use crate::sandbox::Phase;
use crate::state::AppState;
pub use admissions::{Admission, Admissions};

/// The limits in force for `user`: the configured defaults with the user's
/// overrides applied (0 = unlimited).
pub async fn limits_for(state: &AppState, user: Uuid) -> AppResult<QuotaLimits> {
    let overrides = overrides_for(state, user).await?;
    Ok(apply(state.config.quota.defaults(), &overrides))
}

fn apply(defaults: QuotaLimits, o: &QuotaOverrides) -> QuotaLimits {
    let count = |value: Option<i64>, default: u64| value.map_or(default, |v| v.max(0) as u64);
    QuotaLimits {
        projects: count(o.projects, defaults.projects),
        sandboxes: count(o.sandboxes, defaults.sandboxes),
        chat_turns_per_hour: count(o.chat_turns_per_hour, defaults.chat_turns_per_hour),
        generations_per_hour: count(o.generations_per_hour, defaults.generations_per_hour),
        tokens_per_day: count(o.tokens_per_day, defaults.tokens_per_day),
        usd_per_day: o.usd_per_day.map_or(defaults.usd_per_day, |v| v.max(0.0)),
    }
}

/// The operator's overrides for `user` (all `None` when there are none).
pub async fn overrides_for(state: &AppState, user: Uuid) -> AppResult<QuotaOverrides> {
    let row = sqlx::query(
        "SELECT projects, sandboxes, chat_turns_per_hour, generations_per_hour, tokens_per_day, \
         usd_per_day FROM user_quotas WHERE user_id = $1",
    )
    .bind(user.to_string())
    .fetch_optional(state.db.pool())
    .await?;
    row.as_ref()
        .map(overrides_from_row)
        .transpose()
        .map(Option::unwrap_or_default)
}

pub(crate) fn overrides_from_row(row: &sqlx::any::AnyRow) -> AppResult<QuotaOverrides> {
    Ok(QuotaOverrides {
        projects: row.try_get("projects")?,
        sandboxes: row.try_get("sandboxes")?,
        chat_turns_per_hour: row.try_get("chat_turns_per_hour")?,
        generations_per_hour: row.try_get("generations_per_hour")?,
        tokens_per_day: row.try_get("tokens_per_day")?,
        usd_per_day: row.try_get("usd_per_day")?,
    })
}

/// Replaces `user`'s overrides (`None`: the server's default, `0`:
/// unlimited) and returns the limits now in force. For the admin pages.
#[tracing::instrument(name = "quota.set_limits", skip_all, fields(user_id = %user))]
pub async fn set_limits(
    state: &AppState,
    user: Uuid,
    overrides: QuotaOverrides,
) -> AppResult<QuotaLimits> {
    validate(&overrides)?;
    let exists: Option<String> = sqlx::query_scalar("SELECT id FROM users WHERE id = $1")
        .bind(user.to_string())
        .fetch_optional(state.db.pool())
        .await?;
    if exists.is_none() {
        return Err(AppError::not_found("user"));
    }
    sqlx::query(
        "INSERT INTO user_quotas (user_id, projects, sandboxes, chat_turns_per_hour, \
         generations_per_hour, tokens_per_day, usd_per_day, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT (user_id) DO UPDATE SET projects = $2, sandboxes = $3, \
         chat_turns_per_hour = $4, generations_per_hour = $5, tokens_per_day = $6, \
         usd_per_day = $7, updated_at = $8",
    )
    .bind(user.to_string())
    .bind(overrides.projects)
    .bind(overrides.sandboxes)
    .bind(overrides.chat_turns_per_hour)
    .bind(overrides.generations_per_hour)
    .bind(overrides.tokens_per_day)
    .bind(db::OptF64(overrides.usd_per_day))
    .bind(now_ms())
    .execute(state.db.writer())
    .await?;
    tracing::info!(?overrides, "quota overrides set");
    Ok(apply(state.config.quota.defaults(), &overrides))
}

/// Overrides must be 0 (unlimited) or more; the message names the field.
fn validate(o: &QuotaOverrides) -> AppResult<()> {
    for (name, value) in [
        ("projects", o.projects),
        ("sandboxes", o.sandboxes),
        ("chatTurnsPerHour", o.chat_turns_per_hour),
        ("generationsPerHour", o.generations_per_hour),
        ("tokensPerDay", o.tokens_per_day),
    ] {
        if value.is_some_and(|v| v < 0) {
            return Err(AppError::validation(format!(
                "{name} must be 0 (unlimited) or more"
            )));
        }
    }
    if let Some(usd) = o.usd_per_day
        && !(usd.is_finite() && usd >= 0.0)
    {
        return Err(AppError::validation(
            "usdPerDay must be 0 (unlimited) or more dollars",
        ));
    }
    Ok(())
}

/// Checks that `user` may create another project. Hold the returned
/// admission until the project row is stored.
#[tracing::instrument(name = "quota.check_projects", skip_all, fields(user_id = %user))]
pub async fn admit_project(state: &AppState, user: Uuid) -> AppResult<Admission> {
    let admission = state.admissions.enter(&state.db).await?;
    let allowed = limits_for(state, user).await?.projects;
    if allowed > 0 {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM projects WHERE user_id = $1")
            .bind(user.to_string())
            .fetch_one(state.db.pool())
            .await?;
        let used = count.max(0) as u64;
        if used >= allowed {
            return Err(over_limit(
                ErrorCode::QuotaExceeded,
                format!(
                    "You have {used} projects, the most you may have; delete one to create another."
                ),
                "projects",
                LimitUnit::Count,
                used,
                allowed,
                None,
            ));
        }
    }
    Ok(admission)
}

/// Admits a generation run or chat turn of `user` in `project`: checks the
/// per-hour count and the daily budgets (and, for a generation, that a
/// preview can run), then records the start in the ledger. Call it after
/// the project is claimed and before anything is stored; on an error,
/// release the claim. If storing the work fails afterwards, call
/// [`ledger::forget_start`].
#[tracing::instrument(name = "quota.admit", skip_all, fields(user_id = %user, project_id = %project, work = ?work))]
pub async fn admit_work(
    state: &AppState,
    user: Uuid,
    project: Uuid,
    work: Work,
    work_id: Uuid,
    model: &str,
) -> AppResult<()> {
    let _admission = state.admissions.enter(&state.db).await?;
    let limits = limits_for(state, user).await?;
    let now = now_ms();
    let windows = Windows::at(now);
    let (name, allowed, what) = match work {
        Work::Chat => (
            "chat_turns_per_hour",
            limits.chat_turns_per_hour,
            "chat turns",
        ),
        Work::Generation => (
            "generations_per_hour",
            limits.generations_per_hour,
            "generations",
        ),
    };
    if allowed > 0 {
        let used = ledger::starts_since(state, user, work, windows.hour_start).await?;
        if used >= allowed {
            return Err(over_limit(
                ErrorCode::QuotaExceeded,
                format!(
                    "You have used your {allowed} {what} for this hour; more at {}.",
                    clock(windows.hour_end)
                ),
                name,
                LimitUnit::Count,
                used,
                allowed,
                Some(windows.hour_end),
            ));
        }
    }
    if limits.tokens_per_day > 0 || limits.usd_per_day > 0.0 {
        let today = ledger::totals(state, user, windows.day_start, i64::MAX).await?;
        let tokens = today.total_tokens();
        if limits.tokens_per_day > 0 && tokens >= limits.tokens_per_day {
            return Err(over_limit(
                ErrorCode::BudgetExceeded,
                format!(
                    "You have used {tokens} of your {} model tokens for today; more at {} \
                     (midnight UTC).",
                    limits.tokens_per_day,
                    clock(windows.day_end)
                ),
                "tokens_per_day",
                LimitUnit::Tokens,
                tokens,
                limits.tokens_per_day,
                Some(windows.day_end),
            ));
        }
        let spent = micro_usd(today.cost_usd);
        let budget = micro_usd(limits.usd_per_day);
        if budget > 0 && spent >= budget {
            return Err(over_limit(
                ErrorCode::BudgetExceeded,
                format!(
                    "You have spent ${:.2} of your ${:.2} model budget for today; more at {} \
                     (midnight UTC).",
                    today.cost_usd,
                    limits.usd_per_day,
                    clock(windows.day_end)
                ),
                "usd_per_day",
                LimitUnit::MicroUsd,
                spent,
                budget,
                Some(windows.day_end),
            ));
        }
    }
    if work == Work::Generation {
        preview_room(state, user, project, limits.sandboxes, false).await?;
    }
    ledger::record_start(state, user, project, work, work_id, model, now).await?;
    Ok(())
}

/// Makes room for `project`'s preview within its owner's limit on previews
/// running at once: stops the owner's least recently used idle previews
/// (running, with no generation or chat reply in progress) as needed, and
/// says so in both projects' logs. Refuses (429) when not enough can be
/// stopped. Call it before a sandbox installs or starts.
#[tracing::instrument(name = "quota.preview_room", skip_all, fields(project_id = %project))]
pub async fn make_room_for_preview(state: &AppState, project: Uuid) -> AppResult<()> {
    let owner: Option<String> = sqlx::query_scalar("SELECT user_id FROM projects WHERE id = $1")
        .bind(project.to_string())
        .fetch_optional(state.db.pool())
        .await?;
    let Some(owner) = owner else {
        return Err(AppError::not_found("project"));
    };
    let owner = db::uuid(&owner);
    let _admission = state.admissions.enter(&state.db).await?;
    let allowed = limits_for(state, owner).await?.sandboxes;
    preview_room(state, owner, project, allowed, true).await
}

/// The user's other active previews against `allowed`; stops idle ones
/// when `stop` (otherwise only checks that enough could be stopped).
async fn preview_room(
    state: &AppState,
    user: Uuid,
    project: Uuid,
    allowed: u64,
    stop: bool,
) -> AppResult<()> {
    if allowed == 0 {
        return Ok(());
    }
    let active = state.sandboxes.active();
    // Previews the user runs on other instances count too; only the ones
    // here can be stopped to make room.
    let elsewhere = crate::cluster::hosts::sandboxes_elsewhere(state, user, project).await?;
    if active.len() as u64 + elsewhere < allowed {
        return Ok(());
    }
    let owned: HashSet<Uuid> = sqlx::query_scalar("SELECT id FROM projects WHERE user_id = $1")
        .bind(user.to_string())
        .fetch_all(state.db.pool())
        .await?
        .iter()
        .map(|id: &String| db::uuid(id))
        .collect();
    let mut others: Vec<_> = active
        .into_iter()
        .filter(|s| s.project != project && owned.contains(&s.project))
        .collect();
    let used = others.len() as u64 + elsewhere;
    if used < allowed {
        return Ok(());
    }
    let excess = (used + 1 - allowed) as usize;
    // Least recently used first.
    others.sort_by_key(|s| std::cmp::Reverse(s.unused_for));
    let idle: Vec<Uuid> = others
        .iter()
        .filter(|s| s.phase == Phase::Running && state.agents.busy(s.project).is_none())
        .map(|s| s.project)
        .take(excess)
        .collect();
    if idle.len() < excess {
        return Err(over_limit(
            ErrorCode::QuotaExceeded,
            format!(
                "You already run {used} previews, the most you may run at once, and none of them \
                 is idle; stop one, or wait for its generation or chat reply to finish."
            ),
            "sandboxes",
            LimitUnit::Count,
            used,
            allowed,
            None,
        ));
    }
    if stop {
        for victim in idle {
            tracing::info!(stopped = %victim, for_project = %project, allowed, "stopping the least recently used preview to stay within the quota");
            state
                .sandboxes
                .stop_with_note(
                    victim,
                    &format!(
                        "minicode: stopped this preview to make room for another one \
                         (at most {allowed} may run at once); opening it starts it again"
                    ),
                )
                .await;
            state.sandboxes.note(
                project,
                &format!(
                    "minicode: stopped the least recently used preview ({victim}) to stay \
                     within {allowed} running at once"
                ),
            );
        }
    }
    Ok(())
}

/// A 429 or 402 with the `limit` body and, when the limit resets, `Retry-After`.
fn over_limit(
    code: ErrorCode,
    message: String,
    name: &str,
    unit: LimitUnit,
    used: u64,
    allowed: u64,
    resets_at_ms: Option<i64>,
) -> AppError {
    let now = now_ms();
    AppError::OverLimit {
        error: ApiError::limit(
            code,
            message,
            LimitExceeded {
                name: name.to_string(),
                unit,
                used,
                allowed,
                resets_at: resets_at_ms.map(db::rfc3339),
            },
        ),
        retry_after_secs: resets_at_ms.map(|at| ((at - now).max(0) as u64).div_ceil(1000).max(1)),
    }
}

/// `14:00 UTC`.
fn clock(ms: i64) -> String {
    let minutes = ms.div_euclid(60_000);
    format!(
        "{:02}:{:02} UTC",
        minutes.div_euclid(60).rem_euclid(24),
        minutes.rem_euclid(60)
    )
}

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;

/// The windows limits count in: the current UTC clock hour, day and month.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Windows {
    pub hour_start: i64,
    pub hour_end: i64,
    pub day_start: i64,
    pub day_end: i64,
    pub month_start: i64,
}

impl Windows {
    /// The windows around `now` (ms since the epoch, which has no leap seconds).
    pub fn at(now: i64) -> Windows {
        let hour_start = now - now.rem_euclid(HOUR_MS);
        let day_start = now - now.rem_euclid(DAY_MS);
        let month_start = time::OffsetDateTime::from_unix_timestamp(day_start / 1000)
            .ok()
            .and_then(|t| t.replace_day(1).ok())
            .map_or(day_start, |t| t.unix_timestamp() * 1000);
        Windows {
            hour_start,
            hour_end: hour_start + HOUR_MS,
            day_start,
            day_end: day_start + DAY_MS,
            month_start,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_utc_clock_hours_days_and_months() {
        // 2024-02-29T13:37:05.123Z
        let now = 1_709_213_825_123;
        let w = Windows::at(now);
        assert_eq!(db::rfc3339(w.hour_start), "2024-02-29T13:00:00Z");
        assert_eq!(db::rfc3339(w.hour_end), "2024-02-29T14:00:00Z");
        assert_eq!(db::rfc3339(w.day_start), "2024-02-29T00:00:00Z");
        assert_eq!(db::rfc3339(w.day_end), "2024-03-01T00:00:00Z");
        assert_eq!(db::rfc3339(w.month_start), "2024-02-01T00:00:00Z");
        assert_eq!(clock(w.hour_end), "14:00 UTC");
        assert_eq!(clock(w.day_end), "00:00 UTC");
    }

    #[test]
    fn overrides_replace_defaults_and_zero_is_unlimited() {
        let defaults = QuotaLimits {
            projects: 100,
            sandboxes: 2,
            chat_turns_per_hour: 60,
            generations_per_hour: 30,
            tokens_per_day: 1000,
            usd_per_day: 5.0,
        };
        let o = QuotaOverrides {
            projects: Some(3),
            tokens_per_day: Some(0),
            usd_per_day: Some(0.5),
            ..QuotaOverrides::default()
        };
        let l = apply(defaults.clone(), &o);
        assert_eq!(l.projects, 3);
        assert_eq!(l.tokens_per_day, 0);
        assert_eq!(l.usd_per_day, 0.5);
        assert_eq!(l.sandboxes, 2);
        assert_eq!(
            apply(defaults.clone(), &QuotaOverrides::default()),
            defaults
        );
    }

    #[test]
    fn negative_overrides_are_refused_by_name() {
        let err = validate(&QuotaOverrides {
            chat_turns_per_hour: Some(-1),
            ..QuotaOverrides::default()
        })
        .unwrap_err();
        assert!(err.to_string().contains("chatTurnsPerHour"), "{err}");
        assert!(
            validate(&QuotaOverrides {
                usd_per_day: Some(f64::NAN),
                ..QuotaOverrides::default()
            })
            .is_err()
        );
    }

    #[test]
    fn over_limit_says_when_to_retry() {
        let e = over_limit(
            ErrorCode::QuotaExceeded,
            "x".into(),
            "chat_turns_per_hour",
            LimitUnit::Count,
            3,
            3,
            Some(now_ms() + 1_500),
        );
        match e {
            AppError::OverLimit {
                error,
                retry_after_secs,
            } => {
                assert!(
                    matches!(retry_after_secs, Some(1 | 2)),
                    "{retry_after_secs:?}"
                );
                assert_eq!(error.status, 429);
                assert!(error.limit.unwrap().resets_at.is_some());
            }
            other => panic!("{other:?}"),
        }
    }
}
