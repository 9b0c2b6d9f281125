//! Resource exhaustion: fork bombs, memory bombs, filling the disk or `/tmp`. The command fails
//! cleanly, the session keeps working, and the host is unharmed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use drydock_sandbox::Session;

fn is_root() -> bool {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() == 0 }
}

#[tokio::test]
async fn a_fork_bomb_is_contained_and_the_session_survives() {
    let (backend, _rt) = backend();
    let ws = workspace();
    let mut spec = spec(ws.path());
    spec.sandbox.max_processes = 64;
    let session = backend.start_local(spec).await.unwrap();
    scenarios::a_fork_bomb_is_contained(&session, "ls /proc | grep -cE '^[0-9]+$'").await;
    session.stop().await.unwrap();
}

#[tokio::test]
async fn processes_beyond_the_limit_cannot_start() {
    let (backend, _rt) = backend();
    let ws = workspace();
    let mut spec = spec(ws.path());
    spec.sandbox.max_processes = 16;
    let session = backend.start_local(spec).await.unwrap();
    scenarios::processes_beyond_sixteen_cannot_start(&session).await;
    session.stop().await.unwrap();
}

#[tokio::test]
async fn a_memory_bomb_fails_inside_and_the_session_survives() {
    let (backend, _rt) = backend();
    let ws = workspace();
    let mut spec = spec(ws.path());
    spec.sandbox.memory_mb = 256;
    let session = backend.start_local(spec).await.unwrap();
    // One process: refused by RLIMIT_DATA with a clean MemoryError.
    let out = run(
        &session,
        python("x = bytearray(1 << 30)\nprint('ALLOCATED')"),
    )
    .await;
    assert!(!stdout(&out).contains("ALLOCATED"));
    assert!(stderr(&out).contains("MemoryError"), "{}", stderr(&out));
    assert_eq!(out.exit_code, Some(1));
    if is_root() {
        // Several processes, each under the per-process limit, together over the session's
        // cgroup: the kernel kills them and the output says why.
        let out = run(&session, python(
            "import os\nfor i in range(6):\n    if os.fork() == 0:\n        b = bytearray(200 << 20)\n        for j in range(0, len(b), 4096): b[j] = 1\n        import time; time.sleep(1); os._exit(0)\nfor i in range(6): os.wait()\nprint('ALL DONE')",
        )).await;
        assert!(
            !stdout(&out).contains("ALL DONE") || stderr(&out).contains("memory limit"),
            "{out:?}"
        );
        assert!(
            stderr(&out).contains("killed by the session's memory limit"),
            "{}",
            stderr(&out)
        );
    } else {
        println!("not root: no cgroup; only the per-process limit is checked");
    }
    assert_eq!(run(&session, request(&["true"])).await.exit_code, Some(0));
    session.stop().await.unwrap();
}

#[tokio::test]
async fn one_huge_file_fails_with_efbig_at_the_disk_budget() {
    let (backend, _rt) = backend();
    let ws = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let mut spec = spec(ws.path());
    spec.sandbox.disk_mb = 16;
    let session = backend.start_local(spec).await.unwrap();
    scenarios::one_huge_file_fails_with_efbig(&session, ws.path()).await;
    assert_eq!(
        run(&session, sh("rm big && echo ok")).await.exit_code,
        Some(0)
    );
    session.stop().await.unwrap();
}

#[tokio::test]
async fn filling_the_workspace_with_many_files_is_stopped_with_a_clear_message() {
    let (backend, _rt) = backend();
    let ws = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let mut spec = spec(ws.path());
    spec.sandbox.disk_mb = 32;
    let session = backend.start_local(spec).await.unwrap();
    let mut fill = sh(
        "i=0; while true; do head -c 4M /dev/zero > f$i || exit 7; i=$((i+1)); sleep 0.01; done",
    );
    fill.timeout = Duration::from_secs(60);
    let out = run(&session, fill).await;
    assert!(!out.timed_out, "the watcher never stopped the command");
    assert_eq!(out.signal, Some(libc::SIGKILL), "{out:?}");
    let message = stderr(&out);
    assert!(message.contains("past its disk limit"), "{message}");
    let used: u64 = std::fs::read_dir(ws.path())
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    println!(
        "the workspace reached {} MiB before the command was stopped",
        used >> 20
    );
    assert!(used > 32 << 20 && used < 512 << 20, "{used}");
    // Deleting to get back under the budget is allowed.
    let out = run(&session, sh("rm -f f* && echo cleaned")).await;
    assert_eq!(stdout(&out), "cleaned\n");
    session.stop().await.unwrap();
}

#[tokio::test]
async fn tmp_is_capped_and_full_means_enospc() {
    let (backend, _rt) = backend();
    let ws = workspace();
    let mut spec = spec(ws.path());
    spec.sandbox.disk_mb = 32;
    let session = backend.start_local(spec).await.unwrap();
    let out = run(&session, sh("for i in 1 2 3 4 5 6; do head -c 10M /dev/zero > /tmp/f$i || break; done 2>&1; df -m /tmp | tail -1")).await;
    assert!(
        stdout(&out).contains("No space left on device"),
        "{}",
        stdout(&out)
    );
    let out = run(
        &session,
        sh("rm /tmp/f*; echo ok > /tmp/after && cat /tmp/after"),
    )
    .await;
    assert_eq!(stdout(&out), "ok\n");
    session.stop().await.unwrap();
}
