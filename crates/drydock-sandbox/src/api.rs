use std::fmt::Debug;
use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use drydock_core::NetworkEvent;
use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;

use crate::capture::{OutputChunk, OutputSink, OutputStream};
use crate::{NetworkConfig, SandboxConfig};

/// What a session is started for.
#[derive(Debug, Clone)]
pub struct SessionSpec {
    /// Label for processes, containers and logs: the task id.
    pub label: String,
    /// The workspace on the host; mounted read-write (its `.git` read-only).
    pub workspace: PathBuf,
    /// Limits and backend options.
    pub sandbox: SandboxConfig,
    /// Egress allowlist.
    pub network: NetworkConfig,
    /// Receives every connection the egress proxy allows or refuses.
    pub network_events: Option<UnboundedSender<NetworkEvent>>,
}

/// What a running session is, for the audit log and `drydock sandbox check`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    /// Backend name.
    pub backend: String,
    /// Isolation in force, one item per mechanism (`user namespace`, `seccomp`, `landlock abi 4`, ...).
    pub isolation: Vec<String>,
}

/// One command to run in a session.
#[derive(Debug, Clone)]
pub struct ExecRequest {
    /// Program and arguments; no shell is implied (use `["bash", "-c", line]` for one).
    pub argv: Vec<String>,
    /// Working directory relative to the workspace root; `None` for the root.
    pub cwd: Option<PathBuf>,
    /// Killed (with its whole process tree) after this long.
    pub timeout: Duration,
    /// Bytes kept per stream; beyond it the head and the tail are kept (half each).
    pub max_output_bytes: usize,
    /// Send stderr into the stdout stream (as a terminal shows them), leaving `stderr` empty.
    pub merge_stderr: bool,
    /// Bytes written to the command's stdin, then closed; `None` gives it an empty stdin.
    pub stdin: Option<Vec<u8>>,
}

/// One output stream, bounded: the first and the last bytes are kept when it is too long.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CapturedOutput {
    /// The first bytes (everything, when nothing was dropped).
    pub head: Vec<u8>,
    /// The last bytes, when some in between were dropped; else empty.
    pub tail: Vec<u8>,
    /// Bytes the stream produced in all.
    pub total_bytes: u64,
}

impl CapturedOutput {
    /// Bytes dropped between head and tail.
    pub fn dropped_bytes(&self) -> u64 {
        self.total_bytes - (self.head.len() + self.tail.len()) as u64
    }

    /// Lossy UTF-8 text with a marker where bytes were dropped.
    pub fn to_text(&self) -> String {
        let head = String::from_utf8_lossy(&self.head);
        if self.dropped_bytes() == 0 && self.tail.is_empty() {
            return head.into_owned();
        }
        format!(
            "{head}\n[... {} bytes omitted ...]\n{}",
            self.dropped_bytes(),
            String::from_utf8_lossy(&self.tail)
        )
    }
}

/// How a command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecOutput {
    /// Exit status, when it exited.
    pub exit_code: Option<i32>,
    /// The signal that killed it, when one did.
    pub signal: Option<i32>,
    /// True when the timeout killed it.
    pub timed_out: bool,
    /// Standard output (with stderr when merged).
    pub stdout: CapturedOutput,
    /// Standard error (empty when merged).
    pub stderr: CapturedOutput,
    /// Wall-clock time from start to the end of the last process.
    pub duration: Duration,
}

impl ExecOutput {
    /// True for exit status 0.
    pub fn success(&self) -> bool {
        self.exit_code == Some(0)
    }
}

/// A sandbox could not do what was asked. A command that runs and fails is not an error.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The backend is not usable on this machine (missing tool, no daemon, no namespaces).
    #[error("sandbox backend {backend} unavailable: {message} ({remedy})")]
    Unavailable {
        /// Backend name.
        backend: String,
        /// What is missing.
        message: String,
        /// What the user can do.
        remedy: String,
    },
    /// The session could not be set up.
    #[error("sandbox setup failed ({backend}): {message}")]
    Setup {
        /// Backend name.
        backend: String,
        /// What failed.
        message: String,
    },
    /// The request itself is invalid (empty argv, cwd outside the workspace, ...).
    #[error("invalid sandbox request: {message}")]
    InvalidRequest {
        /// What is wrong.
        message: String,
    },
    /// The command could not be started or supervised.
    #[error("sandbox exec failed for {program:?}: {message}")]
    Exec {
        /// The program.
        program: String,
        /// What failed.
        message: String,
    },
    /// The session was stopped.
    #[error("sandbox session is stopped")]
    Stopped,
    /// The exec was cancelled (its process tree is gone).
    #[error("command cancelled")]
    Cancelled,
    /// An I/O error with the path or operation that failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

/// A kind of sandbox.
#[async_trait]
pub trait Backend: Send + Sync + Debug {
    /// Backend name as in config (`local`, `docker`).
    fn name(&self) -> &'static str;

    /// Starts a session for a workspace.
    async fn start(&self, spec: SessionSpec) -> Result<Box<dyn Session>, SandboxError>;
}

/// A running sandbox for one task.
#[async_trait]
pub trait Session: Send + Sync + Debug {
    /// What the session is.
    fn info(&self) -> SessionInfo;

    /// Runs one command; when it ends (or times out, or `cancel` fires), no process it started is
    /// left running.
    async fn exec(
        &self,
        request: ExecRequest,
        cancel: &CancellationToken,
    ) -> Result<ExecOutput, SandboxError>;

    /// Like [`Session::exec`], also forwarding output to `sink` while the command runs (for a
    /// terminal). The default runs `exec` and forwards the captured output at the end.
    async fn exec_streaming(
        &self,
        request: ExecRequest,
        cancel: &CancellationToken,
        sink: OutputSink,
    ) -> Result<ExecOutput, SandboxError> {
        let output = self.exec(request, cancel).await?;
        for (stream, captured) in [
            (OutputStream::Stdout, &output.stdout),
            (OutputStream::Stderr, &output.stderr),
        ] {
            if captured.total_bytes > 0 {
                let chunk = OutputChunk {
                    stream,
                    data: captured.to_text().into_bytes(),
                };
                let _ = sink.send(chunk).await;
            }
        }
        Ok(output)
    }

    /// Stops the session: every process in it is gone when this returns. Idempotent.
    async fn stop(&self) -> Result<(), SandboxError>;
}
