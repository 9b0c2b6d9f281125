//! Real work in the sandbox: a cargo build and test run offline, a pytest run, and a package
//! download from PyPI through the egress proxy.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use drydock_sandbox::Session;
use pretty_assertions::assert_eq;

#[tokio::test]
async fn cargo_builds_and_tests_a_crate_offline() {
    let Some(sysroot) = rust_sysroot() else {
        println!("SKIPPED: no rustc on this host");
        return;
    };
    let (backend, _rt) = backend_with(|options| {
        // A rustup toolchain lives in the host home, which the sandbox never sees whole: show
        // just the toolchain, read-only.
        options.read_only_paths.push(sysroot.clone());
        options
            .path_prefix
            .push(sysroot.join("bin").display().to_string());
    });
    let ws = workspace();
    std::fs::write(
        ws.path().join("Cargo.toml"),
        "[package]\nname = \"hello\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[dependencies]\n",
    )
    .unwrap();
    std::fs::create_dir(ws.path().join("src")).unwrap();
    std::fs::write(
        ws.path().join("src/main.rs"),
        "fn add(a: i32, b: i32) -> i32 { a + b }\nfn main() { println!(\"sum={}\", add(2, 3)); }\n#[test]\nfn adds() { assert_eq!(add(2, 2), 4); }\n",
    )
    .unwrap();
    let session = backend.start_local(spec(ws.path())).await.unwrap();
    let mut build = sh(
        "cargo build --offline -q && ./target/debug/hello && cargo test --offline -q 2>&1 | grep 'test result'",
    );
    build.timeout = Duration::from_secs(300);
    let out = run(&session, build).await;
    assert_eq!(out.exit_code, Some(0), "{}\n{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).starts_with("sum=5\n"), "{}", stdout(&out));
    assert!(stdout(&out).contains("1 passed"), "{}", stdout(&out));
    // The build wrote into the workspace on the host, and the cargo home stayed inside.
    assert!(ws.path().join("target/debug/hello").exists());
    let home = run(&session, sh("echo $CARGO_HOME; ls -d $CARGO_HOME")).await;
    assert_eq!(stdout(&home), "/tmp/home/.cargo\n/tmp/home/.cargo\n");
    session.stop().await.unwrap();
}

#[tokio::test]
async fn pytest_runs_and_reports_failures() {
    let (backend, _rt) = backend();
    let probe = std::process::Command::new("/usr/bin/python3")
        .args(["-c", "import pytest"])
        .status();
    if !probe.is_ok_and(|s| s.success()) {
        println!(
            "SKIPPED: pytest is not installed for /usr/bin/python3 (apt-get install python3-pytest)"
        );
        return;
    }
    let ws = workspace();
    std::fs::write(
        ws.path().join("calc.py"),
        "def add(a, b):\n    return a + b\n",
    )
    .unwrap();
    std::fs::write(
        ws.path().join("test_calc.py"),
        "from calc import add\n\ndef test_add():\n    assert add(2, 3) == 5\n\ndef test_tmp(tmp_path):\n    (tmp_path / 'x').write_text('y')\n    assert (tmp_path / 'x').read_text() == 'y'\n",
    )
    .unwrap();
    let session = backend.start_local(spec(ws.path())).await.unwrap();
    let out = run(
        &session,
        sh("python3 -m pytest -q -p no:cacheprovider 2>&1"),
    )
    .await;
    assert_eq!(out.exit_code, Some(0), "{}", stdout(&out));
    assert!(stdout(&out).contains("2 passed"), "{}", stdout(&out));
    std::fs::write(
        ws.path().join("test_broken.py"),
        "def test_broken():\n    assert 1 == 2\n",
    )
    .unwrap();
    let out = run(
        &session,
        sh("python3 -m pytest -q -p no:cacheprovider 2>&1"),
    )
    .await;
    assert_eq!(out.exit_code, Some(1));
    assert!(
        stdout(&out).contains("1 failed, 2 passed"),
        "{}",
        stdout(&out)
    );
    session.stop().await.unwrap();
}

#[tokio::test]
async fn pip_downloads_a_package_from_pypi_through_the_proxy() {
    if !scenarios::pypi_is_reachable().await {
        return;
    }
    let (backend, _rt) = backend();
    let ws = workspace();
    let (tx, mut events) = tokio::sync::mpsc::unbounded_channel();
    let mut spec = spec(ws.path());
    spec.network = scenarios::pypi_network();
    spec.network_events = Some(tx);
    let session = backend.start_local(spec).await.unwrap();
    scenarios::pip_downloads_six_through_the_proxy(
        &session,
        &mut events,
        ws.path(),
        "ls /workspace/dl",
    )
    .await;
}
