//! What the harness needs from the platform around it: a policy gate, a scrubber, an approval
//! channel and an event sink. The orchestrator provides them (the policy engine, the redactor, the
//! store); keeping them as traits keeps the loop free of storage and of any one engine.

use async_trait::async_trait;
use drydock_core::{Action, ActionRequest, EventKind, TaskStats, Verdict};
use drydock_model::StreamEvent;
use tokio_util::sync::CancellationToken;

/// Decides every action before it runs. Must not fail: an engine error is a `deny`.
pub trait ToolGate: Send + Sync {
    /// The verdict for one action.
    fn decide(&self, request: &ActionRequest) -> Verdict;
}

/// Text with secrets replaced, and which rules fired how often (never the values).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scrubbed {
    /// The text to pass on.
    pub text: String,
    /// `(rule, count)` for each rule that fired.
    pub rules: Vec<(String, u32)>,
}

/// Removes secrets from text before the model or the log sees it.
pub trait Scrubber: Send + Sync {
    /// Scrubs one text.
    fn scrub(&self, text: &str) -> Scrubbed;
}

/// A question for a human.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalAsk {
    /// The action.
    pub action: Action,
    /// Its resource.
    pub resource: String,
    /// Why approval is needed (the policy's reasons).
    pub reason: String,
}

/// A failure of the platform to record or ask something; it ends the task as `internal`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SinkError(pub String);

/// A channel to a human who approves or denies actions (present only when one is configured).
#[async_trait]
pub trait Approvals: Send + Sync {
    /// Waits for an answer: `Ok(true)` approved, `Ok(false)` denied (or timed out, or cancelled).
    async fn ask(&self, ask: &ApprovalAsk, cancel: &CancellationToken) -> Result<bool, SinkError>;
}

/// Live progress, for display only.
#[derive(Debug, Clone, Copy)]
pub enum Progress<'a> {
    /// A model call started.
    Thinking {
        /// The turn it will be.
        turn: u32,
    },
    /// Streamed progress of the model call.
    Stream(&'a StreamEvent),
    /// A tool call is about to run.
    ToolStarted {
        /// The tool.
        tool: &'a str,
        /// What it works on.
        summary: &'a str,
    },
}

/// Where the harness records what happens.
#[async_trait]
pub trait EventSink: Send + Sync {
    /// Appends an event to the task's audit log.
    async fn record(&self, event: EventKind) -> Result<(), SinkError>;

    /// Saves the running totals.
    async fn save_stats(&self, stats: &TaskStats) -> Result<(), SinkError>;

    /// Shows live progress; the default shows nothing.
    fn progress(&self, _progress: Progress<'_>) {}
}
