//! Session lifecycle through the real `local` backend: persistence across commands, exits and
//! signals, no process outliving its command or its session, cancellation, crash clean-up.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use drydock_sandbox::capture::{OutputStream, output_channel};
use drydock_sandbox::{SandboxError, Session};
use pretty_assertions::assert_eq;
use tokio_util::sync::CancellationToken;

async fn wait_until_running(marker: &str) {
    let started = Instant::now();
    while pids_with_marker(marker).is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{marker} never started"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn tmp_and_home_persist_across_commands_of_a_session() {
    let (backend, _rt) = backend();
    let ws = workspace();
    let session = backend.start_local(spec(ws.path())).await.unwrap();
    let out = run(
        &session,
        sh("echo one > /tmp/t && mkdir -p $HOME/.cache && echo two > $HOME/.cache/h && echo $HOME"),
    )
    .await;
    assert_eq!(out.exit_code, Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "/tmp/home\n");
    let out = run(&session, sh("cat /tmp/t $HOME/.cache/h")).await;
    assert_eq!(stdout(&out), "one\ntwo\n");
    session.stop().await.unwrap();

    // A new session starts clean.
    let session = backend.start_local(spec(ws.path())).await.unwrap();
    let out = run(&session, sh("cat /tmp/t")).await;
    assert_eq!(out.exit_code, Some(1));
    session.stop().await.unwrap();
}

#[tokio::test]
async fn exit_codes_signals_stdin_cwd_and_merged_output() {
    let (backend, _rt) = backend();
    let ws = workspace();
    std::fs::create_dir_all(ws.path().join("sub/dir")).unwrap();
    let session = backend.start_local(spec(ws.path())).await.unwrap();

    scenarios::exit_codes_signals_and_stdin(&session).await;
    scenarios::empty_stdin_cwd_and_merged_output(&session).await;
    session.stop().await.unwrap();
}

#[tokio::test]
async fn bad_requests_get_clear_errors_and_the_session_goes_on() {
    let (backend, _rt) = backend();
    let ws = workspace();
    let session = backend.start_local(spec(ws.path())).await.unwrap();
    scenarios::bad_requests_get_clear_errors(&session, ws.path()).await;
    session.stop().await.unwrap();
}

#[tokio::test]
async fn workspaces_that_are_missing_or_not_directories_are_refused() {
    let (backend, _rt) = backend();
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing");
    let err = backend.start_local(spec(&missing)).await.unwrap_err();
    assert!(matches!(err, SandboxError::InvalidRequest { .. }), "{err}");
    let file = dir.path().join("file");
    std::fs::write(&file, "x").unwrap();
    let err = backend.start_local(spec(&file)).await.unwrap_err();
    assert!(matches!(err, SandboxError::InvalidRequest { .. }), "{err}");
    let err = backend
        .start_local(spec(std::path::Path::new("/")))
        .await
        .unwrap_err();
    assert!(matches!(err, SandboxError::InvalidRequest { .. }), "{err}");
}

#[tokio::test]
async fn background_processes_do_not_outlive_their_command() {
    let (backend, _rt) = backend();
    let ws = workspace();
    let session = backend.start_local(spec(ws.path())).await.unwrap();
    scenarios::background_jobs_do_not_outlive_their_command(&session, &[], async |_| {}).await;
    session.stop().await.unwrap();
}

#[tokio::test]
async fn stop_kills_every_process_of_the_session_before_it_returns() {
    let (backend, _rt) = backend();
    let ws = workspace();
    let session = Arc::new(backend.start_local(spec(ws.path())).await.unwrap());
    let m = marker("stop");
    let runner = {
        let session = Arc::clone(&session);
        let script = format!(
            "setsid sh -c 'sleep 300' {m} & ( sh -c 'sleep 300' {m} & ) ; sh -c 'sleep 300' {m}"
        );
        tokio::spawn(async move { session.exec(sh(&script), &CancellationToken::new()).await })
    };
    wait_until_running(&m).await;
    let before = session.host_pids();
    let cgroups: Vec<String> = std::fs::read_to_string(session.dir().join("cgroups"))
        .map(|text| text.lines().map(str::to_string).collect())
        .unwrap_or_default();
    let started = Instant::now();
    session.stop().await.unwrap();
    let took = started.elapsed();
    assert_eq!(
        pids_with_marker(&m),
        Vec::<u32>::new(),
        "processes survive stop"
    );
    for pid in before {
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "session process {pid} survives stop"
        );
    }
    for cgroup in &cgroups {
        assert!(
            !std::path::Path::new(cgroup).exists(),
            "the session's cgroup {cgroup} survives stop"
        );
    }
    println!("stop took {took:?}; cgroups removed: {cgroups:?}");
    let result = tokio::time::timeout(Duration::from_secs(10), runner)
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(result, Err(SandboxError::Stopped)), "{result:?}");
    assert!(
        !session.dir().exists(),
        "the session directory is left behind"
    );
    // Stopping again is fine, and a stopped session refuses work.
    session.stop().await.unwrap();
    let err = session
        .exec(request(&["true"]), &CancellationToken::new())
        .await
        .unwrap_err();
    assert!(matches!(err, SandboxError::Stopped), "{err}");
}

#[tokio::test]
async fn timeout_kills_the_whole_tree_and_says_so() {
    let (backend, _rt) = backend();
    let ws = workspace();
    let session = backend.start_local(spec(ws.path())).await.unwrap();
    let m = marker("timeout");
    let mut req = sh(&format!(
        "echo started; sh -c 'sleep 300' {m} & sh -c 'sleep 300' {m}"
    ));
    req.timeout = Duration::from_millis(500);
    let out = run(&session, req).await;
    assert!(out.timed_out);
    assert_eq!((out.exit_code, out.signal), (None, Some(libc::SIGKILL)));
    assert_eq!(stdout(&out), "started\n");
    assert!(out.duration >= Duration::from_millis(500));
    assert_eq!(pids_with_marker(&m), Vec::<u32>::new());
    assert_eq!(run(&session, request(&["true"])).await.exit_code, Some(0));
    session.stop().await.unwrap();
}

#[tokio::test]
async fn cancellation_kills_the_tree_and_returns_cancelled() {
    let (backend, _rt) = backend();
    let ws = workspace();
    let session = backend.start_local(spec(ws.path())).await.unwrap();
    let m = marker("cancel");
    let cancel = CancellationToken::new();
    let trigger = {
        let cancel = cancel.clone();
        let m = m.clone();
        tokio::spawn(async move {
            wait_until_running(&m).await;
            cancel.cancel();
        })
    };
    let result = session
        .exec(
            sh(&format!(
                "setsid sh -c 'sleep 300' {m} & sh -c 'sleep 300' {m}"
            )),
            &cancel,
        )
        .await;
    trigger.await.unwrap();
    assert!(matches!(result, Err(SandboxError::Cancelled)), "{result:?}");
    assert_eq!(pids_with_marker(&m), Vec::<u32>::new());
    assert_eq!(run(&session, request(&["true"])).await.exit_code, Some(0));
    session.stop().await.unwrap();
}

#[tokio::test]
async fn dropping_an_exec_future_or_the_session_kills_what_ran() {
    let (backend, _rt) = backend();
    let ws = workspace();
    let session = backend.start_local(spec(ws.path())).await.unwrap();
    let m = marker("dropfuture");
    let cancel = CancellationToken::new();
    let script = format!("sh -c 'sleep 300' {m}");
    tokio::select! {
        _ = session.exec(sh(&script), &cancel) => panic!("sleep 300 ended"),
        () = wait_until_running(&m) => {}
    }
    assert_gone_within(&m, Duration::from_secs(10)).await;

    let m = marker("dropsession");
    let session = Arc::new(session);
    let runner = {
        let session = Arc::clone(&session);
        let script = format!("sh -c 'sleep 300' {m}");
        tokio::spawn(async move { session.exec(sh(&script), &CancellationToken::new()).await })
    };
    wait_until_running(&m).await;
    runner.abort();
    let _ = runner.await;
    let dir = session.dir().to_path_buf();
    drop(Arc::try_unwrap(session).unwrap());
    assert_gone_within(&m, Duration::from_secs(10)).await;
    assert!(!dir.exists());
}

#[tokio::test]
async fn commands_of_one_session_run_concurrently() {
    let (backend, _rt) = backend();
    let ws = workspace();
    let session = backend.start_local(spec(ws.path())).await.unwrap();
    let cancel = CancellationToken::new();
    // The first command can only finish once the second has run: run one after the other, they
    // would time out.
    let mut waiter = sh(
        "for i in $(seq 400); do [ -e /tmp/flag ] && echo saw-flag && exit 0; sleep 0.05; done; exit 9",
    );
    waiter.timeout = Duration::from_secs(30);
    let setter = sh("sleep 0.2; touch /tmp/flag; echo set");
    let (a, b) = tokio::join!(session.exec(waiter, &cancel), session.exec(setter, &cancel));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!((stdout(&a), a.exit_code), ("saw-flag\n".into(), Some(0)));
    assert_eq!(stdout(&b), "set\n");
    session.stop().await.unwrap();
}

#[tokio::test]
async fn streaming_forwards_output_while_capturing_it() {
    let (backend, _rt) = backend();
    let ws = workspace();
    let session = backend.start_local(spec(ws.path())).await.unwrap();
    let (sink, mut chunks) = output_channel(8);
    let collector = tokio::spawn(async move {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        while let Some(chunk) = chunks.recv().await {
            match chunk.stream {
                OutputStream::Stdout => out.extend(chunk.data),
                OutputStream::Stderr => err.extend(chunk.data),
            }
        }
        (out, err)
    });
    let out = session
        .exec_streaming(
            sh("for i in 1 2 3; do echo $i; echo e$i >&2; done"),
            &CancellationToken::new(),
            sink,
        )
        .await
        .unwrap();
    let (streamed_out, streamed_err) = collector.await.unwrap();
    assert_eq!(streamed_out, b"1\n2\n3\n");
    assert_eq!(streamed_err, b"e1\ne2\ne3\n");
    assert_eq!(out.stdout.head, b"1\n2\n3\n");
    session.stop().await.unwrap();
}

#[tokio::test]
async fn the_orchestrator_environment_never_reaches_the_sandbox() {
    let ws = workspace();
    let runtime = tempfile::tempdir().unwrap();
    let canary = format!("drydock-canary-{}", std::process::id());
    let output = std::process::Command::new(STAGE)
        .args(["exec", "--workspace"])
        .arg(ws.path())
        .arg("--runtime-dir")
        .arg(runtime.path().join("rt"))
        .args(["--", "bash", "-c", "env; cat /proc/self/environ; cat /proc/1/environ; cat /proc/[0-9]*/environ 2>/dev/null; echo done"])
        .env("DRYDOCK_SECRET_CANARY", &canary)
        .env("ANTHROPIC_API_KEY", &canary)
        .env("GITHUB_TOKEN", &canary)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("done"), "{text}");
    assert!(!text.contains(&canary), "the canary leaked: {text}");
    assert!(!text.contains("DRYDOCK_SECRET_CANARY"), "{text}");
    assert!(!text.contains("/root"), "the host HOME leaked: {text}");
}

#[tokio::test]
async fn a_crashed_owner_leaves_nothing_running_and_its_session_is_reaped() {
    let ws = workspace();
    let runtime = tempfile::tempdir().unwrap();
    let rt = runtime.path().join("rt");
    let m = marker("crash");
    let mut owner = std::process::Command::new(STAGE)
        .args(["exec", "--workspace"])
        .arg(ws.path())
        .arg("--runtime-dir")
        .arg(&rt)
        // The marker is assembled by the shell so that the owner's own argv does not carry it.
        .args([
            "--",
            "sh",
            "-c",
            &format!(
                "A={}; B={}; setsid sh -c 'sleep 300' $A$B & sh -c 'sleep 300' $A$B",
                &m[..10],
                &m[10..]
            ),
        ])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_until_running(&m).await;
    let sessions = |rt: &std::path::Path| -> Vec<String> {
        std::fs::read_dir(rt)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| !name.starts_with("etc-"))
            .collect()
    };
    assert_eq!(sessions(&rt).len(), 1);
    // SIGKILL: no destructor, no stop.
    owner.kill().unwrap();
    owner.wait().unwrap();
    assert_gone_within(&m, Duration::from_secs(5)).await;
    let mut options = drydock_sandbox::LocalOptions::new(STAGE);
    options.runtime_dir = Some(rt.clone());
    let backend = drydock_sandbox::LocalBackend::new(options).unwrap();
    assert_eq!(
        sessions(&rt),
        Vec::<String>::new(),
        "the stale session directory was not reaped"
    );
    // Only the shared /etc snapshots are left; they outlive the backend (other processes use
    // them) and the reaper leaves them alone.
    let names = || -> Vec<String> {
        std::fs::read_dir(&rt)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    };
    assert_eq!(names(), vec!["etc-snapshots".to_string()]);
    drop(backend);
    drydock_sandbox::reap_stale_sessions(&rt).unwrap();
    assert_eq!(names(), vec!["etc-snapshots".to_string()]);
}
