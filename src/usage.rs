//! Quotas and model usage: what `GET /api/usage` returns, what an operator
//! sets per user, and what a refused request says it exceeded.
//!
//! Money travels as micro-dollars (integers) wherever it is compared with a
//! limit, so an error body stays exact (`ApiError` is `Eq`); totals shown to
//! people are plain dollars.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What a number in a [`LimitExceeded`] or [`LimitStatus`] counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitUnit {
    /// Projects, previews, chat turns, generations.
    Count,
    /// Model tokens, input and output together.
    Tokens,
    /// Millionths of a US dollar.
    MicroUsd,
}

/// The limit a refused request ran into (the `limit` field of an error body).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LimitExceeded {
    /// `projects`, `sandboxes`, `chat_turns_per_hour`, `generations_per_hour`,
    /// `tokens_per_day` or `usd_per_day`.
    pub name: String,
    pub unit: LimitUnit,
    /// Used so far in the current window (or in use now).
    pub used: u64,
    /// The limit.
    pub allowed: u64,
    /// When the window ends and the limit allows more (RFC 3339, UTC); none
    /// for limits on things held (projects, running previews).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resets_at: Option<String>,
}

/// The limits in force for a user. 0 means unlimited.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QuotaLimits {
    pub projects: u64,
    /// Previews running at the same time.
    pub sandboxes: u64,
    pub chat_turns_per_hour: u64,
    pub generations_per_hour: u64,
    /// Input and output tokens per UTC day.
    pub tokens_per_day: u64,
    /// US dollars per UTC day, counted for models whose provider reports a price.
    pub usd_per_day: f64,
}

/// An operator's per-user overrides: `None` leaves the server's default,
/// `Some(0)` makes the limit unlimited for this user.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QuotaOverrides {
    #[serde(default)]
    pub projects: Option<i64>,
    #[serde(default)]
    pub sandboxes: Option<i64>,
    #[serde(default)]
    pub chat_turns_per_hour: Option<i64>,
    #[serde(default)]
    pub generations_per_hour: Option<i64>,
    #[serde(default)]
    pub tokens_per_day: Option<i64>,
    #[serde(default)]
    pub usd_per_day: Option<f64>,
}

/// Tokens, money and work over one period.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UsageTotals {
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// What priced models cost, in US dollars.
    pub cost_usd: f64,
    pub chat_turns: u64,
    pub generations: u64,
}

impl UsageTotals {
    pub fn total_tokens(&self) -> u64 {
        self.input_tokens + self.output_tokens
    }
}

/// One project's share of the usage (all time).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProjectUsage {
    pub project_id: Uuid,
    /// `None` once the project is deleted (its usage still counts).
    pub name: Option<String>,
    pub usage: UsageTotals,
}

/// One limit as the user sees it: how much is used, and what is left.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LimitStatus {
    pub name: String,
    pub unit: LimitUnit,
    pub used: u64,
    /// `None`: unlimited.
    pub allowed: Option<u64>,
    /// `None`: unlimited.
    pub remaining: Option<u64>,
    /// When the current window ends (per-hour and per-day limits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resets_at: Option<String>,
}

/// `GET /api/usage`: the caller's usage and limits.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UsageReport {
    /// The current UTC day.
    pub today: UsageTotals,
    /// The current UTC calendar month.
    pub this_month: UsageTotals,
    /// Every project that used a model, most tokens first.
    pub projects: Vec<ProjectUsage>,
    /// The limits in force (0: unlimited).
    pub limits: QuotaLimits,
    /// Each limit with its use and what remains.
    pub status: Vec<LimitStatus>,
}

/// One user's line in the operator's overview.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserUsage {
    pub user_id: Uuid,
    pub username: String,
    pub today: UsageTotals,
    pub this_month: UsageTotals,
    pub limits: QuotaLimits,
    /// The user's overrides (absent fields follow the server's defaults).
    pub overrides: QuotaOverrides,
}

/// Dollars as micro-dollars, the unit limits compare in.
pub fn micro_usd(usd: f64) -> u64 {
    if usd.is_finite() && usd > 0.0 {
        (usd * 1_000_000.0).round() as u64
    } else {
        0
    }
}
