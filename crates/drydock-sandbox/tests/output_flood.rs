//! Gigabytes of output: memory stays bounded and the head and the tail are right. Alone in its
//! own test binary so the memory measurement is not disturbed by other tests.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use drydock_sandbox::Session;
use pretty_assertions::assert_eq;

#[tokio::test]
async fn a_flood_of_output_is_captured_head_and_tail_in_bounded_memory() {
    let (backend, _rt) = backend();
    let ws = workspace();
    let session = backend.start_local(spec(ws.path())).await.unwrap();
    let out = scenarios::a_flood_is_captured_in_bounded_memory(&session, 2, "").await;
    assert_eq!(out.stdout.dropped_bytes(), (2u64 << 30) + 10 - 64 * 1024);
    session.stop().await.unwrap();
}
