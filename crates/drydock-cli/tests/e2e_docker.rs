//! The `drydock` binary on the docker backend: `sandbox exec --backend docker` and a whole task
//! run with `[sandbox] backend = "docker"`, against the real daemon. Skipped (with a printed
//! reason) only where no daemon answers; `DRYDOCK_REQUIRE_DOCKER=1` (CI) makes that a failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::PathBuf;

use drydock_sandbox::host_image::HostImage;
use drydock_sandbox::{DockerBackend, DockerOptions};
use drydock_testkit::{buggy_python_repo, fix_turns};
use serde_json::{Value, json};
use support::{Drydock, event_types};

/// The daemon's socket, or `None` (printing why) when none answers.
fn daemon() -> Option<PathBuf> {
    let socket: PathBuf = std::env::var("DOCKER_HOST")
        .ok()
        .and_then(|h| h.strip_prefix("unix://").map(Into::into))
        .unwrap_or_else(|| "/var/run/docker.sock".into());
    let answers = std::process::Command::new("docker")
        .args(["version", "--format", "{{.Server.APIVersion}}"])
        .output()
        .is_ok_and(|o| o.status.success());
    if answers {
        return Some(socket);
    }
    let reason = format!("no docker daemon answers at {}", socket.display());
    assert!(
        std::env::var("DRYDOCK_REQUIRE_DOCKER").as_deref() != Ok("1"),
        "DRYDOCK_REQUIRE_DOCKER=1 but {reason}"
    );
    println!("SKIPPED: {reason}");
    None
}

/// An image with a shell and Python built from this machine's own programs (cached by content).
fn python_image(socket: PathBuf) -> String {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut options = DockerOptions::new(env!("CARGO_BIN_EXE_drydock"));
        options.socket = Some(socket);
        let backend = DockerBackend::connect(options).await.unwrap();
        HostImage::python_tools().ensure(&backend).await.unwrap()
    })
}

/// `drydock sandbox exec --backend docker --image IMAGE --workspace DIR -- sh -c SCRIPT`.
fn docker_sh(
    dd: &Drydock,
    image: &str,
    workspace: &std::path::Path,
    script: &str,
    json: bool,
) -> support::Output {
    let args = [
        "sandbox",
        "exec",
        "--backend",
        "docker",
        "--image",
        image,
        "--workspace",
        workspace.to_str().unwrap(),
        "--",
        "sh",
        "-c",
        script,
    ];
    if json { dd.json(&args) } else { dd.text(&args) }
}

#[test]
fn sandbox_exec_on_docker_passes_output_and_status_through() {
    let Some(socket) = daemon() else { return };
    let image = python_image(socket);
    let dd = Drydock::new();
    let workspace = tempfile::tempdir().unwrap();
    std::fs::write(workspace.path().join("input.txt"), "from the host\n").unwrap();
    let out = docker_sh(
        &dd,
        &image,
        workspace.path(),
        "cat input.txt; echo to-stderr >&2; echo made > output.txt; test ! -e /var/run/docker.sock; exit 7",
        false,
    );
    assert_eq!(out.code, 7, "{}", out.stderr);
    assert_eq!(out.stdout, "from the host\n");
    assert!(out.stderr.contains("to-stderr"), "{}", out.stderr);
    assert_eq!(
        std::fs::read_to_string(workspace.path().join("output.txt")).unwrap(),
        "made\n"
    );

    // The container runs as nobody with power: no capabilities, a read-only root.
    let probe = docker_sh(
        &dd,
        &image,
        workspace.path(),
        "id -u; grep CapEff /proc/self/status; touch /usr/pwned",
        true,
    );
    assert_ne!(probe.code, 0);
    let stdout = probe.json["stdout"].as_str().unwrap();
    assert!(!stdout.starts_with("0\n"), "ran as root: {stdout}");
    assert!(stdout.contains("CapEff:\t0000000000000000"), "{stdout}");
}

#[test]
fn a_missing_image_is_bad_input_that_says_how_to_provide_one() {
    if daemon().is_none() {
        return;
    }
    let dd = Drydock::new();
    let workspace = tempfile::tempdir().unwrap();
    let out = dd.text(&[
        "sandbox",
        "exec",
        "--backend",
        "docker",
        "--image",
        "drydock-test/no-such-image:never",
        "--workspace",
        workspace.path().to_str().unwrap(),
        "--",
        "true",
    ]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("no-such-image"), "{}", out.stderr);
    assert!(out.stderr.contains("docker"), "{}", out.stderr);
}

#[test]
fn a_whole_task_runs_in_a_container_when_the_configuration_says_docker() {
    let Some(socket) = daemon() else { return };
    let image = python_image(socket);
    let repo = buggy_python_repo();
    let dd = Drydock::new();
    let config = dd.data_dir().join("drydock.toml");
    std::fs::write(
        &config,
        format!("[sandbox]\nbackend = \"docker\"\nimage = \"{image}\"\n"),
    )
    .unwrap();
    let trajectory = dd.trajectory("docker-fix", fix_turns(), json!({}));
    let run = dd.run_task(
        &repo,
        "last_index returns the length",
        &trajectory,
        &["--config", config.to_str().unwrap()],
    );
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let task = &run.json["task"];
    assert_eq!(task["state"], "completed");
    assert_eq!(
        repo.show(task["branch"].as_str().unwrap(), "calc/ops.py"),
        "def last_index(items):\n    return len(items) - 1\n"
    );
    let shown = dd.json(&["show", task["id"].as_str().unwrap()]);
    let started: Vec<&Value> = shown.json["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"]["type"] == "sandbox_started")
        .collect();
    assert_eq!(started.len(), 1, "{:?}", event_types(&shown.json));
    assert_eq!(started[0]["kind"]["backend"], "docker");

    // The session's container is gone with the task.
    let left = std::process::Command::new("docker")
        .args([
            "ps",
            "-aq",
            "--filter",
            &format!("label=drydock.label={}", task["id"].as_str().unwrap()),
        ])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&left.stdout).trim().is_empty(),
        "containers left: {}",
        String::from_utf8_lossy(&left.stdout)
    );
}
