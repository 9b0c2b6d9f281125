//! `drydock tasks`, `show`, `pr show`, `audit verify`.

use std::process::ExitCode;

use drydock_core::{Event, EventKind, PullRequest, Task};
use drydock_store::TaskQuery;

use crate::cli::{AuditVerifyArgs, GlobalArgs, ShowArgs, TaskRef, TasksArgs};
use crate::output::{CliError, print_json};
use crate::progress::{clip, tokens};
use crate::{context, exit};

pub async fn tasks(global: &GlobalArgs, args: TasksArgs) -> Result<ExitCode, CliError> {
    let tasks = match context::existing_store(global).await? {
        Some(store) => {
            store
                .list_tasks(&TaskQuery {
                    limit: Some(args.limit),
                    states: Vec::new(),
                })
                .await?
        }
        None => Vec::new(),
    };
    if global.json {
        print_json(&tasks);
        return Ok(ExitCode::SUCCESS);
    }
    if tasks.is_empty() {
        crate::outln!("no tasks yet: try `drydock demo`");
        return Ok(ExitCode::SUCCESS);
    }
    crate::outln!(
        "{:<8}  {:<16}  {:<17}  {:>5}  {:>7}  {:>9}  {:>8}  {}",
        "id",
        "repo",
        "state",
        "turns",
        "tokens",
        "cost",
        "duration",
        "title"
    );
    for task in &tasks {
        crate::outln!(
            "{:<8}  {:<16}  {:<17}  {:>5}  {:>7}  {:>9}  {:>8}  {}",
            task.id.short(),
            clip(&task.spec.repo.name, 16),
            task.state.as_str(),
            task.stats.turns,
            tokens(task.stats.usage.total()),
            cost(task),
            duration(task),
            clip(&task.spec.issue.title, 50)
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn cost(task: &Task) -> String {
    if task.stats.cost_known {
        format!("${:.4}", task.stats.cost_usd)
    } else {
        "unknown".into()
    }
}

fn duration(task: &Task) -> String {
    let end = task.finished_at.unwrap_or(task.updated_at);
    let secs = (end - task.created_at).num_milliseconds().max(0) as f64 / 1000.0;
    if secs >= 60.0 {
        format!("{}m{:02}s", (secs / 60.0) as u64, (secs % 60.0) as u64)
    } else {
        format!("{secs:.1}s")
    }
}

pub async fn show(global: &GlobalArgs, args: ShowArgs) -> Result<ExitCode, CliError> {
    let store = context::existing_store(global).await?.ok_or_else(|| {
        CliError::input(format!("no task matches {:?} (no tasks yet)", args.task))
    })?;
    let task = store.find_task(&args.task).await?;
    let events = store.events(task.id, 0).await?;
    if global.json {
        print_json(&serde_json::json!({ "task": task, "events": events }));
        return Ok(ExitCode::SUCCESS);
    }
    crate::outln!("task {}  {}  ({})", task.id, task.state, task.spec.model);
    crate::outln!(
        "issue {}  by {} ({})",
        task.spec.issue.title,
        task.spec.issue.author.login,
        task.spec.issue.author.association
    );
    if let Some(failure) = &task.failure {
        crate::outln!("reason {failure}\nremedy {}", failure.remedy);
    }
    crate::outln!(
        "{} turns, {} tool calls, {} denied, {} tokens, cost {}, {}",
        task.stats.turns,
        task.stats.tool_calls,
        task.stats.denials,
        tokens(task.stats.usage.total()),
        cost(&task),
        duration(&task)
    );
    crate::outln!();
    for event in &events {
        if let Some(line) = describe(event, args.full) {
            crate::outln!(
                "{:>4} {}  {line}",
                event.seq,
                event.at.format("%H:%M:%S%.3f")
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// One event of a trajectory as text (long outputs cut unless `full`).
fn describe(event: &Event, full: bool) -> Option<String> {
    let body = |text: &str| {
        if full {
            format!("\n{}", indent(text))
        } else {
            let lines: Vec<&str> = text.lines().collect();
            let shown: Vec<String> = lines.iter().take(4).map(|l| clip(l, 120)).collect();
            let more = if lines.len() > 4 {
                format!("\n      … {} more lines (--full)", lines.len() - 4)
            } else {
                String::new()
            };
            format!("\n{}{more}", indent(&shown.join("\n")))
        }
    };
    Some(match &event.kind {
        EventKind::TaskCreated { spec } => {
            format!("created: {} on {}", spec.issue.title, spec.repo.location)
        }
        EventKind::StateChanged { from, to, failure } => match failure {
            Some(f) => format!("state {from} → {to}: {f}"),
            None => format!("state {from} → {to}"),
        },
        EventKind::WorkspacePrepared {
            path,
            branch,
            base_commit,
            test_command,
        } => format!(
            "workspace {path} on {branch} from {} (tests: {})",
            &base_commit[..base_commit.len().min(12)],
            test_command.as_deref().unwrap_or("none")
        ),
        EventKind::SandboxStarted { backend, isolation } => {
            format!("sandbox {backend}: {}", isolation.join(", "))
        }
        EventKind::PromptRendered { version, hash } => {
            format!("prompt {version} sha256 {}", &hash[..hash.len().min(16)])
        }
        EventKind::ModelTurn {
            turn,
            model,
            usage,
            cost_usd,
            stop_reason,
            text,
            tool_calls,
            duration_ms,
        } => {
            let cost = cost_usd.map_or("cost unknown".to_string(), |c| format!("${c:.4}"));
            let mut line = format!(
                "turn {turn} {model}: {} in / {} out, {cost}, {duration_ms}ms, {tool_calls} tool calls, {stop_reason}",
                usage.input_tokens + usage.cache_read_tokens + usage.cache_write_tokens,
                usage.output_tokens
            );
            if !text.trim().is_empty() {
                line.push_str(&body(text));
            }
            line
        }
        EventKind::ToolCall {
            tool,
            arguments,
            call_id,
            ..
        } => {
            format!(
                "call {tool} {}  [{call_id}]",
                clip(&arguments.to_string(), if full { 10_000 } else { 140 })
            )
        }
        EventKind::PolicyDecision {
            action,
            resource,
            decision,
            rules,
            ..
        } => {
            let reasons: Vec<String> = rules
                .iter()
                .map(|r| format!("{} ({})", r.rule, r.decision))
                .collect();
            format!(
                "policy {decision} {action} {}{}",
                clip(resource, 100),
                if reasons.is_empty() {
                    String::new()
                } else {
                    format!(": {}", reasons.join(", "))
                }
            )
        }
        EventKind::ToolResult {
            tool,
            ok,
            output,
            duration_ms,
            ..
        } => {
            format!(
                "result {tool} {} {duration_ms}ms{}",
                if *ok { "ok" } else { "error" },
                body(output)
            )
        }
        EventKind::Redaction {
            location,
            rule,
            count,
            ..
        } => format!("redacted {count}× {rule} in {location}"),
        EventKind::Budget {
            budget,
            used,
            limit,
            exhausted,
        } => format!(
            "budget {budget:?}: {used:.4} of {limit:.4}{}",
            if *exhausted { " — exhausted" } else { "" }
        ),
        EventKind::LoopDetected { pattern, action } => format!("loop ({action:?}): {pattern}"),
        EventKind::ApprovalRequested {
            approval_id,
            action,
            resource,
            reason,
        } => {
            format!(
                "approval requested [{approval_id}] {action} {}: {reason}",
                clip(resource, 80)
            )
        }
        EventKind::ApprovalResolved { approved, by, .. } => {
            format!(
                "approval {} by {by}",
                if *approved { "granted" } else { "denied" }
            )
        }
        EventKind::Network(net) => format!(
            "network {} {}:{} ({}; {} B up, {} B down)",
            if net.allowed { "allowed" } else { "denied" },
            net.host,
            net.port,
            net.reason,
            net.bytes_up,
            net.bytes_down
        ),
        EventKind::TestsRun {
            command,
            exit_code,
            passed,
            duration_ms,
            output_tail,
        } => format!(
            "tests `{command}` {} (exit {}, {duration_ms}ms){}",
            if *passed { "passed" } else { "failed" },
            exit_code.map_or("-".to_string(), |c| c.to_string()),
            body(output_tail)
        ),
        EventKind::Committed {
            sha,
            branch,
            files_changed,
            insertions,
            deletions,
        } => {
            format!(
                "commit {} on {branch}: {files_changed} files +{insertions} -{deletions}",
                &sha[..sha.len().min(12)]
            )
        }
        EventKind::Pushed {
            remote,
            branch,
            sha,
        } => format!(
            "pushed {branch} ({}) to {remote}",
            &sha[..sha.len().min(12)]
        ),
        EventKind::PullRequestOpened { title, branch, url } => format!(
            "pull request {title} ({branch}){}",
            url.as_deref().map(|u| format!(" {u}")).unwrap_or_default()
        ),
        EventKind::Error { class, message } => format!("error ({class}): {message}"),
        EventKind::Note { text } => format!("note: {text}"),
    })
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("      {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

pub async fn pr_show(global: &GlobalArgs, args: TaskRef) -> Result<ExitCode, CliError> {
    let store = context::existing_store(global).await?.ok_or_else(|| {
        CliError::input(format!("no task matches {:?} (no tasks yet)", args.task))
    })?;
    let task = store.find_task(&args.task).await?;
    let Some(pr) = store.pull_request(task.id).await? else {
        let why = match &task.failure {
            Some(failure) => format!("it ended {}: {failure}", task.state),
            None => format!("it is {}", task.state),
        };
        return Err(CliError {
            code: exit::FAILED,
            message: format!("task {} has no pull request: {why}", task.id.short()),
        });
    };
    if global.json {
        print_json(&pr);
    } else {
        print_pull_request(&pr);
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints a pull-request record as a reviewer reads it.
pub fn print_pull_request(pr: &PullRequest) {
    crate::outln!("{}", pr.title);
    crate::outln!(
        "{} ← {}  (head {}, base {})\n",
        pr.base_branch,
        pr.head_branch,
        &pr.head_sha[..pr.head_sha.len().min(12)],
        &pr.base_sha[..pr.base_sha.len().min(12)]
    );
    crate::outln!("{}", pr.body.trim_end());
    crate::outln!("\ndiff stat:");
    for file in &pr.diff_stat.files {
        if file.binary {
            crate::outln!("  {:<50} binary", file.path);
        } else {
            crate::outln!(
                "  {:<50} +{:<4} -{}",
                file.path,
                file.insertions,
                file.deletions
            );
        }
    }
}

pub async fn audit_verify(
    global: &GlobalArgs,
    args: AuditVerifyArgs,
) -> Result<ExitCode, CliError> {
    let Some(store) = context::existing_store(global).await? else {
        if let Some(task) = args.task {
            return Err(CliError::input(format!(
                "no task matches {task:?} (no tasks yet)"
            )));
        }
        if global.json {
            print_json(&serde_json::json!({ "intact": true, "tasks": [] }));
        } else {
            crate::outln!("no tasks yet: nothing to verify");
        }
        return Ok(ExitCode::SUCCESS);
    };
    let id = match &args.task {
        Some(needle) => Some(store.find_task(needle).await?.id),
        None => None,
    };
    let reports = store.verify_chain(id).await?;
    let broken: Vec<_> = reports.iter().filter(|r| r.first_break.is_some()).collect();
    if global.json {
        let tasks: Vec<serde_json::Value> = reports
            .iter()
            .map(|r| {
                serde_json::json!({
                    "task_id": r.task_id,
                    "events": r.events,
                    "head_hash": r.head_hash,
                    "intact": r.first_break.is_none(),
                    "first_break": r.first_break.as_ref().map(|b| serde_json::json!({"seq": b.seq, "problem": b.problem})),
                })
            })
            .collect();
        print_json(&serde_json::json!({ "intact": broken.is_empty(), "tasks": tasks }));
    } else {
        for report in &reports {
            match &report.first_break {
                None => crate::outln!(
                    "ok      {}  {} events, head {}",
                    report.task_id,
                    report.events,
                    &report.head_hash[..report.head_hash.len().min(16)]
                ),
                Some(b) => crate::outln!(
                    "BROKEN  {}  first broken event: seq {}: {}",
                    report.task_id,
                    b.seq,
                    b.problem
                ),
            }
        }
        if broken.is_empty() {
            crate::outln!("{} chains intact", reports.len());
        } else {
            crate::outln!("{} of {} chains broken", broken.len(), reports.len());
        }
    }
    Ok(ExitCode::from(if broken.is_empty() {
        exit::SUCCESS
    } else {
        exit::FAILED
    }))
}
