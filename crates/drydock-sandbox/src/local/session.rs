//! A running `local` session: start-up, commands, and stopping.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use nix::fcntl::OFlag;
use nix::sys::socket::{AddressFamily, SockFlag, SockType, setsockopt, socketpair, sockopt};
use tokio::io::AsyncReadExt;
use tokio::io::unix::AsyncFd;
use tokio::net::unix::pipe;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::cgroup::SessionCgroup;
use super::control::{Control, ControlClosed};
use super::disk::DiskBudget;
use super::inputs::{sandbox_env, validate_workspace};
use super::launcher::{LaunchRequest, Launched};
use super::view::{self, SANDBOX_UID, ViewPlan};
use super::{BACKEND, LocalBackend, rundir};
use crate::capture::OutputSink;
use crate::egress::{EgressPolicy, EgressProxy, ProxyOptions};
use crate::protocol::{ExecLimits, MAX_PACKET};
use crate::{ExecOutput, ExecRequest, SandboxError, Session, SessionInfo, SessionSpec};

/// Longest a session may take to come up.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long the stage has to confirm a kill before the whole session is torn down.
pub(super) const KILL_GRACE: Duration = Duration::from_secs(5);
/// How long output may keep flowing after a command's processes are gone.
pub(super) const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
/// Bytes of bubblewrap/stage diagnostics kept for error messages.
const STDERR_TAIL: usize = 8 * 1024;

/// A running `local` sandbox. Dropping it kills it (prefer [`Session::stop`]).
#[derive(Debug)]
pub struct LocalSession {
    pub(super) dir: PathBuf,
    pub(super) workspace: PathBuf,
    pub(super) info: SessionInfo,
    pub(super) control: Arc<Control>,
    pub(super) reader: AbortOnDrop,
    pub(super) diagnostics: Arc<Mutex<String>>,
    pub(super) supervisor: Option<AsyncFd<OwnedFd>>,
    pub(super) bwrap_pid: libc::pid_t,
    pub(super) bwrap_exit: watch::Receiver<Option<i32>>,
    pub(super) proxy: EgressProxy,
    pub(super) cgroup: Mutex<Option<SessionCgroup>>,
    pub(super) memory_mb: u64,
    pub(super) disk: DiskBudget,
    pub(super) env: Vec<(String, String)>,
    pub(super) limits: ExecLimits,
    pub(super) next_id: AtomicU64,
    pub(super) stopped: AtomicBool,
    pub(super) stop_done: tokio::sync::Mutex<bool>,
}

/// Kills a half-started bubblewrap (and with it the sandbox) unless disarmed.
struct BwrapGuard(Option<libc::pid_t>);

impl Drop for BwrapGuard {
    fn drop(&mut self) {
        if let Some(pid) = self.0.take() {
            // SAFETY: bwrap is our child, not reaped yet (its launcher thread is still waiting).
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}

/// A task aborted when this is dropped.
#[derive(Debug)]
pub(super) struct AbortOnDrop(JoinHandle<()>);

impl AbortOnDrop {
    /// Aborts the task now.
    pub(super) fn abort(&self) {
        self.0.abort();
    }
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
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

pub(super) fn io_error(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> SandboxError {
    let context = context.into();
    move |source| SandboxError::Io { context, source }
}

fn setup_error(message: impl Into<String>) -> SandboxError {
    SandboxError::Setup {
        backend: BACKEND.into(),
        message: message.into(),
    }
}

pub(super) async fn start(
    backend: &LocalBackend,
    spec: SessionSpec,
) -> Result<LocalSession, SandboxError> {
    let workspace = validate_workspace(&spec.workspace)?;
    let policy =
        EgressPolicy::from_config(&spec.network).map_err(|err| SandboxError::InvalidRequest {
            message: err.to_string(),
        })?;
    let name = format!(
        "{}-{}",
        rundir::sanitize_label(&spec.label),
        ulid::Ulid::generate()
    );
    let dir = backend.runtime_dir().join(&name);
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&dir)
        .map_err(io_error(format!("creating {}", dir.display())))?;
    let mut dir_guard = DirGuard(Some(dir.clone()));
    rundir::record_process(&dir, "owner", std::process::id() as libc::pid_t)
        .map_err(io_error("recording the session owner"))?;
    let run_dir = dir.join("run");
    std::fs::create_dir(&run_dir).map_err(io_error("creating the session's run directory"))?;
    // The mount point of the stage executable inside the (read-only) run directory.
    std::fs::write(run_dir.join("stage"), b"")
        .map_err(io_error("creating the stage mount point"))?;
    let etc_dir = backend
        .etc
        .current()
        .map_err(io_error("building the sandbox's /etc snapshot"))?;

    let mut proxy_options = ProxyOptions::new(policy);
    proxy_options.events = spec.network_events.clone();
    let proxy = EgressProxy::bind_unix(&run_dir.join("proxy.sock"), proxy_options)
        .await
        .map_err(|err| setup_error(err.to_string()))?;

    let memory_bytes = spec.sandbox.memory_mb.max(16) << 20;
    let max_processes = spec.sandbox.max_processes.max(8);
    let disk_bytes = spec.sandbox.disk_mb.max(1) << 20;
    let mut isolation_notes = Vec::new();

    let (host_end, stage_end) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .map_err(|e| setup_error(format!("socketpair: {e}")))?;
    // Room for a large command line in one packet (the kernel caps it at wmem_max).
    let _ = setsockopt(&host_end, sockopt::SndBuf, &MAX_PACKET);
    let _ = setsockopt(&stage_end, sockopt::RcvBuf, &MAX_PACKET);
    let (control, ready_rx) =
        Control::new(host_end).map_err(io_error("watching the control socket"))?;
    let reader = AbortOnDrop(tokio::spawn(Arc::clone(&control).run_reader()));

    let mut launcher = backend
        .take_launcher()
        .map_err(|e| setup_error(format!("starting a launcher thread: {e}")))?;
    let prepared = launcher.prepared().await.map_err(|err| SandboxError::Unavailable {
        backend: BACKEND.into(),
        message: format!("cannot create a user namespace: {err}"),
        remedy: "enable unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1 and user.max_user_namespaces > 0; on Ubuntu also kernel.apparmor_restrict_unprivileged_userns=0)".into(),
    })?;
    let tmp_bytes = disk_bytes.min(memory_bytes / 2).max(16 << 20);
    let shm_bytes = (memory_bytes / 4).max(16 << 20);
    let args = view::bwrap_args(&ViewPlan {
        workspace: &workspace,
        etc_dir: &etc_dir,
        run_dir: &run_dir,
        stage_exe: &backend.options().stage_exe,
        read_only_paths: &backend.read_only_paths,
        tmp_bytes,
        shm_bytes,
        userns_fd: prepared.userns_fd,
        control_fd: stage_end.as_raw_fd(),
    });
    let (diag_read, diag_write) =
        nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| setup_error(format!("pipe: {e}")))?;
    let diagnostics = Arc::new(Mutex::new(String::new()));
    let diag_task = tokio::spawn(collect_diagnostics(diag_read, Arc::clone(&diagnostics)));
    let request = LaunchRequest {
        bwrap: backend.bwrap.clone(),
        args,
        inherited: vec![stage_end],
        diagnostics: diag_write,
    };
    let (launched, cgroup) = launcher.launch(request, memory_bytes, max_processes).await;
    let cgroup = match cgroup {
        Ok(cgroup) => {
            if let Err(err) = rundir::record_cgroups(&dir, cgroup.dirs()) {
                tracing::warn!(%err, "cannot record the session's cgroups for the reaper");
            }
            Some(cgroup)
        }
        Err(reason) => {
            if backend.uses_cgroups() {
                tracing::warn!(%reason, "no cgroup for the sandbox session; using rlimits only");
                isolation_notes.push(format!("no cgroup ({reason})"));
            }
            None
        }
    };
    let (bwrap_pid, mut bwrap_exit) = match launched {
        Ok(Launched { pid, exit }) => (pid, exit),
        Err(err) => {
            return Err(setup_error(format!(
                "starting {}: {err}",
                backend.bwrap.display()
            )));
        }
    };
    let mut bwrap_guard = BwrapGuard(Some(bwrap_pid));
    backend.refill_launcher();
    let budget = DiskBudget::measure(workspace.clone(), disk_bytes);

    let ready = tokio::select! {
        ready = ready_rx => ready.unwrap_or(Err(ControlClosed::Gone)),
        () = async { let _ = bwrap_exit.wait_for(Option::is_some).await; } => Err(ControlClosed::Gone),
        () = tokio::time::sleep(START_TIMEOUT) => Err(ControlClosed::Fatal(format!("the sandbox did not start within {START_TIMEOUT:?}"))),
    };
    let (info, supervisor_pidfd) = match ready {
        Ok(ready) => ready,
        Err(reason) => {
            drop(bwrap_guard);
            let _ =
                tokio::time::timeout(Duration::from_secs(2), bwrap_exit.wait_for(Option::is_some))
                    .await;
            let _ = tokio::time::timeout(Duration::from_millis(500), diag_task).await;
            drop(cgroup);
            let stderr = lock(&diagnostics).trim().to_string();
            let mut message = match reason {
                ControlClosed::Fatal(message) => message,
                ControlClosed::Gone => "the sandbox exited during start-up (is the stage executable a drydock binary whose main calls drydock_sandbox::run_stage_if_requested() first?)".into(),
            };
            if !stderr.is_empty() {
                message = format!("{message}: {stderr}");
            }
            return Err(setup_error(message));
        }
    };
    let supervisor = match supervisor_pidfd {
        Some(pidfd) => {
            if let Ok(pid) = crate::sys::pidfd_pid(pidfd.as_fd()) {
                let _ = rundir::record_process(&dir, "supervisor", pid);
            }
            // SAFETY: an OwnedFd keeps the same open descriptor for as long as the AsyncFd owns it.
            let registered =
                unsafe { AsyncFd::register_with_interest(pidfd, tokio::io::Interest::READABLE) };
            Some(registered.map_err(|e| io_error("watching the supervisor")(e.into()))?)
        }
        None => None,
    };
    let _ = rundir::record_process(&dir, "bwrap", bwrap_pid);
    let disk = budget.await;

    let mut isolation = vec![
        format!("bubblewrap {}", backend.bwrap_version),
        format!("user namespace (uid {SANDBOX_UID}, no capabilities)"),
        "pid namespace per session and per command".to_string(),
        "mount namespace: system read-only, filtered /etc, /workspace read-write, .git read-only"
            .to_string(),
        "network namespace: loopback only, egress through the allowlisting proxy".to_string(),
        "ipc, uts and cgroup namespaces".to_string(),
        "no_new_privs".to_string(),
        info.seccomp.clone(),
        info.landlock.clone(),
    ];
    match lock_cgroup(&cgroup) {
        Some(described) => isolation.extend(described),
        None => isolation.push(format!("rlimit nproc {max_processes}")),
    }
    isolation.push(format!(
        "rlimit data {} MiB per process",
        memory_bytes >> 20
    ));
    isolation.push(format!(
        "workspace disk budget +{} MiB over {} MiB (rlimit fsize and usage watcher)",
        disk_bytes >> 20,
        disk.baseline_bytes >> 20
    ));
    isolation.push(format!(
        "private tmpfs /tmp {} MiB, /dev/shm {} MiB",
        tmp_bytes >> 20,
        shm_bytes >> 20
    ));
    isolation.extend(isolation_notes);

    let limits = ExecLimits {
        max_processes,
        memory_bytes,
        file_size_bytes: disk_bytes,
    };
    let env = sandbox_env(backend, info.forwarder_port);
    dir_guard.0 = None;
    bwrap_guard.0 = None;
    Ok(LocalSession {
        dir,
        workspace,
        info: SessionInfo {
            backend: BACKEND.into(),
            isolation,
        },
        control,
        reader,
        diagnostics,
        supervisor,
        bwrap_pid,
        bwrap_exit,
        proxy,
        cgroup: Mutex::new(cgroup),
        memory_mb: memory_bytes >> 20,
        disk,
        env,
        limits,
        next_id: AtomicU64::new(1),
        stopped: AtomicBool::new(false),
        stop_done: tokio::sync::Mutex::new(false),
    })
}

fn lock_cgroup(cgroup: &Option<SessionCgroup>) -> Option<Vec<String>> {
    cgroup.as_ref().map(SessionCgroup::describe)
}

/// Keeps the tail of bubblewrap's and the stage's stderr, and logs it.
async fn collect_diagnostics(fd: OwnedFd, tail: Arc<Mutex<String>>) {
    let Ok(mut reader) = pipe::Receiver::from_owned_fd(fd) else {
        return;
    };
    let mut buf = vec![0u8; 4096];
    loop {
        match reader.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let text = String::from_utf8_lossy(&buf[..n]);
                for line in text.lines().filter(|l| !l.trim().is_empty()) {
                    tracing::warn!(target: "drydock_sandbox::stage", "{line}");
                }
                let mut tail = lock(&tail);
                tail.push_str(&text);
                if tail.len() > STDERR_TAIL {
                    let cut = tail.len() - STDERR_TAIL;
                    let cut = (cut..tail.len())
                        .find(|i| tail.is_char_boundary(*i))
                        .unwrap_or(0);
                    tail.drain(..cut);
                }
            }
        }
    }
}

pub(super) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl LocalSession {
    /// The session directory on the host.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The workspace on the host (canonical).
    pub fn workspace(&self) -> &Path {
        &self.workspace
    }

    /// The environment every command gets.
    pub fn env(&self) -> &[(String, String)] {
        &self.env
    }

    /// Host pids of the session's bubblewrap and supervisor (for measurements and diagnostics).
    pub fn host_pids(&self) -> Vec<libc::pid_t> {
        let mut pids = vec![self.bwrap_pid];
        if let Some(pidfd) = &self.supervisor
            && let Ok(pid) = crate::sys::pidfd_pid(pidfd.get_ref().as_fd())
        {
            pids.push(pid);
        }
        pids
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

    /// Kills the session without waiting (used from `Drop` and when the stage stops answering).
    pub(super) fn kill_now(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        if let Some(pidfd) = &self.supervisor {
            let _ = crate::sys::pidfd_send_signal(pidfd.get_ref().as_fd(), libc::SIGKILL);
        }
        if self.bwrap_exit.borrow().is_none() {
            // SAFETY: bwrap is our child and not reaped yet (its thread publishes the exit).
            unsafe { libc::kill(self.bwrap_pid, libc::SIGKILL) };
        }
    }

    async fn stop_inner(&self) -> Result<(), SandboxError> {
        let mut done = self.stop_done.lock().await;
        if *done {
            return Ok(());
        }
        self.stopped.store(true, Ordering::SeqCst);
        // Killing the supervisor (pid 1 of the session) makes the kernel kill every process of
        // the session; its pidfd becomes readable only once they are all gone.
        if let Some(pidfd) = &self.supervisor {
            crate::sys::pidfd_send_signal(pidfd.get_ref().as_fd(), libc::SIGKILL)
                .map_err(io_error("killing the sandbox supervisor"))?;
            let gone = tokio::time::timeout(Duration::from_secs(5), pidfd.readable()).await;
            if gone.is_err() {
                tracing::error!("the sandbox supervisor did not die within 5 s");
            }
        }
        let mut exit = self.bwrap_exit.clone();
        if tokio::time::timeout(Duration::from_secs(2), exit.wait_for(Option::is_some))
            .await
            .is_err()
        {
            self.kill_now();
            let _ =
                tokio::time::timeout(Duration::from_secs(2), exit.wait_for(Option::is_some)).await;
        }
        let cgroup = lock(&self.cgroup).take();
        if let Some(mut cgroup) = cgroup {
            let _ = tokio::task::spawn_blocking(move || cgroup.kill_and_remove()).await;
        }
        self.proxy.shutdown().await;
        self.control.close();
        self.reader.abort();
        let dir = self.dir.clone();
        let _ = tokio::task::spawn_blocking(move || std::fs::remove_dir_all(dir)).await;
        *done = true;
        Ok(())
    }
}

#[async_trait]
impl Session for LocalSession {
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

impl Drop for LocalSession {
    fn drop(&mut self) {
        let stopped = self.stop_done.try_lock().map(|done| *done).unwrap_or(false);
        if stopped {
            return;
        }
        self.kill_now();
        self.control.close();
        self.reader.abort();
        if let Some(mut cgroup) = lock(&self.cgroup).take() {
            cgroup.kill_and_remove();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
