use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A task's budgets. Each is checked before the step that would spend it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Model calls the agent may make.
    pub max_turns: u32,
    /// Tokens (input + output, cached or not) across all model calls.
    pub max_tokens: u64,
    /// Spend in US dollars across all model calls; checked with the next call's estimate.
    pub max_cost_usd: f64,
    /// Wall-clock seconds from start to the end of finalizing.
    pub wall_clock_secs: u64,
    /// Seconds one command may run before it is killed.
    pub command_timeout_secs: u64,
    /// Bytes of one command's output kept for the model (head and tail, with a marker between).
    pub max_output_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_turns: 40,
            max_tokens: 2_000_000,
            max_cost_usd: 5.0,
            wall_clock_secs: 30 * 60,
            command_timeout_secs: 10 * 60,
            max_output_bytes: 32 * 1024,
        }
    }
}
