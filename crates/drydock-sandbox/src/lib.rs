//! Sandboxes for the agent's commands, behind the [`Backend`] trait.
//!
//! A task gets one [`Session`]: started with the task, reused for every command, stopped (with its
//! whole process tree) when the task ends.
//!
//! - [`LocalBackend`]: bubblewrap namespaces, then our own inner stage (in the same executable;
//!   see [`run_stage_if_requested`]) applying seccomp, Landlock and limits. Starts in milliseconds.
//! - [`DockerBackend`]: one container per session of the repository's image, through the Docker
//!   or Podman API, with the same stage executable as the container's init; see
//!   [`DockerBackend::connect`]. [`host_image`] builds images from host programs.
//! - [`egress`]: the allowlisting HTTP proxy every sandbox's network goes through, reusable by any
//!   backend.
//! - [`capture`]: bounded head-and-tail output capture, reusable by any backend.
//! - [`check_isolation`] / [`LocalBackend::check`]: what this machine can enforce.
//!
//! # Wiring
//!
//! The `drydock` binary runs the inner stage before anything else, then builds the backend on
//! itself:
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use drydock_sandbox::{ExecRequest, LocalBackend, LocalOptions, Session, SessionSpec};
//!
//! // First thing in main(), before the async runtime starts:
//! drydock_sandbox::run_stage_if_requested();
//!
//! let backend = LocalBackend::new(LocalOptions::new(std::env::current_exe()?))?;
//! let session = backend
//!     .start_local(SessionSpec {
//!         label: "task-01".into(),
//!         workspace: "/var/lib/drydock/workspaces/task-01".into(),
//!         sandbox: Default::default(),
//!         network: Default::default(),
//!         network_events: None,
//!     })
//!     .await?;
//! let output = session
//!     .exec(
//!         ExecRequest {
//!             argv: vec!["cargo".into(), "test".into()],
//!             cwd: None,
//!             timeout: std::time::Duration::from_secs(600),
//!             max_output_bytes: 1 << 20,
//!             merge_stderr: true,
//!             stdin: None,
//!         },
//!         &tokio_util::sync::CancellationToken::new(),
//!     )
//!     .await?;
//! println!("{}", output.stdout.to_text());
//! session.stop().await?;
//! # Ok(())
//! # }
//! ```

mod api;
pub mod capture;
mod check;
mod config;
mod docker;
pub mod egress;
mod local;
mod protocol;
mod stage;
mod sys;

pub use api::{
    Backend, CapturedOutput, ExecOutput, ExecRequest, SandboxError, Session, SessionInfo,
    SessionSpec,
};
pub use check::{CheckStatus, IsolationCheck, IsolationReport, check_isolation};
pub use config::{BackendKind, DEFAULT_REGISTRIES, NetworkConfig, SandboxConfig};
pub use docker::{DockerBackend, DockerOptions, DockerSession, ProcessLimits, host_image};
pub use local::{LocalBackend, LocalOptions, LocalSession, WORKSPACE_MOUNT, reap_stale_sessions};
pub use stage::run_stage_if_requested;
