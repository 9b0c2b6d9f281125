//! `drydock sandbox check`: what isolation this machine can give, and how to fix what is missing.

use std::fmt;
use std::time::{Duration, Instant};

use crate::docker::{DaemonProbe, default_socket, probe_daemon};
use crate::local::{CgroupVersion, LocalBackend, detect_cgroup_version, find_in_path};

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckStatus {
    /// Available and working.
    Ok,
    /// Missing or degraded, but sandboxes still run (with less isolation or without a feature).
    Warning,
    /// Missing: the `local` backend cannot run without it.
    Missing,
}

/// One item of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IsolationCheck {
    /// What was checked (`bubblewrap`, `landlock`, ...).
    pub name: String,
    /// The outcome.
    pub status: CheckStatus,
    /// What was found.
    pub detail: String,
    /// What to do about it, when not Ok.
    pub remedy: Option<String>,
}

/// Everything `drydock sandbox check` reports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IsolationReport {
    /// The checks, in order.
    pub checks: Vec<IsolationCheck>,
}

impl IsolationReport {
    /// True when nothing required by the `local` backend is missing.
    pub fn local_ready(&self) -> bool {
        self.checks.iter().all(|c| c.status != CheckStatus::Missing)
    }

    /// The check named `name`.
    pub fn get(&self, name: &str) -> Option<&IsolationCheck> {
        self.checks.iter().find(|c| c.name == name)
    }
}

impl fmt::Display for IsolationReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for check in &self.checks {
            let status = match check.status {
                CheckStatus::Ok => "ok     ",
                CheckStatus::Warning => "warning",
                CheckStatus::Missing => "MISSING",
            };
            writeln!(f, "{status} {}: {}", check.name, check.detail)?;
            if let Some(remedy) = &check.remedy {
                writeln!(f, "        -> {remedy}")?;
            }
        }
        Ok(())
    }
}

fn item(
    name: &str,
    status: CheckStatus,
    detail: impl Into<String>,
    remedy: Option<&str>,
) -> IsolationCheck {
    IsolationCheck {
        name: name.into(),
        status,
        detail: detail.into(),
        remedy: remedy.map(str::to_string),
    }
}

/// Probes the machine (no sandbox is started; [`LocalBackend::check`] adds a live one).
pub fn check_isolation() -> IsolationReport {
    let docker = probe_daemon(&default_socket(), Duration::from_secs(3));
    IsolationReport {
        checks: vec![
            check_bwrap(),
            check_user_namespaces(),
            check_seccomp(),
            check_landlock(),
            check_cgroups(),
            check_docker(&docker),
            check_runsc(&docker),
        ],
    }
}

fn check_bwrap() -> IsolationCheck {
    let remedy = Some(
        "install bubblewrap: apt-get install bubblewrap (Debian/Ubuntu) or dnf install bubblewrap (Fedora)",
    );
    let Some(bwrap) = find_in_path("bwrap") else {
        return item(
            "bubblewrap",
            CheckStatus::Missing,
            "bwrap not found in PATH",
            remedy,
        );
    };
    let version = std::process::Command::new(&bwrap).arg("--version").output();
    let version = match version {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).trim().to_string(),
        _ => {
            return item(
                "bubblewrap",
                CheckStatus::Missing,
                format!("{} does not run", bwrap.display()),
                remedy,
            );
        }
    };
    // A minimal sandbox with the namespaces sessions use.
    let mut probe = std::process::Command::new(&bwrap);
    probe.args([
        "--unshare-user",
        "--unshare-pid",
        "--unshare-net",
        "--unshare-ipc",
        "--unshare-uts",
        "--ro-bind",
        "/",
        "/",
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--",
        "true",
    ]);
    match probe.output() {
        Ok(out) if out.status.success() => item(
            "bubblewrap",
            CheckStatus::Ok,
            format!("{version} at {}", bwrap.display()),
            None,
        ),
        Ok(out) => item(
            "bubblewrap",
            CheckStatus::Missing,
            format!(
                "{version} cannot create namespaces: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ),
            Some(
                "bubblewrap needs user namespaces (see the user namespaces check); inside a container, run it with --privileged or a seccomp profile that allows unshare",
            ),
        ),
        Err(err) => item(
            "bubblewrap",
            CheckStatus::Missing,
            format!("{version}: {err}"),
            remedy,
        ),
    }
}

fn read_trimmed(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
}

fn check_user_namespaces() -> IsolationCheck {
    let name = "user namespaces";
    if read_trimmed("/proc/sys/user/max_user_namespaces").as_deref() == Some("0") {
        return item(
            name,
            CheckStatus::Missing,
            "user.max_user_namespaces is 0",
            Some("sysctl -w user.max_user_namespaces=15000"),
        );
    }
    // SAFETY: geteuid cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    if !root && read_trimmed("/proc/sys/kernel/unprivileged_userns_clone").as_deref() == Some("0") {
        return item(
            name,
            CheckStatus::Missing,
            "kernel.unprivileged_userns_clone is 0",
            Some("sysctl -w kernel.unprivileged_userns_clone=1"),
        );
    }
    if !root
        && read_trimmed("/proc/sys/kernel/apparmor_restrict_unprivileged_userns").as_deref()
            == Some("1")
    {
        return item(
            name,
            CheckStatus::Missing,
            "AppArmor restricts unprivileged user namespaces",
            Some(
                "sysctl -w kernel.apparmor_restrict_unprivileged_userns=0, or add an AppArmor profile allowing userns for bwrap and drydock",
            ),
        );
    }
    match crate::local::create_user_namespace(1000, 1000) {
        Ok(_) => item(
            name,
            CheckStatus::Ok,
            "can create and map a user namespace",
            None,
        ),
        Err(err) => item(
            name,
            CheckStatus::Missing,
            format!("creating one failed: {err}"),
            Some("enable user namespaces for this user (see your distribution's documentation)"),
        ),
    }
}

fn check_seccomp() -> IsolationCheck {
    // SAFETY: prctl with integer arguments; PR_GET_SECCOMP answers EINVAL without seccomp.
    let mode = unsafe { libc::prctl(libc::PR_GET_SECCOMP, 0, 0, 0, 0) };
    let actions = read_trimmed("/proc/sys/kernel/seccomp/actions_avail").unwrap_or_default();
    if mode < 0 {
        return item(
            "seccomp",
            CheckStatus::Missing,
            "the kernel has no seccomp",
            Some("use a kernel built with CONFIG_SECCOMP_FILTER"),
        );
    }
    if !actions.is_empty() && !actions.split_whitespace().any(|a| a == "errno") {
        return item(
            "seccomp",
            CheckStatus::Missing,
            format!("seccomp cannot return errors (actions: {actions})"),
            Some("use a kernel with seccomp filter support"),
        );
    }
    item(
        "seccomp",
        CheckStatus::Ok,
        format!("filters available (actions: {actions})"),
        None,
    )
}

fn check_landlock() -> IsolationCheck {
    let err = match crate::sys::landlock_abi() {
        Ok(abi) => return item("landlock", CheckStatus::Ok, format!("abi {abi}"), None),
        Err(err) => err,
    };
    let (detail, remedy) = match err.raw_os_error() {
        Some(libc::EOPNOTSUPP) => (
            "built into the kernel but disabled",
            "add landlock to the lsm= kernel parameter (e.g. lsm=landlock,lockdown,yama,apparmor,bpf)",
        ),
        _ => (
            "not available in this kernel",
            "use Linux 5.13 or later with CONFIG_SECURITY_LANDLOCK",
        ),
    };
    item(
        "landlock",
        CheckStatus::Warning,
        format!("{detail}; sandboxes run without it"),
        Some(remedy),
    )
}

fn check_cgroups() -> IsolationCheck {
    // SAFETY: geteuid cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    let version = detect_cgroup_version();
    let (label, base) = match version {
        Some(CgroupVersion::V1) => ("v1", "/sys/fs/cgroup/memory"),
        Some(CgroupVersion::V2) => ("v2", "/sys/fs/cgroup"),
        None => {
            return item(
                "cgroups",
                CheckStatus::Warning,
                "no memory and pids controllers mounted; per-process rlimits only",
                Some("mount cgroup2 (or the v1 memory and pids controllers)"),
            );
        }
    };
    let probe = if root {
        crate::local::probe_session_cgroup()
    } else {
        Err(format!("{base} is not writable by this user"))
    };
    match probe {
        Ok(()) => item(
            "cgroups",
            CheckStatus::Ok,
            format!("{label}: a memory and pids cgroup per session"),
            None,
        ),
        Err(reason) => item(
            "cgroups",
            CheckStatus::Warning,
            format!(
                "{label} present but unusable ({reason}); sessions use per-process rlimits (memory per process, processes per user)"
            ),
            Some(
                "run drydock as root, or on cgroup v2 delegate a subtree to this user (systemd: Delegate=yes)",
            ),
        ),
    }
}

/// The oldest Docker API the docker backend is tested against (Docker 19.03, Podman 3).
const MIN_DOCKER_API: (u32, u32) = (1, 40);

fn parse_api_version(version: &str) -> Option<(u32, u32)> {
    let (major, minor) = version.trim().split_once('.')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

fn check_docker(probe: &Result<DaemonProbe, String>) -> IsolationCheck {
    let name = "docker";
    let probe = match probe {
        Ok(probe) => probe,
        Err(err) => {
            return item(
                name,
                CheckStatus::Warning,
                format!("no docker daemon answers ({err}); the docker backend is unavailable"),
                Some(
                    "install docker (apt-get install docker.io) and start the daemon (systemctl start docker, or dockerd &), add this user to the docker group; or serve Podman's API (podman system service) and point DOCKER_HOST or the docker socket option at it",
                ),
            );
        }
    };
    let version = parse_api_version(&probe.api_version);
    if version.is_none_or(|v| v < MIN_DOCKER_API) {
        return item(
            name,
            CheckStatus::Warning,
            format!(
                "{} at {} speaks API {:?}; the docker backend needs {}.{} or later",
                probe.server,
                probe.socket.display(),
                probe.api_version,
                MIN_DOCKER_API.0,
                MIN_DOCKER_API.1
            ),
            Some("upgrade the daemon (Docker 19.03 or later, Podman 3 or later)"),
        );
    }
    item(
        name,
        CheckStatus::Ok,
        format!(
            "{} (API {}, oldest {}) at {}; runtimes: {} (default {})",
            probe.server,
            probe.api_version,
            probe.min_api_version,
            probe.socket.display(),
            probe.runtimes.join(", "),
            probe.default_runtime
        ),
        None,
    )
}

fn check_runsc(probe: &Result<DaemonProbe, String>) -> IsolationCheck {
    let name = "gvisor";
    let binary = find_in_path("runsc");
    let register = "register it with the daemon: runsc install, or add \"runsc\": {\"path\": \"/usr/bin/runsc\", \"runtimeArgs\": [\"--host-uds=open\", \"--network=none\"]} under \"runtimes\" in /etc/docker/daemon.json; then reload the daemon (kill -HUP $(pidof dockerd), or systemctl reload docker)";
    match (probe, binary) {
        (Ok(probe), _) if probe.runtimes.iter().any(|r| r == "runsc") => item(
            name,
            CheckStatus::Ok,
            format!("runsc is registered with {}; sandbox.runtime = \"runsc\" is available", probe.server),
            None,
        ),
        (Ok(probe), Some(path)) => item(
            name,
            CheckStatus::Warning,
            format!(
                "runsc is installed at {} but {} does not know it (runtimes: {})",
                path.display(),
                probe.server,
                probe.runtimes.join(", ")
            ),
            Some(register),
        ),
        (_, binary) => item(
            name,
            CheckStatus::Warning,
            match binary {
                Some(path) => format!("runsc at {}, but no docker daemon to run it", path.display()),
                None => "gVisor (runsc) is not installed; docker sessions cannot use runtime = \"runsc\"".into(),
            },
            Some(
                "install gVisor (apt-get install runsc, or https://gvisor.dev/docs/user_guide/install/) and register it with the docker daemon (runsc install, then reload the daemon)",
            ),
        ),
    }
}

/// Starts a real session on a scratch workspace and runs `true` in it.
pub(crate) async fn smoke_test(backend: &LocalBackend) -> IsolationCheck {
    let name = "local sandbox";
    let workspace = match tempfile_dir() {
        Ok(dir) => dir,
        Err(err) => {
            return item(
                name,
                CheckStatus::Missing,
                format!("cannot create a scratch workspace: {err}"),
                None,
            );
        }
    };
    let started = Instant::now();
    let result = run_true(
        workspace,
        crate::SandboxConfig::default(),
        Duration::from_secs(10),
        |spec| backend.start_local(spec),
    )
    .await;
    match result {
        Ok((output, info)) if output.success() => item(
            name,
            CheckStatus::Ok,
            format!(
                "session started, ran a command and stopped in {:?}; in force: {}",
                started.elapsed(),
                info.isolation.join("; ")
            ),
            None,
        ),
        Ok((output, _)) => item(
            name,
            CheckStatus::Missing,
            format!("`true` failed in the sandbox: {output:?}"),
            None,
        ),
        Err(err) => item(name, CheckStatus::Missing, err.to_string(), None),
    }
}

/// Starts a real docker session in `image` on a scratch workspace and runs `true` in it.
pub(crate) async fn docker_smoke_test(
    backend: &crate::DockerBackend,
    image: &str,
) -> IsolationCheck {
    let name = "docker sandbox";
    let workspace = match tempfile_dir() {
        Ok(dir) => dir,
        Err(err) => {
            return item(
                name,
                CheckStatus::Warning,
                format!("cannot create a scratch workspace: {err}"),
                Some("make the temporary directory writable"),
            );
        }
    };
    let started = Instant::now();
    let sandbox = crate::SandboxConfig {
        backend: crate::BackendKind::Docker,
        image: Some(image.to_string()),
        ..crate::SandboxConfig::default()
    };
    let result = run_true(workspace, sandbox, Duration::from_secs(30), |spec| {
        backend.start_docker(spec)
    })
    .await;
    match result {
        Ok((output, info)) if output.success() => item(
            name,
            CheckStatus::Ok,
            format!(
                "session in {image} started, ran a command and stopped in {:?}; in force: {}",
                started.elapsed(),
                info.isolation.join("; ")
            ),
            None,
        ),
        Ok((output, _)) => item(
            name,
            CheckStatus::Warning,
            format!("`true` failed in the container: {output:?}"),
            Some("check that the image has a `true` program on its PATH"),
        ),
        Err(err) => item(
            name,
            CheckStatus::Warning,
            err.to_string(),
            Some("see the error; `drydock sandbox check` lists what the daemon offers"),
        ),
    }
}

/// Starts a session (by `start`) on the scratch `workspace` with no egress, runs `true` in it
/// within `timeout`, stops it, and removes the workspace; returns the output and what was in force.
async fn run_true<S, F>(
    workspace: std::path::PathBuf,
    sandbox: crate::SandboxConfig,
    timeout: Duration,
    start: impl FnOnce(crate::SessionSpec) -> F,
) -> Result<(crate::ExecOutput, crate::SessionInfo), crate::SandboxError>
where
    S: crate::Session,
    F: std::future::Future<Output = Result<S, crate::SandboxError>>,
{
    let spec = crate::SessionSpec {
        label: "check".into(),
        workspace: workspace.clone(),
        sandbox,
        network: crate::NetworkConfig {
            allow: Vec::new(),
            ..crate::NetworkConfig::default()
        },
        network_events: None,
    };
    let result = async {
        let session = start(spec).await?;
        let request = crate::ExecRequest {
            argv: vec!["true".into()],
            cwd: None,
            timeout,
            max_output_bytes: 4096,
            merge_stderr: false,
            stdin: None,
        };
        let output = session
            .exec(request, &tokio_util::sync::CancellationToken::new())
            .await;
        session.stop().await?;
        let output = output?;
        Ok((output, session.info()))
    }
    .await;
    let _ = std::fs::remove_dir_all(&workspace);
    result
}

fn tempfile_dir() -> std::io::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("drydock-check-{}", ulid::Ulid::generate()));
    std::fs::create_dir(&dir)?;
    Ok(dir)
}
