//! Checking what a session is asked for: the workspace, a command's working directory, and the
//! environment every command gets.

use std::path::{Component, Path, PathBuf};

use super::view::{SANDBOX_HOME, SANDBOX_USER};
use super::{LocalBackend, WORKSPACE_MOUNT};
use crate::{ExecRequest, SandboxError};

/// Refuses workspaces that are missing, not directories, or would expose the host.
pub(crate) fn validate_workspace(workspace: &Path) -> Result<PathBuf, SandboxError> {
    let invalid = |message: String| SandboxError::InvalidRequest { message };
    let meta = std::fs::metadata(workspace)
        .map_err(|err| invalid(format!("workspace {}: {err}", workspace.display())))?;
    if !meta.is_dir() {
        return Err(invalid(format!(
            "workspace {} is not a directory",
            workspace.display()
        )));
    }
    let canonical = workspace
        .canonicalize()
        .map_err(|err| invalid(format!("workspace {}: {err}", workspace.display())))?;
    let mut sensitive: Vec<PathBuf> = [
        "/", "/etc", "/usr", "/bin", "/sbin", "/lib", "/lib64", "/boot", "/dev", "/proc", "/sys",
        "/run", "/var", "/root", "/home", "/tmp",
    ]
    .iter()
    .map(PathBuf::from)
    .collect();
    if let Some(home) = std::env::var_os("HOME") {
        sensitive.push(PathBuf::from(home));
    }
    if let Some(exposed) = sensitive.iter().find(|s| s.starts_with(&canonical)) {
        return Err(invalid(format!(
            "workspace {} would expose {} to the sandbox; use a dedicated directory",
            canonical.display(),
            exposed.display()
        )));
    }
    let git = canonical.join(".git");
    if std::fs::symlink_metadata(&git).is_ok_and(|m| m.file_type().is_symlink()) {
        return Err(invalid(format!(
            "{} is a symlink; refusing to mount it (it could point anywhere)",
            git.display()
        )));
    }
    Ok(canonical)
}

/// A command both backends accept: its program name and its working directory in the sandbox.
pub(crate) struct CheckedCommand {
    /// The program (`argv[0]`), named in errors.
    pub program: String,
    /// The working directory inside the sandbox.
    pub cwd: String,
}

impl CheckedCommand {
    /// Refuses an empty argv, NUL bytes in arguments, and a working directory outside the
    /// workspace.
    pub(crate) fn check(request: &ExecRequest) -> Result<Self, SandboxError> {
        let program =
            request
                .argv
                .first()
                .cloned()
                .ok_or_else(|| SandboxError::InvalidRequest {
                    message: "empty command".into(),
                })?;
        if request.argv.iter().any(|a| a.contains('\0')) {
            return Err(SandboxError::InvalidRequest {
                message: "a command argument holds a NUL byte".into(),
            });
        }
        let cwd = sandbox_cwd(request.cwd.as_deref())?;
        Ok(Self { program, cwd })
    }

    /// An exec error naming this command's program.
    pub(crate) fn exec_error(&self, message: String) -> SandboxError {
        SandboxError::Exec {
            program: self.program.clone(),
            message,
        }
    }

    /// The error for a command the sandbox could not start: a bad working directory, a missing
    /// program, or another failed step.
    pub(crate) fn spawn_failed(&self, step: &str, errno: i32) -> SandboxError {
        let err = std::io::Error::from_raw_os_error(errno);
        if step == "chdir" {
            SandboxError::InvalidRequest {
                message: format!("working directory {} is not usable: {err}", self.cwd),
            }
        } else if errno == libc::ENOENT {
            self.exec_error("command not found in the sandbox".into())
        } else {
            self.exec_error(format!("{step} failed: {err}"))
        }
    }
}

/// The command's working directory inside the sandbox.
pub(crate) fn sandbox_cwd(cwd: Option<&Path>) -> Result<String, SandboxError> {
    let mut path = PathBuf::from(WORKSPACE_MOUNT);
    let Some(cwd) = cwd else {
        return Ok(WORKSPACE_MOUNT.into());
    };
    let invalid = || SandboxError::InvalidRequest {
        message: format!(
            "working directory {} is outside the workspace",
            cwd.display()
        ),
    };
    let relative = if cwd.is_absolute() {
        cwd.strip_prefix(WORKSPACE_MOUNT).map_err(|_| invalid())?
    } else {
        cwd
    };
    for component in relative.components() {
        match component {
            Component::Normal(part) => path.push(part),
            Component::CurDir => {}
            Component::ParentDir => {
                if path == Path::new(WORKSPACE_MOUNT) {
                    return Err(invalid());
                }
                path.pop();
            }
            Component::RootDir | Component::Prefix(_) => return Err(invalid()),
        }
    }
    path.into_os_string()
        .into_string()
        .map_err(|_| SandboxError::InvalidRequest {
            message: "the working directory is not valid UTF-8".into(),
        })
}

/// The environment of every command: an allowlist with fixed values, nothing from the host.
pub(super) fn sandbox_env(backend: &LocalBackend, proxy_port: u16) -> Vec<(String, String)> {
    let options = backend.options();
    let mut path: Vec<String> = options.path_prefix.clone();
    path.extend(
        [
            "/usr/local/sbin",
            "/usr/local/bin",
            "/usr/sbin",
            "/usr/bin",
            "/sbin",
            "/bin",
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    let proxy = format!("http://127.0.0.1:{proxy_port}");
    let no_proxy = "localhost,127.0.0.1,::1".to_string();
    let mut env = vec![
        ("PATH".to_string(), path.join(":")),
        ("HOME".into(), SANDBOX_HOME.into()),
        ("USER".into(), SANDBOX_USER.into()),
        ("LOGNAME".into(), SANDBOX_USER.into()),
        ("SHELL".into(), "/bin/bash".into()),
        ("LANG".into(), "C.UTF-8".into()),
        ("LC_ALL".into(), "C.UTF-8".into()),
        ("TERM".into(), "dumb".into()),
        ("TMPDIR".into(), "/tmp".into()),
        ("HTTP_PROXY".into(), proxy.clone()),
        ("HTTPS_PROXY".into(), proxy.clone()),
        ("http_proxy".into(), proxy.clone()),
        ("https_proxy".into(), proxy),
        ("NO_PROXY".into(), no_proxy.clone()),
        ("no_proxy".into(), no_proxy),
        // Caches on the session's tmpfs (kept across commands, gone with the session).
        ("CARGO_HOME".into(), format!("{SANDBOX_HOME}/.cargo")),
        ("XDG_CACHE_HOME".into(), format!("{SANDBOX_HOME}/.cache")),
        // pip would otherwise call pypi.org on every run to check its own version.
        ("PIP_DISABLE_PIP_VERSION_CHECK".into(), "1".into()),
        ("DRYDOCK_SANDBOX".into(), "local".into()),
    ];
    for (key, value) in &options.env {
        env.retain(|(k, _)| k != key);
        env.push((key.clone(), value.clone()));
    }
    env
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn working_directories_stay_inside_the_workspace() {
        assert_eq!(sandbox_cwd(None).unwrap(), "/workspace");
        assert_eq!(
            sandbox_cwd(Some(Path::new("src/lib"))).unwrap(),
            "/workspace/src/lib"
        );
        assert_eq!(
            sandbox_cwd(Some(Path::new("./a/../b"))).unwrap(),
            "/workspace/b"
        );
        assert_eq!(
            sandbox_cwd(Some(Path::new("/workspace/x"))).unwrap(),
            "/workspace/x"
        );
        for bad in ["..", "a/../..", "/etc", "/workspacex", "../other"] {
            assert!(sandbox_cwd(Some(Path::new(bad))).is_err(), "{bad}");
        }
    }

    #[test]
    fn workspaces_that_would_expose_the_host_are_refused() {
        for bad in ["/", "/home", "/tmp", "/var", "/nonexistent-drydock-ws"] {
            assert!(validate_workspace(Path::new(bad)).is_err(), "{bad}");
        }
        let file = tempfile::NamedTempFile::new().unwrap();
        assert!(validate_workspace(file.path()).is_err());
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            validate_workspace(dir.path()).unwrap(),
            dir.path().canonicalize().unwrap()
        );
    }

    #[test]
    fn a_symlinked_git_dir_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("/etc", dir.path().join(".git")).unwrap();
        assert!(validate_workspace(dir.path()).is_err());
    }
}
