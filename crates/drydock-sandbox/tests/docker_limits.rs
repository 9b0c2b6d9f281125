//! Resource exhaustion through the real docker daemon: fork bombs, memory bombs, filling the disk
//! or `/tmp`. The command fails cleanly, the session keeps working, and the host is unharmed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod docker_common;

use std::time::Duration;

use common::{python, request, run, sh, stderr, stdout};
use docker_common::*;
use drydock_sandbox::Session;
use pretty_assertions::assert_eq;
use tokio_util::sync::CancellationToken;

#[tokio::test]
async fn a_fork_bomb_is_contained_and_the_session_survives() {
    let Some((backend, _rt)) = backend().await else {
        return;
    };
    let ws = common::workspace();
    let mut spec = spec(ws.path(), &image(&backend).await);
    spec.sandbox.max_processes = 64;
    let session = backend.start_docker(spec).await.unwrap();
    common::scenarios::a_fork_bomb_is_contained(&session, "echo /proc/[0-9]* | wc -w").await;
    session.stop().await.unwrap();
}

#[tokio::test]
async fn processes_beyond_the_limit_cannot_start() {
    let Some((backend, _rt)) = backend().await else {
        return;
    };
    let ws = common::workspace();
    let mut spec = spec(ws.path(), &image(&backend).await);
    spec.sandbox.max_processes = 16;
    let session = backend.start_docker(spec).await.unwrap();
    common::scenarios::processes_beyond_sixteen_cannot_start(&session).await;
    // The children were swept with their command: the next one has the whole budget again.
    let out = run(&session, sh("echo fresh")).await;
    assert_eq!(stdout(&out), "fresh\n");
    session.stop().await.unwrap();
}

#[tokio::test]
async fn a_memory_bomb_is_killed_with_a_notice_and_the_session_survives() {
    let Some((backend, _rt)) = backend().await else {
        return;
    };
    let ws = common::workspace();
    let mut spec = spec(ws.path(), &image(&backend).await);
    spec.sandbox.memory_mb = 256;
    let session = backend.start_docker(spec).await.unwrap();
    let bomb = python(
        "b = bytearray(1 << 30)\nfor i in range(0, len(b), 4096): b[i] = 1\nprint('ALLOCATED')",
    );
    if session
        .info()
        .isolation
        .iter()
        .any(|i| i == "runtime runsc")
    {
        // gVisor's kernel lives under the same limit as the processes it runs: the host's OOM
        // killer takes the whole sandbox. The session ends, clearly, with nothing left.
        let ended = session.exec(bomb, &CancellationToken::new()).await;
        match &ended {
            Ok(out) => assert!(!stdout(out).contains("ALLOCATED"), "{out:?}"),
            Err(err) => assert!(err.to_string().contains("container ended"), "{err}"),
        }
        session.stop().await.unwrap();
        return;
    }
    let out = run(&session, bomb).await;
    assert!(!stdout(&out).contains("ALLOCATED"), "{out:?}");
    assert_eq!(out.signal, Some(libc::SIGKILL), "{out:?}");
    assert!(
        stderr(&out).contains("killed by the session's memory limit (256 MiB)"),
        "{}",
        stderr(&out)
    );
    // Several processes, each small, together over the limit.
    let out = run(&session, python(
        "import os\nfor i in range(6):\n    if os.fork() == 0:\n        b = bytearray(100 << 20)\n        for j in range(0, len(b), 4096): b[j] = 1\n        import time; time.sleep(1); os._exit(0)\nfor i in range(6): os.wait()\nprint('ALL DONE')",
    )).await;
    assert!(
        stderr(&out).contains("killed by the session's memory limit"),
        "{out:?}"
    );
    assert_eq!(run(&session, request(&["true"])).await.exit_code, Some(0));
    let quiet = run(&session, sh("echo calm")).await;
    assert_eq!(
        stderr(&quiet),
        "",
        "a notice repeats for a command that did not exceed the limit"
    );
    session.stop().await.unwrap();
}

#[tokio::test]
async fn one_huge_file_fails_with_efbig_at_the_disk_budget() {
    let Some((backend, _rt)) = backend().await else {
        return;
    };
    let ws = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let mut spec = spec(ws.path(), &image(&backend).await);
    spec.sandbox.disk_mb = 16;
    let session = backend.start_docker(spec).await.unwrap();
    common::scenarios::one_huge_file_fails_with_efbig(&session, ws.path()).await;
    session.stop().await.unwrap();
}

#[tokio::test]
async fn many_files_past_the_budget_get_the_command_killed() {
    let Some((backend, _rt)) = backend().await else {
        return;
    };
    let ws = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let mut spec = spec(ws.path(), &image(&backend).await);
    spec.sandbox.disk_mb = 32;
    let session = backend.start_docker(spec).await.unwrap();
    let mut req = sh(
        "for i in $(seq 200); do head -c 1048576 /dev/zero > f$i; sleep 0.02; done; echo finished",
    );
    req.timeout = Duration::from_secs(120);
    let out = run(&session, req).await;
    assert!(!stdout(&out).contains("finished"), "{out:?}");
    assert_eq!(out.signal, Some(libc::SIGKILL));
    assert!(
        stderr(&out).contains("past its disk limit"),
        "{}",
        stderr(&out)
    );
    // Deleting to get back under the budget works.
    let out = run(&session, sh("rm -f f*; echo cleaned")).await;
    assert_eq!(stdout(&out), "cleaned\n", "{out:?}");
    session.stop().await.unwrap();
}

#[tokio::test]
async fn a_full_tmp_fails_with_enospc() {
    let Some((backend, _rt)) = backend().await else {
        return;
    };
    let ws = common::workspace();
    let mut spec = spec(ws.path(), &image(&backend).await);
    spec.sandbox.disk_mb = 32;
    let session = backend.start_docker(spec).await.unwrap();
    let out = run(
        &session,
        sh("dd if=/dev/zero of=/tmp/a bs=1M count=20 2>&1; dd if=/dev/zero of=/tmp/b bs=1M count=20 2>&1; echo dd-exit=$?; rm /tmp/a /tmp/b; echo ok > /tmp/after && cat /tmp/after"),
    )
    .await;
    let text = stdout(&out);
    assert!(text.contains("No space left on device"), "{text}");
    assert!(text.ends_with("ok\n"), "{text}");
    session.stop().await.unwrap();
}
