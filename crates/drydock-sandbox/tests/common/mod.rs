//! Shared helpers for the sandbox integration tests: a backend built on this crate's stage binary,
//! request builders, and host-side probes (process scans, loopback servers).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use drydock_sandbox::{
    ExecOutput, ExecRequest, LocalBackend, LocalOptions, NetworkConfig, SandboxConfig, Session,
    SessionSpec,
};
use tokio_util::sync::CancellationToken;

pub mod scenarios;

pub const STAGE: &str = env!("CARGO_BIN_EXE_drydock-sandbox-stage");

/// A backend with a private runtime directory (kept alive by the returned guard).
pub fn backend() -> (LocalBackend, tempfile::TempDir) {
    backend_with(|_| {})
}

pub fn backend_with(
    configure: impl FnOnce(&mut LocalOptions),
) -> (LocalBackend, tempfile::TempDir) {
    let runtime = tempfile::tempdir().unwrap();
    let mut options = LocalOptions::new(STAGE);
    options.runtime_dir = Some(runtime.path().join("rt"));
    configure(&mut options);
    (LocalBackend::new(options).unwrap(), runtime)
}

/// A spec with no network and default limits.
pub fn spec(workspace: &Path) -> SessionSpec {
    SessionSpec {
        label: "test".into(),
        workspace: workspace.to_path_buf(),
        sandbox: SandboxConfig::default(),
        network: offline(),
        network_events: None,
    }
}

pub fn offline() -> NetworkConfig {
    NetworkConfig {
        allow: Vec::new(),
        deny: Vec::new(),
        allow_private: Vec::new(),
    }
}

/// A workspace with a `.git` directory, like the ones the host clones.
pub fn workspace() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join(".git/hooks")).unwrap();
    std::fs::write(dir.path().join(".git/config"), "[core]\n\tbare = false\n").unwrap();
    std::fs::write(dir.path().join(".git/HEAD"), "ref: refs/heads/main\n").unwrap();
    std::fs::write(dir.path().join("README.md"), "hello\n").unwrap();
    dir
}

/// A secret file outside `workspace`, with links planted in the workspace on the host side as a
/// malicious repository could carry them: `planted-abs` to the secret and `planted-rel` climbing
/// to `/etc/shadow`. Returns the secret's directory (a guard), its path and its content.
pub fn plant_links_to_secrets(workspace: &Path) -> (tempfile::TempDir, PathBuf, String) {
    let outside = tempfile::tempdir().unwrap();
    let secret_value = format!("linked-secret-{}", std::process::id());
    let secret = outside.path().join("secret.txt");
    std::fs::write(&secret, &secret_value).unwrap();
    std::os::unix::fs::symlink(&secret, workspace.join("planted-abs")).unwrap();
    std::os::unix::fs::symlink(
        "../../../../../../../../etc/shadow",
        workspace.join("planted-rel"),
    )
    .unwrap();
    (outside, secret, secret_value)
}

pub fn request(argv: &[&str]) -> ExecRequest {
    ExecRequest {
        argv: argv.iter().map(|s| s.to_string()).collect(),
        cwd: None,
        timeout: Duration::from_secs(60),
        max_output_bytes: 1 << 20,
        merge_stderr: false,
        stdin: None,
    }
}

pub fn sh(script: &str) -> ExecRequest {
    request(&["bash", "-c", script])
}

pub fn python(code: &str) -> ExecRequest {
    request(&["python3", "-c", code])
}

/// Runs `req` in any backend's session; the command must start.
pub async fn run(session: &(impl Session + ?Sized), req: ExecRequest) -> ExecOutput {
    session.exec(req, &CancellationToken::new()).await.unwrap()
}

pub fn stdout(out: &ExecOutput) -> String {
    String::from_utf8_lossy(&out.stdout.head).into_owned()
}

pub fn stderr(out: &ExecOutput) -> String {
    String::from_utf8_lossy(&out.stderr.head).into_owned()
}

/// Host pids whose command line contains `marker`.
pub fn pids_with_marker(marker: &str) -> Vec<u32> {
    let me = std::process::id();
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if pid == me {
            continue;
        }
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline"))
            && String::from_utf8_lossy(&cmdline).contains(marker)
        {
            pids.push(pid);
        }
    }
    pids
}

/// Polls until no host process carries `marker` (or fails after `limit`).
pub async fn assert_gone_within(marker: &str, limit: Duration) {
    let started = std::time::Instant::now();
    loop {
        let left = pids_with_marker(marker);
        if left.is_empty() {
            return;
        }
        assert!(
            started.elapsed() < limit,
            "processes with {marker} survive: {left:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A marker unique to this call.
pub fn marker(tag: &str) -> String {
    format!(
        "drydock-marker-{tag}-{}-{}",
        std::process::id(),
        ulid_like()
    )
}

fn ulid_like() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

/// A non-loopback IPv4 address of this host (the one used to reach the outside).
pub fn host_address() -> std::net::Ipv4Addr {
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
    // No packet is sent: connecting a UDP socket only picks the route and source address.
    socket
        .connect("192.0.2.200:9")
        .or_else(|_| socket.connect("10.255.255.1:9"))
        .unwrap();
    match socket.local_addr().unwrap().ip() {
        std::net::IpAddr::V4(ip) => ip,
        std::net::IpAddr::V6(_) => panic!("no IPv4 address"),
    }
}

/// The sysroot of the host's Rust toolchain.
pub fn rust_sysroot() -> Option<PathBuf> {
    let out = std::process::Command::new("rustc")
        .args(["--print", "sysroot"])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

/// A loopback-or-other HTTP server answering `hello from <tag>` to every request; counts
/// connections. Stops when the returned handle is dropped.
pub struct CountingServer {
    pub addr: std::net::SocketAddr,
    pub connections: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl CountingServer {
    pub async fn http(bind: std::net::SocketAddr, tag: &str) -> Self {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind(bind).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let connections = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = connections.clone();
        let body = format!("hello from {tag}\n");
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    return;
                };
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let body = body.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 8192];
                    let mut got = Vec::new();
                    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => got.extend_from_slice(&buf[..n]),
                        }
                    }
                    let response = format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = stream.write_all(response.as_bytes()).await;
                });
            }
        });
        Self {
            addr,
            connections,
            task,
        }
    }

    pub fn count(&self) -> usize {
        self.connections.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl Drop for CountingServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A UDP socket counting datagrams it receives.
pub struct CountingUdp {
    pub addr: std::net::SocketAddr,
    socket: std::net::UdpSocket,
}

impl CountingUdp {
    pub fn bind(bind: std::net::SocketAddr) -> Self {
        let socket = std::net::UdpSocket::bind(bind).unwrap();
        socket.set_nonblocking(true).unwrap();
        Self {
            addr: socket.local_addr().unwrap(),
            socket,
        }
    }

    pub fn received(&self) -> usize {
        let mut buf = [0u8; 2048];
        let mut n = 0;
        while self.socket.recv_from(&mut buf).is_ok() {
            n += 1;
        }
        n
    }
}
