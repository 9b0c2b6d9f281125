//! Rule files: TOML documents of rules, each a Cedar policy with its decision, reason and the
//! examples that must and must not match it.

use std::collections::BTreeMap;

use cedar_policy::{Effect, Policy, PolicyId};
use drydock_core::{AuthorAssociation, Decision, TaskKind};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::PolicyError;

/// The rules drydock ships (policy/defaults.toml).
pub const DEFAULT_RULES: &str = include_str!("../policy/defaults.toml");

/// Rule ids the engine itself uses; rule files may not take them.
pub const RESERVED_RULE_IDS: &[&str] = &[
    "policy_error",
    "parse_error",
    "analysis_limit",
    "no_matching_permit",
    "unknown_action",
    "invalid_resource",
    "no_approval_channel",
    "diff_too_large",
];

/// One rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleDef {
    /// Unique id: lower-case letters, digits, `_`, `-` and `.`; shown in decisions.
    pub id: String,
    /// `allow` (the policy must `permit`), `require_approval` or `deny` (it must `forbid`).
    pub decision: Decision,
    /// Why the rule exists, in a sentence the model and the user can act on.
    pub reason: String,
    /// A hard rule cannot be overridden by any allow rule (operator or repository).
    #[serde(default)]
    pub hard: bool,
    /// For `allow` rules: restrictions (by id, never hard ones) this rule lifts where it matches.
    #[serde(default)]
    pub overrides: Vec<String>,
    /// The Cedar policy: exactly one `permit` or `forbid`, without annotations.
    pub policy: String,
    /// Requests the rule must match.
    #[serde(rename = "match")]
    pub matches: Vec<Example>,
    /// Requests the rule must not match.
    pub not_match: Vec<Example>,
}

/// An example request: a command line (for `run_command`) or a full request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Example {
    /// A command line, checked as `run_command` by a trusted member's new task.
    Command(String),
    /// Any request.
    Request(ExampleRequest),
}

/// A full example request; unset principal fields take the example defaults (a `new_task` of a
/// `member`, branch `drydock/example`, repo `example`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExampleRequest {
    /// The action: `read_file`, `write_file`, `run_command`, `net_connect`, `git_push`,
    /// `open_pr` or a declared tool.
    pub action: String,
    /// The resource as the agent sends it.
    pub resource: String,
    /// Who wrote the issue.
    #[serde(default)]
    pub author: Option<AuthorAssociation>,
    /// The kind of task.
    #[serde(default)]
    pub kind: Option<TaskKind>,
    /// The task's own branch.
    #[serde(default)]
    pub branch: Option<String>,
}

impl Example {
    /// The example as written, for messages.
    pub fn describe(&self) -> String {
        match self {
            Example::Command(command) => format!("`{command}`"),
            Example::Request(r) => {
                let mut out = format!("{} `{}`", r.action, r.resource);
                if let Some(author) = r.author {
                    out.push_str(&format!(" by {author}"));
                }
                if let Some(branch) = &r.branch {
                    out.push_str(&format!(" on branch {branch}"));
                }
                out
            }
        }
    }
}

/// A rule file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleFile {
    /// Format version; 1.
    #[serde(default = "version_one")]
    pub version: u32,
    /// Named lists of strings rules can use as `List::"name".items`.
    #[serde(default)]
    pub lists: BTreeMap<String, Vec<String>>,
    /// The rules.
    #[serde(default, rename = "rule")]
    pub rules: Vec<RuleDef>,
}

fn version_one() -> u32 {
    1
}

/// Where a rule comes from; later layers can tighten earlier ones but never lift hard rules.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Layer {
    /// Shipped with drydock.
    Shipped,
    /// From the operator's configuration (rule files and inline rules).
    Operator,
    /// From the repository's `.drydock.toml` on its default branch.
    Repository,
}

/// A rule ready for evaluation.
#[derive(Debug, Clone)]
pub(crate) struct LoadedRule {
    pub def: RuleDef,
    pub source: String,
    pub layer: Layer,
    pub policy: Policy,
}

/// Parses a rule file's text; `source` names it in errors.
pub fn parse_rule_file(text: &str, source: &str) -> Result<RuleFile, PolicyError> {
    let file: RuleFile = toml::from_str(text).map_err(|e| PolicyError::MalformedRuleFile {
        source_name: source.to_string(),
        message: e.to_string(),
    })?;
    if file.version != 1 {
        return Err(PolicyError::MalformedRuleFile {
            source_name: source.to_string(),
            message: format!("version {} is not supported (only 1 is)", file.version),
        });
    }
    Ok(file)
}

/// True for a valid rule or list name.
pub(crate) fn valid_name(name: &str) -> bool {
    name.len() <= 80
        && name.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-' | '.'))
}

/// The `List::"name"` entities a policy refers to.
pub(crate) fn lists_used(policy: &Policy) -> Vec<String> {
    fn walk(value: &serde_json::Value, out: &mut Vec<String>) {
        match value {
            serde_json::Value::Object(map) => {
                if let Some(entity) = map.get("__entity")
                    && entity.get("type").and_then(|t| t.as_str()) == Some("List")
                    && let Some(id) = entity.get("id").and_then(|i| i.as_str())
                {
                    out.push(id.to_string());
                }
                if map.get("type").and_then(|t| t.as_str()) == Some("List")
                    && let Some(id) = map.get("id").and_then(|i| i.as_str())
                {
                    out.push(id.to_string());
                }
                for child in map.values() {
                    walk(child, out);
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|i| walk(i, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    if let Ok(json) = policy.to_json() {
        walk(&json, &mut out);
    }
    out.sort();
    out.dedup();
    out
}

/// Checks a rule on its own and parses its policy.
pub(crate) fn load_rule(
    def: RuleDef,
    source: &str,
    layer: Layer,
) -> Result<LoadedRule, PolicyError> {
    let invalid = |problem: String| PolicyError::InvalidRule {
        source_name: source.to_string(),
        rule: def.id.clone(),
        problem,
    };
    if !valid_name(&def.id) {
        return Err(invalid(
            "the id must start with a lower-case letter and hold only lower-case letters, digits, \
             `_`, `-` and `.` (at most 80 characters)"
                .to_string(),
        ));
    }
    if RESERVED_RULE_IDS.contains(&def.id.as_str()) {
        return Err(invalid("this id is reserved for the engine".to_string()));
    }
    if def.reason.trim().is_empty() {
        return Err(invalid(
            "the reason is empty; say why the rule exists".to_string(),
        ));
    }
    if def.matches.is_empty() || def.not_match.is_empty() {
        return Err(invalid(
            "every rule needs at least one `match` and one `not_match` example".to_string(),
        ));
    }
    if !def.overrides.is_empty() && def.decision != Decision::Allow {
        return Err(invalid(
            "only `allow` rules can override other rules".to_string(),
        ));
    }
    let policy = Policy::parse(Some(PolicyId::new(&def.id)), &def.policy).map_err(|e| {
        PolicyError::CedarSyntax {
            source_name: source.to_string(),
            rule: def.id.clone(),
            message: e.to_string(),
        }
    })?;
    if policy.annotations().next().is_some() {
        return Err(invalid(
            "write the rule's id, decision and reason as TOML fields, not Cedar annotations"
                .to_string(),
        ));
    }
    let expected = match def.decision {
        Decision::Allow => Effect::Permit,
        Decision::RequireApproval | Decision::Deny => Effect::Forbid,
    };
    if policy.effect() != expected {
        return Err(invalid(format!(
            "decision `{}` needs a `{}` policy, found `{}`",
            def.decision,
            effect_name(expected),
            effect_name(policy.effect())
        )));
    }
    Ok(LoadedRule {
        def,
        source: source.to_string(),
        layer,
        policy,
    })
}

fn effect_name(effect: Effect) -> &'static str {
    match effect {
        Effect::Permit => "permit",
        Effect::Forbid => "forbid",
    }
}
