//! Talking to the daemon: finding its socket, negotiating the API version, what it offers, and
//! turning its errors into [`SandboxError`]s that say what to do.

use std::path::{Path, PathBuf};

use bollard::Docker;

use crate::SandboxError;

pub(crate) const BACKEND: &str = "docker";

/// Seconds a single API request may take (an exec's output stream is not bounded by it).
const REQUEST_TIMEOUT_SECS: u64 = 120;

/// The daemon's socket: `DOCKER_HOST` when it names a Unix socket, else the standard path.
pub(crate) fn default_socket() -> PathBuf {
    std::env::var("DOCKER_HOST")
        .ok()
        .and_then(|host| host.strip_prefix("unix://").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("/var/run/docker.sock"))
}

/// [`default_socket`], refusing a `DOCKER_HOST` that is not a Unix socket: sessions bind-mount
/// host paths, so the daemon must run on this machine.
pub(crate) fn socket_from_env() -> Result<PathBuf, SandboxError> {
    match std::env::var("DOCKER_HOST") {
        Ok(host) if !host.is_empty() && !host.starts_with("unix://") => {
            Err(SandboxError::Unavailable {
                backend: BACKEND.into(),
                message: format!(
                    "DOCKER_HOST={host} is not a Unix socket; the docker backend bind-mounts the workspace and its sockets, so it needs a daemon on this machine"
                ),
                remedy: "unset DOCKER_HOST or point it at a local socket (unix:///var/run/docker.sock), or set the docker socket option".into(),
            })
        }
        _ => Ok(default_socket()),
    }
}

/// A connected daemon and what it said about itself.
#[derive(Debug, Clone)]
pub(crate) struct Daemon {
    /// The client (API version negotiated).
    pub client: Docker,
    /// Its socket.
    pub socket: PathBuf,
    /// `Docker Engine 20.10.24`, `Podman Engine 4.3.1`, ...
    pub server: String,
    /// The API version in use.
    pub api_version: String,
    /// OCI runtimes it knows.
    pub runtimes: Vec<String>,
    /// The runtime used when none is asked for.
    pub default_runtime: String,
    /// `name=seccomp,profile=default`, `name=apparmor`, ...
    pub security_options: Vec<String>,
}

/// The daemon is not reachable.
pub(crate) fn unavailable(socket: &Path, detail: impl std::fmt::Display) -> SandboxError {
    SandboxError::Unavailable {
        backend: BACKEND.into(),
        message: format!("no docker daemon answers at {}: {detail}", socket.display()),
        remedy: "start the daemon (systemctl start docker, or run dockerd), make its socket readable by this user (docker group), or point the docker backend at Podman's API socket (podman system service)".into(),
    }
}

/// Connects, negotiates the API version and reads the daemon's description.
pub(crate) async fn connect(socket: &Path) -> Result<Daemon, SandboxError> {
    let path = socket.to_string_lossy();
    let client =
        Docker::connect_with_unix(&path, REQUEST_TIMEOUT_SECS, bollard::API_DEFAULT_VERSION)
            .map_err(|err| unavailable(socket, err))?;
    let client = client
        .negotiate_version()
        .await
        .map_err(|err| unavailable(socket, err))?;
    let version = client
        .version()
        .await
        .map_err(|err| unavailable(socket, err))?;
    let info = client
        .info()
        .await
        .map_err(|err| unavailable(socket, err))?;
    let platform = version
        .platform
        .as_ref()
        .map(|p| p.name.as_str())
        .unwrap_or("");
    let server = match version.components.as_ref().and_then(|c| c.first()) {
        Some(component) => server_name(platform, &component.name, &component.version),
        None => server_name(
            platform,
            "",
            version.version.as_deref().unwrap_or("unknown"),
        ),
    };
    let negotiated = client.client_version();
    let mut runtimes: Vec<String> = info
        .runtimes
        .map(|r| r.into_keys().collect())
        .unwrap_or_default();
    runtimes.sort();
    Ok(Daemon {
        client,
        socket: socket.to_path_buf(),
        server,
        api_version: format!("{}.{}", negotiated.major_version, negotiated.minor_version),
        runtimes,
        default_runtime: info.default_runtime.unwrap_or_else(|| "runc".into()),
        security_options: info.security_options.unwrap_or_default(),
    })
}

/// `Docker Engine 20.10.24`, `Podman Engine 4.3.1`, from what `/version` says.
pub(crate) fn server_name(platform: &str, component: &str, version: &str) -> String {
    let name = match (platform.trim(), component.trim()) {
        (platform, "" | "Engine") if !platform.is_empty() => platform,
        (_, "" | "Engine") => "Docker Engine",
        (_, component) => component,
    };
    format!("{name} {version}")
}

impl Daemon {
    /// The runtimes the daemon knows now (re-read: one may have been registered since).
    pub(crate) async fn current_runtimes(&self) -> Vec<String> {
        match self.client.info().await {
            Ok(info) => {
                let mut runtimes: Vec<String> = info
                    .runtimes
                    .map(|r| r.into_keys().collect())
                    .unwrap_or_default();
                runtimes.sort();
                runtimes
            }
            Err(_) => self.runtimes.clone(),
        }
    }
}

/// The HTTP status of a daemon error, when it answered with one.
pub(crate) fn status_of(err: &bollard::errors::Error) -> Option<u16> {
    match err {
        bollard::errors::Error::DockerResponseServerError { status_code, .. } => Some(*status_code),
        _ => None,
    }
}

/// The daemon's own message for an error (without bollard's wrapping).
pub(crate) fn message_of(err: &bollard::errors::Error) -> String {
    match err {
        bollard::errors::Error::DockerResponseServerError { message, .. } => message.trim().into(),
        other => other.to_string(),
    }
}

/// A setup error for the docker backend.
pub(crate) fn setup_error(message: impl Into<String>) -> SandboxError {
    SandboxError::Setup {
        backend: BACKEND.into(),
        message: message.into(),
    }
}

/// Refuses a runtime the daemon does not know, saying how to add it.
pub(crate) fn unknown_runtime(runtime: &str, known: &[String]) -> SandboxError {
    let remedy = if runtime == "runsc" {
        "install gVisor (apt-get install runsc, or https://gvisor.dev/docs/user_guide/install/), register it with the daemon (runsc install, or add it under \"runtimes\" in /etc/docker/daemon.json with runtimeArgs [\"--host-uds=open\", \"--network=none\"]: drydock's sockets must be reachable and gVisor needs no network of its own) and reload the daemon (kill -HUP the dockerd pid, or systemctl reload docker); or remove sandbox.runtime".to_string()
    } else {
        format!(
            "register {runtime} with the daemon (\"runtimes\" in /etc/docker/daemon.json, then reload it), or remove sandbox.runtime"
        )
    };
    SandboxError::Unavailable {
        backend: BACKEND.into(),
        message: format!(
            "the docker daemon does not know the OCI runtime {runtime:?} (it knows: {})",
            if known.is_empty() {
                "none reported".into()
            } else {
                known.join(", ")
            }
        ),
        remedy,
    }
}

/// Refuses an image the daemon does not have: drydock never pulls.
pub(crate) fn missing_image(image: &str, detail: &str) -> SandboxError {
    SandboxError::Unavailable {
        backend: BACKEND.into(),
        message: format!("the image {image:?} is not present in the docker daemon ({detail})"),
        remedy: format!(
            "drydock never pulls images; provide it yourself: docker build -t {image} <dir with a Dockerfile>, docker load -i <image.tar>, docker import <rootfs.tar> {image}, or docker pull {image} from a registry you trust"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers_are_named_like_their_makers_say() {
        assert_eq!(
            server_name("", "Engine", "20.10.24"),
            "Docker Engine 20.10.24"
        );
        assert_eq!(
            server_name("Docker Engine - Community", "Engine", "27.1"),
            "Docker Engine - Community 27.1"
        );
        assert_eq!(
            server_name("linux/amd64/debian-12", "Podman Engine", "4.3.1"),
            "Podman Engine 4.3.1"
        );
        assert_eq!(server_name("", "", "1.0"), "Docker Engine 1.0");
    }

    #[test]
    fn errors_say_what_to_do() {
        let err = unknown_runtime("runsc", &["runc".into()]);
        let text = err.to_string();
        assert!(
            text.contains("runsc") && text.contains("runc") && text.contains("host-uds"),
            "{text}"
        );
        let err = missing_image("acme/ci:1", "No such image");
        let text = err.to_string();
        assert!(
            text.contains("never pulls") && text.contains("docker build -t acme/ci:1"),
            "{text}"
        );
    }
}
