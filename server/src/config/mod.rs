//! All of minicode's configuration, read once at start-up.
//!
//! Every setting is a command-line flag and an environment variable (a `.env`
//! file in the working directory is read first, if present). Each is listed with
//! its default in `docs/configuration.md`; keep the two in step.
//!
//! [`Config`] is made of one group per concern, each defined (and documented)
//! beside the module that reads it:
//!
//! | group | defined in | what |
//! |---|---|---|
//! | [`ServerConfig`] | here | listening address, public URLs, data folder, HTTP limits, logs, the site |
//! | [`DbConfig`] | `db.rs` | database URL, pool, lock wait |
//! | [`AuthConfig`] | `auth/config.rs` | registration, sessions, sign-in rate |
//! | [`WorkspaceConfig`] | `workspace/mod.rs` | file size and count limits, uploads, idle workspaces |
//! | [`SandboxConfig`] | `sandbox/config.rs` | backend, limits, timeouts, image, caches |
//! | [`LlmConfig`] | `llm/config.rs` | providers, keys, default model, timeouts |
//! | [`AgentConfig`] | `agent/config.rs` | phases, chat guards |
//! | [`QuotaConfig`] | `quota/config.rs` | per-user quotas and budgets |
//! | [`GitConfig`] | `git/config.rs` | the git program, the quiet time before user saves are committed |
//! | [`ClusterConfig`] | `cluster/config.rs` | instance id, lease time (several instances on PostgreSQL) |
//!
//! The flags keep their flat names (`--sandbox-memory-mb`), so a group is
//! an organisation of the code, not of the command line.
//!
//! Secrets (database passwords, API keys) are wrapped in [`secret::Secret`], whose
//! `Debug` prints `[redacted]`, so logging the config never leaks them.

pub mod secret;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};

pub use crate::agent::config::AgentConfig;
pub use crate::auth::config::AuthConfig;
pub use crate::cluster::config::ClusterConfig;
pub use crate::db::DbConfig;
pub use crate::git::config::GitConfig;
pub use crate::llm::config::LlmConfig;
pub use crate::quota::config::QuotaConfig;
pub use crate::sandbox::config::SandboxConfig;
pub use crate::workspace::WorkspaceConfig;
use secret::Secret;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

#[derive(Clone, Debug, Parser)]
#[command(
    name = "minicode",
    version,
    about = "A self-hostable AI app builder",
    args_override_self = true
)]
pub struct Config {
    #[command(flatten)]
    pub server: ServerConfig,
    #[command(flatten)]
    pub db: DbConfig,
    #[command(flatten)]
    pub auth: AuthConfig,
    #[command(flatten)]
    pub workspace: WorkspaceConfig,
    #[command(flatten)]
    pub sandbox: SandboxConfig,
    #[command(flatten)]
    pub llm: LlmConfig,
    #[command(flatten)]
    pub agent: AgentConfig,
    #[command(flatten)]
    pub quota: QuotaConfig,
    #[command(flatten)]
    pub git: GitConfig,
    #[command(flatten)]
    pub cluster: ClusterConfig,
}

/// The process and its HTTP surface: where it listens and is reached, where
/// it keeps its data, request limits, logs, the compiled site. Read by
/// `lib.rs`, `api` and `telemetry`.
#[derive(Clone, Debug, clap::Args)]
#[command(next_help_heading = "Server")]
pub struct ServerConfig {
    /// Address the HTTP server listens on.
    #[arg(long, env = "MINICODE_ADDR", default_value = "127.0.0.1:3000")]
    pub addr: SocketAddr,

    /// Where minicode keeps its SQLite database and project workspaces.
    #[arg(long, env = "MINICODE_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,

    /// The URL users reach minicode at (e.g. `https://minicode.example.com`).
    /// Used for the same-origin check on writes and, when https, Secure cookies.
    #[arg(long, env = "MINICODE_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// Where previews live: a URL pattern with `{project}` in the host, e.g.
    /// `https://{project}.preview.example.com` (needs a wildcard DNS record
    /// and certificate). Default: `http://{project}.preview.localhost:<port>`,
    /// which browsers resolve to the loopback (a laptop, no set-up).
    #[arg(long, env = "MINICODE_PREVIEW_URL")]
    pub preview_url: Option<String>,

    /// Where published apps live: a URL pattern with `{site}` in the host,
    /// e.g. `https://{site}.apps.example.com` (a wildcard DNS record and
    /// certificate). Default: `http://{site}.apps.localhost:<port>`.
    #[arg(long, env = "MINICODE_APPS_URL")]
    pub apps_url: Option<String>,

    /// Other origins allowed to call the API from a browser (comma-separated).
    #[arg(long, env = "MINICODE_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<String>,

    /// Largest accepted request body for JSON requests, in bytes.
    #[arg(long, env = "MINICODE_BODY_LIMIT", default_value_t = 1024 * 1024)]
    pub body_limit: usize,

    /// The key that encrypts stored secrets (git credentials): 32 bytes as
    /// hex or base64. Unset: `<data dir>/secret.key`, made on first use.
    #[arg(long, env = "MINICODE_SECRET_KEY", hide_env_values = true)]
    pub secret_key: Option<Secret>,

    /// Take the client IP from `X-Forwarded-For` (only behind a trusted proxy).
    #[arg(long, env = "MINICODE_TRUST_PROXY", default_value_t = false)]
    pub trust_proxy: bool,

    /// Log filter, in `tracing` syntax (e.g. `info,minicode_server=debug`).
    #[arg(long, env = "MINICODE_LOG", default_value = "info")]
    pub log: String,

    /// Log line format.
    #[arg(long, env = "MINICODE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// The folder with the compiled site (WASM, JS, CSS, assets), as built by cargo-leptos.
    #[arg(long, env = "LEPTOS_SITE_ROOT", default_value = "target/site")]
    pub site_root: String,

    /// `DEV` adds cargo-leptos' live-reload script to pages; `PROD` does not.
    #[arg(long, env = "LEPTOS_ENV", default_value = "DEV")]
    pub leptos_env: String,

    /// The live-reload port of `cargo leptos watch`.
    #[arg(long, env = "LEPTOS_RELOAD_PORT", default_value_t = 3001)]
    pub reload_port: u32,

    /// Seconds to wait for running work to finish on shutdown.
    #[arg(long, env = "MINICODE_SHUTDOWN_GRACE_SECS", default_value_t = 10)]
    pub shutdown_grace_secs: u64,

    /// Most connections opening at once (read, authenticated, not yet
    /// answered); the others wait their turn, up to 2 s. See `listener.rs`.
    #[arg(long, env = "MINICODE_OPENING_CONNECTIONS", default_value_t = 32)]
    pub opening_connections: usize,
}

impl Config {
    /// Reads `.env` (if present), then flags and environment.
    pub fn load() -> Self {
        // A missing .env is normal; a malformed one is worth a warning but not a crash.
        if let Err(e) = dotenvy::dotenv()
            && !e.not_found()
        {
            eprintln!("minicode: ignoring .env: {e}");
        }
        Config::parse()
    }

    /// The database URL, defaulting to a SQLite file in the data directory.
    pub fn database_url(&self) -> Secret {
        match &self.db.url {
            Some(url) if !url.is_empty() => url.clone(),
            _ => Secret::new(format!(
                "sqlite://{}?mode=rwc",
                self.server.data_dir.join("minicode.db").display()
            )),
        }
    }

    /// Whether cookies are `Secure`: `MINICODE_SECURE_COOKIES`, else true
    /// when the public URL is https.
    pub fn cookies_secure(&self) -> bool {
        self.auth.secure_cookies.unwrap_or_else(|| {
            self.server
                .public_url
                .as_deref()
                .is_some_and(|u| u.starts_with("https://"))
        })
    }

    /// The origin (`scheme://host[:port]`) of the public URL, if one is configured.
    pub fn public_origin(&self) -> Option<String> {
        self.server.public_url.as_deref().map(origin_of)
    }

    /// How long running work may take to finish at shutdown.
    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_secs(self.server.shutdown_grace_secs)
    }
}

/// `https://a.example:8443/path?q` → `https://a.example:8443`.
pub fn origin_of(url: &str) -> String {
    let trimmed = url.trim();
    match trimmed.find("://") {
        Some(i) => {
            let rest = &trimmed[i + 3..];
            let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
            format!("{}{}", &trimmed[..i + 3], &rest[..end]).to_ascii_lowercase()
        }
        None => trimmed.to_ascii_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_prints_secrets() {
        let config = Config::parse_from([
            "minicode",
            "--database-url",
            "postgres://user:hunter2@db/minicode",
            "--openrouter-api-key",
            "sk-or-hunter3",
            "--anthropic-api-key",
            "sk-ant-hunter4",
        ]);
        let printed = format!("{config:?}");
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(
            !printed.contains("hunter3") && !printed.contains("hunter4"),
            "{printed}"
        );
        assert!(printed.contains("[redacted]"));
    }

    #[test]
    fn defaults_to_sqlite_in_data_dir() {
        let config = Config::parse_from(["minicode", "--data-dir", "/tmp/x"]);
        if std::env::var_os("DATABASE_URL").is_none() {
            assert_eq!(
                config.database_url().expose(),
                "sqlite:///tmp/x/minicode.db?mode=rwc"
            );
        }
    }

    #[test]
    fn the_former_generations_variable_still_counts() {
        let config = Config::parse_from(["minicode", "--generations-per-hour", "7"]);
        assert_eq!(config.quota.defaults().generations_per_hour, 7);
        let config = Config::parse_from([
            "minicode",
            "--generations-per-hour",
            "7",
            "--quota-generations-per-hour",
            "9",
        ]);
        assert_eq!(config.quota.defaults().generations_per_hour, 9);
    }

    /// Every setting is documented in docs/configuration.md, and the page
    /// names no variable minicode does not read.
    #[test]
    fn every_setting_is_documented() {
        use clap::CommandFactory;
        let doc = include_str!("../../../docs/configuration.md");
        let vars: Vec<String> = Config::command()
            .get_arguments()
            .filter_map(|a| a.get_env().map(|e| e.to_string_lossy().into_owned()))
            .collect();
        assert!(vars.len() > 50, "{vars:?}");
        for var in &vars {
            assert!(
                doc.contains(&format!("`{var}`")),
                "{var} is not in docs/configuration.md"
            );
        }
        let outside = ["DOCKER_HOST", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY"];
        for word in doc.split('`').skip(1).step_by(2) {
            let looks_like_var = (word.starts_with("MINICODE_")
                || word.ends_with("_URL")
                || word.ends_with("_KEY")
                || word.starts_with("LEPTOS_"))
                && word.chars().all(|c| c.is_ascii_uppercase() || c == '_');
            if looks_like_var && !outside.contains(&word) {
                assert!(
                    vars.iter().any(|v| v == word),
                    "docs/configuration.md names {word}, which minicode does not read"
                );
            }
        }
    }

    #[test]
    fn origins() {
        assert_eq!(
            origin_of("https://A.example:8443/x?y"),
            "https://a.example:8443"
        );
        assert_eq!(origin_of("http://localhost:3000"), "http://localhost:3000");
    }
}
