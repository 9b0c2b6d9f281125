use drydock_core::Usage;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A model's price in US dollars per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Price {
    /// Uncached prompt tokens.
    pub input: f64,
    /// Reply tokens.
    pub output: f64,
    /// Prompt tokens written to the cache (defaults to `input`).
    #[serde(default)]
    pub cache_write: Option<f64>,
    /// Prompt tokens read from the cache (defaults to `input`).
    #[serde(default)]
    pub cache_read: Option<f64>,
}

impl Price {
    /// The cost of `usage` in US dollars.
    pub fn cost(&self, usage: &Usage) -> f64 {
        let per = |tokens: u64, rate: f64| tokens as f64 * rate / 1_000_000.0;
        per(usage.input_tokens, self.input)
            + per(usage.output_tokens, self.output)
            + per(
                usage.cache_write_tokens,
                self.cache_write.unwrap_or(self.input),
            )
            + per(
                usage.cache_read_tokens,
                self.cache_read.unwrap_or(self.input),
            )
    }
}
