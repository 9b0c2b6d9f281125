//! Real work in a docker session: a pytest and a unittest run, and a package download from PyPI
//! through the egress proxy.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod docker_common;

use common::{run, sh, stdout, workspace};
use docker_common::*;
use drydock_sandbox::Session;
use pretty_assertions::assert_eq;

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

#[tokio::test]
async fn pip_downloads_a_package_from_pypi_through_the_proxy() {
    if !common::scenarios::pypi_is_reachable().await {
        return;
    }
    let Some((backend, _rt)) = backend().await else {
        return;
    };
    let ws = workspace();
    let (tx, mut events) = tokio::sync::mpsc::unbounded_channel();
    let mut spec = spec(ws.path(), &image(&backend).await);
    spec.network = common::scenarios::pypi_network();
    spec.network_events = Some(tx);
    let session = backend.start_docker(spec).await.unwrap();
    common::scenarios::pip_downloads_six_through_the_proxy(
        &session,
        &mut events,
        ws.path(),
        "echo pip-exit=$?; echo /workspace/dl/*",
    )
    .await;
}
