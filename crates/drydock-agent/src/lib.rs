//! The agent harness: the loop that talks to the model and runs its tool calls, outside the
//! sandbox. Every call is confined to the workspace, decided by the policy gate, and its result is
//! scrubbed before the model or the audit log sees it.

mod adapters;
pub mod budget;
pub mod confine;
pub mod context;
mod harness;
pub mod loop_detect;
pub mod prompt;
mod seams;
pub mod tools;

pub use harness::{Agent, AgentEnd, AgentError, AgentOutcome, AgentSettings};
pub use seams::{
    ApprovalAsk, Approvals, EventSink, Progress, Scrubbed, Scrubber, SinkError, ToolGate,
};
