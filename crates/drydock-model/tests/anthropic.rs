#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The Anthropic client against recorded Messages API streams served on loopback.

mod support;

use std::sync::Arc;
use std::time::Duration;

use drydock_core::Usage;
use drydock_model::{
    ContentBlock, ModelClient, ModelError, ModelResponse, StopReason, StreamEvent, ToolInput,
    ToolUse, build_client,
};
use pretty_assertions::assert_eq;
use serde_json::json;
use support::{
    Delivery, Events, FakeServer, Reply, TEST_KEY, agent_request, config_for, env_with_keys,
    fixture_json,
};
use tokio_util::sync::CancellationToken;

const MODEL: &str = "anthropic:claude-sonnet-4-5";

fn client(server: &FakeServer) -> Arc<dyn ModelClient> {
    build_client(MODEL, &config_for(server.base_url()), &env_with_keys).unwrap()
}

async fn complete(client: &dyn ModelClient, events: &Events) -> Result<ModelResponse, ModelError> {
    client
        .complete(
            &agent_request(),
            &|event| events.push(event),
            &CancellationToken::new(),
        )
        .await
}

#[tokio::test]
async fn text_reply_streams_deltas_and_maps_usage() {
    let server = FakeServer::start(vec![Reply::sse("anthropic/text.sse")]).await;
    let events = Events::default();
    let response = complete(client(&server).as_ref(), &events).await.unwrap();
    let text = "The failing test expected `Ok(3)`; the parser now returns it. ✓";
    assert_eq!(
        response,
        ModelResponse {
            content: vec![ContentBlock::Text { text: text.into() }],
            stop_reason: StopReason::EndTurn,
            usage: Usage {
                input_tokens: 472,
                output_tokens: 18,
                cache_write_tokens: 0,
                cache_read_tokens: 0,
            },
            model: "claude-sonnet-4-5-20250929".into(),
            usage_estimated: false,
        }
    );
    assert_eq!(events.text(), text);
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn request_has_the_documented_headers_and_body_shape() {
    let server = FakeServer::start(vec![Reply::sse("anthropic/text.sse")]).await;
    complete(client(&server).as_ref(), &Events::default())
        .await
        .unwrap();
    let request = &server.requests()[0];
    assert_eq!(
        (request.method.as_str(), request.path.as_str()),
        ("POST", "/v1/messages")
    );
    assert_eq!(request.headers["x-api-key"], TEST_KEY);
    assert_eq!(request.headers["anthropic-version"], "2023-06-01");
    assert_eq!(request.headers["content-type"], "application/json");
    assert!(!request.headers.contains_key("authorization"));
    let ephemeral = json!({"type": "ephemeral"});
    assert_eq!(
        request.body,
        json!({
            "model": "claude-sonnet-4-5",
            "max_tokens": 4096,
            "stream": true,
            "system": [{
                "type": "text",
                "text": "You are drydock's coding agent. Work only inside the repository.",
                "cache_control": ephemeral,
            }],
            "tools": [
                {
                    "name": "shell",
                    "description": "Run a command in the sandbox",
                    "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]},
                },
                {
                    "name": "edit_file",
                    "description": "Replace text in a file",
                    "input_schema": {"type": "object", "properties": {"path": {"type": "string"}}},
                    "cache_control": ephemeral,
                },
            ],
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "Fix the failing test in src/parser.rs"}]},
                {"role": "assistant", "content": [
                    {"type": "text", "text": "Running the tests first."},
                    {"type": "tool_use", "id": "toolu_01", "name": "shell", "input": {"command": "cargo test"}},
                ]},
                {"role": "user", "content": [{
                    "type": "tool_result",
                    "tool_use_id": "toolu_01",
                    "content": "test parser::zero ... FAILED",
                    "is_error": true,
                    "cache_control": ephemeral,
                }]},
            ],
        })
    );
}

#[tokio::test]
async fn tool_call_split_across_many_deltas_is_reassembled() {
    let server = FakeServer::start(vec![Reply::sse("anthropic/tool_use_split.sse")]).await;
    let events = Events::default();
    let response = complete(client(&server).as_ref(), &events).await.unwrap();
    assert_eq!(
        response.content,
        vec![
            ContentBlock::Text {
                text: "I'll fix the comparison.".into()
            },
            ContentBlock::ToolUse(ToolUse {
                id: "toolu_01T1x1fJ34qAmk2tNTrN7Up6".into(),
                name: "edit_file".into(),
                input: ToolInput::Json {
                    value: fixture_json("anthropic/tool_use_split.expected.json"),
                },
            }),
        ]
    );
    assert_eq!(response.stop_reason, StopReason::ToolUse);
    assert_eq!(response.usage.output_tokens, 89);
    assert!(events.all().contains(&StreamEvent::ToolUseStarted {
        name: "edit_file".into()
    }));
}

#[tokio::test]
async fn cache_usage_is_mapped() {
    let server = FakeServer::start(vec![Reply::sse("anthropic/cache_usage.sse")]).await;
    let response = complete(client(&server).as_ref(), &Events::default())
        .await
        .unwrap();
    assert_eq!(
        response.usage,
        Usage {
            input_tokens: 25,
            output_tokens: 40,
            cache_write_tokens: 1843,
            cache_read_tokens: 10240,
        }
    );
}

#[tokio::test]
async fn caching_can_be_turned_off() {
    let server = FakeServer::start(vec![Reply::sse("anthropic/text.sse")]).await;
    let config = drydock_model::ModelConfig {
        prompt_caching: false,
        temperature: Some(0.2),
        ..config_for(server.base_url())
    };
    let client = build_client(MODEL, &config, &env_with_keys).unwrap();
    complete(client.as_ref(), &Events::default()).await.unwrap();
    let body = &server.requests()[0].body;
    assert!(!body.to_string().contains("cache_control"), "{body}");
    assert_eq!(body["temperature"], json!(0.2));
}

#[tokio::test]
async fn rate_limit_waits_for_retry_after_then_succeeds() {
    let server = FakeServer::start(vec![
        Reply::json(429, "anthropic/429.json").retry_after_secs(1),
        Reply::sse("anthropic/text.sse"),
    ])
    .await;
    let events = Events::default();
    let response = complete(client(&server).as_ref(), &events).await.unwrap();
    assert_eq!(response.stop_reason, StopReason::EndTurn);
    // Had the client come back before the second had passed, the server would have refused and
    // counted it; exactly two requests means it waited.
    assert_eq!(server.requests().len(), 2);
    assert_eq!(server.early_requests(), 0);
    assert_eq!(events.retries(), vec![(1, Duration::from_secs(1))]);
}

#[tokio::test]
async fn retry_after_ms_is_preferred_over_retry_after() {
    let server = FakeServer::start(vec![
        Reply::json(429, "anthropic/429.json")
            .retry_after_ms(150)
            .header("retry-after", "1"),
        Reply::sse("anthropic/text.sse"),
    ])
    .await;
    let events = Events::default();
    complete(client(&server).as_ref(), &events).await.unwrap();
    assert_eq!(events.retries(), vec![(1, Duration::from_millis(150))]);
    assert_eq!(server.early_requests(), 0);
}

#[tokio::test]
async fn unauthorized_is_an_auth_error_without_retry() {
    let server = FakeServer::start(vec![
        Reply::json(401, "anthropic/401.json"),
        Reply::sse("anthropic/text.sse"),
    ])
    .await;
    let events = Events::default();
    let error = complete(client(&server).as_ref(), &events)
        .await
        .unwrap_err();
    match &error {
        ModelError::Auth { provider, message } => {
            assert_eq!(provider, "anthropic");
            assert_eq!(message, "invalid x-api-key");
        }
        other => panic!("expected auth, got {other:?}"),
    }
    assert!(error.remedy().contains("ANTHROPIC_API_KEY"));
    assert_eq!(server.requests().len(), 1);
    assert!(events.retries().is_empty());
}

#[tokio::test]
async fn a_bad_request_is_final_and_carries_the_vendor_message() {
    let server = FakeServer::start(vec![Reply::json(400, "anthropic/400.json")]).await;
    let error = complete(client(&server).as_ref(), &Events::default())
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "anthropic: HTTP 400: messages.1.content.0.tool_use.input: Input should be a valid dictionary"
    );
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn overloaded_529_is_retried() {
    let server = FakeServer::start(vec![
        Reply::json(529, "anthropic/529.json"),
        Reply::sse("anthropic/text.sse"),
    ])
    .await;
    let events = Events::default();
    complete(client(&server).as_ref(), &events).await.unwrap();
    assert_eq!(server.requests().len(), 2);
    assert_eq!(events.retries().len(), 1);
}

#[tokio::test]
async fn persistent_overload_ends_as_rate_limited_after_max_retries() {
    let overloaded = Reply::json(529, "anthropic/529.json");
    let server = FakeServer::start(vec![overloaded; 3]).await;
    let config = drydock_model::ModelConfig {
        max_retries: 2,
        ..config_for(server.base_url())
    };
    let client = build_client(MODEL, &config, &env_with_keys).unwrap();
    let events = Events::default();
    let error = complete(client.as_ref(), &events).await.unwrap_err();
    assert!(
        matches!(error, ModelError::RateLimited { attempts: 3, .. }),
        "{error:?}"
    );
    assert_eq!(server.requests().len(), 3);
    assert_eq!(
        events.retries().iter().map(|(a, _)| *a).collect::<Vec<_>>(),
        vec![1, 2]
    );
}

#[tokio::test]
async fn an_overloaded_error_event_mid_stream_is_retried_from_scratch() {
    let server = FakeServer::start(vec![
        Reply::sse("anthropic/error_overloaded_midstream.sse"),
        Reply::sse("anthropic/text.sse"),
    ])
    .await;
    let response = complete(client(&server).as_ref(), &Events::default())
        .await
        .unwrap();
    assert!(
        response.text().starts_with("The failing test"),
        "{response:?}"
    );
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn invalid_json_in_a_data_line_is_a_protocol_error() {
    let server = FakeServer::start(vec![Reply::sse("anthropic/malformed.sse")]).await;
    let error = complete(client(&server).as_ref(), &Events::default())
        .await
        .unwrap_err();
    match error {
        ModelError::Protocol { provider, message } => {
            assert_eq!(provider, "anthropic");
            assert!(
                message.contains("content_block_delta is not valid JSON"),
                "{message}"
            );
        }
        other => panic!("expected protocol, got {other:?}"),
    }
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn a_stream_cut_mid_way_is_retried_from_scratch() {
    for cut in [Delivery::CutAfter(300), Delivery::CutAfter(0)] {
        let server = FakeServer::start(vec![
            Reply::sse("anthropic/text.sse").delivered(cut.clone()),
            Reply::sse("anthropic/text.sse"),
        ])
        .await;
        let events = Events::default();
        let response = complete(client(&server).as_ref(), &events).await.unwrap();
        assert_eq!(response.stop_reason, StopReason::EndTurn, "{cut:?}");
        assert_eq!(response.usage.output_tokens, 18);
        assert_eq!(server.requests().len(), 2, "{cut:?}");
        assert_eq!(events.retries().len(), 1, "{cut:?}");
    }
}

#[tokio::test]
async fn a_stream_that_ends_cleanly_but_early_is_retried() {
    let full = support::fixture("anthropic/text.sse");
    let text = String::from_utf8(full).unwrap();
    let early = text[..text.find("event: message_delta").unwrap()].to_owned();
    let server = FakeServer::start(vec![
        Reply::sse_bytes(early.into_bytes()),
        Reply::sse("anthropic/text.sse"),
    ])
    .await;
    let events = Events::default();
    complete(client(&server).as_ref(), &events).await.unwrap();
    assert_eq!(server.requests().len(), 2);
    let reasons: Vec<String> = events
        .all()
        .into_iter()
        .filter_map(|event| match event {
            StreamEvent::Retrying { reason, .. } => Some(reason),
            _ => None,
        })
        .collect();
    assert_eq!(
        reasons,
        vec!["the stream ended before message_stop".to_owned()]
    );
}

#[tokio::test]
async fn a_json_reply_to_a_streamed_request_is_a_protocol_error() {
    let server = FakeServer::start(vec![Reply::json_text(200, r#"{"content": []}"#)]).await;
    let error = complete(client(&server).as_ref(), &Events::default())
        .await
        .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("expected a text/event-stream reply"),
        "{error}"
    );
}

#[tokio::test]
async fn a_base_url_ending_in_v1_is_not_doubled() {
    let server = FakeServer::start(vec![Reply::sse("anthropic/text.sse")]).await;
    let base = format!("{}/v1/", server.base_url());
    let client = build_client(MODEL, &config_for(&base), &env_with_keys).unwrap();
    complete(client.as_ref(), &Events::default()).await.unwrap();
    assert_eq!(server.requests()[0].path, "/v1/messages");
}

#[tokio::test]
async fn an_error_event_echoing_the_key_is_scrubbed() {
    let body = format!(
        "event: error\ndata: {{\"type\":\"error\",\"error\":{{\"type\":\"invalid_request_error\",\"message\":\"key {TEST_KEY} is not allowed here\"}}}}\n\n"
    );
    let server = FakeServer::start(vec![Reply::sse_bytes(body.into_bytes())]).await;
    let error = complete(client(&server).as_ref(), &Events::default())
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "anthropic: HTTP 400: key [REDACTED] is not allowed here"
    );
}
