//! Choosing and building a client from a `provider:model` string.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use crate::anthropic::{self, AnthropicClient};
use crate::catalog::{resolve_context_window, resolve_price};
use crate::http::{ApiKey, is_private_host, parse_base_url};
use crate::openai::{self, OpenAiClient};
use crate::{ModelClient, ModelConfig, ModelError, ModelInfo, ScriptedClient};

/// A model provider drydock can talk to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    /// Anthropic's Messages API.
    Anthropic,
    /// OpenAI's Chat Completions API, or any server speaking it.
    OpenAi,
    /// A recorded trajectory, replayed.
    Scripted,
}

impl Provider {
    /// Every provider, in the order they are listed to users.
    pub const ALL: [Provider; 3] = [Provider::Anthropic, Provider::OpenAi, Provider::Scripted];

    /// The name used in `provider:model`.
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Anthropic => "anthropic",
            Provider::OpenAi => "openai",
            Provider::Scripted => "scripted",
        }
    }

    /// The environment variable the key is read from by default, if the provider needs one.
    pub fn key_variable(self) -> Option<&'static str> {
        match self {
            Provider::Anthropic => Some("ANTHROPIC_API_KEY"),
            Provider::OpenAi => Some("OPENAI_API_KEY"),
            Provider::Scripted => None,
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A parsed `provider:model` (for `scripted`, the model is the trajectory's path).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelSpec {
    /// The provider.
    pub provider: Provider,
    /// The model name, everything after the first `:` (Ollama tags such as
    /// `qwen2.5-coder:7b` keep their own colon).
    pub model: String,
}

impl FromStr for ModelSpec {
    type Err = ModelError;

    fn from_str(spec: &str) -> Result<Self, ModelError> {
        let fail = |why: String| {
            Err(ModelError::Config {
                message: format!("--model {spec:?}: {why}"),
            })
        };
        let known = Provider::ALL.map(Provider::as_str).join(", ");
        let Some((provider, model)) = spec.trim().split_once(':') else {
            return fail(format!(
                "expected provider:model, e.g. anthropic:claude-sonnet-4-5 (providers: {known})"
            ));
        };
        let Some(provider) = Provider::ALL.into_iter().find(|p| p.as_str() == provider) else {
            return fail(format!(
                "unknown provider {provider:?} (providers: {known})"
            ));
        };
        if model.trim().is_empty() {
            return fail(format!(
                "the model is empty; write {provider}:<model>{}",
                match provider {
                    Provider::Scripted => " with the trajectory's path",
                    _ => "",
                }
            ));
        }
        if provider != Provider::Scripted
            && model.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return fail(format!("model name {model:?} contains whitespace"));
        }
        Ok(ModelSpec {
            provider,
            model: model.to_owned(),
        })
    }
}

impl fmt::Display for ModelSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.provider, self.model)
    }
}

/// Reads a variable from this process's environment: the `env` argument of [`build_client`]
/// outside tests.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Builds the client `spec` names (`anthropic:claude-sonnet-4-5`, `openai:gpt-4.1`,
/// `openai:qwen2.5-coder` with a `base_url`, `scripted:path/to/trajectory.json`), configured by
/// the `[model]` section. Keys are read through `env` only (pass [`process_env`]): from
/// `ANTHROPIC_API_KEY` or `OPENAI_API_KEY`, or the variable `api_key_env` names. A key may be
/// missing only when `base_url` points to a loopback or private address; then no key is sent.
pub fn build_client(
    spec: &str,
    config: &ModelConfig,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Arc<dyn ModelClient>, ModelError> {
    config.validate()?;
    let spec: ModelSpec = spec.parse()?;
    let configured_price = config.pricing.get(&spec.to_string()).copied();
    let (provider, default_base) = match spec.provider {
        Provider::Scripted => {
            let mut client = ScriptedClient::from_file(&spec.model)?;
            if let Some(price) = configured_price {
                client = client.with_price(Some(price));
            }
            if let Some(window) = config.context_window {
                client = client.with_context_window(window);
            }
            return Ok(Arc::new(client));
        }
        Provider::Anthropic => (Provider::Anthropic, anthropic::DEFAULT_BASE_URL),
        Provider::OpenAi => (Provider::OpenAi, openai::DEFAULT_BASE_URL),
    };
    let base = parse_base_url(config.base_url.as_deref().unwrap_or(default_base))?;
    let variable = config
        .api_key_env
        .as_deref()
        .or(provider.key_variable())
        .unwrap_or_default();
    let key = env(variable).and_then(|value| ApiKey::new(&value));
    let local = is_private_host(&base);
    let host = base.host_str().unwrap_or_default().to_owned();
    match &key {
        None if !local => {
            return Err(ModelError::Auth {
                provider: provider.as_str().into(),
                message: format!(
                    "{variable} is not set (or empty); export it, or point [model] base_url at a \
                     local server, which needs no key"
                ),
            });
        }
        Some(_) if base.scheme() == "http" && !local => {
            return Err(ModelError::Config {
                message: format!(
                    "refusing to send {variable} over plain http to {host}; use https"
                ),
            });
        }
        _ => {}
    }
    let info = ModelInfo {
        provider: provider.as_str().into(),
        model: spec.model.clone(),
        context_window: resolve_context_window(provider.as_str(), &spec.model, config),
        price: resolve_price(provider.as_str(), &spec.model, config),
    };
    let key = key.map(|key| (key, variable));
    Ok(if provider == Provider::Anthropic {
        Arc::new(AnthropicClient::new(info, &base, key, config)?)
    } else {
        Arc::new(OpenAiClient::new(info, &base, key, config)?)
    })
}

#[cfg(test)]
#[path = "select_tests.rs"]
mod tests;
