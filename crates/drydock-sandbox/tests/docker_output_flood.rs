//! Gigabytes of output through the daemon: memory stays bounded and the head and the tail are
//! right. Alone in its own test binary so the memory measurement is not disturbed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod docker_common;

use common::workspace;
use docker_common::*;
use drydock_sandbox::Session;

#[tokio::test]
async fn a_flood_of_output_is_captured_head_and_tail_in_bounded_memory() {
    let Some((backend, _rt)) = backend().await else {
        return;
    };
    let ws = workspace();
    let session = session(&backend, ws.path()).await;
    common::scenarios::a_flood_is_captured_in_bounded_memory(&session, 1, " through the daemon")
        .await;
    session.stop().await.unwrap();
}
