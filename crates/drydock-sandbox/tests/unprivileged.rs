//! The `local` backend for an unprivileged user. When the suite runs as root (CI), a system user
//! is created and a real session is run as it through the stage binary's `exec` front end; when
//! the suite already runs unprivileged, every other test covers this case.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::process::Command;

use common::*;

const TEST_USER: &str = "drydock-sbx-test";

fn is_root() -> bool {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Creates the test user if needed; returns its uid and gid.
fn ensure_user() -> Option<(u32, u32)> {
    let lookup = || {
        let uid = Command::new("id").args(["-u", TEST_USER]).output().ok()?;
        let gid = Command::new("id").args(["-g", TEST_USER]).output().ok()?;
        if !uid.status.success() {
            return None;
        }
        let parse = |o: &std::process::Output| {
            String::from_utf8_lossy(&o.stdout)
                .trim()
                .parse::<u32>()
                .ok()
        };
        Some((parse(&uid)?, parse(&gid)?))
    };
    if let Some(ids) = lookup() {
        return Some(ids);
    }
    let status = Command::new("useradd")
        .args([
            "--system",
            "--user-group",
            "--no-create-home",
            "--home-dir",
            "/nonexistent",
            "--shell",
            "/usr/sbin/nologin",
            TEST_USER,
        ])
        .status()
        .ok()?;
    // Exit 9: created concurrently by another test process.
    if !status.success() && status.code() != Some(9) {
        return None;
    }
    lookup()
}

#[tokio::test]
async fn an_unprivileged_user_gets_the_same_sandbox() {
    if !is_root() {
        println!("already running unprivileged: the rest of the suite exercises this case");
        return;
    }
    let Some((uid, gid)) = ensure_user() else {
        println!("SKIPPED: cannot create the unprivileged test user {TEST_USER} (useradd failed)");
        return;
    };
    let server = CountingServer::http(SocketAddr::from(([127, 0, 0, 1], 0)), "host").await;
    // A directory the test user can reach: the stage binary, its workspace and runtime dir.
    let base = tempfile::tempdir().unwrap();
    std::fs::set_permissions(base.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let exe = base.path().join("drydock-sandbox-stage");
    std::fs::copy(STAGE, &exe).unwrap();
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
    let ws = base.path().join("ws");
    let runtime = base.path().join("rt");
    for dir in [&ws, &runtime] {
        std::fs::create_dir(dir).unwrap();
        std::os::unix::fs::chown(dir, Some(uid), Some(gid)).unwrap();
    }
    let secret = base.path().join("root-only");
    std::fs::write(&secret, "root secret").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let script = format!(
        "id -u; grep CapEff /proc/self/status; echo data > /workspace/made-inside; \
         touch /usr/escape 2>/dev/null && echo ESCAPED; cat '{}' 2>/dev/null && echo ESCAPED; \
         curl -sS --max-time 10 --noproxy '' -x \"$HTTP_PROXY\" http://localhost:{}/",
        secret.display(),
        server.addr.port()
    );
    // Run it off the runtime thread: the test's HTTP server must keep serving meanwhile.
    let mut command = Command::new("setpriv");
    command
        .arg(format!("--reuid={uid}"))
        .arg(format!("--regid={gid}"))
        .arg("--clear-groups")
        .args([
            "env",
            "-i",
            "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME=/nonexistent",
        ])
        .arg(&exe)
        .args(["exec", "--workspace"])
        .arg(&ws)
        .arg("--runtime-dir")
        .arg(&runtime)
        .args([
            "--allow",
            "localhost:*",
            "--allow-private",
            "127.0.0.0/8",
            "--",
            "bash",
            "-c",
            &script,
        ]);
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .unwrap();
    let stderr_text = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "exec as {TEST_USER} failed: {stderr_text}{}",
        String::from_utf8_lossy(&output.stdout)
    );
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let stdout_text = summary["stdout"].as_str().unwrap();
    assert!(
        stdout_text.starts_with("1000\nCapEff:\t0000000000000000\n"),
        "{stdout_text}"
    );
    assert!(!stdout_text.contains("ESCAPED"), "{stdout_text}");
    assert!(
        stdout_text.contains("hello from host"),
        "egress through the proxy failed: {summary}"
    );
    let isolation: Vec<&str> = summary["isolation"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        isolation.iter().any(|i| i.starts_with("rlimit nproc")),
        "{isolation:?}"
    );
    assert!(
        isolation.iter().any(|i| i.starts_with("landlock abi")),
        "{isolation:?}"
    );
    assert!(
        isolation.iter().any(|i| i.starts_with("seccomp")),
        "{isolation:?}"
    );
    // Files written inside belong to the user on the host.
    let made = std::fs::metadata(ws.join("made-inside")).unwrap();
    assert_eq!((made.uid(), made.gid()), (uid, gid));
    assert!(!std::path::Path::new("/usr/escape").exists());
    assert_eq!(server.count(), 1);
    // Nothing of the user's session is left running, and its session directory is gone.
    let left = Command::new("pgrep")
        .args(["-u", &uid.to_string()])
        .output()
        .unwrap();
    assert!(
        left.stdout.is_empty(),
        "processes of {TEST_USER} remain: {}",
        String::from_utf8_lossy(&left.stdout)
    );
    let left: Vec<_> = std::fs::read_dir(&runtime)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|name| name != "etc-snapshots")
        .collect();
    assert!(left.is_empty(), "session state left behind: {left:?}");
}
