use std::collections::BTreeMap;
use std::path::PathBuf;

use drydock_core::{Decision, RuleHit, Verdict};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::PolicyError;
use crate::rules::RuleDef;

/// Paths whose change needs a human's approval unless configured otherwise: CI definitions and the
/// files that steer coding agents, because a change there acts beyond this one pull request.
pub const DEFAULT_PROTECTED_PATHS: &[&str] = &[
    ".github/workflows/**",
    ".github/actions/**",
    ".github/copilot-instructions.md",
    ".github/CODEOWNERS",
    ".gitlab-ci.yml",
    ".circleci/**",
    "Jenkinsfile",
    "azure-pipelines.yml",
    ".buildkite/**",
    ".drydock.toml",
    "AGENTS.md",
    "**/AGENTS.md",
    "CLAUDE.md",
    "**/CLAUDE.md",
    "GEMINI.md",
    ".cursorrules",
    ".cursor/rules/**",
    ".windsurfrules",
    ".clinerules",
];

/// The default limit on changed lines (added plus removed) before a push needs approval.
pub const DEFAULT_MAX_DIFF_LINES: u32 = 500;

/// `[policy]`: how tool calls are decided.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct PolicyConfig {
    /// Extra rule files (TOML, see docs/policy.md), loaded after the shipped defaults.
    pub rule_files: Vec<PathBuf>,
    /// Rules written inline in the configuration, same format as in a rule file.
    pub rules: Vec<RuleDef>,
    /// Named lists for inline rules (`List::"name".items`), same format as in a rule file.
    pub lists: BTreeMap<String, Vec<String>>,
    /// Changed lines (added plus removed) above which a push needs approval.
    pub max_diff_lines: u32,
    /// Workspace path globs whose change needs approval; replaces the default list when set.
    pub protected_paths: Vec<String>,
    /// Tools beyond the built-in six, declared so policies can name them (`Action::"<name>"`).
    /// A call to an undeclared tool is denied.
    pub tools: Vec<String>,
    /// How `require_approval` decisions reach a human.
    pub approval: ApprovalConfig,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        Self {
            rule_files: Vec::new(),
            rules: Vec::new(),
            lists: BTreeMap::new(),
            max_diff_lines: DEFAULT_MAX_DIFF_LINES,
            protected_paths: DEFAULT_PROTECTED_PATHS
                .iter()
                .map(|p| p.to_string())
                .collect(),
            tools: Vec::new(),
            approval: ApprovalConfig::default(),
        }
    }
}

/// `[policy.approval]`: whether someone can answer a `require_approval` decision.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ApprovalConfig {
    /// Where approval requests go; `none` turns every `require_approval` into `deny`.
    pub channel: ApprovalChannel,
}

/// Where approval requests go.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalChannel {
    /// Nobody is asked: unattended runs deny what needs approval.
    #[default]
    None,
    /// The terminal that started `drydock run` asks its user.
    Terminal,
    /// `drydock serve` holds the call until someone approves it in the dashboard or API.
    Server,
}

impl ApprovalConfig {
    /// True when a `require_approval` decision can be put to a human: a channel is configured, or
    /// the caller runs interactively (a terminal is attached).
    pub fn available(&self, interactive: bool) -> bool {
        match self.channel {
            ApprovalChannel::None => interactive,
            ApprovalChannel::Terminal => interactive,
            ApprovalChannel::Server => true,
        }
    }
}

/// The rule id recorded when a `require_approval` verdict is turned into a denial.
pub const NO_APPROVAL_CHANNEL_RULE: &str = "no_approval_channel";

/// Turns `require_approval` into `deny` when nobody can approve. The engine always reports
/// `require_approval`; the caller, who knows whether a human is reachable, applies this.
pub fn resolve_approval(verdict: Verdict, approvals_available: bool) -> Verdict {
    if verdict.decision != Decision::RequireApproval || approvals_available {
        return verdict;
    }
    let mut hits = verdict.hits;
    hits.push(RuleHit {
        rule: NO_APPROVAL_CHANNEL_RULE.to_string(),
        decision: Decision::Deny,
        reason: "this call needs a human's approval and no approval channel is configured \
                 ([policy.approval] channel), so it is denied"
            .to_string(),
    });
    Verdict::from_hits(hits)
}

/// A repository's own `[policy]` section (from `.drydock.toml` on the default branch). It can only
/// tighten: add rules (allow rules may override non-hard restrictions), lower the diff limit, add
/// protected paths.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct RepoPolicy {
    /// The repository's rules, same format as a rule file's.
    pub rules: Vec<RuleDef>,
    /// New named lists for the repository's rules; lists of other layers cannot be changed.
    pub lists: BTreeMap<String, Vec<String>>,
    /// A lower limit on changed lines; a higher one than the operator's is ignored.
    pub max_diff_lines: Option<u32>,
    /// More protected path globs, added to the operator's.
    pub protected_paths: Vec<String>,
}

impl RepoPolicy {
    /// Reads the `[policy]` table of a whole `.drydock.toml`; other tables are ignored here (their
    /// owners validate them). A file without `[policy]` is an empty policy.
    pub fn from_drydock_toml(text: &str) -> Result<Self, PolicyError> {
        let malformed = |message: String| PolicyError::MalformedRuleFile {
            source_name: "repository .drydock.toml".to_string(),
            message,
        };
        let table: toml::Table = toml::from_str(text).map_err(|e| malformed(e.to_string()))?;
        match table.get("policy") {
            None => Ok(Self::default()),
            Some(value) => value
                .clone()
                .try_into()
                .map_err(|e: toml::de::Error| malformed(format!("[policy]: {e}"))),
        }
    }
}
