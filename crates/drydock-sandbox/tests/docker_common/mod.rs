//! Shared helpers for the docker backend's integration tests: a backend on the real daemon (or a
//! printed skip when none answers), the test image built from host programs (once per content,
//! cached in the daemon), and session builders. Request builders and host probes come from the
//! local suite's `common` module.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::Duration;

use drydock_sandbox::host_image::HostImage;
use drydock_sandbox::{
    BackendKind, DockerBackend, DockerOptions, DockerSession, SandboxConfig, SessionSpec,
};

pub const STAGE: &str = env!("CARGO_BIN_EXE_drydock-sandbox-stage");

/// The daemon socket the tests use.
pub fn socket() -> std::path::PathBuf {
    std::env::var("DOCKER_HOST")
        .ok()
        .and_then(|h| h.strip_prefix("unix://").map(Into::into))
        .unwrap_or_else(|| "/var/run/docker.sock".into())
}

/// True when a daemon answers a ping on the socket.
pub fn daemon_answers(socket: &Path) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::os::unix::net::UnixStream::connect(socket) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    if stream
        .write_all(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    answer.starts_with(b"HTTP/1.0 200") || answer.starts_with(b"HTTP/1.1 200")
}

/// Skips (returns `None`, printing why) when no daemon can be used; with
/// `DRYDOCK_REQUIRE_DOCKER=1` (CI) a missing daemon fails the test instead.
pub fn require_daemon() -> Option<std::path::PathBuf> {
    let socket = socket();
    if daemon_answers(&socket) {
        return Some(socket);
    }
    let reason = format!(
        "no docker daemon answers at {} (start one: dockerd >/tmp/dockerd.log 2>&1 &)",
        socket.display()
    );
    assert!(
        std::env::var("DRYDOCK_REQUIRE_DOCKER").as_deref() != Ok("1"),
        "DRYDOCK_REQUIRE_DOCKER=1 but {reason}"
    );
    println!("SKIPPED: {reason}");
    None
}

/// A backend with a private runtime directory (kept alive by the returned guard).
pub async fn backend() -> Option<(DockerBackend, tempfile::TempDir)> {
    backend_with(|_| {}).await
}

pub async fn backend_with(
    configure: impl FnOnce(&mut DockerOptions),
) -> Option<(DockerBackend, tempfile::TempDir)> {
    let socket = require_daemon()?;
    let runtime = tempfile::tempdir().unwrap();
    let mut options = DockerOptions::new(STAGE);
    options.socket = Some(socket);
    options.runtime_dir = Some(runtime.path().join("rt"));
    configure(&mut options);
    Some((DockerBackend::connect(options).await.unwrap(), runtime))
}

static IMAGE: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();

/// The test image: bash, coreutils, procps, curl and the system Python (with pytest when the
/// host has it), made from this host's files.
pub async fn image(backend: &DockerBackend) -> String {
    IMAGE
        .get_or_init(|| async {
            let started = std::time::Instant::now();
            let recipe = HostImage::python_tools();
            let reference = recipe.ensure(backend).await.unwrap();
            println!("test image {reference} ready in {:?}", started.elapsed());
            reference
        })
        .await
        .clone()
}

/// A spec for the docker backend with no network and default limits, in the OCI runtime named
/// by `DRYDOCK_TEST_DOCKER_RUNTIME` (to run the suite under gVisor: `=runsc`), else the
/// daemon's default.
pub fn spec(workspace: &Path, image: &str) -> SessionSpec {
    SessionSpec {
        label: "test".into(),
        workspace: workspace.to_path_buf(),
        sandbox: SandboxConfig {
            backend: BackendKind::Docker,
            image: Some(image.to_string()),
            runtime: std::env::var("DRYDOCK_TEST_DOCKER_RUNTIME")
                .ok()
                .filter(|r| !r.is_empty()),
            ..SandboxConfig::default()
        },
        network: offline(),
        network_events: None,
    }
}

pub use crate::common::offline;

/// A session on `workspace` in the test image.
pub async fn session(backend: &DockerBackend, workspace: &Path) -> DockerSession {
    let image = image(backend).await;
    backend.start_docker(spec(workspace, &image)).await.unwrap()
}

/// The container's state as the daemon names it (`running`, `exited`, Podman's `stopped`...),
/// or `None` when it is gone. Read as plain JSON: the typed client refuses unknown state names.
pub fn container_state(backend: &DockerBackend, id: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut stream = std::os::unix::net::UnixStream::connect(backend.socket()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream
        .write_all(format!("GET /containers/{id}/json HTTP/1.0\r\nHost: docker\r\n\r\n").as_bytes())
        .unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap();
    let text = String::from_utf8_lossy(&answer);
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    if head.split_whitespace().nth(1) == Some("404") {
        return None;
    }
    let value: serde_json::Value = serde_json::from_str(body).unwrap();
    Some(value["State"]["Status"].as_str().unwrap().to_string())
}

/// Whether the daemon still has the container.
pub async fn container_exists(backend: &DockerBackend, id: &str) -> bool {
    let (backend, id) = (backend.clone(), id.to_string());
    tokio::task::spawn_blocking(move || container_state(&backend, &id).is_some())
        .await
        .unwrap()
}

/// Polls until the daemon no longer has the container.
pub async fn assert_container_gone_within(backend: &DockerBackend, id: &str, limit: Duration) {
    let started = std::time::Instant::now();
    while container_exists(backend, id).await {
        assert!(
            started.elapsed() < limit,
            "container {id} still exists after {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
