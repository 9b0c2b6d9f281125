//! Exit codes, as documented in docs/cli.md.

use std::process::ExitCode;

use drydock_core::{FailureClass, Task, TaskState};

/// The task completed (or the command did what was asked).
pub const SUCCESS: u8 = 0;
/// The task failed (tests failed, no change, policy, model, sandbox); or `audit verify` found a
/// break; or `scan` found a secret; or `policy check` denied.
pub const FAILED: u8 = 1;
/// Bad input: a usage error, a missing or dirty repository, an empty issue, an unknown model, a
/// missing key, a malformed config.
pub const BAD_INPUT: u8 = 2;
/// A budget ran out: turns, tokens, cost, wall clock, or the agent was stuck. (`policy check`:
/// require_approval.)
pub const BUDGET: u8 = 3;
/// The task was cancelled.
pub const CANCELLED: u8 = 4;
/// drydock itself failed (store, I/O): a bug or a broken installation.
pub const INTERNAL: u8 = 5;

/// The exit code for a task that has ended.
pub fn for_task(task: &Task) -> ExitCode {
    ExitCode::from(code_for_task(task))
}

fn code_for_task(task: &Task) -> u8 {
    match task.state {
        TaskState::Completed => SUCCESS,
        TaskState::Cancelled => CANCELLED,
        TaskState::TimedOut => BUDGET,
        _ => match task.failure.as_ref().map(|f| f.class) {
            Some(FailureClass::Budget) => BUDGET,
            Some(FailureClass::Internal) => INTERNAL,
            _ => FAILED,
        },
    }
}
