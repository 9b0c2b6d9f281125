//! Gigabytes of output through the daemon: memory stays bounded and the head and the tail are
//! right. Alone in its own test binary so the memory measurement is not disturbed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod docker_common;

use common::{sh, stderr, workspace};
use docker_common::*;
use drydock_sandbox::Session;
use pretty_assertions::assert_eq;
use tokio_util::sync::CancellationToken;

fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    kib * 1024
}

#[tokio::test]
async fn a_flood_of_output_is_captured_head_and_tail_in_bounded_memory() {
    let Some((backend, _rt)) = backend().await else {
        return;
    };
    let ws = workspace();
    let session = session(&backend, ws.path()).await;
    let before = rss_bytes();
    let mut req = sh("echo START; head -c 1G /dev/zero; echo END; echo to-stderr >&2");
    req.max_output_bytes = 64 * 1024;
    req.timeout = std::time::Duration::from_secs(300);
    let out = session.exec(req, &CancellationToken::new()).await.unwrap();
    let grown = rss_bytes().saturating_sub(before);
    assert_eq!(out.exit_code, Some(0));
    assert_eq!(out.stdout.total_bytes, (1u64 << 30) + 10);
    assert_eq!(out.stdout.head.len(), 32 * 1024);
    assert_eq!(out.stdout.tail.len(), 32 * 1024);
    assert!(out.stdout.head.starts_with(b"START\n\0\0"));
    assert!(out.stdout.tail.ends_with(b"\0\0END\n"));
    assert_eq!(stderr(&out), "to-stderr\n");
    println!(
        "1 GiB of output through the daemon in {:?}; resident memory grew by {} KiB",
        out.duration,
        grown >> 10
    );
    assert!(
        grown < 64 << 20,
        "memory grew by {grown} bytes while capturing"
    );
    session.stop().await.unwrap();
}
