//! The usage ledger (`usage_events`): what quotas count and what users and
//! operators are shown.
//!
//! A row with event `start` is written when a run or turn is admitted (the
//! per-hour limits count these), and a `model_call` row for every model
//! call with the tokens and cost the provider reported. Rows keep their
//! project id after the project is deleted, so a user's totals never shrink.

use std::collections::HashMap;

use minicode::Usage;
use minicode::usage::{
    LimitStatus, LimitUnit, ProjectUsage, QuotaLimits, UsageReport, UsageTotals, UserUsage,
    micro_usd,
};
use sqlx::Row;
use uuid::Uuid;

use super::{Windows, limits_for, overrides_from_row};
use crate::agent::registry::Work;
use crate::db::{self, now_ms};
use crate::error::AppResult;
use crate::state::AppState;

fn kind(work: Work) -> &'static str {
    match work {
        Work::Generation => "generation",
        Work::Chat => "chat",
    }
}

/// Records an admitted run or turn (called by `quota::admit_work`).
pub(super) async fn record_start(
    state: &AppState,
    user: Uuid,
    project: Uuid,
    work: Work,
    work_id: Uuid,
    model: &str,
    at: i64,
) -> AppResult<()> {
    sqlx::query(
        "INSERT INTO usage_events (id, user_id, project_id, work_id, kind, event, model, \
         input_tokens, output_tokens, cost_usd, created_at) \
         VALUES ($1, $2, $3, $4, $5, 'start', $6, 0, 0, NULL, $7)",
    )
    .bind(Uuid::new_v4().to_string())
    .bind(user.to_string())
    .bind(project.to_string())
    .bind(work_id.to_string())
    .bind(kind(work))
    .bind(model)
    .bind(at)
    .execute(state.db.writer())
    .await?;
    Ok(())
}

/// Removes the start row of work that was admitted but could not be stored
/// (a database error right after admission), so it does not count.
pub async fn forget_start(state: &AppState, work_id: Uuid) {
    let removed = sqlx::query("DELETE FROM usage_events WHERE work_id = $1 AND event = 'start'")
        .bind(work_id.to_string())
        .execute(state.db.writer())
        .await;
    if let Err(e) = removed {
        tracing::warn!(error = %e, %work_id, "could not remove the start of work that never ran");
    }
}

/// Records one model call of a run or turn in `project`, for the project's
/// owner. Calls that used nothing are not recorded.
pub async fn record_model_call(
    state: &AppState,
    project: Uuid,
    work: Work,
    work_id: Uuid,
    model: &str,
    usage: Usage,
) -> AppResult<()> {
    if usage.total_tokens() == 0 && usage.cost_usd.is_none() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO usage_events (id, user_id, project_id, work_id, kind, event, model, \
         input_tokens, output_tokens, cost_usd, created_at) \
         SELECT $1, p.user_id, p.id, $2, $3, 'model_call', $4, $5, $6, $7, $8 \
         FROM projects p WHERE p.id = $9",
    )
    .bind(Uuid::new_v4().to_string())
    .bind(work_id.to_string())
    .bind(kind(work))
    .bind(model)
    .bind(i64::try_from(usage.input_tokens).unwrap_or(i64::MAX))
    .bind(i64::try_from(usage.output_tokens).unwrap_or(i64::MAX))
    .bind(db::OptF64(usage.cost_usd))
    .bind(now_ms())
    .bind(project.to_string())
    .execute(state.db.writer())
    .await?;
    Ok(())
}

/// Runs or turns of `user` admitted since `since`.
pub(super) async fn starts_since(
    state: &AppState,
    user: Uuid,
    work: Work,
    since: i64,
) -> AppResult<u64> {
    let count: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM usage_events \
         WHERE user_id = $1 AND kind = $2 AND event = 'start' AND created_at >= $3",
    )
    .bind(user.to_string())
    .bind(kind(work))
    .bind(since)
    .fetch_one(state.db.pool())
    .await?;
    Ok(count.max(0) as u64)
}

/// The sums every total is made of; the same columns for every grouping.
/// (Casts: PostgreSQL sums BIGINT into NUMERIC, which the Any driver cannot read.)
const SUMS: &str = "CAST(COALESCE(SUM(u.input_tokens), 0) AS BIGINT) AS input_tokens, \
    CAST(COALESCE(SUM(u.output_tokens), 0) AS BIGINT) AS output_tokens, \
    CAST(COALESCE(SUM(u.cost_usd), 0) AS DOUBLE PRECISION) AS cost_usd, \
    CAST(COALESCE(SUM(CASE WHEN u.event = 'start' AND u.kind = 'chat' THEN 1 ELSE 0 END), 0) AS BIGINT) AS chat_turns, \
    CAST(COALESCE(SUM(CASE WHEN u.event = 'start' AND u.kind = 'generation' THEN 1 ELSE 0 END), 0) AS BIGINT) AS generations";

fn totals_from_row(row: &sqlx::any::AnyRow) -> AppResult<UsageTotals> {
    let count = |name: &str| -> AppResult<u64> { Ok(row.try_get::<i64, _>(name)?.max(0) as u64) };
    Ok(UsageTotals {
        input_tokens: count("input_tokens")?,
        output_tokens: count("output_tokens")?,
        cost_usd: row.try_get("cost_usd")?,
        chat_turns: count("chat_turns")?,
        generations: count("generations")?,
    })
}

/// `user`'s totals over `[from, to)` (ms).
pub async fn totals(state: &AppState, user: Uuid, from: i64, to: i64) -> AppResult<UsageTotals> {
    let row = sqlx::query(&format!(
        "SELECT {SUMS} FROM usage_events u \
         WHERE u.user_id = $1 AND u.created_at >= $2 AND u.created_at < $3"
    ))
    .bind(user.to_string())
    .bind(from)
    .bind(to)
    .fetch_one(state.db.pool())
    .await?;
    totals_from_row(&row)
}

/// Every user's totals since `from`, by user.
async fn totals_by_user(state: &AppState, from: i64) -> AppResult<HashMap<Uuid, UsageTotals>> {
    let rows = sqlx::query(&format!(
        "SELECT u.user_id, {SUMS} FROM usage_events u WHERE u.created_at >= $1 GROUP BY u.user_id"
    ))
    .bind(from)
    .fetch_all(state.db.pool())
    .await?;
    rows.iter()
        .map(|row| {
            Ok((
                db::uuid(&row.try_get::<String, _>("user_id")?),
                totals_from_row(row)?,
            ))
        })
        .collect()
}

/// `user`'s all-time usage per project, most tokens first.
async fn per_project(state: &AppState, user: Uuid) -> AppResult<Vec<ProjectUsage>> {
    let rows = sqlx::query(&format!(
        "SELECT u.project_id, MAX(p.name) AS name, {SUMS} FROM usage_events u \
         LEFT JOIN projects p ON p.id = u.project_id \
         WHERE u.user_id = $1 AND u.project_id IS NOT NULL GROUP BY u.project_id"
    ))
    .bind(user.to_string())
    .fetch_all(state.db.pool())
    .await?;
    let mut projects = rows
        .iter()
        .map(|row| {
            Ok(ProjectUsage {
                project_id: db::uuid(&row.try_get::<String, _>("project_id")?),
                name: row.try_get("name")?,
                usage: totals_from_row(row)?,
            })
        })
        .collect::<AppResult<Vec<_>>>()?;
    projects.sort_by(|a, b| {
        b.usage
            .total_tokens()
            .cmp(&a.usage.total_tokens())
            .then(b.usage.cost_usd.total_cmp(&a.usage.cost_usd))
    });
    Ok(projects)
}

/// What `GET /api/usage` shows `user`: today, this month, per project, and
/// each limit with what remains.
#[tracing::instrument(name = "quota.usage_for", skip_all, fields(user_id = %user))]
pub async fn usage_for(state: &AppState, user: Uuid) -> AppResult<UsageReport> {
    let now = now_ms();
    let w = Windows::at(now);
    let limits = limits_for(state, user).await?;
    let today = totals(state, user, w.day_start, i64::MAX).await?;
    let this_month = totals(state, user, w.month_start, i64::MAX).await?;
    let this_hour = totals(state, user, w.hour_start, i64::MAX).await?;
    let projects: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM projects WHERE user_id = $1")
        .bind(user.to_string())
        .fetch_one(state.db.pool())
        .await?;
    let owned: std::collections::HashSet<String> =
        sqlx::query_scalar("SELECT id FROM projects WHERE user_id = $1")
            .bind(user.to_string())
            .fetch_all(state.db.pool())
            .await?
            .into_iter()
            .collect();
    let previews = state
        .sandboxes
        .active()
        .iter()
        .filter(|s| owned.contains(&s.project.to_string()))
        .count() as u64;
    let hour_end = Some(db::rfc3339(w.hour_end));
    let day_end = Some(db::rfc3339(w.day_end));
    let status = vec![
        status(
            "projects",
            LimitUnit::Count,
            projects.max(0) as u64,
            limits.projects,
            None,
        ),
        status(
            "sandboxes",
            LimitUnit::Count,
            previews,
            limits.sandboxes,
            None,
        ),
        status(
            "chat_turns_per_hour",
            LimitUnit::Count,
            this_hour.chat_turns,
            limits.chat_turns_per_hour,
            hour_end.clone(),
        ),
        status(
            "generations_per_hour",
            LimitUnit::Count,
            this_hour.generations,
            limits.generations_per_hour,
            hour_end,
        ),
        status(
            "tokens_per_day",
            LimitUnit::Tokens,
            today.total_tokens(),
            limits.tokens_per_day,
            day_end.clone(),
        ),
        status(
            "usd_per_day",
            LimitUnit::MicroUsd,
            micro_usd(today.cost_usd),
            micro_usd(limits.usd_per_day),
            day_end,
        ),
    ];
    Ok(UsageReport {
        today,
        this_month,
        projects: per_project(state, user).await?,
        limits,
        status,
    })
}

fn status(
    name: &str,
    unit: LimitUnit,
    used: u64,
    allowed: u64,
    resets_at: Option<String>,
) -> LimitStatus {
    let allowed = (allowed > 0).then_some(allowed);
    LimitStatus {
        name: name.to_string(),
        unit,
        used,
        allowed,
        remaining: allowed.map(|a| a.saturating_sub(used)),
        resets_at,
    }
}

/// Every user with today's and this month's usage, their limits and their
/// overrides, by username: the operator's overview.
#[tracing::instrument(name = "quota.usage_by_user", skip_all)]
pub async fn usage_by_user(state: &AppState) -> AppResult<Vec<UserUsage>> {
    let w = Windows::at(now_ms());
    let today = totals_by_user(state, w.day_start).await?;
    let month = totals_by_user(state, w.month_start).await?;
    let rows = sqlx::query(
        "SELECT u.id, u.username, q.projects, q.sandboxes, q.chat_turns_per_hour, \
         q.generations_per_hour, q.tokens_per_day, q.usd_per_day \
         FROM users u LEFT JOIN user_quotas q ON q.user_id = u.id ORDER BY u.username",
    )
    .fetch_all(state.db.pool())
    .await?;
    let defaults: QuotaLimits = state.config.quota.defaults();
    rows.iter()
        .map(|row| {
            let user_id = db::uuid(&row.try_get::<String, _>("id")?);
            let overrides = overrides_from_row(row)?;
            Ok(UserUsage {
                user_id,
                username: row.try_get("username")?,
                today: today.get(&user_id).cloned().unwrap_or_default(),
                this_month: month.get(&user_id).cloned().unwrap_or_default(),
                limits: super::apply(defaults.clone(), &overrides),
                overrides,
            })
        })
        .collect()
}
