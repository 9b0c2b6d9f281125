use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Why a task ended without a pull request, in classes a user can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FailureClass {
    /// A key or token was missing or refused.
    Auth,
    /// A remote service could not be reached.
    Network,
    /// The sandbox could not start or run a command.
    Sandbox,
    /// A policy decision stopped the task.
    Policy,
    /// A turn, token, cost or time budget ran out, or the agent was stuck.
    Budget,
    /// The model service failed or answered with something unusable.
    Model,
    /// The agent's work did not pass: it changed nothing, or the tests failed.
    Verification,
    /// A fault of drydock itself (store, git, I/O).
    Internal,
}

impl FailureClass {
    /// The snake_case name used in JSON and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureClass::Auth => "auth",
            FailureClass::Network => "network",
            FailureClass::Sandbox => "sandbox",
            FailureClass::Policy => "policy",
            FailureClass::Budget => "budget",
            FailureClass::Model => "model",
            FailureClass::Verification => "verification",
            FailureClass::Internal => "internal",
        }
    }
}

impl fmt::Display for FailureClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A classified reason for a task's end, with a line telling the user what to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Failure {
    /// The class of the failure.
    pub class: FailureClass,
    /// A stable machine-readable code within the class, e.g. `tests_failed`, `max_turns`, `stuck`.
    pub code: String,
    /// What happened, in a sentence.
    pub message: String,
    /// What the user can do about it, in a sentence.
    pub remedy: String,
}

impl Failure {
    /// A failure with every field given.
    pub fn new(
        class: FailureClass,
        code: impl Into<String>,
        message: impl Into<String>,
        remedy: impl Into<String>,
    ) -> Self {
        Self {
            class,
            code: code.into(),
            message: message.into(),
            remedy: remedy.into(),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.class, self.code, self.message)
    }
}
