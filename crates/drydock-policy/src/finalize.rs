//! The gate the orchestrator passes before any push: the size of the change, the paths it
//! touches, and the push itself. (The secret scan of the diff belongs to drydock-secrets; the
//! orchestrator combines both verdicts.)

use drydock_core::{Action, ActionRequest, Decision, DiffStat, Principal, RuleHit, Verdict};

use crate::engine::PolicyEngine;
use crate::facets::path_facet;
use crate::paths::resolve_tool_path;
use crate::shell::FileOperation;

/// The rule id of a change larger than `max_diff_lines`.
pub const DIFF_TOO_LARGE_RULE: &str = "diff_too_large";

impl PolicyEngine {
    /// Decides whether the task's change may be pushed: more than `max_diff_lines` changed
    /// lines needs approval; every changed path goes through the `write_file` rules (so a change
    /// to a protected path needs approval even when a script made it, and `.git` is refused);
    /// and the push of the task's branch is decided as a `git_push` (an untrusted author's task
    /// needs approval).
    pub fn finalize_gate(&self, diff: &DiffStat, principal: &Principal) -> Verdict {
        let mut hits: Vec<RuleHit> = Vec::new();
        let changed: u64 = diff
            .files
            .iter()
            .map(|f| u64::from(f.insertions) + u64::from(f.deletions))
            .sum();
        if changed > u64::from(self.max_diff_lines()) {
            hits.push(RuleHit {
                rule: DIFF_TOO_LARGE_RULE.to_string(),
                decision: Decision::RequireApproval,
                reason: format!(
                    "the change has {changed} changed lines, more than the limit of {}; a human reviews a change this large before it is pushed",
                    self.max_diff_lines()
                ),
            });
        }
        let facets: Vec<_> = diff
            .files
            .iter()
            .map(|file| {
                let path = resolve_tool_path(&file.path);
                path_facet(
                    "write_file",
                    &path,
                    self.protected_paths(),
                    "diff",
                    FileOperation::Write,
                    false,
                    "",
                )
            })
            .collect();
        let (path_hits, _) = self.check_facets(principal, &facets, false, false);
        hits.extend(
            path_hits
                .into_iter()
                .filter(|h| h.decision != Decision::Allow),
        );
        let push = self.decide(&ActionRequest {
            principal: principal.clone(),
            action: Action::GitPush,
            resource: principal.branch.clone(),
        });
        hits.extend(
            push.hits
                .into_iter()
                .filter(|h| h.decision != Decision::Allow),
        );
        Verdict::from_hits(hits)
    }
}
