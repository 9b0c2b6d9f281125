//! The pull request's title and body: what changed and why (the agent's summary), the tests drydock
//! ran and their result, turns, tokens, cost and policy denials. Both are redacted by the caller.

use std::fmt::Write as _;

use drydock_core::{DiffStat, IssueSource, Task, TaskStats};

/// What the tests drydock ran after the agent finished came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestReport {
    /// The command.
    pub command: String,
    /// Whether it passed.
    pub passed: bool,
    /// Its exit code.
    pub exit_code: Option<i32>,
    /// How long it took.
    pub duration_ms: u64,
}

/// A policy denial during the task, for the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    /// The action.
    pub action: String,
    /// Its resource.
    pub resource: String,
    /// The rule that decided.
    pub rule: String,
}

/// Everything the body is made of.
#[derive(Debug, Clone)]
pub struct PrInputs<'a> {
    /// The task.
    pub task: &'a Task,
    /// The agent's summary.
    pub summary: &'a str,
    /// The agent's title, if it gave one.
    pub title: Option<&'a str>,
    /// The tests, when a command was known.
    pub tests: Option<&'a TestReport>,
    /// Totals.
    pub stats: &'a TaskStats,
    /// The denials, in order.
    pub denials: &'a [Denial],
    /// What changed.
    pub diff_stat: &'a DiffStat,
}

/// The title: the agent's, else the issue's; one line.
pub fn title(inputs: &PrInputs<'_>) -> String {
    let raw = inputs
        .title
        .filter(|t| !t.trim().is_empty())
        .unwrap_or(&inputs.task.spec.issue.title);
    let line = raw.lines().next().unwrap_or("").trim();
    let mut title: String = line.chars().take(120).collect();
    if title.is_empty() {
        title = format!("drydock task {}", inputs.task.id.short());
    }
    title
}

/// The body, in Markdown.
pub fn body(inputs: &PrInputs<'_>) -> String {
    let task = inputs.task;
    let mut out = String::new();
    let summary = inputs.summary.trim();
    out.push_str(if summary.is_empty() {
        "(the agent gave no summary)"
    } else {
        summary
    });
    out.push_str("\n\n");

    let _ = writeln!(out, "## Issue\n");
    let source = match &task.spec.issue.source {
        IssueSource::Forge { url } => format!(" ({url})"),
        _ => String::new(),
    };
    let _ = writeln!(
        out,
        "{}{source}, reported by {} ({}).\n",
        task.spec.issue.title, task.spec.issue.author.login, task.spec.issue.author.association
    );

    let _ = writeln!(out, "## Tests\n");
    match inputs.tests {
        Some(tests) => {
            let _ = writeln!(
                out,
                "drydock ran `{}` after the agent finished: **{}** ({}, {:.1}s).\n",
                tests.command,
                if tests.passed { "passed" } else { "failed" },
                tests
                    .exit_code
                    .map_or("killed".to_string(), |c| format!("exit code {c}")),
                tests.duration_ms as f64 / 1000.0
            );
        }
        None => {
            let _ = writeln!(
                out,
                "No test command is configured or detectable for this repository; nothing was run.\n"
            );
        }
    }

    let _ = writeln!(out, "## Changes\n");
    let _ = writeln!(out, "| file | + | − |\n|---|---:|---:|");
    for file in &inputs.diff_stat.files {
        if file.binary {
            let _ = writeln!(out, "| `{}` | binary | |", file.path);
        } else {
            let _ = writeln!(
                out,
                "| `{}` | {} | {} |",
                file.path, file.insertions, file.deletions
            );
        }
    }
    let _ = writeln!(
        out,
        "\n{} files changed, {} insertions, {} deletions.\n",
        inputs.diff_stat.files.len(),
        inputs.diff_stat.insertions(),
        inputs.diff_stat.deletions()
    );

    let stats = inputs.stats;
    let cost = if stats.cost_known {
        format!("${:.4}", stats.cost_usd)
    } else if stats.cost_usd > 0.0 {
        format!("at least ${:.4} (some prices unknown)", stats.cost_usd)
    } else {
        "unknown (no price for the model)".to_string()
    };
    let _ = writeln!(out, "## Run\n");
    let _ = writeln!(out, "- task `{}`, model `{}`", task.id, task.spec.model);
    let _ = writeln!(
        out,
        "- {} turns, {} tool calls, {} tokens ({} in, {} out, {} cached), cost {cost}",
        stats.turns,
        stats.tool_calls,
        stats.usage.total(),
        stats.usage.input_tokens + stats.usage.cache_write_tokens,
        stats.usage.output_tokens,
        stats.usage.cache_read_tokens
    );
    if inputs.denials.is_empty() {
        let _ = writeln!(out, "- policy denials: none");
    } else {
        let _ = writeln!(out, "- policy denials: {}", inputs.denials.len());
        for denial in inputs.denials.iter().take(20) {
            let resource: String = denial.resource.chars().take(80).collect();
            let _ = writeln!(
                out,
                "  - `{}` `{}` ({})",
                denial.action,
                resource.replace('`', "'"),
                denial.rule
            );
        }
    }
    if let Some(hash) = &task.prompt_hash {
        let _ = writeln!(
            out,
            "- system prompt sha256 `{}`",
            &hash[..hash.len().min(16)]
        );
    }
    let _ = writeln!(
        out,
        "\n_Written by drydock's agent and verified by drydock; review before merging. The full trajectory: `drydock show {}`._",
        task.id.short()
    );
    out
}
