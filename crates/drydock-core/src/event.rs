use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{Action, Decision, Failure, FailureClass, RuleHit, TaskId, TaskSpec, TaskState, Usage};

/// One entry of a task's append-only audit log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Event {
    /// The task it belongs to.
    pub task_id: TaskId,
    /// Position in the task's chain, from 1.
    pub seq: u64,
    /// When it was recorded.
    pub at: DateTime<Utc>,
    /// What happened.
    pub kind: EventKind,
}

/// Which budget an event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum BudgetKind {
    /// Model calls.
    Turns,
    /// Tokens.
    Tokens,
    /// Dollars.
    Cost,
    /// Seconds.
    WallClock,
}

/// What loop detection did about a repeated pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LoopAction {
    /// Told the model it is going round in circles.
    Steer,
    /// Stopped the task.
    Stop,
}

/// A connection the sandbox's egress proxy allowed or refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct NetworkEvent {
    /// The host asked for (name or address).
    pub host: String,
    /// The port asked for.
    pub port: u16,
    /// Whether the proxy let it through.
    pub allowed: bool,
    /// Why it was refused or which rule allowed it.
    pub reason: String,
    /// Bytes sent from the sandbox.
    pub bytes_up: u64,
    /// Bytes received into the sandbox.
    pub bytes_down: u64,
}

/// What happened. The JSON form is `{"type": "<snake_case name>", ...fields}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventKind {
    /// The task was created with this spec.
    TaskCreated {
        /// The spec as given.
        spec: Box<TaskSpec>,
    },
    /// The task moved between states.
    StateChanged {
        /// Previous state.
        from: TaskState,
        /// New state.
        to: TaskState,
        /// The reason, when the new state is an unsuccessful end.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        failure: Option<Failure>,
    },
    /// The workspace was cloned and the branch created.
    WorkspacePrepared {
        /// Path of the clone on the host.
        path: String,
        /// The task's branch.
        branch: String,
        /// The commit the branch starts from.
        base_commit: String,
        /// The test command the orchestrator will run, if one was configured or detected.
        test_command: Option<String>,
    },
    /// A sandbox session started.
    SandboxStarted {
        /// Backend name.
        backend: String,
        /// What isolation is in force, one item per mechanism (e.g. `seccomp`, `landlock v4`).
        isolation: Vec<String>,
    },
    /// The system prompt was rendered.
    PromptRendered {
        /// Template version.
        version: String,
        /// SHA-256 of the rendered prompt, hex.
        hash: String,
    },
    /// A model call finished.
    ModelTurn {
        /// 1-based turn number.
        turn: u32,
        /// `provider:model`.
        model: String,
        /// Tokens the provider reported.
        usage: Usage,
        /// Price of the call in US dollars; `None` when the model's price is unknown.
        cost_usd: Option<f64>,
        /// Why the model stopped (`tool_use`, `end_turn`, `max_tokens`, ...).
        stop_reason: String,
        /// The assistant's text, redacted.
        text: String,
        /// How many tool calls it asked for.
        tool_calls: u32,
        /// Time the call took, retries included.
        duration_ms: u64,
    },
    /// The model asked for a tool call.
    ToolCall {
        /// Turn it came from.
        turn: u32,
        /// The provider's id for the call.
        call_id: String,
        /// Tool name as the model spelled it.
        tool: String,
        /// Arguments as the model sent them (redacted), or the raw text when they were not JSON.
        arguments: serde_json::Value,
    },
    /// The policy engine decided on an action.
    PolicyDecision {
        /// The tool call it was for, if any.
        call_id: Option<String>,
        /// The action.
        action: Action,
        /// The resource (path, command line, host, branch).
        resource: String,
        /// The outcome.
        decision: Decision,
        /// The rules that matched.
        rules: Vec<RuleHit>,
    },
    /// A tool call produced a result, which went back to the model.
    ToolResult {
        /// The call it answers.
        call_id: String,
        /// Tool name.
        tool: String,
        /// False when the result is an error the model should act on.
        ok: bool,
        /// The text the model saw, redacted.
        output: String,
        /// Time the tool took.
        duration_ms: u64,
    },
    /// Secrets were replaced in some text; the value is never recorded.
    Redaction {
        /// The tool call whose result was redacted, if any.
        call_id: Option<String>,
        /// Where: `tool_result`, `model_text`, `pr_body`, `test_output`, ...
        location: String,
        /// The rule that matched.
        rule: String,
        /// How many times it matched.
        count: u32,
    },
    /// A budget was checked and found short, or ran out.
    Budget {
        /// Which budget.
        budget: BudgetKind,
        /// Amount spent (or about to be) when the check ran.
        used: f64,
        /// The limit.
        limit: f64,
        /// True when the task stops because of it.
        exhausted: bool,
    },
    /// Loop detection saw the agent repeating itself.
    LoopDetected {
        /// What was repeated, in words.
        pattern: String,
        /// What was done about it.
        action: LoopAction,
    },
    /// An action is waiting for a human.
    ApprovalRequested {
        /// Identifier to approve or deny by.
        approval_id: String,
        /// The action.
        action: Action,
        /// The resource.
        resource: String,
        /// Why approval is needed.
        reason: String,
    },
    /// A human (or a timeout) answered an approval request.
    ApprovalResolved {
        /// The request answered.
        approval_id: String,
        /// The answer.
        approved: bool,
        /// Who answered (`timeout` when nobody did).
        by: String,
    },
    /// The egress proxy allowed or refused a connection.
    Network(NetworkEvent),
    /// The repository's tests ran.
    TestsRun {
        /// The command.
        command: String,
        /// Its exit code (`None` when killed).
        exit_code: Option<i32>,
        /// Whether they passed.
        passed: bool,
        /// How long they took.
        duration_ms: u64,
        /// The end of their output, redacted.
        output_tail: String,
    },
    /// A commit was made on the task's branch.
    Committed {
        /// The commit id.
        sha: String,
        /// Branch.
        branch: String,
        /// Files changed.
        files_changed: u32,
        /// Lines added.
        insertions: u32,
        /// Lines removed.
        deletions: u32,
    },
    /// The branch was pushed.
    Pushed {
        /// Where to (path or URL, without credentials).
        remote: String,
        /// Branch.
        branch: String,
        /// The commit pushed.
        sha: String,
    },
    /// A pull request was recorded (or opened on a forge).
    PullRequestOpened {
        /// Title.
        title: String,
        /// Head branch.
        branch: String,
        /// The forge's address for it, if any.
        url: Option<String>,
    },
    /// Something went wrong; the task may go on or end.
    Error {
        /// Class.
        class: FailureClass,
        /// What happened.
        message: String,
    },
    /// A note from the harness: a steering message, a warning, a fact worth keeping.
    Note {
        /// The note.
        text: String,
    },
}

impl EventKind {
    /// The `type` tag of the event, as in its JSON form.
    pub fn type_name(&self) -> &'static str {
        match self {
            EventKind::TaskCreated { .. } => "task_created",
            EventKind::StateChanged { .. } => "state_changed",
            EventKind::WorkspacePrepared { .. } => "workspace_prepared",
            EventKind::SandboxStarted { .. } => "sandbox_started",
            EventKind::PromptRendered { .. } => "prompt_rendered",
            EventKind::ModelTurn { .. } => "model_turn",
            EventKind::ToolCall { .. } => "tool_call",
            EventKind::PolicyDecision { .. } => "policy_decision",
            EventKind::ToolResult { .. } => "tool_result",
            EventKind::Redaction { .. } => "redaction",
            EventKind::Budget { .. } => "budget",
            EventKind::LoopDetected { .. } => "loop_detected",
            EventKind::ApprovalRequested { .. } => "approval_requested",
            EventKind::ApprovalResolved { .. } => "approval_resolved",
            EventKind::Network(_) => "network",
            EventKind::TestsRun { .. } => "tests_run",
            EventKind::Committed { .. } => "committed",
            EventKind::Pushed { .. } => "pushed",
            EventKind::PullRequestOpened { .. } => "pull_request_opened",
            EventKind::Error { .. } => "error",
            EventKind::Note { .. } => "note",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_name_matches_the_json_tag() {
        let samples = vec![
            EventKind::StateChanged {
                from: TaskState::Queued,
                to: TaskState::Preparing,
                failure: None,
            },
            EventKind::Network(NetworkEvent {
                host: "crates.io".into(),
                port: 443,
                allowed: true,
                reason: "allow crates.io".into(),
                bytes_up: 10,
                bytes_down: 20,
            }),
            EventKind::Note { text: "hi".into() },
            EventKind::Budget {
                budget: BudgetKind::Cost,
                used: 1.5,
                limit: 1.0,
                exhausted: true,
            },
        ];
        for kind in samples {
            let json = serde_json::to_value(&kind).unwrap();
            assert_eq!(json["type"], kind.type_name());
            let back: EventKind = serde_json::from_value(json).unwrap();
            assert_eq!(back, kind);
        }
    }
}
