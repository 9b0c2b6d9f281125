//! Sandboxes for the agent's commands, behind the [`Backend`] trait.
//!
//! A task gets one [`Session`]: started with the task, reused for every command, stopped (with its
//! whole process tree) when the task ends.

mod api;
mod config;

pub use api::{
    Backend, CapturedOutput, ExecOutput, ExecRequest, SandboxError, Session, SessionInfo,
    SessionSpec,
};
pub use config::{BackendKind, NetworkConfig, SandboxConfig};

/// Where the workspace appears inside every sandbox.
pub const WORKSPACE_MOUNT: &str = "/workspace";
