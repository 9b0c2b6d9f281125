//! `drydock run` and `drydock demo`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use drydock_core::{Author, AuthorAssociation, EventKind, Issue, IssueSource, TaskState};
use drydock_forge::Git;
use drydock_model::ScriptedClient;
use drydock_orchestrator::{
    LimitFlags, Platform, PreparedTask, RunError, TaskOutcome, TaskRequest,
};
use tokio_util::sync::CancellationToken;

use crate::cli::{DemoArgs, GlobalArgs, RunArgs, TaskOptions};
use crate::output::{CliError, print_json};
use crate::progress::{Mode, Reporter, tokens};
use crate::{context, demo, exit};

pub async fn run(global: &GlobalArgs, args: RunArgs) -> Result<ExitCode, CliError> {
    let (text, source) = match (&args.issue_file, &args.issue_text) {
        (Some(path), _) => {
            let bytes = std::fs::read(path).map_err(|err| {
                CliError::input(format!(
                    "cannot read the issue file {}: {err}",
                    path.display()
                ))
            })?;
            let text = String::from_utf8(bytes).map_err(|_| {
                CliError::input(format!(
                    "the issue file {} is not UTF-8 text",
                    path.display()
                ))
            })?;
            (
                text,
                IssueSource::File {
                    path: path.display().to_string(),
                },
            )
        }
        (None, Some(text)) => (text.clone(), IssueSource::Text),
        (None, None) => {
            return Err(CliError::input(
                "give the issue with --issue-file or --issue-text",
            ));
        }
    };
    if text.trim().is_empty() {
        return Err(CliError::input(
            "the issue is empty: give a title and a description",
        ));
    }
    let issue = Issue::from_text(&text, local_author(), source);
    let platform = context::platform(global).await?;
    let request = request(args.repo, issue, args.model, args.base_url, &args.options);
    let prepared = platform.submit(request).await.map_err(run_error)?;
    execute(global, &platform, prepared).await
}

pub async fn demo(global: &GlobalArgs, args: DemoArgs) -> Result<ExitCode, CliError> {
    let platform = context::platform(global).await?;
    let repo = demo_repo_in(&platform.data_dir).await?;
    let mode = Mode::detect(global.json, global.plain);
    if mode != Mode::Quiet {
        eprintln!(
            "drydock demo: a bundled repository (pager, with an off-by-one bug and failing tests) at\n  {}\n\
             and a RECORDED model trajectory: no model is called and no key is needed.\n\
             With a live model: drydock run --repo DIR --issue-file FILE --model anthropic:claude-sonnet-4-5\n\
             (ANTHROPIC_API_KEY set), or --model openai:MODEL [--base-url URL] for OpenAI-compatible servers.\n",
            repo.display()
        );
    }
    let model = ScriptedClient::from_json(demo::TRAJECTORY, "demo-recording")
        .map_err(|err| CliError::internal(format!("the bundled trajectory is invalid: {err}")))?;
    let issue = Issue::from_text(demo::ISSUE, local_author(), IssueSource::Demo);
    let request = request(repo, issue, None, None, &args.options);
    let prepared = platform
        .submit_with_model(request, Arc::new(model))
        .await
        .map_err(run_error)?;
    execute(global, &platform, prepared).await
}

fn request(
    repo: PathBuf,
    issue: Issue,
    model: Option<String>,
    base_url: Option<String>,
    options: &TaskOptions,
) -> TaskRequest {
    TaskRequest {
        repo,
        issue,
        model,
        base_url,
        limits: LimitFlags {
            max_turns: options.max_turns,
            max_tokens: options.max_tokens,
            max_cost_usd: options.max_cost,
            wall_clock_secs: options.timeout,
        },
        approvals: options.approvals,
        allow_untested: options.allow_untested,
    }
}

/// The local user, who runs drydock and so owns what they ask for.
fn local_author() -> Author {
    Author {
        login: std::env::var("USER").unwrap_or_else(|_| "local".into()),
        association: AuthorAssociation::Owner,
    }
}

fn run_error(err: RunError) -> CliError {
    match err {
        RunError::Input(err) => CliError::input(err.to_string()),
        other => CliError::internal(other.to_string()),
    }
}

/// Writes the demo repository under `data_dir/demo/` and commits it.
pub async fn demo_repo_in(data_dir: &std::path::Path) -> Result<PathBuf, CliError> {
    let parent = data_dir.join("demo");
    std::fs::create_dir_all(&parent)
        .map_err(|err| CliError::internal(format!("creating {}: {err}", parent.display())))?;
    let dir = tempfile::Builder::new()
        .prefix("pager-")
        .tempdir_in(&parent)
        .map_err(|err| {
            CliError::internal(format!(
                "creating a directory in {}: {err}",
                parent.display()
            ))
        })?
        .keep();
    for (path, content) in demo::REPO_FILES {
        let file = dir.join(path);
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent).map_err(|err| {
                CliError::internal(format!("creating {}: {err}", parent.display()))
            })?;
        }
        std::fs::write(&file, content)
            .map_err(|err| CliError::internal(format!("writing {}: {err}", file.display())))?;
    }
    let git = Git::new().map_err(|err| CliError::input(format!("git is needed: {err}")))?;
    for args in [
        vec!["init", "-q", "-b", "main"],
        vec!["add", "-A"],
        vec!["commit", "-q", "-m", "pager: pagination helpers"],
    ] {
        git.run(&dir, &args)
            .await
            .map_err(|err| CliError::internal(format!("preparing the demo repository: {err}")))?;
    }
    Ok(dir)
}

/// Runs a prepared task with live progress, then prints its summary.
async fn execute(
    global: &GlobalArgs,
    platform: &Platform,
    prepared: PreparedTask,
) -> Result<ExitCode, CliError> {
    let mode = Mode::detect(global.json, global.plain);
    let reporter = Arc::new(Reporter::new(mode));
    let cancel = CancellationToken::new();
    let interrupt = {
        let cancel = cancel.clone();
        let reporter = reporter.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                reporter.line("interrupted: cancelling the task (its sandbox is stopped)");
                cancel.cancel();
            }
        })
    };
    let task_id = prepared.task.id;
    let started = std::time::Instant::now();
    let outcome = platform.run(prepared, reporter.clone(), cancel).await;
    interrupt.abort();
    reporter.done();
    let outcome = outcome.map_err(|err| CliError::internal(format!("task {task_id}: {err}")))?;
    let tests = tests_line(platform, &outcome).await;
    if global.json {
        print_json(&serde_json::json!({
            "task": outcome.task,
            "pull_request": outcome.pull_request,
            "workspace": outcome.workspace,
            "tests": tests,
        }));
    } else {
        print_summary(&outcome, tests.as_ref(), started.elapsed(), mode);
    }
    Ok(exit::for_task(&outcome.task))
}

async fn tests_line(platform: &Platform, outcome: &TaskOutcome) -> Option<serde_json::Value> {
    let events = platform.store.events(outcome.task.id, 0).await.ok()?;
    events.iter().rev().find_map(|event| match &event.kind {
        EventKind::TestsRun { command, passed, exit_code, duration_ms, .. } => Some(serde_json::json!({
            "command": command, "passed": passed, "exit_code": exit_code, "duration_ms": duration_ms,
        })),
        _ => None,
    })
}

fn print_summary(
    outcome: &TaskOutcome,
    tests: Option<&serde_json::Value>,
    elapsed: std::time::Duration,
    mode: Mode,
) {
    let task = &outcome.task;
    let colour = mode == Mode::Terminal;
    let paint = |text: String, style: console::Style| {
        if colour {
            style.apply_to(text).to_string()
        } else {
            text
        }
    };
    let headline = match task.state {
        TaskState::Completed => paint(
            format!("✓ completed in {:.1}s", elapsed.as_secs_f64()),
            console::Style::new().green().bold(),
        ),
        state => paint(
            format!("✗ {state} after {:.1}s", elapsed.as_secs_f64()),
            console::Style::new().red().bold(),
        ),
    };
    crate::outln!("\n{headline}  task {}", task.id);
    if let Some(failure) = &task.failure {
        crate::outln!("  reason   {failure}");
        crate::outln!("  remedy   {}", failure.remedy);
    }
    if let Some(branch) = &task.branch {
        let place = match (&outcome.pull_request, &outcome.workspace) {
            (Some(_), _) => format!("pushed to {}", task.spec.repo.location),
            (None, Some(dir)) => format!("kept in {}", dir.display()),
            (None, None) => String::new(),
        };
        crate::outln!("  branch   {branch} {place}");
    }
    match tests {
        Some(t) => crate::outln!(
            "  tests    `{}` {}",
            t["command"].as_str().unwrap_or(""),
            if t["passed"].as_bool() == Some(true) {
                "passed"
            } else {
                "failed"
            }
        ),
        None => crate::outln!("  tests    not run"),
    }
    let stats = &task.stats;
    let cost = if stats.cost_known {
        format!("${:.4}", stats.cost_usd)
    } else {
        "unknown".to_string()
    };
    crate::outln!(
        "  usage    {} turns, {} tool calls ({} denied), {} tokens ({} in / {} out), cost {cost}",
        stats.turns,
        stats.tool_calls,
        stats.denials,
        tokens(stats.usage.total()),
        tokens(
            stats.usage.input_tokens
                + stats.usage.cache_read_tokens
                + stats.usage.cache_write_tokens
        ),
        tokens(stats.usage.output_tokens),
    );
    if let Some(pr) = &outcome.pull_request {
        crate::outln!("  PR       {}", pr.title);
        crate::outln!(
            "           {} files, +{} -{}; full record: drydock pr show {}",
            pr.diff_stat.files.len(),
            pr.diff_stat.insertions(),
            pr.diff_stat.deletions(),
            task.id.short()
        );
    }
    crate::outln!("  trace    drydock show {}", task.id.short());
}
