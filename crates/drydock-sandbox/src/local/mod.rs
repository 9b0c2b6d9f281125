//! The `local` backend: bubblewrap outside, our own stage inside, in milliseconds.
//!
//! A session is one bubblewrap sandbox (new user, pid, mount, network, ipc, uts and cgroup
//! namespaces; the view described in `view`), whose pid 1 is our stage supervisor. Commands run
//! in pid and mount namespaces of their own under it (so their process trees die with them),
//! confined by dropped capabilities, no_new_privs, Landlock and seccomp. The network namespace
//! has only loopback; egress goes through the session's [`EgressProxy`](crate::egress::EgressProxy)
//! over a bind-mounted Unix socket.
//!
//! Limits: wall clock per command (killed with its tree), processes and memory (a cgroup per
//! session when running as root; per-process `RLIMIT_NPROC`/`RLIMIT_DATA` always), output
//! (head and tail per stream), workspace disk (see `disk`), and size-capped `/tmp`/`/dev/shm`.
//!
//! Root and unprivileged users get the same sandbox. As root, the sandbox user maps to host root
//! (so files it writes belong to the workspace's owner); it holds no capability, every system
//! path is read-only, `/proc/sys` and similar are read-only, and Landlock confines writes to the
//! workspace and the private tmpfs.

mod cgroup;
mod control;
mod disk;
mod etc;
mod exec;
mod inputs;
mod launcher;
mod rundir;
mod session;
mod userns;
mod view;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

pub use rundir::reap_stale_sessions;
pub use session::LocalSession;

use crate::{Backend, SandboxError, Session, SessionSpec};

/// Where the workspace appears inside every sandbox (the policy engine and the agent rely on it).
pub const WORKSPACE_MOUNT: &str = "/workspace";

const BACKEND: &str = "local";

/// How the `local` backend is set up on this machine.
#[derive(Debug, Clone)]
pub struct LocalOptions {
    /// The executable carrying the inner stage: the `drydock` binary (`std::env::current_exe()`),
    /// whose `main` calls [`run_stage_if_requested`](crate::run_stage_if_requested) first.
    pub stage_exe: PathBuf,
    /// bubblewrap; `None` searches `PATH`.
    pub bwrap: Option<PathBuf>,
    /// Where session directories live; `None` for `/run/drydock/sandbox` (root),
    /// `$XDG_RUNTIME_DIR/drydock/sandbox` or `<tmp>/drydock-sandbox-<uid>`.
    pub runtime_dir: Option<PathBuf>,
    /// Host directories shown read-only at the same path (toolchains installed outside `/usr`,
    /// such as `~/.rustup/toolchains/<name>`).
    pub read_only_paths: Vec<PathBuf>,
    /// Directories put in front of `PATH` inside the sandbox.
    pub path_prefix: Vec<String>,
    /// Extra environment variables with explicit values (nothing is copied from the host).
    pub env: Vec<(String, String)>,
    /// Extra host `/etc` entries to show (relative names, e.g. `maven`).
    pub extra_etc: Vec<String>,
    /// Use a cgroup per session for memory and processes when possible (root).
    pub cgroups: bool,
}

impl LocalOptions {
    /// Defaults around the stage executable.
    pub fn new(stage_exe: impl Into<PathBuf>) -> Self {
        Self {
            stage_exe: stage_exe.into(),
            bwrap: None,
            runtime_dir: None,
            read_only_paths: Vec::new(),
            path_prefix: Vec::new(),
            env: Vec::new(),
            extra_etc: Vec::new(),
            cgroups: true,
        }
    }
}

/// The `local` backend.
#[derive(Debug, Clone)]
pub struct LocalBackend {
    options: LocalOptions,
    bwrap: PathBuf,
    runtime_dir: PathBuf,
    read_only_paths: Vec<PathBuf>,
    bwrap_version: String,
    etc: Arc<etc::EtcView>,
    use_cgroups: bool,
    warm: Arc<Mutex<Option<launcher::Launcher>>>,
}

impl LocalBackend {
    /// Checks the tools, prepares the runtime directory and reaps sessions a crashed drydock
    /// left behind.
    pub fn new(options: LocalOptions) -> Result<Self, SandboxError> {
        let bwrap = match &options.bwrap {
            Some(path) => path.clone(),
            None => find_in_path("bwrap").ok_or_else(|| SandboxError::Unavailable {
                backend: BACKEND.into(),
                message: "bubblewrap (bwrap) is not installed".into(),
                remedy: "install bubblewrap: apt-get install bubblewrap (Debian/Ubuntu), dnf install bubblewrap (Fedora)".into(),
            })?,
        };
        let stage_exe =
            options
                .stage_exe
                .canonicalize()
                .map_err(|err| SandboxError::Unavailable {
                    backend: BACKEND.into(),
                    message: format!(
                        "the stage executable {} is not usable: {err}",
                        options.stage_exe.display()
                    ),
                    remedy: "pass the drydock binary itself (std::env::current_exe())".into(),
                })?;
        let read_only_paths = options
            .read_only_paths
            .iter()
            .map(|p| view::validate_read_only_path(p))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|message| SandboxError::InvalidRequest { message })?;
        for name in &options.extra_etc {
            if name.is_empty()
                || name.starts_with('/')
                || name.split('/').any(|c| c == ".." || c.is_empty())
            {
                return Err(SandboxError::InvalidRequest {
                    message: format!(
                        "extra /etc entry {name:?} must be a relative name inside /etc"
                    ),
                });
            }
        }
        let runtime_dir = options
            .runtime_dir
            .clone()
            .unwrap_or_else(rundir::default_runtime_dir);
        rundir::prepare_runtime_dir(&runtime_dir).map_err(|source| SandboxError::Io {
            context: format!(
                "preparing the sandbox runtime directory {}",
                runtime_dir.display()
            ),
            source,
        })?;
        match reap_stale_sessions(&runtime_dir) {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                sessions = n,
                "reaped sandbox sessions left by an earlier run"
            ),
            Err(err) => tracing::warn!(%err, "reaping stale sandbox sessions failed"),
        }
        let bwrap_version = std::process::Command::new(&bwrap)
            .arg("--version")
            .env_clear()
            .output()
            .map_err(|err| SandboxError::Unavailable {
                backend: BACKEND.into(),
                message: format!("{} does not run: {err}", bwrap.display()),
                remedy: "reinstall bubblewrap".into(),
            })?;
        let bwrap_version = String::from_utf8_lossy(&bwrap_version.stdout)
            .trim()
            .trim_start_matches("bubblewrap ")
            .to_string();
        let etc = Arc::new(etc::EtcView::new(&runtime_dir, &options.extra_etc));
        etc.current().map_err(|source| SandboxError::Io {
            context: "building the sandbox's /etc snapshot".into(),
            source,
        })?;
        // SAFETY: geteuid cannot fail.
        let use_cgroups = options.cgroups
            && unsafe { libc::geteuid() } == 0
            && cgroup::detect_version().is_some();
        if use_cgroups {
            cgroup::remove_empty_leftovers();
        }
        let options = LocalOptions {
            stage_exe,
            ..options
        };
        let backend = Self {
            options,
            bwrap,
            runtime_dir,
            read_only_paths,
            bwrap_version,
            etc,
            use_cgroups,
            warm: Arc::new(Mutex::new(None)),
        };
        backend.refill_launcher();
        Ok(backend)
    }

    /// The options in force.
    pub fn options(&self) -> &LocalOptions {
        &self.options
    }

    /// Where session directories live.
    pub fn runtime_dir(&self) -> &Path {
        &self.runtime_dir
    }

    /// Whether sessions get a cgroup.
    pub(crate) fn uses_cgroups(&self) -> bool {
        self.use_cgroups
    }

    /// The warm launcher, or a new one when none is ready.
    pub(crate) fn take_launcher(&self) -> std::io::Result<launcher::Launcher> {
        let warm = self
            .warm
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        match warm {
            Some(launcher) => Ok(launcher),
            None => launcher::Launcher::spawn(self.use_cgroups),
        }
    }

    /// Prepares the next launcher in the background (its cgroup move is the slow part).
    pub(crate) fn refill_launcher(&self) {
        let mut warm = self
            .warm
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if warm.is_none() {
            match launcher::Launcher::spawn(self.use_cgroups) {
                Ok(launcher) => *warm = Some(launcher),
                Err(err) => tracing::warn!(%err, "cannot prepare a sandbox launcher thread"),
            }
        }
    }

    /// Starts a session and returns the concrete type (with [`LocalSession::exec_streaming`]).
    pub async fn start_local(&self, spec: SessionSpec) -> Result<LocalSession, SandboxError> {
        session::start(self, spec).await
    }

    /// The machine checks of [`check_isolation`](crate::check_isolation) plus a live session: a
    /// sandbox is started on a scratch workspace, runs `true`, and is stopped.
    pub async fn check(&self) -> crate::IsolationReport {
        let mut report = crate::check_isolation();
        report.checks.push(crate::check::smoke_test(self).await);
        report
    }
}

#[async_trait]
impl Backend for LocalBackend {
    fn name(&self) -> &'static str {
        BACKEND
    }

    async fn start(&self, spec: SessionSpec) -> Result<Box<dyn Session>, SandboxError> {
        Ok(Box::new(self.start_local(spec).await?))
    }
}

/// Finds an executable in `PATH`.
pub(crate) fn find_in_path(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| {
            std::fs::metadata(candidate)
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

pub(crate) use cgroup::{CgroupVersion, detect_version as detect_cgroup_version};
// Shared with the docker backend.
pub(crate) use disk::{DiskBudget, DiskExceeded};
pub(crate) use inputs::{CheckedCommand, validate_workspace};
pub(crate) use rundir::{prepare_runtime_dir, record_process, sanitize_label};
pub(crate) use userns::create_user_namespace;

/// Creates and removes a session cgroup, to tell whether sessions can have one.
pub(crate) fn probe_session_cgroup() -> Result<(), String> {
    let mut cgroup = cgroup::SessionCgroup::create(&format!("check-{}", ulid::Ulid::generate()))?;
    let limits = cgroup.set_limits(64 << 20, 16);
    cgroup.kill_and_remove();
    limits
}
