//! The default quotas and budgets of every user (`MINICODE_QUOTA_*`, 0 =
//! unlimited); an operator's per-user overrides are in the database.

/// Read by [`super::limits_for`] through [`QuotaConfig::defaults`].
#[derive(Clone, Debug, clap::Args)]
#[command(next_help_heading = "Quotas")]
pub struct QuotaConfig {
    /// Projects one user may have (0: unlimited). Per-user overrides are
    /// in the database (see `quota::set_limits`).
    #[arg(
        long = "quota-projects",
        env = "MINICODE_QUOTA_PROJECTS",
        default_value_t = 100
    )]
    pub projects: u64,

    /// Previews one user may run at the same time (0: unlimited). At the
    /// limit, starting another stops the user's least recently used idle one.
    #[arg(
        long = "quota-sandboxes",
        env = "MINICODE_QUOTA_SANDBOXES",
        default_value_t = 2
    )]
    pub sandboxes: u64,

    /// Chat turns one user may start per clock hour (UTC) (0: unlimited).
    #[arg(
        long = "quota-chat-turns-per-hour",
        env = "MINICODE_QUOTA_CHAT_TURNS_PER_HOUR",
        default_value_t = 60
    )]
    pub chat_turns_per_hour: u64,

    /// Generations one user may start per clock hour (UTC) (0: unlimited).
    /// Default 30.
    #[arg(
        long = "quota-generations-per-hour",
        env = "MINICODE_QUOTA_GENERATIONS_PER_HOUR"
    )]
    pub generations_per_hour: Option<u64>,

    /// The former name of `MINICODE_QUOTA_GENERATIONS_PER_HOUR` (then per
    /// project), still read when the new one is not set.
    #[arg(
        long = "generations-per-hour",
        env = "MINICODE_GENERATIONS_PER_HOUR",
        hide = true
    )]
    pub former_generations_per_hour: Option<u64>,

    /// Model tokens (input + output) one user may use per UTC day (0: unlimited).
    #[arg(
        long = "quota-tokens-per-day",
        env = "MINICODE_QUOTA_TOKENS_PER_DAY",
        default_value_t = 20_000_000
    )]
    pub tokens_per_day: u64,

    /// US dollars one user may spend per UTC day on models whose provider
    /// reports a price (0: unlimited).
    #[arg(
        long = "quota-usd-per-day",
        env = "MINICODE_QUOTA_USD_PER_DAY",
        default_value_t = 20.0
    )]
    pub usd_per_day: f64,
}

impl QuotaConfig {
    /// The quotas every user has unless an operator set their own (0: unlimited).
    pub fn defaults(&self) -> minicode::usage::QuotaLimits {
        minicode::usage::QuotaLimits {
            projects: self.projects,
            sandboxes: self.sandboxes,
            chat_turns_per_hour: self.chat_turns_per_hour,
            generations_per_hour: self
                .generations_per_hour
                .or(self.former_generations_per_hour)
                .unwrap_or(DEFAULT_GENERATIONS_PER_HOUR),
            tokens_per_day: self.tokens_per_day,
            usd_per_day: if self.usd_per_day.is_finite() {
                self.usd_per_day.max(0.0)
            } else {
                0.0
            },
        }
    }
}

/// `MINICODE_QUOTA_GENERATIONS_PER_HOUR` when neither it nor its former name is set.
pub const DEFAULT_GENERATIONS_PER_HOUR: u64 = 30;
