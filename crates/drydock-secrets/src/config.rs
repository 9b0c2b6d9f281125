//! The `[secrets]` configuration section.

use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::builtin::DEFAULT_GENERIC_ENTROPY;
use crate::rule::{Allowlist, RuleSet};
use crate::{KnownSecret, Redactor, SecretsError};

/// `[secrets]`: what drydock redacts and what the pre-push scan blocks.
///
/// ```toml
/// [secrets]
/// rules_file = "gitleaks.toml"          # merged over the built-in rules
/// env = ["DATABASE_URL", "SENTRY_DSN"]   # host variables whose values are secrets
/// entropy_threshold = 3.0
/// disabled_rules = ["openai-compatible-api-key"]
///
/// [secrets.allowlist]
/// paths = ["**/testdata/**", "**/*.snap"]
/// regexes = ['^sk_test_']
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct SecretsConfig {
    /// A gitleaks-format TOML rule file merged over the built-in rules (a relative path is
    /// resolved against the directory of the config file that names it).
    pub rules_file: Option<PathBuf>,
    /// Whether the built-in rules are used.
    pub builtin_rules: bool,
    /// Rule ids to turn off (an unknown id is an error).
    pub disabled_rules: Vec<String>,
    /// Names of host environment variables whose values are secrets: redacted in every
    /// encoding wherever they appear. Unset variables are ignored; values shorter than 8
    /// characters are an error.
    pub env: Vec<String>,
    /// Minimum Shannon entropy, in bits per character, of the value of a generic
    /// `password = ...` / `token: ...` assignment before it counts as a secret (0 to 8).
    pub entropy_threshold: f64,
    /// Findings the scanners ignore.
    pub allowlist: AllowlistConfig,
}

/// `[secrets.allowlist]`: findings to ignore. Known secret values are never allowlisted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct AllowlistConfig {
    /// Globs of file paths whose findings are ignored by `drydock scan` and the pre-push scan
    /// (e.g. `**/testdata/**`). Lock files need no entry: the rules ignore their hashes, and a
    /// credential in a lock file's registry URL should still be found.
    pub paths: Vec<String>,
    /// Regexes (Rust `regex` syntax) matched against a candidate secret; a match drops it.
    pub regexes: Vec<String>,
    /// Words (case-insensitive) whose presence in a candidate secret drops it.
    pub stopwords: Vec<String>,
}

impl Default for SecretsConfig {
    fn default() -> Self {
        SecretsConfig {
            rules_file: None,
            builtin_rules: true,
            disabled_rules: Vec::new(),
            env: Vec::new(),
            entropy_threshold: DEFAULT_GENERIC_ENTROPY,
            allowlist: AllowlistConfig::default(),
        }
    }
}

impl SecretsConfig {
    /// Checks values serde cannot (entropy range, env names).
    pub fn validate(&self) -> Result<(), SecretsError> {
        if !(0.0..=8.0).contains(&self.entropy_threshold) {
            return Err(SecretsError::Config {
                message: format!(
                    "entropy_threshold = {}: must be between 0 and 8 bits per character",
                    self.entropy_threshold
                ),
            });
        }
        for name in &self.env {
            if name.is_empty() || name.contains('=') || name.contains('\0') {
                return Err(SecretsError::Config {
                    message: format!("env: {name:?} is not an environment variable name"),
                });
            }
        }
        Ok(())
    }

    /// The rule set this section describes; `config_dir` anchors a relative `rules_file`.
    pub fn rule_set(&self, config_dir: &Path) -> Result<RuleSet, SecretsError> {
        self.validate()?;
        let mut rules = if self.builtin_rules {
            RuleSet::builtin()
        } else {
            RuleSet::empty()
        };
        if let Some(file) = &self.rules_file {
            let path = if file.is_absolute() {
                file.clone()
            } else {
                config_dir.join(file)
            };
            rules = rules.merge(RuleSet::load_gitleaks_file(&path)?);
        }
        rules = rules.without(&self.disabled_rules)?;
        rules = rules.with_generic_entropy(self.entropy_threshold);
        let list = &self.allowlist;
        if !(list.paths.is_empty() && list.regexes.is_empty() && list.stopwords.is_empty()) {
            rules = rules.with_allowlist(Allowlist::from_config(
                "[secrets.allowlist]",
                &list.regexes,
                &list.paths,
                &list.stopwords,
            )?);
        }
        Ok(rules)
    }

    /// The configured `env` secrets, read through `lookup` (unset or empty ones skipped).
    pub fn env_secrets_with<F>(&self, lookup: F) -> Vec<KnownSecret>
    where
        F: Fn(&str) -> Option<String>,
    {
        KnownSecret::from_env_with(&self.env, lookup)
    }

    /// Names in `env` that are unset or empty (worth a warning: nothing will be redacted for
    /// them).
    pub fn missing_env_with<F>(&self, lookup: F) -> Vec<String>
    where
        F: Fn(&str) -> Option<String>,
    {
        self.env
            .iter()
            .filter(|name| lookup(name).is_none_or(|value| value.trim().is_empty()))
            .cloned()
            .collect()
    }

    /// The redactor for a task: these rules, plus `known` (the provider keys and forge tokens
    /// drydock holds) and the configured `env` secrets from the process environment.
    pub fn build_redactor(
        &self,
        config_dir: &Path,
        mut known: Vec<KnownSecret>,
    ) -> Result<Redactor, SecretsError> {
        known.extend(self.env_secrets_with(|name| std::env::var(name).ok()));
        Redactor::new(self.rule_set(config_dir)?, known)
    }
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
