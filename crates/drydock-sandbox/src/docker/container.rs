//! The container a session runs in, as the daemon is asked to create it.
//!
//! Everything that makes it a sandbox is decided here, in one pure function the unit tests check
//! field by field: no network but loopback, a read-only root, no capabilities, no new privileges,
//! a non-root user, limits, the workspace (its `.git` read-only), the session's socket directory
//! and the stage bundle read-only, a private `/tmp`, and our init as its entrypoint.

use std::collections::HashMap;
use std::path::Path;

use bollard::models::{ContainerCreateBody, HostConfig, Mount, MountType, ResourcesUlimits};

use super::bundle::StageBundle;
use super::inner::INIT_ROLE;
use super::workspace::SandboxUser;
use crate::WORKSPACE_MOUNT;
use crate::protocol::STAGE_ARG;

/// The session's socket directory inside the container.
pub(crate) const RUN_MOUNT: &str = "/run/drydock";
/// The status socket inside the container.
pub(crate) const STATUS_SOCKET: &str = "/run/drydock/status.sock";
/// The egress proxy's socket inside the container.
pub(crate) const PROXY_SOCKET: &str = "/run/drydock/proxy.sock";
/// The port of the in-container egress forwarder on 127.0.0.1.
pub(crate) const FORWARDER_PORT: u16 = 3128;
/// HOME inside the container (on the `/tmp` tmpfs: writable, gone with the session).
pub(crate) const SANDBOX_HOME: &str = "/tmp/home";
/// Host threads gVisor's own sandbox processes need beyond the application's (its pids limit
/// covers them; the application's processes are limited inside gVisor with `RLIMIT_NPROC`).
pub(crate) const GVISOR_PIDS_HEADROOM: u64 = 1024;

/// Whether an OCI runtime is gVisor.
pub(crate) fn is_gvisor(runtime: Option<&str>) -> bool {
    runtime.is_some_and(|r| r.contains("runsc") || r.contains("gvisor"))
}

/// The PATH for images that do not set one.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// How the workspace's `.git` is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GitMount {
    /// No `.git` (not a repository): nothing extra.
    None,
    /// A `.git` directory or file (worktree link), mounted read-only over itself.
    ReadOnly,
}

/// Everything a session's container is made of.
#[derive(Debug, Clone)]
pub(crate) struct ContainerPlan<'a> {
    /// The image.
    pub image: &'a str,
    /// The OCI runtime, `None` for the daemon's default.
    pub runtime: Option<&'a str>,
    /// Who commands run as.
    pub user: SandboxUser,
    /// The workspace on the host (canonical).
    pub workspace: &'a Path,
    /// Its `.git`.
    pub git: GitMount,
    /// The session's socket directory on the host.
    pub run_dir: &'a Path,
    /// The stage executable and its loader.
    pub bundle: &'a StageBundle,
    /// The full environment (`KEY=value`), layered over the image's.
    pub env: Vec<String>,
    /// Labels (session, owner).
    pub labels: HashMap<String, String>,
    /// Memory limit (no swap beyond it).
    pub memory_bytes: u64,
    /// Processes and threads (the container's pids limit).
    pub max_processes: u64,
    /// CPUs, when limited.
    pub cpus: Option<f64>,
    /// Size of the `/tmp` tmpfs (HOME lives there).
    pub tmp_bytes: u64,
    /// Size of `/dev/shm`.
    pub shm_bytes: u64,
    /// Resource limits set on every process.
    pub limits: ProcessLimits,
}

/// `RLIMIT_NOFILE` and `RLIMIT_NPROC` of a container's processes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessLimits {
    /// Open files.
    pub open_files: u64,
    /// Processes of the user (counted host-wide without a user namespace).
    pub user_processes: u64,
}

impl ProcessLimits {
    /// `wanted`, lowered to our own hard limits: the runtime cannot set a limit past the
    /// daemon's own without the capabilities the container lacks, and the daemon's are usually
    /// the same as ours or higher.
    pub(crate) fn within_this_process(wanted: Self) -> Self {
        let hard = |resource| {
            let mut limit = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            // SAFETY: getrlimit writes into the struct we pass.
            if unsafe { libc::getrlimit(resource, &mut limit) } == 0 {
                limit.rlim_max
            } else {
                u64::MAX
            }
        };
        Self {
            open_files: wanted.open_files.min(hard(libc::RLIMIT_NOFILE)).max(64),
            user_processes: wanted.user_processes.min(hard(libc::RLIMIT_NPROC)).max(64),
        }
    }
}

fn bind(source: &Path, target: &str, read_only: bool) -> Mount {
    Mount {
        source: Some(source.to_string_lossy().into_owned()),
        target: Some(target.into()),
        typ: Some(MountType::BIND),
        read_only: Some(read_only),
        ..Mount::default()
    }
}

/// The argv of the container's init.
pub(crate) fn init_argv(bundle: &StageBundle) -> Vec<String> {
    let mut argv = bundle.launcher.clone();
    argv.extend(
        [
            STAGE_ARG,
            INIT_ROLE,
            "--status",
            STATUS_SOCKET,
            "--proxy",
            PROXY_SOCKET,
            "--proxy-port",
            &FORWARDER_PORT.to_string(),
            "--home",
            SANDBOX_HOME,
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    argv
}

/// The create request for a plan.
pub(crate) fn create_body(plan: &ContainerPlan<'_>) -> ContainerCreateBody {
    let mut mounts = vec![bind(plan.workspace, WORKSPACE_MOUNT, false)];
    if plan.git == GitMount::ReadOnly {
        mounts.push(bind(
            &plan.workspace.join(".git"),
            &format!("{WORKSPACE_MOUNT}/.git"),
            true,
        ));
    }
    mounts.push(bind(plan.run_dir, RUN_MOUNT, true));
    for file in &plan.bundle.files {
        mounts.push(bind(&file.host, &file.target, true));
    }
    let memory = i64::try_from(plan.memory_bytes).unwrap_or(i64::MAX);
    let tmpfs = HashMap::from([(
        "/tmp".to_string(),
        format!(
            "rw,exec,nosuid,nodev,size={},mode=1777",
            plan.tmp_bytes.max(1 << 20)
        ),
    )]);
    let host_config = HostConfig {
        network_mode: Some("none".into()),
        readonly_rootfs: Some(true),
        cap_drop: Some(vec!["ALL".into()]),
        security_opt: Some(vec!["no-new-privileges".into()]),
        privileged: Some(false),
        init: Some(false),
        ipc_mode: Some("private".into()),
        pids_limit: Some(i64::try_from(plan.max_processes).unwrap_or(i64::MAX)),
        memory: Some(memory),
        memory_swap: Some(memory),
        nano_cpus: plan.cpus.map(|cpus| (cpus * 1e9) as i64),
        ulimits: Some(vec![
            ResourcesUlimits {
                name: Some("core".into()),
                soft: Some(0),
                hard: Some(0),
            },
            // Explicit, and no higher than ours: without capabilities the runtime cannot raise
            // a limit past the daemon's own (Podman otherwise asks for 1048576 and fails).
            ResourcesUlimits {
                name: Some("nofile".into()),
                soft: Some(plan.limits.open_files as i64),
                hard: Some(plan.limits.open_files as i64),
            },
            // Per user on the host, so no real limit here (the pids limit is); only kept within
            // what the runtime may set.
            ResourcesUlimits {
                name: Some("nproc".into()),
                soft: Some(plan.limits.user_processes as i64),
                hard: Some(plan.limits.user_processes as i64),
            },
        ]),
        shm_size: Some(i64::try_from(plan.shm_bytes).unwrap_or(i64::MAX)),
        tmpfs: Some(tmpfs),
        mounts: Some(mounts),
        runtime: plan.runtime.map(str::to_string),
        auto_remove: Some(false),
        ..HostConfig::default()
    };
    ContainerCreateBody {
        image: Some(plan.image.into()),
        user: Some(plan.user.spec()),
        hostname: Some("sandbox".into()),
        env: Some(plan.env.clone()),
        labels: Some(plan.labels.clone()),
        entrypoint: Some(init_argv(plan.bundle)),
        // An explicit empty command: the image's CMD must not reach our init's argv.
        cmd: Some(Vec::new()),
        working_dir: Some(WORKSPACE_MOUNT.into()),
        attach_stdin: Some(false),
        attach_stdout: Some(false),
        attach_stderr: Some(false),
        open_stdin: Some(false),
        tty: Some(false),
        host_config: Some(host_config),
        ..ContainerCreateBody::default()
    }
}

/// The environment of every command: the image's, with ours on top (never the host's).
pub(crate) fn sandbox_env(image_env: &[String], extra: &[(String, String)]) -> Vec<String> {
    let proxy = format!("http://127.0.0.1:{FORWARDER_PORT}");
    let no_proxy = "localhost,127.0.0.1,::1";
    let image_has = |key: &str| {
        image_env
            .iter()
            .any(|e| e.split_once('=').is_some_and(|(k, _)| k == key))
    };
    let mut env: Vec<(String, String)> = vec![
        ("HOME".into(), SANDBOX_HOME.into()),
        ("USER".into(), "sandbox".into()),
        ("LOGNAME".into(), "sandbox".into()),
        ("TMPDIR".into(), "/tmp".into()),
        ("HTTP_PROXY".into(), proxy.clone()),
        ("HTTPS_PROXY".into(), proxy.clone()),
        ("http_proxy".into(), proxy.clone()),
        ("https_proxy".into(), proxy),
        ("NO_PROXY".into(), no_proxy.into()),
        ("no_proxy".into(), no_proxy.into()),
        // Caches on the session's tmpfs; an image's CARGO_HOME would be read-only.
        ("CARGO_HOME".into(), format!("{SANDBOX_HOME}/.cargo")),
        ("XDG_CACHE_HOME".into(), format!("{SANDBOX_HOME}/.cache")),
        ("PIP_DISABLE_PIP_VERSION_CHECK".into(), "1".into()),
        // The top directory may belong to root while commands run as the sandbox user.
        ("GIT_CONFIG_COUNT".into(), "1".into()),
        ("GIT_CONFIG_KEY_0".into(), "safe.directory".into()),
        ("GIT_CONFIG_VALUE_0".into(), WORKSPACE_MOUNT.into()),
        ("DRYDOCK_SANDBOX".into(), "docker".into()),
    ];
    if !image_has("PATH") {
        env.push(("PATH".into(), DEFAULT_PATH.into()));
    }
    if !image_has("LANG") {
        env.push(("LANG".into(), "C.UTF-8".into()));
    }
    for (key, value) in extra {
        env.retain(|(k, _)| k != key);
        env.push((key.clone(), value.clone()));
    }
    env.into_iter().map(|(k, v)| format!("{k}={v}")).collect()
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use pretty_assertions::assert_eq;

    use super::*;
    use crate::docker::bundle::BundleFile;

    fn bundle() -> StageBundle {
        StageBundle {
            files: vec![
                BundleFile {
                    host: "/opt/drydock".into(),
                    target: "/run/drydock-stage/stage".into(),
                },
                BundleFile {
                    host: "/usr/lib/ld.so".into(),
                    target: "/run/drydock-stage/lib/ld.so".into(),
                },
            ],
            launcher: vec![
                "/run/drydock-stage/lib/ld.so".into(),
                "/run/drydock-stage/stage".into(),
            ],
        }
    }

    #[test]
    fn the_container_is_a_sandbox() {
        let bundle = bundle();
        let workspace = PathBuf::from("/srv/ws");
        let run_dir = PathBuf::from("/run/drydock/docker/s1");
        let plan = ContainerPlan {
            image: "repo/image:1",
            runtime: Some("runsc"),
            user: SandboxUser {
                uid: 1000,
                gid: 1001,
                needs_handover: false,
            },
            workspace: &workspace,
            git: GitMount::ReadOnly,
            run_dir: &run_dir,
            bundle: &bundle,
            env: vec!["A=b".into()],
            labels: HashMap::from([("drydock.session".into(), "s1".into())]),
            memory_bytes: 256 << 20,
            max_processes: 64,
            cpus: Some(1.5),
            tmp_bytes: 128 << 20,
            shm_bytes: 64 << 20,
            limits: ProcessLimits {
                open_files: 4096,
                user_processes: 9999,
            },
        };
        let body = create_body(&plan);
        let host = body.host_config.clone().unwrap();
        assert_eq!(host.network_mode.as_deref(), Some("none"));
        assert_eq!(host.readonly_rootfs, Some(true));
        assert_eq!(host.cap_drop, Some(vec!["ALL".to_string()]));
        assert_eq!(host.cap_add, None);
        assert_eq!(
            host.security_opt,
            Some(vec!["no-new-privileges".to_string()])
        );
        assert_eq!(host.privileged, Some(false));
        assert_eq!(host.pids_limit, Some(64));
        assert_eq!(host.memory, Some(256 << 20));
        assert_eq!(host.memory_swap, Some(256 << 20));
        assert_eq!(host.nano_cpus, Some(1_500_000_000));
        assert_eq!(host.runtime.as_deref(), Some("runsc"));
        assert_eq!(host.binds, None);
        assert_eq!(host.devices, None);
        let ulimits: Vec<(String, i64, i64)> = host
            .ulimits
            .clone()
            .unwrap()
            .into_iter()
            .map(|u| (u.name.unwrap(), u.soft.unwrap(), u.hard.unwrap()))
            .collect();
        assert_eq!(
            ulimits,
            vec![
                ("core".into(), 0, 0),
                ("nofile".into(), 4096, 4096),
                ("nproc".into(), 9999, 9999)
            ]
        );
        assert_eq!(host.pid_mode, None);
        assert_eq!(
            host.tmpfs.unwrap()["/tmp"],
            format!("rw,exec,nosuid,nodev,size={},mode=1777", 128 << 20)
        );
        let mounts: Vec<(String, String, bool)> = host
            .mounts
            .unwrap()
            .into_iter()
            .map(|m| {
                assert_eq!(m.typ, Some(MountType::BIND));
                (m.source.unwrap(), m.target.unwrap(), m.read_only.unwrap())
            })
            .collect();
        assert_eq!(
            mounts,
            vec![
                ("/srv/ws".into(), "/workspace".into(), false),
                ("/srv/ws/.git".into(), "/workspace/.git".into(), true),
                ("/run/drydock/docker/s1".into(), "/run/drydock".into(), true),
                (
                    "/opt/drydock".into(),
                    "/run/drydock-stage/stage".into(),
                    true
                ),
                (
                    "/usr/lib/ld.so".into(),
                    "/run/drydock-stage/lib/ld.so".into(),
                    true
                ),
            ]
        );
        assert!(
            !mounts.iter().any(|(s, _, _)| s.contains("docker.sock")),
            "the daemon's socket is never mounted"
        );
        assert_eq!(body.user.as_deref(), Some("1000:1001"));
        assert_eq!(body.cmd, Some(Vec::new()));
        assert_eq!(
            body.entrypoint.unwrap(),
            vec![
                "/run/drydock-stage/lib/ld.so",
                "/run/drydock-stage/stage",
                STAGE_ARG,
                "docker-init",
                "--status",
                "/run/drydock/status.sock",
                "--proxy",
                "/run/drydock/proxy.sock",
                "--proxy-port",
                "3128",
                "--home",
                "/tmp/home",
            ]
        );

        let plain = create_body(&ContainerPlan {
            git: GitMount::None,
            runtime: None,
            cpus: None,
            ..plan
        });
        let host = plain.host_config.unwrap();
        assert_eq!(host.mounts.unwrap().len(), 4);
        assert_eq!((host.runtime, host.nano_cpus), (None, None));
    }

    #[test]
    fn process_limits_never_exceed_this_process_s_own() {
        let mut ours = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes into the struct we pass.
        assert_eq!(
            unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut ours) },
            0
        );
        let huge = ProcessLimits::within_this_process(ProcessLimits {
            open_files: u64::MAX,
            user_processes: u64::MAX,
        });
        assert_eq!(huge.open_files, ours.rlim_max.max(64));
        let small = ProcessLimits {
            open_files: 100,
            user_processes: 200,
        };
        assert_eq!(ProcessLimits::within_this_process(small), small);
    }

    #[test]
    fn the_environment_layers_ours_over_the_image_and_fills_gaps() {
        let env = sandbox_env(
            &[
                "PATH=/opt/bin:/usr/bin".into(),
                "JAVA_HOME=/opt/java".into(),
            ],
            &[("HTTP_PROXY".into(), "http://override".into())],
        );
        assert!(
            !env.iter().any(|e| e.starts_with("PATH=")),
            "the image's PATH is kept"
        );
        assert!(env.contains(&"LANG=C.UTF-8".to_string()));
        assert!(env.contains(&"HOME=/tmp/home".to_string()));
        assert!(env.contains(&"https_proxy=http://127.0.0.1:3128".to_string()));
        assert_eq!(
            env.iter()
                .filter(|e| e.starts_with("HTTP_PROXY="))
                .collect::<Vec<_>>(),
            vec!["HTTP_PROXY=http://override"]
        );
        assert!(is_gvisor(Some("runsc")) && is_gvisor(Some("runsc-debug")));
        assert!(!is_gvisor(Some("runc")) && !is_gvisor(None));
        let bare = sandbox_env(&[], &[]);
        assert!(bare.iter().any(|e| e.starts_with("PATH=/usr/local/sbin")));
    }
}
