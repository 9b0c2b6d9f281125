//! The sandbox's view of the machine, as bubblewrap arguments.
//!
//! - System directories (`/usr` and the `/bin`, `/lib*`, `/sbin` links or directories) read-only.
//! - A filtered `/etc` (see `etc`): an allowlisted snapshot, never `shadow`, `sudoers`, `ssh` or
//!   package manager credentials.
//! - The workspace read-write at [`WORKSPACE_MOUNT`], its `.git` read-only.
//! - Size-capped private tmpfs at `/tmp` (holding `HOME`) and `/dev/shm`; a minimal `/dev`; a
//!   `/proc` of the session's pid namespace (each command then mounts its own).
//! - `/run/drydock/` holding only the proxy socket and the stage executable.
//! - Nothing else: no host home, no `/root`, no host `/run` (no docker socket), no other workspace.
//!   The root is remounted read-only at the end.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::WORKSPACE_MOUNT;
use crate::protocol::{PROXY_SOCKET_MOUNT, RUN_MOUNT, STAGE_ARG, STAGE_MOUNT};

/// The sandbox user's uid and gid.
pub(crate) const SANDBOX_UID: u32 = 1000;
/// The sandbox user's name.
pub(crate) const SANDBOX_USER: &str = "drydock";
/// The sandbox's host name.
pub(crate) const SANDBOX_HOSTNAME: &str = "drydock";
/// `HOME` inside the sandbox (on the private `/tmp`, so caches persist for the session).
pub(crate) const SANDBOX_HOME: &str = "/tmp/home";

/// Top-level system paths shown read-only (or recreated as the same symlinks).
const SYSTEM_PATHS: &[&str] = &[
    "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32",
];

/// Inputs of [`bwrap_args`].
#[derive(Debug)]
pub(crate) struct ViewPlan<'a> {
    /// The canonical host workspace.
    pub workspace: &'a Path,
    /// The snapshot mounted at `/etc` (see `etc`).
    pub etc_dir: &'a Path,
    /// The session's directory mounted at `/run/drydock` (proxy socket, stage mount point).
    pub run_dir: &'a Path,
    /// The executable holding the inner stage.
    pub stage_exe: &'a Path,
    /// Extra host paths shown read-only at the same place.
    pub read_only_paths: &'a [PathBuf],
    /// Size of `/tmp` in bytes.
    pub tmp_bytes: u64,
    /// Size of `/dev/shm` in bytes.
    pub shm_bytes: u64,
    /// The user namespace descriptor bubblewrap joins.
    pub userns_fd: i32,
    /// The stage's end of the control socket.
    pub control_fd: i32,
}

fn push<I, S>(args: &mut Vec<OsString>, items: I)
where
    I: IntoIterator<Item = S>,
    S: Into<OsString>,
{
    args.extend(items.into_iter().map(Into::into));
}

/// `--ro-bind` for a directory or file, `--symlink` for a symlink, nothing when absent.
fn mirror(args: &mut Vec<OsString>, host: &Path, dest: &Path) {
    match std::fs::symlink_metadata(host) {
        Ok(meta) if meta.file_type().is_symlink() => {
            if let Ok(target) = std::fs::read_link(host) {
                push(
                    args,
                    [OsString::from("--symlink"), target.into(), dest.into()],
                );
            }
        }
        Ok(_) => push(
            args,
            [OsString::from("--ro-bind"), host.into(), dest.into()],
        ),
        Err(_) => {}
    }
}

/// The full bubblewrap command line (after the program name).
pub(crate) fn bwrap_args(plan: &ViewPlan<'_>) -> Vec<OsString> {
    let mut args: Vec<OsString> = Vec::new();
    let uid = SANDBOX_UID.to_string();
    push(
        &mut args,
        [
            "--userns",
            &plan.userns_fd.to_string(),
            "--uid",
            &uid,
            "--gid",
            &uid,
            "--unshare-pid",
            "--unshare-net",
            "--unshare-ipc",
            "--unshare-uts",
            "--unshare-cgroup",
            "--hostname",
            SANDBOX_HOSTNAME,
            "--die-with-parent",
            "--as-pid-1",
            "--new-session",
            "--clearenv",
            // The supervisor needs these to give each command its own pid namespace and /proc;
            // commands drop every capability before they start.
            "--cap-drop",
            "ALL",
            "--cap-add",
            "CAP_SYS_ADMIN",
            "--cap-add",
            "CAP_SETPCAP",
        ],
    );
    for path in SYSTEM_PATHS {
        mirror(&mut args, Path::new(path), Path::new(path));
    }
    push(
        &mut args,
        [
            OsString::from("--ro-bind"),
            plan.etc_dir.into(),
            "/etc".into(),
        ],
    );
    push(&mut args, ["--dev", "/dev"]);
    push(
        &mut args,
        ["--size", &plan.shm_bytes.to_string(), "--tmpfs", "/dev/shm"],
    );
    push(&mut args, ["--proc", "/proc"]);
    push(
        &mut args,
        [
            "--size",
            &plan.tmp_bytes.to_string(),
            "--perms",
            "1777",
            "--tmpfs",
            "/tmp",
        ],
    );
    push(
        &mut args,
        ["--dir", "/var", "--symlink", "../tmp", "/var/tmp"],
    );
    for path in plan.read_only_paths {
        push(
            &mut args,
            [OsString::from("--ro-bind"), path.into(), path.into()],
        );
    }
    push(
        &mut args,
        [
            OsString::from("--bind"),
            plan.workspace.into(),
            WORKSPACE_MOUNT.into(),
        ],
    );
    let git = plan.workspace.join(".git");
    if std::fs::symlink_metadata(&git).is_ok() {
        push(
            &mut args,
            [
                OsString::from("--ro-bind"),
                git.into(),
                Path::new(WORKSPACE_MOUNT).join(".git").into(),
            ],
        );
    }
    push(
        &mut args,
        [
            OsString::from("--ro-bind"),
            plan.run_dir.into(),
            RUN_MOUNT.into(),
            "--ro-bind".into(),
            plan.stage_exe.into(),
            STAGE_MOUNT.into(),
        ],
    );
    push(
        &mut args,
        ["--remount-ro", "/", "--chdir", WORKSPACE_MOUNT, "--"],
    );
    push(
        &mut args,
        [
            STAGE_MOUNT,
            STAGE_ARG,
            "supervisor",
            "--control-fd",
            &plan.control_fd.to_string(),
            "--proxy-socket",
            PROXY_SOCKET_MOUNT,
            "--home",
            SANDBOX_HOME,
        ],
    );
    args
}

/// Checks an extra read-only path: absolute, existing, and not one that would hide or expose
/// something the view relies on.
pub(crate) fn validate_read_only_path(path: &Path) -> Result<PathBuf, String> {
    if !path.is_absolute() {
        return Err(format!("{} is not absolute", path.display()));
    }
    let canonical = path
        .canonicalize()
        .map_err(|err| format!("{}: {err}", path.display()))?;
    let forbidden = [
        "/",
        "/proc",
        "/dev",
        "/sys",
        "/run",
        "/tmp",
        "/etc",
        WORKSPACE_MOUNT,
    ];
    if forbidden.iter().any(|f| canonical == Path::new(f))
        || canonical.starts_with("/proc")
        || canonical.starts_with("/dev")
        || canonical.starts_with("/sys")
        || canonical.starts_with(WORKSPACE_MOUNT)
        || canonical.starts_with("/run/drydock")
    {
        return Err(format!(
            "{} cannot be shown read-only in the sandbox (it would hide or expose part of the view)",
            canonical.display()
        ));
    }
    Ok(canonical)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan_args(workspace: &Path, session: &Path) -> Vec<String> {
        let plan = ViewPlan {
            workspace,
            etc_dir: &session.join("etc"),
            run_dir: &session.join("run"),
            stage_exe: Path::new("/usr/bin/true"),
            read_only_paths: &[],
            tmp_bytes: 1 << 20,
            shm_bytes: 1 << 20,
            userns_fd: 5,
            control_fd: 6,
        };
        bwrap_args(&plan)
            .into_iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn the_view_never_mounts_host_secrets_or_the_host_root() {
        let ws = tempfile::tempdir().unwrap();
        let session = tempfile::tempdir().unwrap();
        let args = plan_args(ws.path(), session.path());
        let joined = args.join(" ");
        for secret in [
            "/etc",
            "/etc/shadow",
            "/root",
            "/home",
            "/run",
            "/run/docker.sock",
            "/var/run",
            "/sys",
        ] {
            assert!(
                !args
                    .windows(2)
                    .any(|w| w[0].ends_with("bind") && w[1] == secret),
                "{secret} is mounted from the host: {joined}"
            );
        }
        assert!(
            !args
                .windows(2)
                .any(|w| w[0].ends_with("bind") && w[1] == "/"),
            "host root bound: {joined}"
        );
        for flag in [
            "--clearenv",
            "--die-with-parent",
            "--unshare-net",
            "--unshare-pid",
            "--new-session",
        ] {
            assert!(args.iter().any(|a| a == flag), "{flag} missing: {joined}");
        }
        assert_eq!(
            args.last().map(String::as_str),
            Some(crate::local::view::SANDBOX_HOME)
        );
    }

    #[test]
    fn the_workspace_is_writable_and_its_git_read_only_after_it() {
        let ws = tempfile::tempdir().unwrap();
        std::fs::create_dir(ws.path().join(".git")).unwrap();
        let session = tempfile::tempdir().unwrap();
        let args = plan_args(ws.path(), session.path());
        let bind = args
            .windows(3)
            .position(|w| w[0] == "--bind" && w[2] == WORKSPACE_MOUNT)
            .unwrap();
        let git = args
            .windows(3)
            .position(|w| w[0] == "--ro-bind" && w[2] == "/workspace/.git")
            .unwrap();
        assert!(git > bind);
        assert_eq!(args[bind + 1], ws.path().to_string_lossy());
        let remount = args.iter().position(|a| a == "--remount-ro").unwrap();
        assert!(
            remount > git,
            "the root must be made read-only after every mount"
        );
    }

    #[test]
    fn read_only_paths_that_would_break_the_view_are_refused() {
        for bad in [
            "relative/path",
            "/",
            "/proc",
            "/dev/shm",
            "/tmp",
            "/etc",
            "/nonexistent-drydock",
        ] {
            assert!(validate_read_only_path(Path::new(bad)).is_err(), "{bad}");
        }
        assert_eq!(
            validate_read_only_path(Path::new("/usr/share")).unwrap(),
            PathBuf::from("/usr/share")
        );
    }
}
