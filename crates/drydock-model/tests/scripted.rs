#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The scripted provider through `build_client`, and the examples of the format's documentation.

mod support;

use std::path::PathBuf;

use drydock_model::{
    ContentBlock, Message, ModelClient, ModelConfig, ModelError, ModelRequest, Role,
    ScriptedClient, StopReason, ToolSpec, Trajectory, build_client,
};
use pretty_assertions::assert_eq;
use serde_json::json;
use support::no_env;
use tokio_util::sync::CancellationToken;

fn fixture_path() -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/scripted/fix_parser.json")
        .display()
        .to_string()
}

fn tools() -> Vec<ToolSpec> {
    ["shell", "edit_file"]
        .map(|name| ToolSpec {
            name: name.into(),
            description: format!("the {name} tool"),
            input_schema: json!({"type": "object"}),
        })
        .to_vec()
}

/// Appends the reply and one result per tool call, as the harness would.
fn answer(request: &mut ModelRequest, reply: &drydock_model::ModelResponse, result: &str) {
    request.messages.push(Message {
        role: Role::Assistant,
        content: reply.content.clone(),
    });
    request.messages.push(Message {
        role: Role::User,
        content: reply
            .tool_uses()
            .map(|call| ContentBlock::ToolResult {
                tool_use_id: call.id.clone(),
                content: result.into(),
                is_error: false,
            })
            .collect(),
    });
}

#[tokio::test]
async fn a_whole_task_replays_deterministically() {
    let spec = format!("scripted:{}", fixture_path());
    let client = build_client(&spec, &ModelConfig::default(), &no_env).unwrap();
    assert_eq!(client.info().spec(), spec);
    assert_eq!(client.info().context_window, 200_000);
    let price = client.info().price.unwrap();
    let cancel = CancellationToken::new();
    let mut request = ModelRequest {
        system: "You are drydock.".into(),
        messages: vec![Message::user_text("Fix the parser bug")],
        tools: tools(),
        max_output_tokens: 1000,
    };

    let first = client.complete(&request, &|_| {}, &cancel).await.unwrap();
    assert_eq!(first.tool_uses().count(), 2);
    assert_eq!(first.model, "claude-sonnet-4-5");
    assert!(
        (price.cost(&first.usage) - (1200.0 * 3.0 + 60.0 * 15.0 + 900.0 * 3.75) / 1e6).abs()
            < 1e-12
    );
    answer(
        &mut request,
        &first,
        "DATABASE_URL=postgres://app:[REDACTED]@db/app",
    );

    let second = client.complete(&request, &|_| {}, &cancel).await.unwrap();
    assert_eq!(second.tool_uses().next().unwrap().name, "edit_file");
    answer(&mut request, &second, "edited");

    let mut ids = Vec::new();
    for _ in 0..3 {
        let reply = client.complete(&request, &|_| {}, &cancel).await.unwrap();
        ids.push(reply.tool_uses().next().unwrap().id.clone());
        answer(&mut request, &reply, "test result: ok");
    }
    assert_eq!(ids, ["call_3_1_0", "call_3_2_0", "call_3_3_0"]);

    let last = client.complete(&request, &|_| {}, &cancel).await.unwrap();
    assert_eq!(last.text(), "Fixed: zero now parses.");
    assert_eq!(last.stop_reason, StopReason::EndTurn);
    let error = client
        .complete(&request, &|_| {}, &cancel)
        .await
        .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("ran out of turns after 6 replies"),
        "{error}"
    );
}

#[tokio::test]
async fn a_leaked_secret_fails_the_replay_with_the_turn_named() {
    let client = ScriptedClient::from_file(fixture_path()).unwrap();
    let cancel = CancellationToken::new();
    let mut request = ModelRequest {
        system: String::new(),
        messages: vec![Message::user_text("Fix the parser bug")],
        tools: tools(),
        max_output_tokens: 1000,
    };
    let first = client.complete(&request, &|_| {}, &cancel).await.unwrap();
    answer(
        &mut request,
        &first,
        "DATABASE_URL=postgres://app:hunter2@db/app",
    );
    let error = client
        .complete(&request, &|_| {}, &cancel)
        .await
        .unwrap_err();
    match error {
        ModelError::Script { message } => {
            assert!(
                message.contains("fix_parser.json: turn 2 (turns[1])"),
                "{message}"
            );
            assert!(
                message.contains("last_tool_result_not_contains[0]"),
                "{message}"
            );
            assert!(!message.contains("hunter2"), "{message}");
        }
        other => panic!("expected a script error, got {other:?}"),
    }
}

#[tokio::test]
async fn configured_price_and_window_override_the_trajectory() {
    let path = fixture_path();
    let mut config = ModelConfig {
        context_window: Some(4096),
        ..ModelConfig::default()
    };
    let price = drydock_model::Price {
        input: 1.0,
        output: 1.0,
        cache_write: None,
        cache_read: None,
    };
    config.pricing.insert(format!("scripted:{path}"), price);
    let client = build_client(&format!("scripted:{path}"), &config, &no_env).unwrap();
    assert_eq!(client.info().price, Some(price));
    assert_eq!(client.info().context_window, 4096);
}

#[test]
fn every_json_example_in_the_format_documentation_is_a_valid_trajectory() {
    let doc = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/trajectory-format.md");
    let text = std::fs::read_to_string(&doc).unwrap();
    let mut examples = 0;
    let mut rest = text.as_str();
    while let Some(start) = rest.find("```json\n") {
        let body = &rest[start + 8..];
        let end = body.find("```").unwrap();
        let example = &body[..end];
        if example.trim_start().starts_with("{\n  \"version\"") || example.contains("\"turns\"") {
            ScriptedClient::from_json(example, "docs example")
                .unwrap_or_else(|error| panic!("{error}\n{example}"));
            examples += 1;
        }
        rest = &body[end + 3..];
    }
    assert!(examples >= 2, "found {examples} examples");
}

#[test]
fn the_published_schema_matches_the_format() {
    let schema = serde_json::to_value(schemars::schema_for!(Trajectory)).unwrap();
    let turn = &schema["$defs"]["Turn"]["properties"];
    for field in [
        "text",
        "tool_calls",
        "usage",
        "stop_reason",
        "repeat",
        "expect",
        "delay_ms",
    ] {
        assert!(
            turn.get(field).is_some(),
            "Turn schema lacks {field}: {turn}"
        );
    }
}
