//! Real work in a docker session: a pytest and a unittest run, and a package download from PyPI
//! through the egress proxy.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod docker_common;

use std::time::Duration;

use common::{sh, stdout, workspace};
use docker_common::*;
use drydock_sandbox::{NetworkConfig, Session};
use pretty_assertions::assert_eq;
use tokio_util::sync::CancellationToken;

async fn run(
    session: &impl Session,
    req: drydock_sandbox::ExecRequest,
) -> drydock_sandbox::ExecOutput {
    session.exec(req, &CancellationToken::new()).await.unwrap()
}

fn write_project(ws: &std::path::Path) {
    std::fs::write(ws.join("calc.py"), "def add(a, b):\n    return a + b\n").unwrap();
    std::fs::write(
        ws.join("test_calc.py"),
        "import unittest\nfrom calc import add\n\nclass CalcTest(unittest.TestCase):\n    def test_add(self):\n        self.assertEqual(add(2, 3), 5)\n\n    def test_tmp(self):\n        import tempfile, pathlib\n        with tempfile.TemporaryDirectory() as d:\n            p = pathlib.Path(d) / 'x'\n            p.write_text('y')\n            self.assertEqual(p.read_text(), 'y')\n",
    )
    .unwrap();
}

#[tokio::test]
async fn unittest_runs_and_reports_failures() {
    let Some((backend, _rt)) = backend().await else {
        return;
    };
    let ws = workspace();
    write_project(ws.path());
    let session = session(&backend, ws.path()).await;
    let out = run(&session, sh("python3 -m unittest -v 2>&1")).await;
    assert_eq!(out.exit_code, Some(0), "{}", stdout(&out));
    assert!(stdout(&out).contains("Ran 2 tests"), "{}", stdout(&out));
    std::fs::write(
        ws.path().join("test_broken.py"),
        "import unittest\n\nclass Broken(unittest.TestCase):\n    def test_broken(self):\n        self.assertEqual(1, 2)\n",
    )
    .unwrap();
    let out = run(&session, sh("python3 -m unittest 2>&1")).await;
    assert_eq!(out.exit_code, Some(1));
    assert!(
        stdout(&out).contains("FAILED (failures=1)"),
        "{}",
        stdout(&out)
    );
    session.stop().await.unwrap();
}

#[tokio::test]
async fn pytest_runs_and_reports_failures() {
    let probe = std::process::Command::new("/usr/bin/python3")
        .args(["-c", "import pytest"])
        .status();
    if !probe.is_ok_and(|s| s.success()) {
        println!(
            "SKIPPED: pytest is not installed for /usr/bin/python3, so the host-made image lacks it (apt-get install python3-pytest)"
        );
        return;
    }
    let Some((backend, _rt)) = backend().await else {
        return;
    };
    let ws = workspace();
    write_project(ws.path());
    let session = session(&backend, ws.path()).await;
    // The cache provider stays on: pytest writes .pytest_cache into the workspace.
    let out = run(&session, sh("python3 -m pytest -q 2>&1")).await;
    assert_eq!(out.exit_code, Some(0), "{}", stdout(&out));
    assert!(stdout(&out).contains("2 passed"), "{}", stdout(&out));
    assert!(ws.path().join(".pytest_cache").is_dir());
    std::fs::write(
        ws.path().join("test_more.py"),
        "def test_broken():\n    assert 1 == 2\n\ndef test_tmp_path(tmp_path):\n    (tmp_path / 'x').write_text('y')\n    assert (tmp_path / 'x').read_text() == 'y'\n",
    )
    .unwrap();
    let out = run(&session, sh("python3 -m pytest -q 2>&1")).await;
    assert_eq!(out.exit_code, Some(1));
    assert!(
        stdout(&out).contains("1 failed, 3 passed"),
        "{}",
        stdout(&out)
    );
    session.stop().await.unwrap();
}

fn resolve(host: &str) -> Vec<std::net::IpAddr> {
    use std::net::ToSocketAddrs;
    (host, 443)
        .to_socket_addrs()
        .map(|addrs| addrs.map(|a| a.ip()).collect())
        .unwrap_or_default()
}

fn host_reaches(host: &str) -> bool {
    use std::net::ToSocketAddrs;
    let Ok(mut addrs) = (host, 443).to_socket_addrs() else {
        return false;
    };
    addrs.any(|addr| std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(5)).is_ok())
}

#[tokio::test]
async fn pip_downloads_a_package_from_pypi_through_the_proxy() {
    if !tokio::task::spawn_blocking(|| host_reaches("pypi.org"))
        .await
        .unwrap()
    {
        println!("SKIPPED: pypi.org is not reachable from this host");
        return;
    }
    let Some((backend, _rt)) = backend().await else {
        return;
    };
    let ws = workspace();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut spec = spec(ws.path(), &image(&backend).await);
    spec.network = NetworkConfig::default();
    // Some build hosts reach registries through a gateway at a reserved or private address; the
    // proxy refuses those unless allowed, so allow exactly those addresses, as an operator would.
    for host in ["pypi.org", "files.pythonhosted.org"] {
        for ip in resolve(host) {
            if let Some(class) = drydock_sandbox::egress::non_public_class(ip) {
                println!(
                    "note: {host} resolves to {ip} ({class}) on this host; allowing it explicitly"
                );
                spec.network.allow_private.push(ip.to_string());
            }
        }
    }
    spec.network_events = Some(tx);
    let session = backend.start_docker(spec).await.unwrap();
    let mut download = sh(
        "python3 -m pip download --no-deps --disable-pip-version-check -q -d /workspace/dl six==1.16.0 2>&1; echo pip-exit=$?; echo /workspace/dl/*",
    );
    download.timeout = Duration::from_secs(180);
    let out = run(&session, download).await;
    assert_eq!(out.exit_code, Some(0), "{out:?}\n{}", stdout(&out));
    assert!(
        stdout(&out).contains("six-1.16.0-py2.py3-none-any.whl"),
        "{}",
        stdout(&out)
    );
    let out = run(&session, sh("python3 -m pip download --no-deps -q --retries 0 --timeout 5 -d /tmp/x --index-url https://example.com/simple six 2>&1; echo exit=$?")).await;
    assert!(!stdout(&out).contains("exit=0"), "{}", stdout(&out));
    session.stop().await.unwrap();
    assert!(
        ws.path()
            .join("dl/six-1.16.0-py2.py3-none-any.whl")
            .exists()
    );
    let mut events = Vec::new();
    while let Ok(event) = rx.try_recv() {
        events.push(event);
    }
    assert!(
        events
            .iter()
            .any(|e| e.allowed && e.host == "pypi.org" && e.bytes_down > 0),
        "{events:?}"
    );
    assert!(
        events
            .iter()
            .any(|e| e.allowed && e.host == "files.pythonhosted.org"),
        "{events:?}"
    );
    assert!(
        events.iter().any(|e| !e.allowed && e.host == "example.com"),
        "{events:?}"
    );
}
