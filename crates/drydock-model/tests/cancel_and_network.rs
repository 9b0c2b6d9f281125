#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Cancellation, unreachable servers and silent streams.

mod support;

use std::time::Duration;

use drydock_model::{ModelConfig, ModelError, StreamEvent, build_client};
use support::{Delivery, Events, FakeServer, Reply, agent_request, config_for, env_with_keys};
use tokio_util::sync::CancellationToken;

/// Guards against a hang turning into a stuck test run; not a timing assertion.
const HANG_GUARD: Duration = Duration::from_secs(30);

#[tokio::test]
async fn cancelling_a_slow_stream_returns_cancelled_promptly() {
    for (spec, fixture) in [
        ("anthropic:claude-sonnet-4-5", "anthropic/text.sse"),
        ("openai:gpt-4.1", "openai/text.sse"),
    ] {
        // The server sends the first text delta, then nothing for ever.
        let body = support::fixture(fixture);
        let text = String::from_utf8(body.clone()).unwrap();
        let first_delta = text.find("The").unwrap();
        let first_delta = first_delta + text[first_delta..].find("\n\n").unwrap() + 2;
        let server = FakeServer::start(vec![
            Reply::sse_bytes(body).delivered(Delivery::StallAfter(first_delta)),
        ])
        .await;
        let client = build_client(spec, &config_for(server.base_url()), &env_with_keys).unwrap();
        let cancel = CancellationToken::new();
        let events = Events::default();
        let observer = |event: StreamEvent| {
            if matches!(event, StreamEvent::TextDelta(_)) {
                cancel.cancel();
            }
            events.push(event);
        };
        let result = tokio::time::timeout(
            HANG_GUARD,
            client.complete(&agent_request(), &observer, &cancel),
        )
        .await
        .expect("the call ignored its cancellation");
        assert!(
            matches!(result, Err(ModelError::Cancelled)),
            "{spec}: {result:?}"
        );
        assert!(
            !events.text().is_empty(),
            "{spec}: cancelled before any text arrived"
        );
        assert_eq!(server.requests().len(), 1);
    }
}

#[tokio::test]
async fn cancelling_during_a_retry_wait_returns_cancelled() {
    let server = FakeServer::start(vec![
        Reply::json(429, "anthropic/429.json").retry_after_secs(100),
        Reply::sse("anthropic/text.sse"),
    ])
    .await;
    let client = build_client(
        "anthropic:claude-sonnet-4-5",
        &config_for(server.base_url()),
        &env_with_keys,
    )
    .unwrap();
    let cancel = CancellationToken::new();
    let observer = |event: StreamEvent| {
        if let StreamEvent::Retrying { delay, .. } = event {
            assert_eq!(delay, Duration::from_secs(100));
            cancel.cancel();
        }
    };
    let result = tokio::time::timeout(
        HANG_GUARD,
        client.complete(&agent_request(), &observer, &cancel),
    )
    .await
    .expect("the retry wait ignored its cancellation");
    assert!(matches!(result, Err(ModelError::Cancelled)), "{result:?}");
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn an_already_cancelled_token_sends_nothing() {
    let server = FakeServer::start(vec![Reply::sse("openai/text.sse")]).await;
    let client = build_client(
        "openai:gpt-4.1",
        &config_for(server.base_url()),
        &env_with_keys,
    )
    .unwrap();
    let cancel = CancellationToken::new();
    cancel.cancel();
    let result = client.complete(&agent_request(), &|_| {}, &cancel).await;
    assert!(matches!(result, Err(ModelError::Cancelled)));
    assert_eq!(server.requests().len(), 0);
}

#[tokio::test]
async fn an_unreachable_server_is_retried_then_a_network_error() {
    // A port that was just free: nothing listens there.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}/v1", listener.local_addr().unwrap());
    drop(listener);
    let config = ModelConfig {
        max_retries: 2,
        ..config_for(&base)
    };
    let client = build_client("openai:gpt-4.1", &config, &env_with_keys).unwrap();
    let events = Events::default();
    let error = client
        .complete(
            &agent_request(),
            &|event| events.push(event),
            &CancellationToken::new(),
        )
        .await
        .unwrap_err();
    match &error {
        ModelError::Network {
            provider,
            url,
            message,
        } => {
            assert_eq!(provider, "openai");
            assert_eq!(url, &format!("{base}/chat/completions"));
            assert!(message.contains("after 3 attempts"), "{message}");
            assert!(message.contains("connection"), "{message}");
        }
        other => panic!("expected a network error, got {other:?}"),
    }
    assert_eq!(error.code(), "model_unreachable");
    assert_eq!(events.retries().len(), 2);
}

#[tokio::test]
async fn a_silent_stream_is_abandoned_and_retried() {
    let server = FakeServer::start(vec![
        Reply::sse("openai/text.sse").delivered(Delivery::StallAfter(100)),
        Reply::sse("openai/text.sse"),
    ])
    .await;
    let config = ModelConfig {
        stream_idle_timeout_secs: 1,
        ..config_for(server.base_url())
    };
    let client = build_client("openai:gpt-4.1", &config, &env_with_keys).unwrap();
    let events = Events::default();
    let response = tokio::time::timeout(
        HANG_GUARD,
        client.complete(
            &agent_request(),
            &|event| events.push(event),
            &CancellationToken::new(),
        ),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(response.usage.output_tokens, 12);
    assert_eq!(server.requests().len(), 2);
    let reasons: Vec<String> = events
        .all()
        .into_iter()
        .filter_map(|event| match event {
            StreamEvent::Retrying { reason, .. } => Some(reason),
            _ => None,
        })
        .collect();
    assert_eq!(reasons.len(), 1);
    assert!(reasons[0].contains("went silent for 1s"), "{reasons:?}");
}

#[tokio::test]
async fn a_server_that_does_not_start_answering_in_time_is_retried() {
    let server = FakeServer::start(vec![
        Reply::sse("anthropic/text.sse").answer_after(Duration::from_secs(600)),
        Reply::sse("anthropic/text.sse"),
    ])
    .await;
    let config = ModelConfig {
        request_timeout_secs: 1,
        ..config_for(server.base_url())
    };
    let client = build_client("anthropic:claude-haiku-4-5", &config, &env_with_keys).unwrap();
    let events = Events::default();
    let response = tokio::time::timeout(
        HANG_GUARD,
        client.complete(
            &agent_request(),
            &|event| events.push(event),
            &CancellationToken::new(),
        ),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(response.usage.output_tokens, 18);
    assert_eq!(server.requests().len(), 2);
    let retries = events.all();
    assert!(
        matches!(&retries[0], StreamEvent::Retrying { reason, .. } if reason.contains("no answer within 1s")),
        "{retries:?}"
    );
}

#[tokio::test]
async fn a_slow_but_steady_stream_is_not_cut_by_the_request_timeout() {
    // 1 s to start answering, yet the reply trickles for longer than that: it must survive.
    let server = FakeServer::start(vec![
        Reply::sse("openai/text.sse").delivered(Delivery::Trickle(Duration::from_millis(250))),
    ])
    .await;
    let config = ModelConfig {
        request_timeout_secs: 1,
        max_retries: 0,
        ..config_for(server.base_url())
    };
    let client = build_client("openai:gpt-4.1", &config, &env_with_keys).unwrap();
    let response = tokio::time::timeout(
        HANG_GUARD,
        client.complete(&agent_request(), &|_| {}, &CancellationToken::new()),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(response.text(), "The test passes now. ✓");
}
