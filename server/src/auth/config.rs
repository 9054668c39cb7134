//! Accounts' settings: who may register, how long sessions last, how often
//! sign-in may be tried, whether cookies are `Secure`.

use std::time::Duration;

use clap::ValueEnum;

/// `MINICODE_REGISTRATION`; see [`minicode::RegistrationMode`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Registration {
    Open,
    Invite,
    Closed,
}

impl Registration {
    pub fn mode(self) -> minicode::RegistrationMode {
        match self {
            Registration::Open => minicode::RegistrationMode::Open,
            Registration::Invite => minicode::RegistrationMode::Invite,
            Registration::Closed => minicode::RegistrationMode::Closed,
        }
    }
}

/// Read by `auth` (sessions, rate limits, registration).
#[derive(Clone, Debug, clap::Args)]
#[command(next_help_heading = "Accounts")]
pub struct AuthConfig {
    /// Mark the session cookie `Secure`. Defaults to true when the public URL is https.
    #[arg(long, env = "MINICODE_SECURE_COOKIES")]
    pub secure_cookies: Option<bool>,

    /// How long a browser session lasts, in hours.
    #[arg(long, env = "MINICODE_SESSION_TTL_HOURS", default_value_t = 24 * 14)]
    pub session_ttl_hours: u64,

    /// Sign-in and registration attempts allowed per client IP per minute.
    #[arg(
        long = "auth-rate-per-minute",
        env = "MINICODE_AUTH_RATE_PER_MINUTE",
        default_value_t = 10
    )]
    pub rate_per_minute: u32,

    /// Who may create an account: `open` (anyone), `invite` (with an admin's
    /// invitation) or `closed`. Whatever the mode, the first account of a new
    /// server becomes its admin.
    #[arg(long, env = "MINICODE_REGISTRATION", value_enum, default_value_t = Registration::Invite)]
    pub registration: Registration,
}

impl AuthConfig {
    pub fn session_ttl(&self) -> Duration {
        Duration::from_secs(self.session_ttl_hours * 3600)
    }
}
