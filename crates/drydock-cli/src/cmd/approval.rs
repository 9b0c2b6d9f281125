//! `drydock approve`, `deny` and `cancel`: answers for a task running in another process.

use std::process::ExitCode;

use drydock_core::TaskState;

use crate::cli::{ApprovalArgs, GlobalArgs, TaskRef};
use crate::context;
use crate::output::{CliError, print_json};

pub async fn answer(
    global: &GlobalArgs,
    args: ApprovalArgs,
    approved: bool,
) -> Result<ExitCode, CliError> {
    let store = context::existing_store(global).await?.ok_or_else(|| {
        CliError::input(format!("no task matches {:?} (no tasks yet)", args.task))
    })?;
    let task = store.find_task(&args.task).await?;
    if task.state != TaskState::AwaitingApproval {
        return Err(CliError::input(format!(
            "task {} is {}, not waiting for an approval",
            task.id.short(),
            task.state
        )));
    }
    let by = args
        .by
        .unwrap_or_else(|| std::env::var("USER").unwrap_or_else(|_| "local".into()));
    let approval = store.resolve_approval(task.id, approved, &by).await?;
    if global.json {
        print_json(&serde_json::json!({
            "task_id": task.id,
            "approval_id": approval.id,
            "approved": approved,
            "by": by,
            "action": approval.request.action,
            "resource": approval.request.resource,
        }));
    } else {
        crate::outln!(
            "{} {} {:?} for task {}",
            if approved { "approved" } else { "denied" },
            approval.request.action,
            approval.request.resource,
            task.id.short()
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn cancel(global: &GlobalArgs, args: TaskRef) -> Result<ExitCode, CliError> {
    let store = context::existing_store(global).await?.ok_or_else(|| {
        CliError::input(format!("no task matches {:?} (no tasks yet)", args.task))
    })?;
    let task = store.find_task(&args.task).await?;
    if task.state.is_terminal() {
        return Err(CliError::input(format!(
            "task {} has already ended ({})",
            task.id.short(),
            task.state
        )));
    }
    store.request_cancel(task.id).await?;
    if global.json {
        print_json(&serde_json::json!({ "task_id": task.id, "cancel_requested": true }));
    } else {
        crate::outln!(
            "asked task {} to stop; it stops at its next check (within a second)",
            task.id.short()
        );
    }
    Ok(ExitCode::SUCCESS)
}
