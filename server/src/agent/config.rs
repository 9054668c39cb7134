//! The agent's limits: phases of a generation, and the guards of a chat
//! turn (steps, tokens, history, idle steps).

/// Read by generation runs (`max_phases`) and chat turns ([`ChatGuards`]).
#[derive(Clone, Debug, clap::Args)]
#[command(next_help_heading = "Agent")]
pub struct AgentConfig {
    /// Most phases one generation may have.
    #[arg(long, env = "MINICODE_MAX_PHASES", default_value_t = 6)]
    pub max_phases: u32,

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
}

impl AgentConfig {
    /// The chat agent's per-turn limits.
    pub fn chat_guards(&self) -> ChatGuards {
        ChatGuards {
            max_steps: self.chat_max_steps.max(1),
            token_budget: self.chat_token_budget,
            context_chars: self.chat_context_chars,
            max_idle_steps: self.chat_max_idle_steps.max(1),
        }
    }
}

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
