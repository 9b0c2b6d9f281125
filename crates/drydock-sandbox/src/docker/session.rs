//! A running `docker` session: start-up, stopping, and what is left on drop.

use std::collections::HashMap;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use bollard::query_parameters::{
    CreateContainerOptions, LogsOptions, RemoveContainerOptions, WaitContainerOptions,
};
use futures::StreamExt;
use tokio_util::sync::CancellationToken;

use super::BackendInner;
use super::client::{self, BACKEND, missing_image, setup_error, unknown_runtime};
use super::container::{
    ContainerPlan, FORWARDER_PORT, GVISOR_PIDS_HEADROOM, GitMount, create_body, is_gvisor,
    sandbox_env,
};
use super::reap::{LABEL_SESSION, LABEL_TASK};
use super::status::StatusHub;
use super::workspace::{SandboxUser, choose_user, hand_over};
use crate::capture::OutputSink;
use crate::egress::{EgressPolicy, EgressProxy, ProxyOptions};
use crate::local::{DiskBudget, sanitize_label, validate_workspace};
use crate::{ExecOutput, ExecRequest, SandboxError, Session, SessionInfo, SessionSpec};

/// Bytes of the container's log kept for a start-up error.
const LOG_TAIL_LINES: &str = "40";

/// A running `docker` sandbox: one container. Dropping it ends the container (prefer
/// [`Session::stop`], which also removes it and waits).
#[derive(Debug)]
pub struct DockerSession {
    pub(super) backend: Arc<BackendInner>,
    pub(super) container_id: String,
    pub(super) name: String,
    pub(super) dir: PathBuf,
    pub(super) workspace: PathBuf,
    pub(super) user: SandboxUser,
    pub(super) info: SessionInfo,
    pub(super) hub: StatusHub,
    pub(super) proxy: EgressProxy,
    pub(super) disk: DiskBudget,
    pub(super) file_size_bytes: u64,
    pub(super) nproc_limit: Option<u64>,
    pub(super) memory_mb: u64,
    pub(super) exec_lock: tokio::sync::Mutex<()>,
    pub(super) needs_sweep: AtomicBool,
    pub(super) oom_kills: std::sync::Mutex<Option<u64>>,
    pub(super) next_id: AtomicU64,
    /// `stop()` was called (or the session dropped).
    pub(super) stop_called: AtomicBool,
    /// Why the session cannot run commands any more, when it broke.
    pub(super) broken: std::sync::Mutex<Option<String>>,
    pub(super) stop_done: tokio::sync::Mutex<bool>,
}

/// Removes a half-built session's directory unless disarmed.
struct DirGuard(Option<PathBuf>);

impl Drop for DirGuard {
    fn drop(&mut self) {
        if let Some(dir) = self.0.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn io_error(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> SandboxError {
    let context = context.into();
    move |source| SandboxError::Io { context, source }
}

pub(super) async fn start(
    backend: &Arc<BackendInner>,
    spec: SessionSpec,
) -> Result<DockerSession, SandboxError> {
    let workspace = validate_workspace(&spec.workspace)?;
    let policy =
        EgressPolicy::from_config(&spec.network).map_err(|err| SandboxError::InvalidRequest {
            message: err.to_string(),
        })?;
    let image = spec
        .sandbox
        .image
        .as_deref()
        .map(str::trim)
        .filter(|i| !i.is_empty())
        .ok_or_else(|| SandboxError::InvalidRequest {
            message: "sandbox.image is not set: the docker backend runs commands in an image you provide (for example image = \"python:3.12-slim\", present in the daemon)".into(),
        })?
        .to_string();
    let daemon = &backend.daemon;
    let image_env = match daemon.client.inspect_image(&image).await {
        Ok(inspected) => inspected.config.and_then(|c| c.env).unwrap_or_default(),
        Err(err) if client::status_of(&err) == Some(404) => {
            return Err(missing_image(&image, &client::message_of(&err)));
        }
        Err(err) => return Err(client::unavailable(&daemon.socket, err)),
    };
    let runtime = spec
        .sandbox
        .runtime
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty());
    if let Some(runtime) = runtime
        && !daemon.runtimes.iter().any(|r| r == runtime)
    {
        let known = daemon.current_runtimes().await;
        if !known.iter().any(|r| r == runtime) {
            return Err(unknown_runtime(runtime, &known));
        }
    }
    let user = choose_user(&workspace, backend.options.sandbox_user)?;
    let git = match std::fs::symlink_metadata(workspace.join(".git")) {
        Ok(_) => GitMount::ReadOnly,
        Err(_) => GitMount::None,
    };

    let name = format!(
        "drydock-{}-{}",
        sanitize_label(&spec.label).trim_start_matches(['_', '-']),
        ulid::Ulid::generate().to_string().to_lowercase()
    );
    let dir = backend.runtime_dir.join(&name);
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&dir)
        .map_err(io_error(format!("creating {}", dir.display())))?;
    let mut dir_guard = DirGuard(Some(dir.clone()));
    crate::local::record_process(&dir, "owner", std::process::id() as libc::pid_t)
        .map_err(io_error("recording the session owner"))?;
    // Only this subdirectory is mounted: the two sockets, nothing else of the host.
    let socket_dir = dir.join("sock");
    std::fs::DirBuilder::new()
        .mode(0o711)
        .create(&socket_dir)
        .map_err(io_error(format!("creating {}", socket_dir.display())))?;
    // Traversable (not listable) by the container's user, whatever our umask.
    std::fs::set_permissions(&socket_dir, std::fs::Permissions::from_mode(0o711)).map_err(
        io_error(format!("setting the mode of {}", socket_dir.display())),
    )?;

    let mut proxy_options = ProxyOptions::new(policy);
    proxy_options.events = spec.network_events.clone();
    let proxy_socket = socket_dir.join("proxy.sock");
    let proxy = EgressProxy::bind_unix(&proxy_socket, proxy_options)
        .await
        .map_err(|err| setup_error(err.to_string()))?;
    std::fs::set_permissions(&proxy_socket, std::fs::Permissions::from_mode(0o666))
        .map_err(io_error("opening the egress socket to the sandbox user"))?;
    let (hub, ready) = StatusHub::bind(&socket_dir.join("status.sock"))
        .map_err(io_error("binding the session's status socket"))?;

    if user.needs_handover {
        let ws = workspace.clone();
        let changed = tokio::task::spawn_blocking(move || hand_over(&ws, user))
            .await
            .map_err(|err| setup_error(format!("handing the workspace over: {err}")))?
            .map_err(io_error(format!(
                "handing {} to the sandbox user {}",
                workspace.display(),
                user.spec()
            )))?;
        tracing::debug!(changed, user = %user.spec(), "workspace handed to the sandbox user");
    }

    let memory_bytes = spec.sandbox.memory_mb.max(32) << 20;
    let max_processes = spec.sandbox.max_processes.max(8);
    // gVisor's own threads share the container's pids limit; its application processes are
    // limited inside it instead, where RLIMIT_NPROC counts only them.
    let gvisor = is_gvisor(runtime);
    let (pids_limit, nproc_limit) = if gvisor {
        (max_processes + GVISOR_PIDS_HEADROOM, Some(max_processes))
    } else {
        (max_processes, None)
    };
    let disk_bytes = spec.sandbox.disk_mb.max(1) << 20;
    let tmp_bytes = disk_bytes.min(memory_bytes / 2).max(16 << 20);
    let shm_bytes = (memory_bytes / 4).max(16 << 20);
    let disk = DiskBudget::measure(workspace.clone(), disk_bytes).await;
    let mut labels: HashMap<String, String> = backend.owner.labels().into_iter().collect();
    labels.insert(LABEL_SESSION.into(), name.clone());
    labels.insert(LABEL_TASK.into(), spec.label.chars().take(200).collect());
    let plan = ContainerPlan {
        image: &image,
        runtime,
        user,
        workspace: &workspace,
        git,
        run_dir: &socket_dir,
        bundle: &backend.bundle,
        env: sandbox_env(&image_env, &backend.options.env),
        labels,
        memory_bytes,
        max_processes: pids_limit,
        cpus: backend.options.cpus,
        tmp_bytes,
        shm_bytes,
        limits: super::container::ProcessLimits::within_this_process(
            backend.options.process_limits,
        ),
    };
    let body = create_body(&plan);
    let options = CreateContainerOptions {
        name: Some(name.clone()),
        ..CreateContainerOptions::default()
    };
    let created = daemon
        .client
        .create_container(Some(options), body)
        .await
        .map_err(|err| {
            let message = client::message_of(&err);
            match client::status_of(&err) {
                Some(404) => missing_image(&image, &message),
                _ if message.to_lowercase().contains("runtime") && runtime.is_some() => {
                    unknown_runtime(runtime.unwrap_or_default(), &daemon.runtimes)
                }
                _ => setup_error(format!("creating the container: {message}")),
            }
        })?;
    let container_id = created.id;
    let started = async {
        daemon
            .client
            .start_container(&container_id, None)
            .await
            .map_err(|err| {
                let message = client::message_of(&err);
                if runtime.is_some() && message.to_lowercase().contains("runtime") {
                    setup_error(format!(
                        "starting the container with runtime {}: {message}",
                        runtime.unwrap_or_default()
                    ))
                } else {
                    setup_error(format!("starting the container: {message}"))
                }
            })?;
        wait_ready(backend, &container_id, ready).await
    }
    .await;
    let oom_kills = match started {
        Ok(oom_kills) => oom_kills,
        Err(err) => {
            remove_container(&daemon.client, &container_id).await;
            hub.shutdown();
            return Err(err);
        }
    };

    let mut isolation = vec![
        format!("{} (API {})", daemon.server, daemon.api_version),
        format!(
            "runtime {}",
            runtime.unwrap_or(daemon.default_runtime.as_str())
        ),
        format!(
            "container {name} as user {} (not root), no capabilities (cap_drop ALL), no-new-privileges",
            user.spec()
        ),
        "read-only root filesystem; /workspace read-write, .git read-only".to_string(),
        format!(
            "network none (loopback only); egress through the allowlisting proxy on 127.0.0.1:{FORWARDER_PORT}"
        ),
        match nproc_limit {
            Some(nproc) => format!(
                "processes: rlimit nproc {nproc} inside gVisor (host pids limit {pids_limit} for gVisor itself)"
            ),
            None => format!("pids limit {max_processes}"),
        },
        format!("memory limit {} MiB (no swap)", memory_bytes >> 20),
    ];
    if let Some(cpus) = backend.options.cpus {
        isolation.push(format!("cpu limit {cpus} CPUs"));
    }
    isolation.push(format!(
        "seccomp: drydock's filter on every command ({} system calls refused, namespace flags of clone, socket families), over the daemon's profile",
        crate::stage::seccomp::denied_count()
    ));
    isolation.extend(
        daemon
            .security_options
            .iter()
            .filter(|o| o.contains("seccomp") || o.contains("apparmor") || o.contains("selinux"))
            .map(|o| format!("daemon security option {o}")),
    );
    isolation.push(format!(
        "tmpfs /tmp {} MiB (HOME), /dev/shm {} MiB",
        tmp_bytes >> 20,
        shm_bytes >> 20
    ));
    isolation.push(format!(
        "workspace disk budget +{} MiB over {} MiB (rlimit fsize and usage watcher)",
        disk_bytes >> 20,
        disk.baseline_bytes >> 20
    ));
    isolation
        .push("one command at a time; every process of a command is killed when it ends".into());
    dir_guard.0 = None;
    Ok(DockerSession {
        backend: Arc::clone(backend),
        container_id,
        name,
        dir,
        workspace,
        user,
        info: SessionInfo {
            backend: BACKEND.into(),
            isolation,
        },
        hub,
        proxy,
        disk,
        file_size_bytes: disk_bytes,
        nproc_limit,
        memory_mb: memory_bytes >> 20,
        exec_lock: tokio::sync::Mutex::new(()),
        needs_sweep: AtomicBool::new(false),
        oom_kills: std::sync::Mutex::new(oom_kills),
        next_id: AtomicU64::new(1),
        stop_called: AtomicBool::new(false),
        broken: std::sync::Mutex::new(None),
        stop_done: tokio::sync::Mutex::new(false),
    })
}

/// Waits for the init's `Ready`, or says why it will not come (with the container's log).
async fn wait_ready(
    backend: &BackendInner,
    container_id: &str,
    ready: tokio::sync::oneshot::Receiver<super::status::ReadyResult>,
) -> Result<Option<u64>, SandboxError> {
    let client = &backend.daemon.client;
    let mut exited = client.wait_container(container_id, None::<WaitContainerOptions>);
    let timeout = backend.options.start_timeout;
    let failure = tokio::select! {
        result = ready => match result {
            Ok(Ok(oom_kills)) => return Ok(oom_kills),
            Ok(Err(message)) => message,
            Err(_) => "the status socket closed".to_string(),
        },
        status = exited.next() => match status {
            Some(Ok(status)) => format!("the container exited with status {} before it was ready", status.status_code),
            Some(Err(err)) => format!("the container stopped before it was ready: {}", client::message_of(&err)),
            None => "the container stopped before it was ready".to_string(),
        },
        () = tokio::time::sleep(timeout) => format!(
            "the container's init did not report within {timeout:?} (with runtime runsc, the runtime needs --host-uds=open to reach drydock's sockets)"
        ),
    };
    let logs = container_log_tail(client, container_id).await;
    Err(setup_error(if logs.is_empty() {
        failure
    } else {
        format!("{failure}; container log: {logs}")
    }))
}

async fn container_log_tail(client: &bollard::Docker, container_id: &str) -> String {
    let options = LogsOptions {
        stdout: true,
        stderr: true,
        tail: LOG_TAIL_LINES.into(),
        ..LogsOptions::default()
    };
    let mut logs = client.logs(container_id, Some(options));
    let mut text = String::new();
    let collect = async {
        while let Some(Ok(chunk)) = logs.next().await {
            text.push_str(&String::from_utf8_lossy(&chunk.into_bytes()));
            if text.len() > 8192 {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(5), collect).await;
    text.trim().to_string()
}

/// Removes a container (killing what runs in it); a missing one is fine.
pub(super) async fn remove_container(client: &bollard::Docker, id: &str) -> Option<String> {
    let options = RemoveContainerOptions {
        force: true,
        v: true,
        ..RemoveContainerOptions::default()
    };
    match client.remove_container(id, Some(options)).await {
        Ok(()) => None,
        Err(err) if client::status_of(&err) == Some(404) => None,
        // Already being removed (a concurrent stop, or the reaper).
        Err(err) if client::status_of(&err) == Some(409) => None,
        Err(err) => Some(client::message_of(&err)),
    }
}

impl DockerSession {
    /// The container's id.
    pub fn container_id(&self) -> &str {
        &self.container_id
    }

    /// The container's name (`drydock-<label>-<ulid>`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The session directory on the host (the status and egress sockets).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The workspace on the host (canonical).
    pub fn workspace(&self) -> &Path {
        &self.workspace
    }

    /// The uid and gid commands run as.
    pub fn user(&self) -> (u32, u32) {
        (self.user.uid, self.user.gid)
    }

    /// Runs a command, forwarding its output to `sink` as it arrives (and capturing it too).
    pub async fn exec_streaming(
        &self,
        request: ExecRequest,
        cancel: &CancellationToken,
        sink: OutputSink,
    ) -> Result<ExecOutput, SandboxError> {
        self.run(request, cancel, Some(sink)).await
    }

    async fn stop_inner(&self) -> Result<(), SandboxError> {
        let mut done = self.stop_done.lock().await;
        if *done {
            return Ok(());
        }
        self.stop_called.store(true, Ordering::SeqCst);
        let client = &self.backend.daemon.client;
        let mut failure = remove_container(client, &self.container_id).await;
        if failure.is_some() {
            tokio::time::sleep(Duration::from_millis(200)).await;
            failure = remove_container(client, &self.container_id).await;
        }
        self.hub.shutdown();
        self.proxy.shutdown().await;
        let dir = self.dir.clone();
        let _ = tokio::task::spawn_blocking(move || std::fs::remove_dir_all(dir)).await;
        if let Some(message) = failure {
            return Err(setup_error(format!(
                "removing the container {}: {message}",
                self.name
            )));
        }
        *done = true;
        Ok(())
    }
}

#[async_trait]
impl Session for DockerSession {
    fn info(&self) -> SessionInfo {
        self.info.clone()
    }

    async fn exec(
        &self,
        request: ExecRequest,
        cancel: &CancellationToken,
    ) -> Result<ExecOutput, SandboxError> {
        self.run(request, cancel, None).await
    }

    async fn exec_streaming(
        &self,
        request: ExecRequest,
        cancel: &CancellationToken,
        sink: OutputSink,
    ) -> Result<ExecOutput, SandboxError> {
        self.run(request, cancel, Some(sink)).await
    }

    async fn stop(&self) -> Result<(), SandboxError> {
        self.stop_inner().await
    }
}

impl Drop for DockerSession {
    fn drop(&mut self) {
        let stopped = self.stop_done.try_lock().map(|done| *done).unwrap_or(false);
        if stopped {
            return;
        }
        self.stop_called.store(true, Ordering::SeqCst);
        // Closing the status socket ends the init, and with it every process of the container.
        self.hub.shutdown();
        let _ = std::fs::remove_dir_all(&self.dir);
        remove_from_drop(&self.backend.daemon, &self.container_id);
    }
}

/// Removes a container from synchronous code (a session dropped without `stop`), on a thread
/// of its own (the caller may be inside a runtime that is shutting down), waiting a few seconds
/// at most. Whatever this misses, the next backend's reaper removes.
fn remove_from_drop(daemon: &super::client::Daemon, id: &str) {
    let socket = daemon.socket.to_string_lossy().into_owned();
    let version = daemon.client.client_version();
    let id = id.to_string();
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("drydock-docker-drop".into())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let (Ok(runtime), Ok(client)) = (
                runtime,
                bollard::Docker::connect_with_unix(&socket, 10, &version),
            ) {
                runtime.block_on(remove_container(&client, &id));
            }
            let _ = done_tx.send(());
        });
    if spawned.is_ok() {
        let _ = done_rx.recv_timeout(Duration::from_secs(5));
    }
}
