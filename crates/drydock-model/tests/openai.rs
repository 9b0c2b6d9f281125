#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The OpenAI-compatible client against recorded Chat Completions streams served on loopback.

mod support;

use std::sync::Arc;

use drydock_core::Usage;
use drydock_model::{
    ContentBlock, ModelClient, ModelConfig, ModelError, ModelResponse, StopReason, ToolInput,
    ToolUse, build_client,
};
use pretty_assertions::assert_eq;
use serde_json::json;
use support::{
    Delivery, Events, FakeServer, Reply, TEST_KEY, agent_request, config_for, env_with_keys,
    fixture_json, no_env,
};
use tokio_util::sync::CancellationToken;

fn client(server: &FakeServer, model: &str) -> Arc<dyn ModelClient> {
    let base = format!("{}/v1", server.base_url());
    build_client(model, &config_for(&base), &env_with_keys).unwrap()
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
async fn text_reply_with_usage_and_cached_tokens() {
    let server = FakeServer::start(vec![Reply::sse("openai/text.sse")]).await;
    let events = Events::default();
    let response = complete(client(&server, "openai:gpt-4.1").as_ref(), &events)
        .await
        .unwrap();
    assert_eq!(
        response,
        ModelResponse {
            content: vec![ContentBlock::Text {
                text: "The test passes now. ✓".into()
            }],
            stop_reason: StopReason::EndTurn,
            usage: Usage {
                input_tokens: 93,
                output_tokens: 12,
                cache_write_tokens: 0,
                cache_read_tokens: 1024,
            },
            model: "gpt-4.1-2025-04-14".into(),
            usage_estimated: false,
        }
    );
    assert_eq!(events.text(), "The test passes now. ✓");
}

#[tokio::test]
async fn request_has_the_documented_shape() {
    let server = FakeServer::start(vec![Reply::sse("openai/text.sse")]).await;
    complete(
        client(&server, "openai:gpt-4.1").as_ref(),
        &Events::default(),
    )
    .await
    .unwrap();
    let request = &server.requests()[0];
    assert_eq!(
        (request.method.as_str(), request.path.as_str()),
        ("POST", "/v1/chat/completions")
    );
    assert_eq!(
        request.headers["authorization"],
        format!("Bearer {TEST_KEY}")
    );
    assert_eq!(
        request.body,
        json!({
            "model": "gpt-4.1",
            "stream": true,
            "stream_options": {"include_usage": true},
            "max_tokens": 4096,
            "messages": [
                {"role": "system", "content": "You are drydock's coding agent. Work only inside the repository."},
                {"role": "user", "content": "Fix the failing test in src/parser.rs"},
                {"role": "assistant", "content": "Running the tests first.", "tool_calls": [
                    {"id": "toolu_01", "type": "function", "function": {"name": "shell", "arguments": "{\"command\":\"cargo test\"}"}}
                ]},
                {"role": "tool", "tool_call_id": "toolu_01", "content": "[tool error] test parser::zero ... FAILED"},
            ],
            "tools": [
                {"type": "function", "function": {
                    "name": "shell",
                    "description": "Run a command in the sandbox",
                    "parameters": {"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]},
                }},
                {"type": "function", "function": {
                    "name": "edit_file",
                    "description": "Replace text in a file",
                    "parameters": {"type": "object", "properties": {"path": {"type": "string"}}},
                }},
            ],
        })
    );
}

#[tokio::test]
async fn the_reply_limit_field_can_be_chosen() {
    let server = FakeServer::start(vec![Reply::sse("openai/text.sse")]).await;
    let config = ModelConfig {
        openai_max_tokens_field: Some(drydock_model::MaxTokensField::MaxCompletionTokens),
        ..config_for(server.base_url())
    };
    let client = build_client("openai:o3", &config, &env_with_keys).unwrap();
    complete(client.as_ref(), &Events::default()).await.unwrap();
    let body = &server.requests()[0].body;
    assert_eq!(body["max_completion_tokens"], json!(4096));
    assert!(body.get("max_tokens").is_none());
    assert_eq!(server.requests()[0].path, "/chat/completions");
}

#[tokio::test]
async fn tool_call_split_across_many_chunks_is_reassembled() {
    let server = FakeServer::start(vec![Reply::sse("openai/tool_call_split.sse")]).await;
    let response = complete(
        client(&server, "openai:gpt-4.1").as_ref(),
        &Events::default(),
    )
    .await
    .unwrap();
    assert_eq!(
        response.content,
        vec![ContentBlock::ToolUse(ToolUse {
            id: "call_DdmO9pD3xa9XTPNJ32zg2hcA".into(),
            name: "write_file".into(),
            input: ToolInput::Json {
                value: fixture_json("openai/tool_call_split.expected.json"),
            },
        })]
    );
    assert_eq!(response.stop_reason, StopReason::ToolUse);
    assert_eq!(response.usage.input_tokens, 2048);
}

#[tokio::test]
async fn two_parallel_tool_calls_are_assembled_by_index() {
    let server = FakeServer::start(vec![Reply::sse("openai/parallel_tool_calls.sse")]).await;
    let response = complete(
        client(&server, "openai:gpt-4.1").as_ref(),
        &Events::default(),
    )
    .await
    .unwrap();
    assert_eq!(
        response.content,
        vec![
            ContentBlock::Text {
                text: "Reading both.".into()
            },
            ContentBlock::ToolUse(ToolUse {
                id: "call_a1".into(),
                name: "read_file".into(),
                input: ToolInput::Json {
                    value: json!({"path": "Cargo.toml"})
                },
            }),
            ContentBlock::ToolUse(ToolUse {
                id: "call_b2".into(),
                name: "shell".into(),
                input: ToolInput::Json {
                    value: json!({"command": "cargo test --quiet"})
                },
            }),
        ]
    );
}

#[tokio::test]
async fn malformed_arguments_are_returned_not_raised() {
    let server = FakeServer::start(vec![Reply::sse("openai/malformed_args.sse")]).await;
    let response = complete(
        client(&server, "openai:gpt-4.1").as_ref(),
        &Events::default(),
    )
    .await
    .unwrap();
    let call = response.tool_uses().next().unwrap();
    assert_eq!(call.id, "call_bad");
    match &call.input {
        ToolInput::Malformed { raw, error } => {
            assert_eq!(
                raw,
                "{\"path\": \"src/lib.rs\", \"content\": \"unterminated"
            );
            assert!(error.contains("EOF"), "{error}");
        }
        other => panic!("expected malformed, got {other:?}"),
    }
}

#[tokio::test]
async fn malformed_arguments_go_back_to_the_server_verbatim() {
    let server = FakeServer::start(vec![
        Reply::sse("openai/malformed_args.sse"),
        Reply::sse("openai/text.sse"),
    ])
    .await;
    let client = client(&server, "openai:gpt-4.1");
    let first = complete(client.as_ref(), &Events::default()).await.unwrap();
    let mut request = agent_request();
    request.messages.push(drydock_model::Message {
        role: drydock_model::Role::Assistant,
        content: first.content.clone(),
    });
    request.messages.push(drydock_model::Message {
        role: drydock_model::Role::User,
        content: vec![ContentBlock::ToolResult {
            tool_use_id: "call_bad".into(),
            content: "arguments are not valid JSON".into(),
            is_error: true,
        }],
    });
    client
        .complete(&request, &|_| {}, &CancellationToken::new())
        .await
        .unwrap();
    let sent = &server.requests()[1].body["messages"];
    assert_eq!(
        sent[4]["tool_calls"][0]["function"]["arguments"],
        json!("{\"path\": \"src/lib.rs\", \"content\": \"unterminated")
    );
    assert_eq!(sent[5]["role"], json!("tool"));
}

#[tokio::test]
async fn missing_usage_is_estimated_and_flagged() {
    let server = FakeServer::start(vec![Reply::sse("openai/no_usage.sse")]).await;
    let response = complete(
        client(&server, "openai:qwen2.5-coder:7b").as_ref(),
        &Events::default(),
    )
    .await
    .unwrap();
    assert_eq!(response.text(), "Hello there");
    assert_eq!(response.model, "qwen2.5-coder:7b");
    assert!(response.usage_estimated);
    assert_eq!(
        response.usage.input_tokens,
        drydock_model::estimate_request_tokens(&agent_request())
    );
    assert_eq!(response.usage.output_tokens, 3);
}

#[tokio::test]
async fn tool_calls_without_ids_get_one() {
    let server = FakeServer::start(vec![Reply::sse("openai/tool_call_no_id.sse")]).await;
    let response = complete(client(&server, "openai:qwen").as_ref(), &Events::default())
        .await
        .unwrap();
    let call = response.tool_uses().next().unwrap();
    assert!(call.id.starts_with("call_"), "{}", call.id);
    assert_eq!(
        call.input,
        ToolInput::Json {
            value: json!({"path": "."})
        }
    );
    assert_eq!(response.stop_reason, StopReason::ToolUse);
}

#[tokio::test]
async fn done_without_finish_reason_still_completes_and_a_missing_done_is_tolerated() {
    let text = String::from_utf8(support::fixture("openai/text.sse")).unwrap();
    let without_done = text.replace("data: [DONE]\n\n", "");
    let server = FakeServer::start(vec![Reply::sse_bytes(without_done.into_bytes())]).await;
    let response = complete(
        client(&server, "openai:gpt-4.1").as_ref(),
        &Events::default(),
    )
    .await
    .unwrap();
    assert_eq!(response.usage.output_tokens, 12);
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn server_error_then_success() {
    let server = FakeServer::start(vec![
        Reply::json(500, "openai/500.json"),
        Reply::sse("openai/text.sse"),
    ])
    .await;
    let events = Events::default();
    let response = complete(client(&server, "openai:gpt-4.1").as_ref(), &events)
        .await
        .unwrap();
    assert_eq!(response.stop_reason, StopReason::EndTurn);
    assert_eq!(server.requests().len(), 2);
    assert_eq!(events.retries().len(), 1);
}

#[tokio::test]
async fn persistent_server_errors_end_as_http_errors() {
    let server = FakeServer::start(vec![Reply::json(500, "openai/500.json"); 2]).await;
    let config = ModelConfig {
        max_retries: 1,
        ..config_for(server.base_url())
    };
    let client = build_client("openai:gpt-4.1", &config, &env_with_keys).unwrap();
    let error = complete(client.as_ref(), &Events::default())
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "openai: HTTP 500: The server had an error while processing your request. Sorry about that!"
    );
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn x_should_retry_false_stops_retries() {
    let server = FakeServer::start(vec![
        Reply::json(503, "openai/500.json").header("x-should-retry", "false"),
        Reply::sse("openai/text.sse"),
    ])
    .await;
    let error = complete(
        client(&server, "openai:gpt-4.1").as_ref(),
        &Events::default(),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(error, ModelError::Http { status: 503, .. }),
        "{error:?}"
    );
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn a_retry_after_beyond_the_limit_ends_the_call_at_once() {
    let server = FakeServer::start(vec![
        Reply::json(429, "openai/500.json").retry_after_secs(3600),
        Reply::sse("openai/text.sse"),
    ])
    .await;
    let error = complete(
        client(&server, "openai:gpt-4.1").as_ref(),
        &Events::default(),
    )
    .await
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        "openai: rate limited after 1 attempts (retry after 3600s)"
    );
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn the_vendors_401_never_echoes_the_key() {
    let server = FakeServer::start(vec![Reply::json(401, "openai/401.json")]).await;
    let error = complete(
        client(&server, "openai:gpt-4.1").as_ref(),
        &Events::default(),
    )
    .await
    .unwrap_err();
    let text = error.to_string();
    assert!(
        text.starts_with(
            "openai: authentication failed: Incorrect API key provided: sk-[REDACTED]."
        ),
        "{text}"
    );
    assert!(!text.contains("abcd"), "{text}");
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn loopback_server_without_a_key_gets_no_authorization_header() {
    let server = FakeServer::start(vec![Reply::sse("openai/no_usage.sse")]).await;
    let base = format!("{}/v1", server.base_url());
    let client = build_client("openai:qwen2.5-coder", &config_for(&base), &no_env).unwrap();
    complete(client.as_ref(), &Events::default()).await.unwrap();
    let request = &server.requests()[0];
    assert!(
        !request.headers.contains_key("authorization"),
        "{:?}",
        request.headers
    );
    assert_eq!(request.body["max_tokens"], json!(4096));
}

#[tokio::test]
async fn the_real_openai_url_without_a_key_is_a_clear_auth_error() {
    let error = build_client("openai:gpt-4.1", &ModelConfig::default(), &no_env).unwrap_err();
    assert_eq!(error.code(), "model_auth");
    assert_eq!(
        error.to_string(),
        "openai: authentication failed: OPENAI_API_KEY is not set (or empty); export it, or point \
         [model] base_url at a local server, which needs no key"
    );
}

#[tokio::test]
async fn a_stream_cut_mid_way_is_retried() {
    let server = FakeServer::start(vec![
        Reply::sse("openai/tool_call_split.sse").delivered(Delivery::CutAfter(1500)),
        Reply::sse("openai/tool_call_split.sse"),
    ])
    .await;
    let events = Events::default();
    let response = complete(client(&server, "openai:gpt-4.1").as_ref(), &events)
        .await
        .unwrap();
    assert_eq!(response.tool_uses().count(), 1);
    assert_eq!(server.requests().len(), 2);
    assert_eq!(events.retries().len(), 1);
}
