//! Session lifecycle through the real docker daemon: persistence across commands, exits and
//! signals, no process outliving its command or its session, cancellation, one command at a
//! time, streaming, the host's environment kept out, and clean-up after a crash.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod docker_common;

use std::io::BufRead;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{
    assert_gone_within, marker, pids_with_marker, request, run, sh, stderr, stdout, workspace,
};
use docker_common::*;
use drydock_sandbox::capture::{OutputStream, output_channel};
use drydock_sandbox::{DockerBackend, DockerOptions, SandboxError, Session};
use pretty_assertions::assert_eq;
use tokio_util::sync::CancellationToken;

/// Waits for the flag file a command touches once its processes run (`<marker>.started` in the
/// workspace): host process scans see nothing of a gVisor sandbox, files they do.
async fn wait_until_started(ws: &std::path::Path, marker: &str) {
    let flag = ws.join(format!("{marker}.started"));
    let started = Instant::now();
    while !flag.exists() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{marker} never started"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Asserts that no process in the session's container carries `marker` (seen from inside: this
/// holds under gVisor too, where the host sees no container process).
async fn assert_none_inside(session: &impl Session, marker: &str) {
    let out = run(session, sh("ps -eo args --no-headers")).await;
    let listing = stdout(&out);
    assert!(!listing.contains(marker), "{marker} survives: {listing}");
    assert!(listing.contains("ps -eo args"), "ps saw nothing: {listing}");
}

#[tokio::test]
async fn tmp_and_home_persist_across_commands_of_a_session() {
    let Some((backend, _rt)) = backend().await else {
        return;
    };
    let ws = workspace();
    let session = session(&backend, ws.path()).await;
    let out = run(
        &session,
        sh("echo one > /tmp/t && mkdir -p $HOME/.cache && echo two > $HOME/.cache/h && echo $HOME"),
    )
    .await;
    assert_eq!(out.exit_code, Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "/tmp/home\n");
    let out = run(
        &session,
        sh("cat /tmp/t $HOME/.cache/h; echo $DRYDOCK_SANDBOX"),
    )
    .await;
    assert_eq!(stdout(&out), "one\ntwo\ndocker\n");
    session.stop().await.unwrap();

    // A new session starts clean.
    let session = docker_common::session(&backend, ws.path()).await;
    let out = run(&session, sh("cat /tmp/t")).await;
    assert_eq!(out.exit_code, Some(1));
    session.stop().await.unwrap();
}

#[tokio::test]
async fn exit_codes_signals_stdin_cwd_and_merged_output() {
    let Some((backend, _rt)) = backend().await else {
        return;
    };
    let ws = workspace();
    std::fs::create_dir_all(ws.path().join("sub/dir")).unwrap();
    let session = session(&backend, ws.path()).await;

    common::scenarios::exit_codes_signals_and_stdin(&session).await;

    // A large stdin, larger than any pipe buffer, arrives whole and then ends.
    let mut req = sh("wc -c");
    req.stdin = Some(vec![b'x'; 3 << 20]);
    assert_eq!(
        stdout(&run(&session, req).await).trim(),
        (3 << 20).to_string()
    );

    common::scenarios::empty_stdin_cwd_and_merged_output(&session).await;
    session.stop().await.unwrap();
}

#[tokio::test]
async fn bad_requests_get_clear_errors_and_the_session_goes_on() {
    let Some((backend, _rt)) = backend().await else {
        return;
    };
    let ws = workspace();
    let session = session(&backend, ws.path()).await;
    common::scenarios::bad_requests_get_clear_errors(&session, ws.path()).await;
    session.stop().await.unwrap();
}

#[tokio::test]
async fn background_processes_do_not_outlive_their_command() {
    let Some((backend, _rt)) = backend().await else {
        return;
    };
    let ws = workspace();
    let session = session(&backend, ws.path()).await;
    common::scenarios::background_jobs_do_not_outlive_their_command(
        &session,
        &[(
            "stopped",
            "sh -c 'kill -STOP $$; sleep 300' {m} & sleep 0.2",
        )],
        async |m| assert_none_inside(&session, m).await,
    )
    .await;

    // A command that kills the wrapper watching it loses its processes all the same.
    let m = marker("wrapper");
    let out = run(
        &session,
        sh(&format!(
            "sh -c 'sleep 300' {m} & sleep 0.3; kill -9 $PPID; sleep 300"
        )),
    )
    .await;
    assert_eq!(pids_with_marker(&m), Vec::<u32>::new());
    assert_none_inside(&session, &m).await;
    assert!(out.duration < Duration::from_secs(30), "{out:?}");
    assert!(
        stderr(&out).contains("supervisor was killed"),
        "{}",
        stderr(&out)
    );
    let after = run(&session, sh("ps -eo pid,comm --no-headers")).await;
    let listing = stdout(&after);
    assert!(!listing.contains("sleep"), "{listing}");
    session.stop().await.unwrap();
}

#[tokio::test]
async fn stop_removes_the_container_and_every_process_before_it_returns() {
    let Some((backend, _rt)) = backend().await else {
        return;
    };
    let ws = workspace();
    let session = Arc::new(docker_common::session(&backend, ws.path()).await);
    let m = marker("stop");
    let runner = {
        let session = Arc::clone(&session);
        let script = format!(
            "setsid sh -c 'sleep 300' {m} & ( sh -c 'sleep 300' {m} & ) ; touch {m}.started; sh -c 'sleep 300' {m}"
        );
        tokio::spawn(async move { session.exec(sh(&script), &CancellationToken::new()).await })
    };
    wait_until_started(ws.path(), &m).await;
    let id = session.container_id().to_string();
    let dir = session.dir().to_path_buf();
    assert!(container_exists(&backend, &id).await);
    let started = Instant::now();
    session.stop().await.unwrap();
    let took = started.elapsed();
    assert_eq!(
        pids_with_marker(&m),
        Vec::<u32>::new(),
        "processes survive stop"
    );
    assert!(
        !container_exists(&backend, &id).await,
        "the container survives stop"
    );
    println!("stop took {took:?}");
    let result = tokio::time::timeout(Duration::from_secs(10), runner)
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(result, Err(SandboxError::Stopped)), "{result:?}");
    assert!(!dir.exists(), "the session directory is left behind");
    session.stop().await.unwrap();
    let err = session
        .exec(request(&["true"]), &CancellationToken::new())
        .await
        .unwrap_err();
    assert!(matches!(err, SandboxError::Stopped), "{err}");
}

#[tokio::test]
async fn timeout_kills_the_whole_tree_and_says_so() {
    let Some((backend, _rt)) = backend().await else {
        return;
    };
    let ws = workspace();
    let session = session(&backend, ws.path()).await;
    let m = marker("timeout");
    let mut req = sh(&format!(
        "echo started; setsid sh -c 'sleep 300' {m} & sh -c 'sleep 300' {m}"
    ));
    req.timeout = Duration::from_millis(800);
    let out = run(&session, req).await;
    assert!(out.timed_out);
    assert_eq!((out.exit_code, out.signal), (None, Some(libc::SIGKILL)));
    assert_eq!(stdout(&out), "started\n");
    assert!(out.duration >= Duration::from_millis(800));
    assert_eq!(pids_with_marker(&m), Vec::<u32>::new());
    assert_none_inside(&session, &m).await;
    assert_eq!(run(&session, request(&["true"])).await.exit_code, Some(0));
    session.stop().await.unwrap();
}

#[tokio::test]
async fn cancellation_kills_the_tree_and_returns_cancelled() {
    let Some((backend, _rt)) = backend().await else {
        return;
    };
    let ws = workspace();
    let session = session(&backend, ws.path()).await;
    let m = marker("cancel");
    let cancel = CancellationToken::new();
    let trigger = {
        let cancel = cancel.clone();
        let m = m.clone();
        let ws = ws.path().to_path_buf();
        tokio::spawn(async move {
            wait_until_started(&ws, &m).await;
            cancel.cancel();
        })
    };
    let result = session
        .exec(
            sh(&format!(
                "setsid sh -c 'sleep 300' {m} & touch {m}.started; sh -c 'sleep 300' {m}"
            )),
            &cancel,
        )
        .await;
    trigger.await.unwrap();
    assert!(matches!(result, Err(SandboxError::Cancelled)), "{result:?}");
    assert_eq!(pids_with_marker(&m), Vec::<u32>::new());
    assert_none_inside(&session, &m).await;
    // A command waiting for its turn is cancelled without running.
    let already = CancellationToken::new();
    already.cancel();
    let waiting = session.exec(sh("echo ran > /tmp/ran"), &already).await;
    assert!(
        matches!(waiting, Err(SandboxError::Cancelled)),
        "{waiting:?}"
    );
    let out = run(&session, sh("test -e /tmp/ran && echo ran || echo none")).await;
    assert_eq!(stdout(&out), "none\n");
    session.stop().await.unwrap();
}

#[tokio::test]
async fn dropping_an_exec_future_or_the_session_kills_what_ran() {
    let Some((backend, _rt)) = backend().await else {
        return;
    };
    let ws = workspace();
    let session = session(&backend, ws.path()).await;
    let m = marker("dropfuture");
    let cancel = CancellationToken::new();
    let script = format!("setsid sh -c 'sleep 300' {m} & touch {m}.started; wait");
    tokio::select! {
        _ = session.exec(sh(&script), &cancel) => panic!("sleep 300 ended"),
        () = wait_until_started(ws.path(), &m) => {}
    }
    assert_gone_within(&m, Duration::from_secs(10)).await;
    assert_none_inside(&session, &m).await;
    // The session goes on.
    assert_eq!(run(&session, sh("echo ok")).await.stdout.head, b"ok\n");

    let m = marker("dropsession");
    let session = Arc::new(session);
    let runner = {
        let session = Arc::clone(&session);
        let script = format!("sh -c 'sleep 300' {m} & touch {m}.started; wait");
        tokio::spawn(async move { session.exec(sh(&script), &CancellationToken::new()).await })
    };
    wait_until_started(ws.path(), &m).await;
    runner.abort();
    let _ = runner.await;
    let id = session.container_id().to_string();
    let dir = session.dir().to_path_buf();
    drop(Arc::try_unwrap(session).unwrap());
    assert_gone_within(&m, Duration::from_secs(10)).await;
    assert_container_gone_within(&backend, &id, Duration::from_secs(10)).await;
    assert!(!dir.exists());
}

#[tokio::test]
async fn commands_of_one_session_run_one_at_a_time() {
    let Some((backend, _rt)) = backend().await else {
        return;
    };
    let ws = workspace();
    let session = session(&backend, ws.path()).await;
    let cancel = CancellationToken::new();
    let first = sh("sleep 0.5; echo first-done > /tmp/order; echo first");
    let second = sh("cat /tmp/order 2>/dev/null || echo first-not-done");
    let (a, b) = tokio::join!(session.exec(first, &cancel), async {
        tokio::time::sleep(Duration::from_millis(150)).await;
        session.exec(second, &cancel).await
    });
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(stdout(&a), "first\n");
    assert_eq!(
        stdout(&b),
        "first-done\n",
        "the second command ran before the first ended"
    );
    session.stop().await.unwrap();
}

#[tokio::test]
async fn streaming_forwards_output_while_capturing_it() {
    let Some((backend, _rt)) = backend().await else {
        return;
    };
    let ws = workspace();
    let session = session(&backend, ws.path()).await;
    let (sink, mut chunks) = output_channel(8);
    let collector = tokio::spawn(async move {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let mut first_at = None;
        while let Some(chunk) = chunks.recv().await {
            first_at.get_or_insert_with(Instant::now);
            match chunk.stream {
                OutputStream::Stdout => out.extend(chunk.data),
                OutputStream::Stderr => err.extend(chunk.data),
            }
        }
        (out, err, first_at)
    });
    let started = Instant::now();
    let out = session
        .exec_streaming(
            sh("for i in 1 2 3; do echo $i; echo e$i >&2; done; sleep 1"),
            &CancellationToken::new(),
            sink,
        )
        .await
        .unwrap();
    let ended = started.elapsed();
    let (streamed_out, streamed_err, first_at) = collector.await.unwrap();
    assert_eq!(streamed_out, b"1\n2\n3\n");
    assert_eq!(streamed_err, b"e1\ne2\ne3\n");
    assert_eq!(out.stdout.head, b"1\n2\n3\n");
    // The output arrived while the command still slept, not at its end.
    assert!(
        first_at.unwrap().duration_since(started) + Duration::from_millis(500) < ended,
        "output was not streamed"
    );
    session.stop().await.unwrap();
}

/// Started in a child process by the tests below (with `--ignored --exact`): starts a session,
/// runs `DRYDOCK_TEST_CHILD_SCRIPT`, prints the container id first and the output last.
#[tokio::test]
#[ignore = "run in a child process by other tests"]
async fn child_session() {
    let Ok(ws) = std::env::var("DRYDOCK_TEST_CHILD_WORKSPACE") else {
        return;
    };
    let mut options = DockerOptions::new(STAGE);
    options.socket = Some(socket());
    options.runtime_dir = Some(std::env::var("DRYDOCK_TEST_CHILD_RUNTIME").unwrap().into());
    let backend = DockerBackend::connect(options).await.unwrap();
    let session = docker_common::session(&backend, std::path::Path::new(&ws)).await;
    println!("CONTAINER {}", session.container_id());
    let script = std::env::var("DRYDOCK_TEST_CHILD_SCRIPT").unwrap();
    let out = run(&session, sh(&script)).await;
    println!("OUTPUT-BEGIN\n{}{}OUTPUT-END", stdout(&out), stderr(&out));
    session.stop().await.unwrap();
}

fn child(ws: &std::path::Path, runtime: &std::path::Path, script: &str) -> std::process::Command {
    let mut command = std::process::Command::new(std::env::current_exe().unwrap());
    command
        .args([
            "--ignored",
            "--exact",
            "child_session",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("DRYDOCK_TEST_CHILD_WORKSPACE", ws)
        .env("DRYDOCK_TEST_CHILD_RUNTIME", runtime)
        .env("DRYDOCK_TEST_CHILD_SCRIPT", script);
    command
}

#[tokio::test]
async fn the_orchestrator_environment_never_reaches_the_sandbox() {
    if require_daemon().is_none() {
        return;
    }
    let ws = workspace();
    let runtime = tempfile::tempdir().unwrap();
    let canary = format!("drydock-canary-{}", std::process::id());
    let output = child(
        ws.path(),
        &runtime.path().join("rt"),
        "env; cat /proc/self/environ; cat /proc/[0-9]*/environ 2>/dev/null; echo done",
    )
    .env("DRYDOCK_SECRET_CANARY", &canary)
    .env("ANTHROPIC_API_KEY", &canary)
    .env("GITHUB_TOKEN", &canary)
    .output()
    .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let inside = text
        .split("OUTPUT-BEGIN\n")
        .nth(1)
        .and_then(|rest| rest.split("OUTPUT-END").next())
        .unwrap();
    assert!(inside.contains("done"), "{inside}");
    assert!(inside.contains("HOME=/tmp/home"), "{inside}");
    assert!(!inside.contains(&canary), "the canary leaked: {inside}");
    assert!(!inside.contains("DRYDOCK_SECRET_CANARY"), "{inside}");
    assert!(!inside.contains("/root"), "the host HOME leaked: {inside}");
}

#[tokio::test]
async fn a_crashed_owner_leaves_nothing_running_and_its_container_is_reaped() {
    let Some((backend, _rt)) = backend().await else {
        return;
    };
    // The image is built (or found) before the child needs it.
    image(&backend).await;
    let ws = workspace();
    let runtime = tempfile::tempdir().unwrap();
    let rt = runtime.path().join("rt");
    let m = marker("crash");
    // The marker is assembled by the shell so that no argv outside the container carries it.
    let script = format!(
        "A={}; B={}; setsid sh -c 'sleep 300' $A$B & touch $A$B.started; sh -c 'sleep 300' $A$B",
        &m[..10],
        &m[10..]
    );
    let mut owner = child(ws.path(), &rt, &script)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = owner.stdout.take().unwrap();
    let (id_tx, id_rx) = tokio::sync::oneshot::channel();
    // Reads the child's output to its end, so its prints never hit a closed pipe.
    std::thread::spawn(move || {
        let mut id_tx = Some(id_tx);
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if let Some(id) = line.strip_prefix("CONTAINER ")
                && let Some(tx) = id_tx.take()
            {
                let _ = tx.send(id.to_string());
            }
        }
    });
    let id = id_rx.await.expect("the child never started its session");
    wait_until_started(ws.path(), &m).await;
    let sessions = |rt: &std::path::Path| std::fs::read_dir(rt).map(|d| d.count()).unwrap_or(0);
    assert_eq!(sessions(&rt), 1);
    // SIGKILL: no destructor, no stop.
    owner.kill().unwrap();
    owner.wait().unwrap();
    // The container's init notices its owner is gone and takes everything with it.
    assert_gone_within(&m, Duration::from_secs(10)).await;
    let started = Instant::now();
    loop {
        let state = container_state(&backend, &id);
        if state.as_deref() != Some("running") {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the container still runs without its owner"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The next backend on this runtime directory removes the container and the directory.
    let mut options = DockerOptions::new(STAGE);
    options.socket = Some(socket());
    options.runtime_dir = Some(rt.clone());
    let _next = DockerBackend::connect(options).await.unwrap();
    assert!(
        !container_exists(&backend, &id).await,
        "the orphan was not reaped"
    );
    assert_eq!(
        sessions(&rt),
        0,
        "the stale session directory was not reaped"
    );
}
