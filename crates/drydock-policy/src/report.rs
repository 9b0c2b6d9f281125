//! Reports for the CLI: `drydock policy check` and `drydock policy test`.

use std::fmt::Write as _;
use std::path::PathBuf;

use drydock_core::{Action, ActionRequest, Decision, Principal, RuleHit};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::config::{PolicyConfig, RepoPolicy};
use crate::engine::{ExampleOutcome, FacetReport, PolicyEngine};
use crate::shell::{AnalysisError, CommandAnalysis};

/// The exit code of `drydock policy check` for a decision: 0 allow, 1 deny, 3 require_approval.
pub fn check_exit_code(decision: Decision) -> i32 {
    match decision {
        Decision::Allow => 0,
        Decision::Deny => 1,
        Decision::RequireApproval => 3,
    }
}

/// What `drydock policy check -- 'COMMAND'` prints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CheckReport {
    /// The command line checked.
    pub command: String,
    /// The decision.
    pub decision: Decision,
    /// The process exit code for it.
    pub exit_code: i32,
    /// The rules that decided, strictest first.
    pub hits: Vec<RuleHit>,
    /// What the command would do.
    pub analysis: Option<CommandAnalysis>,
    /// Why it could not be analysed.
    pub analysis_error: Option<AnalysisError>,
    /// Every facet checked and the rules it matched.
    pub facets: Vec<FacetReport>,
}

/// Checks `command` as `principal` would run it.
pub fn check_command(engine: &PolicyEngine, principal: &Principal, command: &str) -> CheckReport {
    let evaluation = engine.evaluate(&ActionRequest {
        principal: principal.clone(),
        action: Action::RunCommand,
        resource: command.to_string(),
    });
    CheckReport {
        command: command.to_string(),
        decision: evaluation.verdict.decision,
        exit_code: check_exit_code(evaluation.verdict.decision),
        hits: evaluation.verdict.hits,
        analysis: evaluation.analysis,
        analysis_error: evaluation.analysis_error,
        facets: evaluation.facets,
    }
}

impl CheckReport {
    /// The report for a terminal: the decision, the deciding rules and what was parsed.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "{}", self.decision);
        for hit in self.hits.iter().filter(|h| h.decision == self.decision) {
            let _ = writeln!(out, "  {} ({}): {}", hit.rule, hit.decision, hit.reason);
        }
        if let Some(error) = &self.analysis_error {
            let _ = writeln!(out, "analysis: {error}");
        }
        if let Some(analysis) = &self.analysis {
            let _ = writeln!(out, "commands:");
            for command in &analysis.commands {
                let indent = "  ".repeat(command.depth as usize + 1);
                let name = if command.dynamic_program {
                    format!("<unknown program: {}>", command.path)
                } else {
                    command.program.clone()
                };
                let _ = write!(out, "{indent}{name}");
                if !command.args.is_empty() {
                    let _ = write!(out, " {}", command.args.join(" "));
                }
                let mut notes = Vec::new();
                if !command.flags.is_empty() {
                    notes.push(format!(
                        "flags {}",
                        command.flags.iter().cloned().collect::<Vec<_>>().join(" ")
                    ));
                }
                if !command.wrappers.is_empty() {
                    notes.push(format!("under {}", command.wrappers.join(" > ")));
                }
                if !command.stdin_programs.is_empty() {
                    notes.push(format!(
                        "stdin from {}",
                        command
                            .stdin_programs
                            .iter()
                            .cloned()
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                }
                if command.opaque_code {
                    notes.push("runs code that cannot be checked".to_string());
                }
                if !notes.is_empty() {
                    let _ = write!(out, "  [{}]", notes.join("; "));
                }
                out.push('\n');
            }
            for access in &analysis.file_accesses {
                let _ = writeln!(
                    out,
                    "  {} {} ({}, {})",
                    access.operation.as_str(),
                    access.path.display,
                    access.path.location.as_str(),
                    access.program
                );
            }
            for push in &analysis.pushes {
                let _ = writeln!(
                    out,
                    "  push to {}{}",
                    push.destination.as_deref().unwrap_or("<unknown>"),
                    if push.force { " (forced)" } else { "" }
                );
            }
        }
        out
    }
}

/// What `drydock policy test [FILE]` prints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RuleTestReport {
    /// True when everything loaded and every example behaved.
    pub passed: bool,
    /// A load error (syntax, schema validation, duplicate ids, bad overrides), if any.
    pub error: Option<String>,
    /// Rules tested.
    pub rules: usize,
    /// Every example and how it behaved.
    pub examples: Vec<ExampleOutcome>,
}

impl RuleTestReport {
    /// Examples that failed.
    pub fn failures(&self) -> impl Iterator<Item = &ExampleOutcome> {
        self.examples.iter().filter(|e| !e.passed())
    }

    /// The report for a terminal.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        if let Some(error) = &self.error {
            let _ = writeln!(out, "error: {error}");
            return out;
        }
        for failure in self.failures() {
            let _ = writeln!(
                out,
                "FAIL {} ({}): {} should {} but {}",
                failure.rule,
                failure.source,
                failure.example,
                if failure.should_match {
                    "match"
                } else {
                    "not match"
                },
                match &failure.refused {
                    Some(reason) => format!("was refused before rules ran: {reason}"),
                    None if failure.matched => "did".to_string(),
                    None => "did not".to_string(),
                }
            );
        }
        let failed = self.failures().count();
        let _ = writeln!(
            out,
            "{} rules, {} examples, {} failed",
            self.rules,
            self.examples.len(),
            failed
        );
        out
    }
}

/// Loads the shipped rules, the operator's (from `config`), the repository's and `files`, and
/// runs every embedded example, reporting each instead of stopping at the first failure.
pub fn test_rules(
    config: &PolicyConfig,
    repo: Option<&RepoPolicy>,
    files: &[PathBuf],
) -> RuleTestReport {
    match PolicyEngine::load(config, repo, files) {
        Err(error) => RuleTestReport {
            passed: false,
            error: Some(error.to_string()),
            rules: 0,
            examples: Vec::new(),
        },
        Ok(engine) => {
            let examples = engine.run_examples();
            RuleTestReport {
                passed: examples.iter().all(ExampleOutcome::passed),
                error: None,
                rules: engine.rules().len(),
                examples,
            }
        }
    }
}
