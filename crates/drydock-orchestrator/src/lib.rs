//! One task's life: prepare (workspace, sandbox) → run (the agent) → finalize (tests, gates,
//! commit, push, pull request) → notify. The same code runs a task for `drydock run` and, later,
//! for a worker of `drydock serve`.

mod approvals;
pub mod config;
mod finalize;
mod observer;
pub mod pr_text;
mod request;
mod run;
mod sink;

use std::path::PathBuf;
use std::sync::Arc;

use drydock_sandbox::{Backend, BackendKind, SandboxError};
use drydock_store::{Store, StoreError};

pub use config::{Config, ConfigError, LimitFlags, RepoConfig};
pub use observer::{Observer, Silent};
pub use request::{InputError, PreparedTask, TaskRequest, build_redactor};
pub use run::TaskOutcome;

/// Reads a variable of the host environment (keys, configured secrets); injectable for tests.
pub type EnvLookup = dyn Fn(&str) -> Option<String> + Send + Sync;

/// Builds the sandbox backend a task's configuration names.
#[async_trait::async_trait]
pub trait BackendProvider: Send + Sync {
    /// The backend of `kind`, or why it is not available on this machine (a daemon that does
    /// not answer, a missing program).
    async fn backend(&self, kind: BackendKind) -> Result<Arc<dyn Backend>, SandboxError>;
}

/// What every task shares: the store, the configuration, the data directory, the sandboxes.
pub struct Platform {
    /// Tasks and their audit log.
    pub store: Arc<dyn Store>,
    /// The operator's configuration.
    pub config: Config,
    /// The directory relative paths in the configuration are resolved against.
    pub config_dir: PathBuf,
    /// Where workspaces live.
    pub data_dir: PathBuf,
    /// The sandbox backends.
    pub backends: Arc<dyn BackendProvider>,
    /// The host environment.
    pub env: Arc<EnvLookup>,
}

impl std::fmt::Debug for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Platform")
            .field("data_dir", &self.data_dir)
            .field("config_dir", &self.config_dir)
            .finish_non_exhaustive()
    }
}

/// A task could not be created or its end could not be recorded.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The request is bad input; no task was created.
    #[error(transparent)]
    Input(#[from] InputError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Recording the task's progress failed; the task could not be ended cleanly.
    #[error("could not record the task's progress: {0}")]
    Record(String),
}
