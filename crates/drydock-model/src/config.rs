use std::collections::BTreeMap;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::Price;

/// The `[model]` section of `drydock.toml`: how drydock talks to the model provider.
///
/// Keys never live here: they come from the environment only (`ANTHROPIC_API_KEY`,
/// `OPENAI_API_KEY`, or the variable named by `api_key_env`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ModelConfig {
    /// The provider's base URL, e.g. `http://127.0.0.1:11434/v1` for a local Ollama. Defaults:
    /// `https://api.anthropic.com` (anthropic) and `https://api.openai.com/v1` (openai). A key is
    /// optional when it points to a loopback or private address.
    pub base_url: Option<String>,
    /// Read the key from this environment variable instead of the provider's usual one.
    pub api_key_env: Option<String>,
    /// Retries of one call after a transient failure (429, 5xx, 529, timeouts, broken connections).
    pub max_retries: u32,
    /// First retry delay in milliseconds; doubles each attempt, with jitter.
    pub retry_base_delay_ms: u64,
    /// Upper bound of one computed retry delay, in seconds.
    pub retry_max_delay_secs: u64,
    /// The longest `retry-after` drydock waits; a provider asking for longer ends the call at once
    /// with a rate-limit error that says how long it asked for.
    pub max_retry_after_secs: u64,
    /// Upper bound of waiting for the provider to start answering (connecting, sending, and the
    /// time it takes to read the prompt), in seconds. Once the reply streams, only
    /// `stream_idle_timeout_secs` applies, so a long generation is never cut off mid-way.
    pub request_timeout_secs: u64,
    /// Upper bound of connecting to the provider, in seconds.
    pub connect_timeout_secs: u64,
    /// An attempt whose stream stays silent this long (no byte, not even a keep-alive) is
    /// abandoned and retried, in seconds.
    pub stream_idle_timeout_secs: u64,
    /// Upper bound on one reply's tokens, sent with every request.
    pub max_output_tokens: u32,
    /// Tokens the model accepts per request; overrides the built-in table (unknown models: 32k).
    pub context_window: Option<u64>,
    /// Sampling temperature; sent only when set (reasoning models reject it).
    pub temperature: Option<f64>,
    /// Anthropic prompt caching (system prompt, tools and the conversation so far); on by default.
    pub prompt_caching: bool,
    /// Which field carries the reply limit to an OpenAI-compatible server. Default: the official
    /// OpenAI endpoint gets `max_completion_tokens`, any other base URL gets `max_tokens`.
    pub openai_max_tokens_field: Option<MaxTokensField>,
    /// Prices in US dollars per million tokens, keyed by `provider:model`; they override and
    /// extend the built-in table (e.g. `"openai:qwen2.5-coder" = { input = 0.0, output = 0.0 }`).
    pub pricing: BTreeMap<String, Price>,
}

/// The request field an OpenAI-compatible server reads the reply limit from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MaxTokensField {
    /// `max_tokens`: older OpenAI models and most compatible servers.
    MaxTokens,
    /// `max_completion_tokens`: current OpenAI models, required by reasoning models.
    MaxCompletionTokens,
}

impl MaxTokensField {
    /// The JSON field name.
    pub fn as_str(self) -> &'static str {
        match self {
            MaxTokensField::MaxTokens => "max_tokens",
            MaxTokensField::MaxCompletionTokens => "max_completion_tokens",
        }
    }
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            base_url: None,
            api_key_env: None,
            max_retries: 4,
            retry_base_delay_ms: 1_000,
            retry_max_delay_secs: 60,
            max_retry_after_secs: 120,
            request_timeout_secs: 300,
            connect_timeout_secs: 10,
            stream_idle_timeout_secs: 120,
            max_output_tokens: 8192,
            context_window: None,
            temperature: None,
            prompt_caching: true,
            openai_max_tokens_field: None,
            pricing: BTreeMap::new(),
        }
    }
}

impl ModelConfig {
    /// The retry and timeout settings as durations.
    pub(crate) fn retry_policy(&self) -> crate::http::RetryPolicy {
        crate::http::RetryPolicy {
            max_retries: self.max_retries,
            base_delay: Duration::from_millis(self.retry_base_delay_ms),
            max_delay: Duration::from_secs(self.retry_max_delay_secs),
            max_retry_after: Duration::from_secs(self.max_retry_after_secs),
        }
    }

    /// Checks the values that serde cannot: zero timeouts and nonsensical numbers.
    pub fn validate(&self) -> Result<(), crate::ModelError> {
        let fail = |message: String| Err(crate::ModelError::Config { message });
        for (name, value) in [
            ("request_timeout_secs", self.request_timeout_secs),
            ("connect_timeout_secs", self.connect_timeout_secs),
            ("stream_idle_timeout_secs", self.stream_idle_timeout_secs),
            ("max_output_tokens", u64::from(self.max_output_tokens)),
        ] {
            if value == 0 {
                return fail(format!("[model] {name} must be greater than 0"));
            }
        }
        if self.context_window == Some(0) {
            return fail("[model] context_window must be greater than 0".into());
        }
        if let Some(temperature) = self.temperature
            && !(0.0..=2.0).contains(&temperature)
        {
            return fail(format!(
                "[model] temperature must be between 0 and 2, not {temperature}"
            ));
        }
        if let Some(name) = &self.api_key_env
            && (name.is_empty() || name.contains(['=', '\0']))
        {
            return fail(format!(
                "[model] api_key_env {name:?} is not an environment variable name"
            ));
        }
        for (spec, price) in &self.pricing {
            if !spec.contains(':') {
                return fail(format!(
                    "[model.pricing] key {spec:?} must be provider:model, e.g. \"openai:gpt-4.1\""
                ));
            }
            let rates = [
                Some(price.input),
                Some(price.output),
                price.cache_write,
                price.cache_read,
            ];
            if rates
                .into_iter()
                .flatten()
                .any(|rate| !rate.is_finite() || rate < 0.0)
            {
                return fail(format!(
                    "[model.pricing] {spec:?}: prices must be finite and not negative"
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(toml_text: &str) -> Result<ModelConfig, toml::de::Error> {
        toml::from_str(toml_text)
    }

    #[test]
    fn empty_section_gives_the_documented_defaults() {
        let config = parse("").unwrap();
        assert_eq!(config, ModelConfig::default());
        assert_eq!(config.max_retries, 4);
        assert_eq!(config.request_timeout_secs, 300);
        assert_eq!(config.max_output_tokens, 8192);
        assert!(config.prompt_caching);
        assert!(config.validate().is_ok());
    }

    #[test]
    fn a_full_section_parses() {
        let config = parse(
            r#"
            base_url = "http://127.0.0.1:11434/v1"
            api_key_env = "OLLAMA_KEY"
            max_retries = 2
            context_window = 32768
            temperature = 0.0
            openai_max_tokens_field = "max_completion_tokens"

            [pricing."openai:qwen2.5-coder:7b"]
            input = 0.0
            output = 0.0
            "#,
        )
        .unwrap();
        assert_eq!(config.max_retries, 2);
        assert_eq!(
            config.openai_max_tokens_field,
            Some(MaxTokensField::MaxCompletionTokens)
        );
        assert_eq!(config.pricing["openai:qwen2.5-coder:7b"].input, 0.0);
        assert!(config.validate().is_ok());
    }

    #[test]
    fn unknown_keys_and_wrong_types_are_errors() {
        let error = parse("max_retry = 3").unwrap_err();
        assert!(
            error.to_string().contains("unknown field `max_retry`"),
            "{error}"
        );
        let error = parse("max_retries = -1").unwrap_err();
        assert!(error.to_string().contains("max_retries"), "{error}");
        let error = parse("[pricing.\"openai:x\"]\ninput = 1.0").unwrap_err();
        assert!(
            error.to_string().contains("missing field `output`"),
            "{error}"
        );
        let error = parse("openai_max_tokens_field = \"tokens\"").unwrap_err();
        assert!(
            error.to_string().contains("max_completion_tokens"),
            "{error}"
        );
    }

    #[test]
    fn prices_are_validated() {
        let bad = parse("[pricing.\"gpt-4.1\"]\ninput = 1.0\noutput = 2.0").unwrap();
        let error = bad.validate().unwrap_err().to_string();
        assert!(error.contains("provider:model"), "{error}");
        let negative = parse("[pricing.\"openai:x\"]\ninput = -1.0\noutput = 2.0").unwrap();
        let error = negative.validate().unwrap_err().to_string();
        assert!(error.contains("negative"), "{error}");
        let infinite = parse("[pricing.\"openai:x\"]\ninput = inf\noutput = 2.0").unwrap();
        assert!(infinite.validate().is_err());
    }

    #[test]
    fn zero_timeouts_and_wild_temperatures_are_refused() {
        for (text, field) in [
            ("request_timeout_secs = 0", "request_timeout_secs"),
            ("stream_idle_timeout_secs = 0", "stream_idle_timeout_secs"),
            ("max_output_tokens = 0", "max_output_tokens"),
            ("context_window = 0", "context_window"),
            ("temperature = 7.0", "temperature"),
            ("temperature = nan", "temperature"),
            ("api_key_env = \"\"", "api_key_env"),
        ] {
            let error = parse(text).unwrap().validate().unwrap_err().to_string();
            assert!(error.contains(field), "{text}: {error}");
        }
    }

    #[test]
    fn schema_lists_every_field() {
        let schema = serde_json::to_value(schemars::schema_for!(ModelConfig)).unwrap();
        let properties = schema["properties"].as_object().unwrap();
        let defaults = serde_json::to_value(ModelConfig::default()).unwrap();
        for field in defaults.as_object().unwrap().keys() {
            assert!(properties.contains_key(field), "schema lacks {field}");
        }
    }
}
