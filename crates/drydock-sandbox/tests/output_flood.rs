//! Gigabytes of output: memory stays bounded and the head and the tail are right. Alone in its
//! own test binary so the memory measurement is not disturbed by other tests.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use drydock_sandbox::Session;
use pretty_assertions::assert_eq;

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
    let (backend, _rt) = backend();
    let ws = workspace();
    let session = backend.start_local(spec(ws.path())).await.unwrap();
    let before = rss_bytes();
    let mut req = sh("echo START; head -c 2G /dev/zero; echo END; echo to-stderr >&2");
    req.max_output_bytes = 64 * 1024;
    req.timeout = std::time::Duration::from_secs(300);
    let out = run(&session, req).await;
    let grown = rss_bytes().saturating_sub(before);
    assert_eq!(out.exit_code, Some(0));
    assert_eq!(out.stdout.total_bytes, (2u64 << 30) + 10);
    assert_eq!(out.stdout.head.len(), 32 * 1024);
    assert_eq!(out.stdout.tail.len(), 32 * 1024);
    assert!(out.stdout.head.starts_with(b"START\n\0\0"));
    assert!(out.stdout.tail.ends_with(b"\0\0END\n"));
    assert_eq!(out.stdout.dropped_bytes(), (2u64 << 30) + 10 - 64 * 1024);
    assert_eq!(stderr(&out), "to-stderr\n");
    println!(
        "2 GiB of output in {:?}; resident memory grew by {} KiB",
        out.duration,
        grown >> 10
    );
    assert!(
        grown < 64 << 20,
        "memory grew by {grown} bytes while capturing"
    );
    session.stop().await.unwrap();
}
