//! The model providers' settings: keys, base URLs, the default model, the
//! timeouts and retries of every call. Read by [`super::models::Models`].

use crate::config::secret::Secret;

/// Which providers are enabled (a key or a base URL enables one) and how
/// their calls behave.
#[derive(Clone, Debug, clap::Args)]
#[command(next_help_heading = "Models")]
pub struct LlmConfig {
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
    #[arg(
        long = "llm-timeout-secs",
        env = "MINICODE_LLM_TIMEOUT_SECS",
        default_value_t = 600
    )]
    pub timeout_secs: u64,

    /// Longest silence between two chunks of a streamed answer, in seconds.
    #[arg(
        long = "llm-idle-timeout-secs",
        env = "MINICODE_LLM_IDLE_TIMEOUT_SECS",
        default_value_t = 90
    )]
    pub idle_timeout_secs: u64,

    /// Retries of a model call that failed before its first byte (429, 5xx, connection).
    #[arg(
        long = "llm-max-retries",
        env = "MINICODE_LLM_MAX_RETRIES",
        default_value_t = 3
    )]
    pub max_retries: u32,

    /// Models that accept images, besides the ones minicode knows: a
    /// comma-separated list of `provider:model` ids, or `provider:*` for all
    /// of a provider's models (`openai:*` for a local vision server).
    #[arg(long, env = "MINICODE_VISION_MODELS", value_delimiter = ',')]
    pub vision_models: Vec<String>,

    /// Pace of the offline generator in characters per second (0: as fast as possible).
    #[arg(long, env = "MINICODE_OFFLINE_CHARS_PER_SEC", default_value_t = 3000)]
    pub offline_chars_per_sec: u32,
}
