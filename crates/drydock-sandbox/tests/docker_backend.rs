//! The backend around sessions, through the real daemon: clear errors for a missing image, an
//! unknown runtime or a bad workspace; orphan reaping; the machine check; gVisor and Podman
//! when this machine has them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod docker_common;

use std::collections::HashMap;

use bollard::models::ContainerCreateBody;
use bollard::query_parameters::CreateContainerOptions;
use common::{request, sh, stdout, workspace};
use docker_common::*;
use drydock_sandbox::{
    Backend, CheckStatus, DockerBackend, DockerOptions, SandboxError, Session, check_isolation,
};
use pretty_assertions::assert_eq;
use tokio_util::sync::CancellationToken;

#[tokio::test]
async fn a_missing_or_unset_image_is_a_clear_error_and_nothing_is_pulled() {
    let Some((backend, _rt)) = backend().await else {
        return;
    };
    let ws = workspace();
    let missing = format!("drydock-test-missing-{}:never-built", std::process::id());
    let err = backend
        .start_docker(spec(ws.path(), &missing))
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, SandboxError::Unavailable { .. }), "{text}");
    assert!(text.contains(&missing), "{text}");
    assert!(text.contains("never pulls"), "{text}");
    assert!(
        text.contains("docker build -t") && text.contains("docker load"),
        "{text}"
    );
    assert!(
        backend.client().inspect_image(&missing).await.is_err(),
        "the image was pulled or created"
    );

    let mut unset = spec(ws.path(), "");
    unset.sandbox.image = None;
    let err = backend.start_docker(unset).await.unwrap_err();
    assert!(
        matches!(&err, SandboxError::InvalidRequest { message } if message.contains("sandbox.image")),
        "{err}"
    );
}

#[tokio::test]
async fn an_unknown_runtime_is_a_clear_error() {
    let Some((backend, _rt)) = backend().await else {
        return;
    };
    let ws = workspace();
    let mut spec = spec(ws.path(), &image(&backend).await);
    let label = format!("refused-{}-{}", std::process::id(), ulid_like());
    spec.label = label.clone();
    spec.sandbox.runtime = Some("drydock-no-such-runtime".into());
    let err = backend.start_docker(spec.clone()).await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, SandboxError::Unavailable { .. }), "{text}");
    assert!(text.contains("drydock-no-such-runtime"), "{text}");
    assert!(
        text.contains("runc"),
        "the known runtimes are not listed: {text}"
    );
    if !backend.runtimes().iter().any(|r| r == "runsc") {
        spec.sandbox.runtime = Some("runsc".into());
        let text = backend.start_docker(spec).await.unwrap_err().to_string();
        assert!(
            text.contains("gVisor") && text.contains("--host-uds=open"),
            "{text}"
        );
    }
    // No container was left behind by the refused starts.
    assert_eq!(labelled_containers(&backend, &label).await, 0);
}

async fn labelled_containers(backend: &DockerBackend, label: &str) -> usize {
    let filters = HashMap::from([("label".to_string(), vec![format!("drydock.label={label}")])]);
    let options = bollard::query_parameters::ListContainersOptions {
        all: true,
        filters: Some(filters),
        ..Default::default()
    };
    backend
        .client()
        .list_containers(Some(options))
        .await
        .unwrap()
        .len()
}

#[tokio::test]
async fn workspaces_that_are_missing_or_expose_the_host_are_refused() {
    let Some((backend, _rt)) = backend().await else {
        return;
    };
    let image = image(&backend).await;
    let dir = tempfile::tempdir().unwrap();
    for bad in [dir.path().join("missing"), "/".into(), "/etc".into()] {
        let err = backend.start_docker(spec(&bad, &image)).await.unwrap_err();
        assert!(
            matches!(err, SandboxError::InvalidRequest { .. }),
            "{bad:?}: {err}"
        );
    }
    let file = dir.path().join("file");
    std::fs::write(&file, "x").unwrap();
    let err = backend.start_docker(spec(&file, &image)).await.unwrap_err();
    assert!(matches!(err, SandboxError::InvalidRequest { .. }), "{err}");
    let linked = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink("/etc", linked.path().join(".git")).unwrap();
    let err = backend
        .start_docker(spec(linked.path(), &image))
        .await
        .unwrap_err();
    assert!(matches!(err, SandboxError::InvalidRequest { .. }), "{err}");
}

#[tokio::test]
async fn a_workspace_owned_by_a_user_is_worked_on_as_that_user() {
    let Some((backend, _rt)) = backend().await else {
        return;
    };
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        println!("SKIPPED: changing the workspace's owner needs root");
        return;
    }
    let ws = workspace();
    for entry in walk(ws.path()) {
        std::os::unix::fs::lchown(&entry, Some(4242), Some(4343)).unwrap();
    }
    let session = session(&backend, ws.path()).await;
    assert_eq!(session.user(), (4242, 4343));
    let out = session
        .exec(
            sh("id -u; id -g; echo new > made"),
            &CancellationToken::new(),
        )
        .await
        .unwrap();
    assert_eq!(stdout(&out), "4242\n4343\n");
    session.stop().await.unwrap();
    use std::os::unix::fs::MetadataExt;
    let made = std::fs::metadata(ws.path().join("made")).unwrap();
    assert_eq!((made.uid(), made.gid()), (4242, 4343));
    // Nothing was handed over: the owner stays.
    let top = std::fs::metadata(ws.path()).unwrap();
    assert_eq!((top.uid(), top.gid()), (4242, 4343));
}

fn walk(root: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = vec![root.to_path_buf()];
    let mut i = 0;
    while i < out.len() {
        if out[i].is_dir() && !out[i].is_symlink() {
            for entry in std::fs::read_dir(&out[i]).unwrap() {
                out.push(entry.unwrap().path());
            }
        }
        i += 1;
    }
    out
}

#[tokio::test]
async fn containers_of_a_dead_owner_are_reaped_and_live_ones_kept() {
    let Some((backend, _rt)) = backend().await else {
        return;
    };
    let image = image(&backend).await;
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .unwrap()
        .trim()
        .to_string();
    let pidns = std::fs::read_link("/proc/self/ns/pid")
        .unwrap()
        .to_string_lossy()
        .into_owned();
    // A process that has exited: its pid names nobody (or somebody else, with another start
    // time).
    let mut gone = std::process::Command::new("true").spawn().unwrap();
    let dead_pid = gone.id();
    gone.wait().unwrap();
    let create = |name: String, pid: u32, start: &str| {
        let labels = HashMap::from([
            ("drydock.session".to_string(), name.clone()),
            ("drydock.owner-pid".to_string(), pid.to_string()),
            ("drydock.owner-start".to_string(), start.to_string()),
            ("drydock.owner-boot".to_string(), boot.clone()),
            ("drydock.owner-pidns".to_string(), pidns.clone()),
        ]);
        let body = ContainerCreateBody {
            image: Some(image.clone()),
            cmd: Some(vec!["sleep".into(), "300".into()]),
            labels: Some(labels),
            host_config: Some(bollard::models::HostConfig {
                network_mode: Some("none".into()),
                // Within any daemon's own limits (Podman asks for more by default).
                ulimits: Some(
                    ["nofile", "nproc"]
                        .map(|name| bollard::models::ResourcesUlimits {
                            name: Some(name.into()),
                            soft: Some(1024),
                            hard: Some(1024),
                        })
                        .to_vec(),
                ),
                ..Default::default()
            }),
            ..Default::default()
        };
        let client = backend.client().clone();
        async move {
            let id = client
                .create_container(
                    Some(CreateContainerOptions {
                        name: Some(name),
                        ..Default::default()
                    }),
                    body,
                )
                .await
                .unwrap()
                .id;
            client.start_container(&id, None).await.unwrap();
            id
        }
    };
    let suffix = format!("{}-{}", std::process::id(), ulid_like());
    let orphan = create(format!("drydock-test-orphan-{suffix}"), dead_pid, "1").await;
    let me = std::process::id();
    let my_start = std::fs::read_to_string(format!("/proc/{me}/stat")).unwrap();
    let my_start = my_start[my_start.rfind(')').unwrap() + 1..]
        .split_whitespace()
        .nth(19)
        .unwrap()
        .to_string();
    let live = create(format!("drydock-test-live-{suffix}"), me, &my_start).await;
    // Other tests' backends reap concurrently: the removal may be theirs, and still under way.
    backend.reap_orphans().await.unwrap();
    assert_container_gone_within(&backend, &orphan, std::time::Duration::from_secs(10)).await;
    assert!(
        container_exists(&backend, &live).await,
        "a live owner's container was removed"
    );
    // A new backend reaps at start too (and still spares the live one).
    let orphan = create(format!("drydock-test-orphan2-{suffix}"), dead_pid, "1").await;
    let Some((_again, _rt2)) = docker_common::backend().await else {
        return;
    };
    assert_container_gone_within(&backend, &orphan, std::time::Duration::from_secs(10)).await;
    assert!(container_exists(&backend, &live).await);
    backend
        .client()
        .remove_container(
            &live,
            Some(bollard::query_parameters::RemoveContainerOptions {
                force: true,
                ..Default::default()
            }),
        )
        .await
        .unwrap();
}

fn ulid_like() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

#[tokio::test]
async fn the_machine_check_reports_the_daemon_and_a_live_session() {
    let Some((backend, _rt)) = backend().await else {
        return;
    };
    let report = check_isolation();
    print!("{report}");
    let docker = report.get("docker").unwrap();
    assert_eq!(docker.status, CheckStatus::Ok, "{docker:?}");
    assert!(docker.detail.contains(backend.server()), "{docker:?}");
    assert!(docker.detail.contains("API"), "{docker:?}");
    let gvisor = report.get("gvisor").unwrap();
    let has_runsc = backend.runtimes().iter().any(|r| r == "runsc");
    assert_eq!(gvisor.status == CheckStatus::Ok, has_runsc, "{gvisor:?}");
    for check in &report.checks {
        assert_eq!(
            check.status == CheckStatus::Ok,
            check.remedy.is_none(),
            "{check:?}"
        );
    }
    let live = backend.check(&image(&backend).await).await;
    let smoke = live.get("docker sandbox").unwrap();
    assert_eq!(smoke.status, CheckStatus::Ok, "{smoke:?}");
    assert!(smoke.detail.contains("cap_drop ALL"), "{}", smoke.detail);
    let broken = backend.check("drydock-test-missing:never").await;
    let smoke = broken.get("docker sandbox").unwrap();
    assert_eq!(smoke.status, CheckStatus::Warning);
    assert!(smoke.detail.contains("never pulls"), "{smoke:?}");
}

#[tokio::test]
async fn a_daemon_that_is_not_there_is_unavailable_with_a_remedy() {
    let mut options = DockerOptions::new(STAGE);
    options.socket = Some("/nonexistent/docker.sock".into());
    let err = DockerBackend::connect(options).await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, SandboxError::Unavailable { .. }), "{text}");
    assert!(
        text.contains("/nonexistent/docker.sock") && text.contains("dockerd"),
        "{text}"
    );
    let mut options = DockerOptions::new("/usr/bin/true-not-a-drydock");
    options.socket = Some(socket());
    if require_daemon().is_some() {
        let err = DockerBackend::connect(options).await.unwrap_err();
        assert!(err.to_string().contains("stage executable"), "{err}");
    }
}

#[tokio::test]
async fn the_backend_is_usable_through_the_trait() {
    let Some((backend, _rt)) = backend().await else {
        return;
    };
    let ws = workspace();
    let dynamic: Box<dyn Backend> = Box::new(backend.clone());
    assert_eq!(dynamic.name(), "docker");
    let session = dynamic
        .start(spec(ws.path(), &image(&backend).await))
        .await
        .unwrap();
    assert_eq!(session.info().backend, "docker");
    let out = session
        .exec(
            request(&["echo", "via", "trait"]),
            &CancellationToken::new(),
        )
        .await
        .unwrap();
    assert_eq!(stdout(&out), "via trait\n");
    session.stop().await.unwrap();
}

#[tokio::test]
async fn gvisor_runs_a_session_when_the_daemon_has_runsc() {
    let Some((backend, _rt)) = backend().await else {
        return;
    };
    if !backend.runtimes().iter().any(|r| r == "runsc") {
        println!(
            "SKIPPED: the daemon has no runsc runtime (runtimes: {:?}); see `drydock sandbox check`",
            backend.runtimes()
        );
        return;
    }
    let ws = workspace();
    let mut spec = spec(ws.path(), &image(&backend).await);
    spec.sandbox.runtime = Some("runsc".into());
    let session = backend.start_docker(spec).await.unwrap();
    assert!(
        session
            .info()
            .isolation
            .iter()
            .any(|i| i == "runtime runsc"),
        "{:?}",
        session.info()
    );
    let out = session
        .exec(
            sh("dmesg 2>/dev/null | head -1; sh -c 'sleep 300' & echo in-gvisor"),
            &CancellationToken::new(),
        )
        .await
        .unwrap();
    assert!(stdout(&out).contains("in-gvisor"), "{out:?}");
    let out = session
        .exec(
            sh("ps -eo comm --no-headers | grep -c sleep || true"),
            &CancellationToken::new(),
        )
        .await
        .unwrap();
    assert_eq!(stdout(&out), "0\n");
    session.stop().await.unwrap();
}

#[tokio::test]
async fn podman_runs_a_session_through_the_same_backend() {
    let socket =
        std::env::var("DRYDOCK_PODMAN_SOCKET").unwrap_or_else(|_| "/run/podman/podman.sock".into());
    if !daemon_answers(std::path::Path::new(&socket)) {
        println!(
            "SKIPPED: no Podman API at {socket} (apt-get install podman; podman system service --time=0 unix://{socket} &)"
        );
        return;
    }
    let runtime = tempfile::tempdir().unwrap();
    let mut options = DockerOptions::new(STAGE);
    options.socket = Some(socket.into());
    options.runtime_dir = Some(runtime.path().join("rt"));
    let backend = DockerBackend::connect(options).await.unwrap();
    assert!(backend.server().contains("Podman"), "{}", backend.server());
    let image = drydock_sandbox::host_image::HostImage::python_tools()
        .ensure(&backend)
        .await
        .unwrap();
    let ws = workspace();
    let session = backend.start_docker(spec(ws.path(), &image)).await.unwrap();
    let out = session
        .exec(
            sh("id -u; echo hi > made; sh -c 'sleep 300' & grep CapEff /proc/self/status"),
            &CancellationToken::new(),
        )
        .await
        .unwrap();
    assert_eq!(out.exit_code, Some(0), "{out:?}");
    assert!(
        stdout(&out).contains("CapEff:\t0000000000000000"),
        "{}",
        stdout(&out)
    );
    assert_ne!(stdout(&out).lines().next(), Some("0"));
    let out = session
        .exec(
            sh("ps -eo comm --no-headers | grep -c sleep || true; curl -sS --max-time 5 http://example.com/ -o /dev/null -w '%{http_code}'"),
            &CancellationToken::new(),
        )
        .await
        .unwrap();
    assert_eq!(stdout(&out), "0\n403");
    let id = session.container_id().to_string();
    session.stop().await.unwrap();
    assert!(!container_exists(&backend, &id).await);
    assert_eq!(
        std::fs::read_to_string(ws.path().join("made")).unwrap(),
        "hi\n"
    );
}

#[tokio::test]
async fn host_images_are_cached_by_content_and_earlier_builds_pruned() {
    let Some((backend, _rt)) = backend().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("payload.txt");
    std::fs::write(&file, "first").unwrap();
    let recipe = drydock_sandbox::host_image::HostImage {
        repository: format!("drydock-test-cache-{}-{}", std::process::id(), ulid_like()),
        programs: Vec::new(),
        trees: Vec::new(),
        files: vec![file.clone()],
        env: vec![("PATH".into(), "/nowhere".into())],
    };
    let first = recipe.ensure(&backend).await.unwrap();
    let first_id = backend.client().inspect_image(&first).await.unwrap().id;
    // Same content: the same image, not a new import.
    let again = recipe.ensure(&backend).await.unwrap();
    assert_eq!(again, first);
    assert_eq!(
        backend.client().inspect_image(&again).await.unwrap().id,
        first_id
    );
    // New content: a new tag, and the earlier build is gone.
    std::fs::write(&file, "second, longer").unwrap();
    let second = recipe.ensure(&backend).await.unwrap();
    assert_ne!(second, first);
    let inspected = backend.client().inspect_image(&second).await.unwrap();
    assert_eq!(
        inspected.config.and_then(|c| c.env),
        Some(vec!["PATH=/nowhere".to_string()])
    );
    assert!(
        backend.client().inspect_image(&first).await.is_err(),
        "the earlier build was not pruned"
    );
    backend
        .client()
        .remove_image(
            &second,
            None::<bollard::query_parameters::RemoveImageOptions>,
            None,
        )
        .await
        .unwrap();
}
