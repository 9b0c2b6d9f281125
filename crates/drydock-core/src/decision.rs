use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{AuthorAssociation, TaskKind};

/// The outcome of a policy evaluation. Ordered by strictness, so the strictest of several is `max`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Run it.
    Allow,
    /// Run it only once a human approves.
    RequireApproval,
    /// Don't run it.
    Deny,
}

impl Decision {
    /// The snake_case name used in JSON and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Allow => "allow",
            Decision::RequireApproval => "require_approval",
            Decision::Deny => "deny",
        }
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the agent (or the orchestrator on its behalf) wants to do.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Read a file, list a directory or search the tree; resource: a workspace-relative path.
    ReadFile,
    /// Create, replace or edit a file; resource: a workspace-relative path.
    WriteFile,
    /// Run a shell command in the sandbox; resource: the command line.
    RunCommand,
    /// Open a network connection through the egress proxy; resource: `host:port`.
    NetConnect,
    /// Push a branch; resource: the branch name.
    GitPush,
    /// Open a pull request; resource: the head branch.
    OpenPr,
    /// A tool added later; resource as that tool defines it.
    Tool(String),
}

impl Action {
    /// The name of the action as policies spell it.
    pub fn name(&self) -> &str {
        match self {
            Action::ReadFile => "read_file",
            Action::WriteFile => "write_file",
            Action::RunCommand => "run_command",
            Action::NetConnect => "net_connect",
            Action::GitPush => "git_push",
            Action::OpenPr => "open_pr",
            Action::Tool(name) => name,
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The agent of one task, as policies see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Principal {
    /// What the task is asked to do.
    pub task_kind: TaskKind,
    /// The relation to the repository of whoever wrote the issue or comment.
    pub author_association: AuthorAssociation,
    /// The repository's short name.
    pub repo: String,
    /// The task's own branch; the only branch it may push.
    pub branch: String,
}

/// One question for the policy engine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ActionRequest {
    /// Who asks.
    pub principal: Principal,
    /// What for.
    pub action: Action,
    /// On what: a path, a command line, `host:port` or a branch (see [`Action`]).
    pub resource: String,
}

/// A rule that matched a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RuleHit {
    /// The rule's id.
    pub rule: String,
    /// What the rule decides.
    pub decision: Decision,
    /// Why the rule exists, in a sentence the model and the user can read.
    pub reason: String,
}

/// The policy engine's answer: the strictest decision among the rules that matched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Verdict {
    /// The decision to enforce.
    pub decision: Decision,
    /// The rules that matched, strictest first.
    pub hits: Vec<RuleHit>,
}

impl Verdict {
    /// A verdict from its hits: the strictest hit decides, and no hit means `allow`.
    pub fn from_hits(mut hits: Vec<RuleHit>) -> Self {
        hits.sort_by_key(|hit| std::cmp::Reverse(hit.decision));
        let decision = hits.first().map_or(Decision::Allow, |hit| hit.decision);
        Self { decision, hits }
    }

    /// A denial with one reason, for errors: the engine fails closed.
    pub fn deny(rule: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            decision: Decision::Deny,
            hits: vec![RuleHit {
                rule: rule.into(),
                decision: Decision::Deny,
                reason: reason.into(),
            }],
        }
    }

    /// The reasons of the hits that decided the outcome, joined for a message.
    pub fn reasons(&self) -> String {
        self.hits
            .iter()
            .filter(|hit| hit.decision == self.decision)
            .map(|hit| format!("{}: {}", hit.rule, hit.reason))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(rule: &str, decision: Decision) -> RuleHit {
        RuleHit {
            rule: rule.into(),
            decision,
            reason: format!("because {rule}"),
        }
    }

    #[test]
    fn strictest_hit_wins_whatever_the_order() {
        let verdict = Verdict::from_hits(vec![
            hit("a", Decision::Allow),
            hit("d", Decision::Deny),
            hit("r", Decision::RequireApproval),
        ]);
        assert_eq!(verdict.decision, Decision::Deny);
        assert_eq!(verdict.hits[0].rule, "d");
        assert_eq!(verdict.reasons(), "d: because d");
    }

    #[test]
    fn no_hit_is_allow() {
        assert_eq!(Verdict::from_hits(vec![]).decision, Decision::Allow);
    }

    #[test]
    fn decisions_order_by_strictness() {
        assert!(Decision::Allow < Decision::RequireApproval);
        assert!(Decision::RequireApproval < Decision::Deny);
    }
}
