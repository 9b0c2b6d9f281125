//! Configuration: defaults < `drydock.toml` < the repository's `.drydock.toml` (read from the
//! default branch, never from the agent's edits) < command-line flags. Unknown keys are errors.

use std::path::{Path, PathBuf};

use drydock_core::Limits;
use drydock_model::ModelConfig;
use drydock_policy::{PolicyConfig, RepoPolicy};
use drydock_sandbox::{BackendKind, DEFAULT_REGISTRIES, NetworkConfig, SandboxConfig};
use drydock_secrets::SecretsConfig;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The model used when neither `--model` nor `[agent] model` names one.
pub const DEFAULT_MODEL: &str = "anthropic:claude-sonnet-4-5";

/// In a repository's `[network] allow`, stands for the default package registries.
pub const REGISTRIES_TOKEN: &str = "@registries";

/// `drydock.toml`: the operator's configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The agent.
    pub agent: AgentConfig,
    /// Budgets of every task (a repository can only lower them).
    pub limits: Limits,
    /// The model provider.
    pub model: ModelConfig,
    /// The sandbox backend and its limits.
    pub sandbox: SandboxConfig,
    /// Egress allowlist.
    pub network: NetworkConfig,
    /// Tool-call policy.
    pub policy: PolicyConfig,
    /// Secret redaction and the pre-push scan.
    pub secrets: SecretsConfig,
    /// How the repository's tests run after the agent finishes.
    pub test: TestConfig,
    /// The identity of drydock's commits.
    pub commit: CommitConfig,
}

/// `[agent]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct AgentConfig {
    /// `provider:model` used when `--model` is not given.
    pub model: String,
    /// Seconds a task waits for an approval before treating silence as a denial.
    pub approval_timeout_secs: u64,
}

impl Default for AgentConfig {
    fn default() -> Self {
        Self {
            model: DEFAULT_MODEL.to_string(),
            approval_timeout_secs: 30 * 60,
        }
    }
}

/// `[test]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct TestConfig {
    /// The command that verifies a change (run with bash in the sandbox, in /workspace); when
    /// unset it is detected (cargo, pytest, npm, go).
    pub command: Option<String>,
    /// Seconds the tests may take; default: the task's command timeout.
    pub timeout_secs: Option<u64>,
}

/// `[commit]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct CommitConfig {
    /// Author and committer name.
    pub name: String,
    /// Author and committer e-mail.
    pub email: String,
}

impl Default for CommitConfig {
    fn default() -> Self {
        Self {
            name: "drydock".into(),
            email: "drydock@localhost".into(),
        }
    }
}

/// A repository's `.drydock.toml`, read from the commit the task starts from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct RepoConfig {
    /// The test command.
    pub test: TestConfig,
    /// Where the sandbox may connect.
    pub network: RepoNetwork,
    /// The backend and image for this repository.
    pub sandbox: RepoSandbox,
    /// More (only stricter) policies.
    pub policy: RepoPolicy,
    /// Lower budgets.
    pub limits: RepoLimits,
}

/// `[network]` of a repository.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct RepoNetwork {
    /// Host globs the sandbox may reach, replacing the operator's list; `"@registries"` stands for
    /// the default package registries; `[]` means offline. Unset: the operator's list.
    pub allow: Option<Vec<String>>,
    /// More host globs to refuse (added to the operator's).
    pub deny: Vec<String>,
}

/// `[sandbox]` of a repository.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct RepoSandbox {
    /// The backend for this repository's tasks.
    pub backend: Option<BackendKind>,
    /// The container image (docker backend).
    pub image: Option<String>,
}

/// `[limits]` of a repository: each can only be lower than the operator's.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct RepoLimits {
    /// See [`Limits::max_turns`].
    pub max_turns: Option<u32>,
    /// See [`Limits::max_tokens`].
    pub max_tokens: Option<u64>,
    /// See [`Limits::max_cost_usd`].
    pub max_cost_usd: Option<f64>,
    /// See [`Limits::wall_clock_secs`].
    pub wall_clock_secs: Option<u64>,
    /// See [`Limits::command_timeout_secs`].
    pub command_timeout_secs: Option<u64>,
}

/// Budgets given on the command line; they override everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LimitFlags {
    /// `--max-turns`.
    pub max_turns: Option<u32>,
    /// `--max-tokens`.
    pub max_tokens: Option<u64>,
    /// `--max-cost`.
    pub max_cost_usd: Option<f64>,
    /// `--timeout`.
    pub wall_clock_secs: Option<u64>,
}

/// A configuration file that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The file is not valid for its schema.
    #[error("{origin} is invalid: {message}")]
    Invalid {
        /// Which file (path, or `.drydock.toml at <commit>`).
        origin: String,
        /// What is wrong (with the key and line).
        message: String,
    },
}

impl Config {
    /// Reads and validates `drydock.toml`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses and validates configuration text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|err| ConfigError::Invalid {
            origin: origin.to_string(),
            message: err.to_string(),
        })?;
        config.validate(origin)?;
        Ok(config)
    }

    fn validate(&self, origin: &str) -> Result<(), ConfigError> {
        let invalid = |message: String| ConfigError::Invalid {
            origin: origin.to_string(),
            message,
        };
        self.model
            .validate()
            .map_err(|err| invalid(err.to_string()))?;
        self.secrets
            .validate()
            .map_err(|err| invalid(err.to_string()))?;
        let limits = &self.limits;
        if limits.max_turns == 0 || limits.max_tokens == 0 || limits.wall_clock_secs == 0 {
            return Err(invalid(
                "[limits]: max_turns, max_tokens and wall_clock_secs must be positive".into(),
            ));
        }
        if !(limits.max_cost_usd >= 0.0 && limits.max_cost_usd.is_finite()) {
            return Err(invalid(
                "[limits] max_cost_usd must be a non-negative number".into(),
            ));
        }
        if limits.command_timeout_secs == 0 {
            return Err(invalid(
                "[limits] command_timeout_secs must be positive".into(),
            ));
        }
        Ok(())
    }

    /// The limits of a task: the operator's, lowered by the repository, then the flags.
    pub fn task_limits(&self, repo: &RepoConfig, flags: &LimitFlags) -> Limits {
        let mut limits = self.limits.clone();
        let r = &repo.limits;
        if let Some(v) = r.max_turns {
            limits.max_turns = limits.max_turns.min(v);
        }
        if let Some(v) = r.max_tokens {
            limits.max_tokens = limits.max_tokens.min(v);
        }
        if let Some(v) = r.max_cost_usd {
            limits.max_cost_usd = limits.max_cost_usd.min(v);
        }
        if let Some(v) = r.wall_clock_secs {
            limits.wall_clock_secs = limits.wall_clock_secs.min(v);
        }
        if let Some(v) = r.command_timeout_secs {
            limits.command_timeout_secs = limits.command_timeout_secs.min(v);
        }
        if let Some(v) = flags.max_turns {
            limits.max_turns = v;
        }
        if let Some(v) = flags.max_tokens {
            limits.max_tokens = v;
        }
        if let Some(v) = flags.max_cost_usd {
            limits.max_cost_usd = v;
        }
        if let Some(v) = flags.wall_clock_secs {
            limits.wall_clock_secs = v;
        }
        limits
    }

    /// The egress allowlist of a task: the repository's list (with `@registries` expanded) or the
    /// operator's; the deny lists of both.
    pub fn task_network(&self, repo: &RepoConfig) -> NetworkConfig {
        let mut network = self.network.clone();
        if let Some(allow) = &repo.network.allow {
            network.allow = allow
                .iter()
                .flat_map(|host| {
                    if host == REGISTRIES_TOKEN {
                        DEFAULT_REGISTRIES.iter().map(|h| h.to_string()).collect()
                    } else {
                        vec![host.clone()]
                    }
                })
                .collect();
        }
        network.deny.extend(repo.network.deny.iter().cloned());
        network
    }

    /// The sandbox settings of a task: the operator's, with the repository's backend and image.
    pub fn task_sandbox(&self, repo: &RepoConfig) -> SandboxConfig {
        let mut sandbox = self.sandbox.clone();
        if let Some(backend) = repo.sandbox.backend {
            sandbox.backend = backend;
        }
        if let Some(image) = &repo.sandbox.image {
            sandbox.image = Some(image.clone());
        }
        sandbox
    }
}

impl RepoConfig {
    /// Parses a repository's `.drydock.toml`; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<RepoConfig, ConfigError> {
        let config: RepoConfig = toml::from_str(text).map_err(|err| ConfigError::Invalid {
            origin: origin.to_string(),
            message: err.to_string(),
        })?;
        if let Some(v) = config.limits.max_cost_usd
            && !(v >= 0.0 && v.is_finite())
        {
            return Err(ConfigError::Invalid {
                origin: origin.to_string(),
                message: "[limits] max_cost_usd must be a non-negative number".into(),
            });
        }
        Ok(config)
    }
}

/// The JSON Schema of `drydock.toml`.
pub fn config_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(Config)).unwrap_or_default()
}

/// The JSON Schema of a repository's `.drydock.toml`.
pub fn repo_config_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(RepoConfig)).unwrap_or_default()
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
