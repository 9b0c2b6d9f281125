//! The `docker` backend: one container per session, through the Docker (or Podman) API.
//!
//! # The container
//!
//! A session is one long-lived container of the repository's image (`sandbox.image`, which must
//! already be in the daemon: drydock never pulls). It runs as a non-root user (the workspace's
//! owner; see `workspace`), with every capability dropped, `no-new-privileges`, a read-only
//! root file system, a private `/tmp` tmpfs holding HOME, pids, memory (no swap) and optionally
//! CPU limits, and the daemon's seccomp (and AppArmor, where present) profile; every command
//! also runs under the `local` backend's seccomp filter, so the refusals do not depend on the
//! engine (Podman's profile, unlike Docker's, allows user namespaces). The workspace is
//! bind-mounted at `/workspace`, its `.git` read-only over it. An optional OCI runtime
//! (`sandbox.runtime = "runsc"` for gVisor) is checked against the daemon's list first.
//!
//! Its pid 1 is our own init (`inner`): the stage executable, started through the host's
//! dynamic loader, which is bind-mounted read-only with the libraries it needs (`bundle`), so it
//! runs in any image. Each command is a `docker exec` of our wrapper. The init and the wrappers
//! talk to the host over a Unix socket in the session directory (`wire`, `status`).
//!
//! # No process outlives its command, or its session
//!
//! There are no namespaces to create inside a container without capabilities, so containment
//! uses what pid 1 can do: when a command's main process ends (or it times out, is cancelled,
//! or exceeds the disk budget), the init kills every other process in the container
//! (`kill(-1, SIGKILL)`, repeated until none is left) before the exec returns. Nothing a command
//! does (`&`, `setsid`, `nohup`, double forks, killing its own wrapper) takes a process out of
//! the container's pid namespace, so nothing escapes the sweep. The price: one command at a time
//! per session (a second `exec` waits for the first). `stop()` removes the container with
//! force. If drydock dies, the init reads end-of-file on its status connection and exits, which
//! ends the container; [`DockerBackend::connect`] removes containers whose owner is gone.
//!
//! # gVisor
//!
//! With `runtime = "runsc"` the same design holds, with three differences the tests pin down:
//! gVisor's own threads count against the container's pids limit, so processes are limited
//! inside it with `RLIMIT_NPROC` instead (which there counts only the sandbox's processes); a
//! memory bomb makes the host's OOM killer take the whole sandbox (the session ends, clearly);
//! and gVisor does not shield a pid namespace's init from its own processes, so a command can
//! end its session by killing the init. Nothing outlives the sandbox in any of these cases.
//!
//! # Egress
//!
//! The container's network is `none`: its only interface is loopback. There is no route to the
//! host, the docker bridge and its gateway, the internet, a metadata service, or any IPv6
//! address, and no resolver to ask. The init listens on `127.0.0.1:3128` and relays each
//! connection to the session's [`EgressProxy`](crate::egress::EgressProxy) over its Unix socket,
//! bind-mounted into the container; `HTTP(S)_PROXY` point there. The proxy on the host decides,
//! resolves and reports [`NetworkEvent`](drydock_core::NetworkEvent)s, exactly as for `local`.
//!
//! This was chosen over the alternatives because it holds with nothing outside the container
//! to get right: entering the container's network namespace from the host needs root and a
//! daemon on the same kernel, and an internal network whose only endpoint is the proxy needs a
//! listener the container can reach on the host or a proxy container, and firewall rules to
//! keep everything else on that network unreachable. A Unix socket needs a bind mount, which
//! the workspace needs anyway. (gVisor must be told to allow host sockets, and needs no network
//! of its own: register `runsc` with `runtimeArgs` `["--host-uds=open", "--network=none"]`.)

mod bundle;
mod client;
mod container;
mod exec;
pub mod host_image;
mod host_probe;
pub(crate) mod inner;
mod reap;
mod session;
mod status;
mod wire;
mod workspace;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

pub use container::ProcessLimits;
pub use session::DockerSession;

use crate::{Backend, SandboxError, Session, SessionSpec};
use bundle::StageBundle;
use client::{BACKEND, Daemon};
use reap::{Candidate, LABEL_OWNER_PID, Owner, Verdict, judge_live};

/// How the `docker` backend reaches its daemon and builds its containers.
#[derive(Debug, Clone)]
pub struct DockerOptions {
    /// The daemon's Unix socket; `None` for `DOCKER_HOST` (`unix://...`) or
    /// `/var/run/docker.sock`. Podman: its API socket (`podman system service`).
    pub socket: Option<PathBuf>,
    /// The executable carrying the inner stage: the `drydock` binary
    /// (`std::env::current_exe()`), whose `main` calls
    /// [`run_stage_if_requested`](crate::run_stage_if_requested) first.
    pub stage_exe: PathBuf,
    /// Where session directories (sockets) live; `None` for `/run/drydock/docker` (root),
    /// `$XDG_RUNTIME_DIR/drydock/docker` or `<tmp>/drydock-docker-<uid>`. The daemon must see
    /// the same path (it bind-mounts it).
    pub runtime_dir: Option<PathBuf>,
    /// The uid and gid commands run as when the workspace belongs to root (otherwise they run
    /// as the workspace's owner). Never 0.
    pub sandbox_user: (u32, u32),
    /// CPUs a session may use (`None`: no CPU limit).
    pub cpus: Option<f64>,
    /// Extra environment variables with explicit values, over the image's and ours.
    pub env: Vec<(String, String)>,
    /// `RLIMIT_NOFILE` and `RLIMIT_NPROC` of every process (lowered to drydock's own limits).
    /// The daemon must allow them: without capabilities the runtime cannot raise a limit
    /// past its own. `RLIMIT_NPROC` counts the sandbox user's processes host-wide; the pids
    /// limit is what bounds one session.
    pub process_limits: ProcessLimits,
    /// Longest a container may take to start and report ready.
    pub start_timeout: Duration,
}

impl DockerOptions {
    /// Defaults around the stage executable.
    pub fn new(stage_exe: impl Into<PathBuf>) -> Self {
        Self {
            socket: None,
            stage_exe: stage_exe.into(),
            runtime_dir: None,
            sandbox_user: (1000, 1000),
            cpus: None,
            env: Vec::new(),
            process_limits: ProcessLimits {
                open_files: 16384,
                user_processes: 16384,
            },
            start_timeout: Duration::from_secs(30),
        }
    }
}

#[derive(Debug)]
pub(crate) struct BackendInner {
    options: DockerOptions,
    daemon: Daemon,
    bundle: StageBundle,
    runtime_dir: PathBuf,
    owner: Owner,
}

/// The `docker` backend: one container per session, of the repository's image, through the
/// Docker or Podman API.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use drydock_sandbox::{
///     Backend, BackendKind, DockerBackend, DockerOptions, ExecRequest, SandboxConfig,
///     SessionSpec,
/// };
///
/// // First thing in main(): the same executable is the containers' init and exec wrapper.
/// drydock_sandbox::run_stage_if_requested();
///
/// let backend = DockerBackend::connect(DockerOptions::new(std::env::current_exe()?)).await?;
/// let sandbox: Box<dyn Backend> = Box::new(backend);
/// let session = sandbox
///     .start(SessionSpec {
///         label: "task-01".into(),
///         workspace: "/var/lib/drydock/workspaces/task-01".into(),
///         sandbox: SandboxConfig {
///             backend: BackendKind::Docker,
///             image: Some("acme/ci-python:3.12".into()),
///             ..SandboxConfig::default()
///         },
///         network: Default::default(),
///         network_events: None,
///     })
///     .await?;
/// let output = session
///     .exec(
///         ExecRequest {
///             argv: vec!["bash".into(), "-c".into(), "pytest -q".into()],
///             cwd: None,
///             timeout: std::time::Duration::from_secs(600),
///             max_output_bytes: 1 << 20,
///             merge_stderr: true,
///             stdin: None,
///         },
///         &tokio_util::sync::CancellationToken::new(),
///     )
///     .await?;
/// println!("{}", output.stdout.to_text());
/// session.stop().await?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct DockerBackend {
    inner: Arc<BackendInner>,
}

/// The default runtime directory for docker sessions.
fn default_runtime_dir() -> PathBuf {
    // SAFETY: geteuid cannot fail.
    let uid = unsafe { libc::geteuid() };
    if uid == 0 {
        return PathBuf::from("/run/drydock/docker");
    }
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(dir) if Path::new(&dir).is_absolute() => Path::new(&dir).join("drydock/docker"),
        _ => std::env::temp_dir().join(format!("drydock-docker-{uid}")),
    }
}

impl DockerBackend {
    /// Connects to the daemon (negotiating the API version), prepares the stage bundle and the
    /// runtime directory, and removes containers and session directories a dead drydock left.
    pub async fn connect(options: DockerOptions) -> Result<Self, SandboxError> {
        if options.sandbox_user.0 == 0 || options.sandbox_user.1 == 0 {
            return Err(SandboxError::InvalidRequest {
                message: "DockerOptions.sandbox_user must not be root".into(),
            });
        }
        let socket = match &options.socket {
            Some(socket) => socket.clone(),
            None => client::socket_from_env()?,
        };
        let daemon = client::connect(&socket).await?;
        let bundle = StageBundle::for_executable(&options.stage_exe).map_err(|err| {
            SandboxError::Unavailable {
                backend: BACKEND.into(),
                message: format!("the stage executable cannot run in containers: {err}"),
                remedy: "pass the drydock binary itself (std::env::current_exe())".into(),
            }
        })?;
        let runtime_dir = options
            .runtime_dir
            .clone()
            .unwrap_or_else(default_runtime_dir);
        crate::local::prepare_runtime_dir(&runtime_dir).map_err(|source| SandboxError::Io {
            context: format!(
                "preparing the docker sandbox runtime directory {}",
                runtime_dir.display()
            ),
            source,
        })?;
        let backend = Self {
            inner: Arc::new(BackendInner {
                options,
                daemon,
                bundle,
                runtime_dir,
                owner: Owner::current(),
            }),
        };
        match backend.reap_orphans().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                containers = n,
                "removed sandbox containers left by an earlier run"
            ),
            Err(err) => tracing::warn!(%err, "reaping stale sandbox containers failed"),
        }
        if let Err(err) = crate::local::reap_stale_sessions(&backend.inner.runtime_dir) {
            tracing::warn!(%err, "reaping stale docker session directories failed");
        }
        Ok(backend)
    }

    /// Starts a session and returns the concrete type.
    pub async fn start_docker(&self, spec: SessionSpec) -> Result<DockerSession, SandboxError> {
        session::start(&self.inner, spec).await
    }

    /// Removes every drydock container whose owner is gone (or that stopped long ago). Returns
    /// how many.
    pub async fn reap_orphans(&self) -> Result<usize, SandboxError> {
        let daemon = &self.inner.daemon;
        let socket = daemon.socket.clone();
        let version = daemon.api_version.clone();
        let containers = tokio::task::spawn_blocking(move || {
            host_probe::list_labelled(&socket, &version, LABEL_OWNER_PID, Duration::from_secs(30))
        })
        .await
        .map_err(|err| client::setup_error(format!("listing containers: {err}")))?
        .map_err(|err| client::unavailable(&daemon.socket, err))?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        let mut reaped = 0;
        for container in containers {
            let candidate = Candidate {
                labels: &container.labels,
                running: container.state == "running",
                age_secs: now - container.created,
            };
            if let Verdict::Reap(reason) = judge_live(&candidate, &self.inner.owner) {
                tracing::info!(container = %container.id, %reason, "removing a stale sandbox container");
                match session::remove_container(&daemon.client, &container.id).await {
                    None => reaped += 1,
                    Some(message) => {
                        tracing::warn!(container = %container.id, %message, "cannot remove a stale sandbox container")
                    }
                }
            }
        }
        Ok(reaped)
    }

    /// The daemon (`Docker Engine 20.10.24`, `Podman Engine 4.3.1`, ...).
    pub fn server(&self) -> &str {
        &self.inner.daemon.server
    }

    /// The API version in use (negotiated down to the daemon's).
    pub fn api_version(&self) -> &str {
        &self.inner.daemon.api_version
    }

    /// The OCI runtimes the daemon knew at connection.
    pub fn runtimes(&self) -> &[String] {
        &self.inner.daemon.runtimes
    }

    /// The daemon's socket.
    pub fn socket(&self) -> &Path {
        &self.inner.daemon.socket
    }

    /// Where session directories live.
    pub fn runtime_dir(&self) -> &Path {
        &self.inner.runtime_dir
    }

    /// The daemon's API client (for tools and tests that manage images).
    pub fn client(&self) -> &bollard::Docker {
        &self.inner.daemon.client
    }

    /// The machine checks of [`check_isolation`](crate::check_isolation) plus a live session in
    /// `image`: started on a scratch workspace, runs `true`, and is stopped.
    pub async fn check(&self, image: &str) -> crate::IsolationReport {
        let mut report = crate::check_isolation();
        report
            .checks
            .push(crate::check::docker_smoke_test(self, image).await);
        report
    }
}

#[async_trait]
impl Backend for DockerBackend {
    fn name(&self) -> &'static str {
        BACKEND
    }

    async fn start(&self, spec: SessionSpec) -> Result<Box<dyn Session>, SandboxError> {
        Ok(Box::new(self.start_docker(spec).await?))
    }
}

/// Runs a docker role of the stage (inside a container) and exits, if this process is one.
pub(crate) fn run_inner_if_requested() {
    inner::run_if_requested();
}

pub(crate) use client::default_socket;
pub(crate) use host_probe::{DaemonProbe, probe_daemon};
