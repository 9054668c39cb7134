//! All of minicode's configuration, read once at start-up.
//!
//! Every setting is a command-line flag and an environment variable (a `.env`
//! file in the working directory is read first, if present). Each is listed with
//! its default in `docs/configuration.md`; keep the two in step.
//!
//! Secrets (database passwords, API keys) are wrapped in [`Secret`], whose
//! `Debug` prints `[redacted]`, so logging the config never leaks them.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};

/// A string that must never be logged or returned.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself: call only where it is sent to its owner (a database, a provider).
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Secret(s.to_string()))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

/// Which sandbox runs the generated apps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SandboxKind {
    /// Child processes of minicode, each isolated by bubblewrap (namespaces,
    /// a read-only system, no network but the install's, an unprivileged
    /// uid, cgroup limits). No daemon needed.
    Process,
    /// One Docker container per project.
    Docker,
    /// Child processes of minicode with no isolation at all: generated code
    /// can read the database and every workspace. Only for a machine where
    /// the one account is its owner; registration closes after it.
    ProcessUnsafe,
}

impl SandboxKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SandboxKind::Process => "process",
            SandboxKind::Docker => "docker",
            SandboxKind::ProcessUnsafe => "process-unsafe",
        }
    }
}

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

#[derive(Clone, Debug, Parser)]
#[command(
    name = "minicode",
    version,
    about = "A self-hostable AI app builder",
    args_override_self = true
)]
pub struct Config {
    /// Address the HTTP server listens on.
    #[arg(long, env = "MINICODE_ADDR", default_value = "127.0.0.1:3000")]
    pub addr: SocketAddr,

    /// Where minicode keeps its SQLite database and project workspaces.
    #[arg(long, env = "MINICODE_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,

    /// `sqlite://…` or `postgres://…`; defaults to `sqlite://<data-dir>/minicode.db`.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<Secret>,

    /// Most database connections in the pool.
    #[arg(long, env = "MINICODE_DB_MAX_CONNECTIONS", default_value_t = 16)]
    pub db_max_connections: u32,

    /// How long a write waits for a lock another connection holds before
    /// the request is answered 503 with `Retry-After`, in milliseconds.
    #[arg(long, env = "MINICODE_DB_LOCK_WAIT_MS", default_value_t = 10_000)]
    pub db_lock_wait_ms: u64,

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

    /// Mark the session cookie `Secure`. Defaults to true when the public URL is https.
    #[arg(long, env = "MINICODE_SECURE_COOKIES")]
    pub secure_cookies: Option<bool>,

    /// How long a browser session lasts, in hours.
    #[arg(long, env = "MINICODE_SESSION_TTL_HOURS", default_value_t = 24 * 14)]
    pub session_ttl_hours: u64,

    /// Other origins allowed to call the API from a browser (comma-separated).
    #[arg(long, env = "MINICODE_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<String>,

    /// Largest accepted request body for JSON requests, in bytes.
    #[arg(long, env = "MINICODE_BODY_LIMIT", default_value_t = 1024 * 1024)]
    pub body_limit: usize,

    /// Sign-in and registration attempts allowed per client IP per minute.
    #[arg(long, env = "MINICODE_AUTH_RATE_PER_MINUTE", default_value_t = 10)]
    pub auth_rate_per_minute: u32,

    /// Who may create an account: `open` (anyone), `invite` (with an admin's
    /// invitation) or `closed`. Whatever the mode, the first account of a new
    /// server becomes its admin.
    #[arg(long, env = "MINICODE_REGISTRATION", value_enum, default_value_t = Registration::Invite)]
    pub registration: Registration,

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

    /// Which sandbox runs generated apps.
    #[arg(long, env = "MINICODE_SANDBOX", value_enum, default_value_t = SandboxKind::Process)]
    pub sandbox: SandboxKind,

    /// Largest file a project may hold, in bytes.
    #[arg(long, env = "MINICODE_MAX_FILE_BYTES", default_value_t = 5 * 1024 * 1024)]
    pub max_file_bytes: usize,

    /// Most files a project may hold.
    #[arg(long, env = "MINICODE_MAX_FILES", default_value_t = 2000)]
    pub max_files: usize,

    /// Largest upload request (multipart), in bytes.
    #[arg(long, env = "MINICODE_UPLOAD_LIMIT", default_value_t = 20 * 1024 * 1024)]
    pub upload_limit: usize,

    /// Seconds `npm install` may take.
    #[arg(
        long,
        env = "MINICODE_SANDBOX_INSTALL_TIMEOUT_SECS",
        default_value_t = 300
    )]
    pub install_timeout_secs: u64,

    /// Seconds the dev server may take to answer after starting.
    #[arg(
        long,
        env = "MINICODE_SANDBOX_START_TIMEOUT_SECS",
        default_value_t = 60
    )]
    pub start_timeout_secs: u64,

    /// Dev servers nobody used for this many minutes are stopped.
    #[arg(long, env = "MINICODE_SANDBOX_IDLE_MINUTES", default_value_t = 30)]
    pub sandbox_idle_minutes: u64,

    /// Workspaces of projects idle for this many hours are removed from disk
    /// (their files stay in the database and come back on the next use).
    #[arg(long, env = "MINICODE_WORKSPACE_IDLE_HOURS", default_value_t = 72)]
    pub workspace_idle_hours: u64,

    /// V8 heap limit of sandboxed Node.js processes, in MiB.
    #[arg(long, env = "MINICODE_SANDBOX_NODE_HEAP_MB", default_value_t = 1024)]
    pub node_heap_mb: u64,

    /// Open files allowed per sandboxed process.
    #[arg(long, env = "MINICODE_SANDBOX_OPEN_FILES", default_value_t = 8192)]
    pub sandbox_open_files: u64,

    /// The npm cache and installed-module snapshots shared by every project
    /// (default: `<data dir>/sandbox/cache`).
    #[arg(long, env = "MINICODE_SANDBOX_CACHE_DIR")]
    pub sandbox_cache_dir: Option<PathBuf>,

    /// npm registry for sandboxes (default: npm's own).
    #[arg(long, env = "MINICODE_NPM_REGISTRY")]
    pub npm_registry: Option<String>,

    /// Image of the docker sandbox (see sandbox/build-image.sh).
    #[arg(
        long,
        env = "MINICODE_DOCKER_IMAGE",
        default_value = "minicode-sandbox:latest"
    )]
    pub docker_image: String,

    /// Memory limit of one sandbox (a container, or a process sandbox's
    /// cgroup), in MiB.
    #[arg(long, env = "MINICODE_SANDBOX_MEMORY_MB", default_value_t = 2048)]
    pub sandbox_memory_mb: i64,

    /// CPUs one sandbox may use.
    #[arg(long, env = "MINICODE_SANDBOX_CPUS", default_value_t = 1.0)]
    pub sandbox_cpus: f64,

    /// Most processes in one sandbox.
    #[arg(long, env = "MINICODE_SANDBOX_PIDS", default_value_t = 512)]
    pub sandbox_pids: i64,

    /// The uid (and gid) process sandboxes run as when minicode itself runs
    /// as root; otherwise they run as minicode's own uid.
    #[arg(long, env = "MINICODE_SANDBOX_UID", default_value_t = 100_000)]
    pub sandbox_uid: u32,

    /// The model used when a project has not chosen one, as `provider:model`
    /// (`openrouter:…`, `anthropic:…`, `openai:…`, `offline:builtin`). By
    /// default the first provider with a key, else the offline generator.
    #[arg(long, env = "MINICODE_MODEL")]
    pub model: Option<String>,

    /// OpenRouter API key (enables the `openrouter` provider).
    #[arg(long, env = "OPENROUTER_API_KEY", hide_env_values = true)]
    pub openrouter_api_key: Option<Secret>,

    #[arg(
        long,
        env = "OPENROUTER_BASE_URL",
        default_value = "https://openrouter.ai/api/v1"
    )]
    pub openrouter_base_url: String,

    /// Anthropic API key (enables the `anthropic` provider).
    #[arg(long, env = "ANTHROPIC_API_KEY", hide_env_values = true)]
    pub anthropic_api_key: Option<Secret>,

    #[arg(
        long,
        env = "ANTHROPIC_BASE_URL",
        default_value = "https://api.anthropic.com"
    )]
    pub anthropic_base_url: String,

    /// Key for the OpenAI-compatible provider (`openai`); optional for local
    /// servers such as Ollama or llama.cpp.
    #[arg(long, env = "OPENAI_API_KEY", hide_env_values = true)]
    pub openai_api_key: Option<Secret>,

    /// Base URL of the OpenAI-compatible provider: OpenAI, or a local server
    /// (`http://127.0.0.1:11434/v1` for Ollama). Setting it enables `openai`.
    #[arg(long, env = "OPENAI_BASE_URL")]
    pub openai_base_url: Option<String>,

    /// Longest a model call may take, in seconds.
    #[arg(long, env = "MINICODE_LLM_TIMEOUT_SECS", default_value_t = 600)]
    pub llm_timeout_secs: u64,

    /// Longest silence between two chunks of a streamed answer, in seconds.
    #[arg(long, env = "MINICODE_LLM_IDLE_TIMEOUT_SECS", default_value_t = 90)]
    pub llm_idle_timeout_secs: u64,

    /// Retries of a model call that failed before its first byte (429, 5xx, connection).
    #[arg(long, env = "MINICODE_LLM_MAX_RETRIES", default_value_t = 3)]
    pub llm_max_retries: u32,

    /// Pace of the offline generator in characters per second (0: as fast as possible).
    #[arg(long, env = "MINICODE_OFFLINE_CHARS_PER_SEC", default_value_t = 3000)]
    pub offline_chars_per_sec: u32,

    /// Most phases one generation may have.
    #[arg(long, env = "MINICODE_MAX_PHASES", default_value_t = 6)]
    pub max_phases: u32,

    /// Projects one user may have (0: unlimited). Per-user overrides are
    /// in the database (see `quota::set_limits`).
    #[arg(long, env = "MINICODE_QUOTA_PROJECTS", default_value_t = 100)]
    pub quota_projects: u64,

    /// Previews one user may run at the same time (0: unlimited). At the
    /// limit, starting another stops the user's least recently used idle one.
    #[arg(long, env = "MINICODE_QUOTA_SANDBOXES", default_value_t = 2)]
    pub quota_sandboxes: u64,

    /// Chat turns one user may start per clock hour (UTC) (0: unlimited).
    #[arg(long, env = "MINICODE_QUOTA_CHAT_TURNS_PER_HOUR", default_value_t = 60)]
    pub quota_chat_turns_per_hour: u64,

    /// Generations one user may start per clock hour (UTC) (0: unlimited).
    /// Default 30.
    #[arg(long, env = "MINICODE_QUOTA_GENERATIONS_PER_HOUR")]
    pub quota_generations_per_hour: Option<u64>,

    /// The former name of `MINICODE_QUOTA_GENERATIONS_PER_HOUR` (then per
    /// project), still read when the new one is not set.
    #[arg(long, env = "MINICODE_GENERATIONS_PER_HOUR", hide = true)]
    pub generations_per_hour: Option<u64>,

    /// Model tokens (input + output) one user may use per UTC day (0: unlimited).
    #[arg(
        long,
        env = "MINICODE_QUOTA_TOKENS_PER_DAY",
        default_value_t = 20_000_000
    )]
    pub quota_tokens_per_day: u64,

    /// US dollars one user may spend per UTC day on models whose provider
    /// reports a price (0: unlimited).
    #[arg(long, env = "MINICODE_QUOTA_USD_PER_DAY", default_value_t = 20.0)]
    pub quota_usd_per_day: f64,

    /// Most model calls in one chat reply.
    #[arg(long, env = "MINICODE_CHAT_MAX_STEPS", default_value_t = 25)]
    pub chat_max_steps: u32,

    /// Most tokens (in + out) one chat reply may use.
    #[arg(long, env = "MINICODE_CHAT_TOKEN_BUDGET", default_value_t = 400_000)]
    pub chat_token_budget: u64,

    /// Characters of conversation history sent with a chat turn.
    #[arg(long, env = "MINICODE_CHAT_CONTEXT_CHARS", default_value_t = 120_000)]
    pub chat_context_chars: usize,

    /// Steps in a row without progress after which a chat reply stops.
    #[arg(long, env = "MINICODE_CHAT_MAX_IDLE_STEPS", default_value_t = 6)]
    pub chat_max_idle_steps: u32,

    /// Seconds to wait for running work to finish on shutdown.
    #[arg(long, env = "MINICODE_SHUTDOWN_GRACE_SECS", default_value_t = 10)]
    pub shutdown_grace_secs: u64,
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
        match &self.database_url {
            Some(url) if !url.is_empty() => url.clone(),
            _ => Secret::new(format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("minicode.db").display()
            )),
        }
    }

    pub fn db_lock_wait(&self) -> Duration {
        Duration::from_millis(self.db_lock_wait_ms.max(1))
    }

    pub fn session_ttl(&self) -> Duration {
        Duration::from_secs(self.session_ttl_hours * 3600)
    }

    pub fn cookies_secure(&self) -> bool {
        self.secure_cookies.unwrap_or_else(|| {
            self.public_url
                .as_deref()
                .is_some_and(|u| u.starts_with("https://"))
        })
    }

    /// The chat agent's per-turn limits.
    pub fn chat_guards(&self) -> ChatGuards {
        ChatGuards {
            max_steps: self.chat_max_steps.max(1),
            token_budget: self.chat_token_budget,
            context_chars: self.chat_context_chars,
            max_idle_steps: self.chat_max_idle_steps.max(1),
        }
    }

    /// The quotas every user has unless an operator set their own (0: unlimited).
    pub fn quota_defaults(&self) -> minicode::usage::QuotaLimits {
        minicode::usage::QuotaLimits {
            projects: self.quota_projects,
            sandboxes: self.quota_sandboxes,
            chat_turns_per_hour: self.quota_chat_turns_per_hour,
            generations_per_hour: self
                .quota_generations_per_hour
                .or(self.generations_per_hour)
                .unwrap_or(DEFAULT_GENERATIONS_PER_HOUR),
            tokens_per_day: self.quota_tokens_per_day,
            usd_per_day: if self.quota_usd_per_day.is_finite() {
                self.quota_usd_per_day.max(0.0)
            } else {
                0.0
            },
        }
    }

    /// The origin (`scheme://host[:port]`) of the public URL, if one is configured.
    pub fn public_origin(&self) -> Option<String> {
        self.public_url.as_deref().map(origin_of)
    }
}

/// `MINICODE_QUOTA_GENERATIONS_PER_HOUR` when neither it nor its former name is set.
pub const DEFAULT_GENERATIONS_PER_HOUR: u64 = 30;

/// Limits of one chat turn.
#[derive(Clone, Copy, Debug)]
pub struct ChatGuards {
    /// Most model calls in one turn.
    pub max_steps: u32,
    /// Most tokens (in + out) one turn may use.
    pub token_budget: u64,
    /// Characters of history sent to the model.
    pub context_chars: usize,
    /// Steps in a row without progress before the turn stops.
    pub max_idle_steps: u32,
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
        assert_eq!(config.quota_defaults().generations_per_hour, 7);
        let config = Config::parse_from([
            "minicode",
            "--generations-per-hour",
            "7",
            "--quota-generations-per-hour",
            "9",
        ]);
        assert_eq!(config.quota_defaults().generations_per_hour, 9);
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
