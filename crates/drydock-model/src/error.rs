use std::time::Duration;

use drydock_core::FailureClass;

/// A model call that did not produce a usable reply.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The provider, model or option is not one drydock knows.
    #[error("model configuration: {message}")]
    Config {
        /// What is wrong.
        message: String,
    },
    /// The key is missing or was refused.
    #[error("{provider}: authentication failed: {message}")]
    Auth {
        /// Provider name.
        provider: String,
        /// What the provider said, or which variable is missing.
        message: String,
    },
    /// Still rate-limited or overloaded after every retry.
    #[error("{provider}: rate limited after {attempts} attempts{}", retry_after.map(|d| format!(" (retry after {}s)", d.as_secs())).unwrap_or_default())]
    RateLimited {
        /// Provider name.
        provider: String,
        /// Attempts made.
        attempts: u32,
        /// What the provider asked for last.
        retry_after: Option<Duration>,
    },
    /// The provider answered with an error status.
    #[error("{provider}: HTTP {status}: {message}")]
    Http {
        /// Provider name.
        provider: String,
        /// Status code.
        status: u16,
        /// The provider's error message.
        message: String,
    },
    /// The provider could not be reached, or the connection broke, after every retry.
    #[error("{provider}: network error at {url}: {message}")]
    Network {
        /// Provider name.
        provider: String,
        /// The address called (never with credentials).
        url: String,
        /// What failed.
        message: String,
    },
    /// The provider's reply broke its own protocol.
    #[error("{provider}: malformed response: {message}")]
    Protocol {
        /// Provider name.
        provider: String,
        /// What was wrong.
        message: String,
    },
    /// A scripted trajectory ran out or its expectation did not hold.
    #[error("scripted model: {message}")]
    Script {
        /// What happened.
        message: String,
    },
    /// The call was cancelled.
    #[error("model call cancelled")]
    Cancelled,
}

impl ModelError {
    /// The failure class a task ends with when this error stops it.
    pub fn class(&self) -> FailureClass {
        match self {
            ModelError::Auth { .. } => FailureClass::Auth,
            ModelError::Network { .. } => FailureClass::Network,
            ModelError::Config { .. }
            | ModelError::RateLimited { .. }
            | ModelError::Http { .. }
            | ModelError::Protocol { .. }
            | ModelError::Script { .. }
            | ModelError::Cancelled => FailureClass::Model,
        }
    }

    /// A stable code for the error, used as the failure code.
    pub fn code(&self) -> &'static str {
        match self {
            ModelError::Config { .. } => "model_config",
            ModelError::Auth { .. } => "model_auth",
            ModelError::RateLimited { .. } => "rate_limited",
            ModelError::Http { .. } => "model_http",
            ModelError::Network { .. } => "model_unreachable",
            ModelError::Protocol { .. } => "model_protocol",
            ModelError::Script { .. } => "script",
            ModelError::Cancelled => "cancelled",
        }
    }

    /// What the user can do about it.
    pub fn remedy(&self) -> String {
        match self {
            ModelError::Config { .. } => {
                "check --model (provider:model) and the [model] section of drydock.toml".into()
            }
            ModelError::Auth { provider, .. } => format!(
                "set a valid key in the environment ({})",
                match provider.as_str() {
                    "anthropic" => "ANTHROPIC_API_KEY",
                    _ => "OPENAI_API_KEY",
                }
            ),
            ModelError::RateLimited { .. } => {
                "wait and retry, or raise the provider's rate limit".into()
            }
            ModelError::Http { .. } | ModelError::Protocol { .. } => {
                "check the provider's status and the model name; run again".into()
            }
            ModelError::Network { .. } => {
                "check that the provider (or --base-url) is reachable from this machine".into()
            }
            ModelError::Script { .. } => "check the trajectory file against the task".into(),
            ModelError::Cancelled => "nothing to do: the task was cancelled".into(),
        }
    }
}
