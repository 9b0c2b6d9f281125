use std::sync::Mutex;

use pretty_assertions::assert_eq;
use serde_json::json;

use super::*;
use crate::{Message, Role, ToolSpec};

fn request(messages: Vec<Message>) -> ModelRequest {
    ModelRequest {
        system: "You are drydock.".into(),
        messages,
        tools: vec![ToolSpec {
            name: "shell".into(),
            description: "Runs a command".into(),
            input_schema: json!({"type": "object"}),
        }],
        max_output_tokens: 1024,
    }
}

fn with_result(content: &str, is_error: bool) -> ModelRequest {
    request(vec![
        Message::user_text("Fix the bug"),
        Message {
            role: Role::Assistant,
            content: vec![ContentBlock::ToolUse(ToolUse {
                id: "call_1_1_0".into(),
                name: "shell".into(),
                input: ToolInput::Json {
                    value: json!({"command": "cat .env"}),
                },
            })],
        },
        Message {
            role: Role::User,
            content: vec![ContentBlock::ToolResult {
                tool_use_id: "call_1_1_0".into(),
                content: content.into(),
                is_error,
            }],
        },
    ])
}

async fn call(
    client: &ScriptedClient,
    request: &ModelRequest,
) -> Result<ModelResponse, ModelError> {
    client
        .complete(request, &|_| {}, &CancellationToken::new())
        .await
}

fn script_error(result: Result<ModelResponse, ModelError>) -> String {
    match result {
        Err(ModelError::Script { message }) => message,
        other => panic!("expected a script error, got {other:?}"),
    }
}

#[tokio::test]
async fn replays_turns_in_order_with_generated_ids_and_stop_reasons() {
    let client = ScriptedClient::from_json(
        r#"{
          "model": "claude-replay",
          "turns": [
            {"text": "Looking.", "tool_calls": [
               {"name": "shell", "arguments": {"command": "ls"}},
               {"name": "read_file", "arguments": {"path": "a.rs"}, "id": "toolu_fixed"}]},
            {"text": "Done.", "usage": {"input_tokens": 10, "output_tokens": 3, "cache_read_tokens": 7}}
          ]
        }"#,
        "demo",
    )
    .unwrap();
    assert_eq!(client.info().spec(), "scripted:demo");
    assert_eq!(client.info().price, None);
    assert_eq!(client.replies_left(), 2);
    let events = Mutex::new(Vec::new());
    let observer = |event: StreamEvent| events.lock().unwrap().push(event);
    let first = client
        .complete(
            &request(vec![Message::user_text("go")]),
            &observer,
            &CancellationToken::new(),
        )
        .await
        .unwrap();
    assert_eq!(
        first.content,
        vec![
            ContentBlock::Text {
                text: "Looking.".into()
            },
            ContentBlock::ToolUse(ToolUse {
                id: "call_1_1_0".into(),
                name: "shell".into(),
                input: ToolInput::Json {
                    value: json!({"command": "ls"})
                },
            }),
            ContentBlock::ToolUse(ToolUse {
                id: "toolu_fixed".into(),
                name: "read_file".into(),
                input: ToolInput::Json {
                    value: json!({"path": "a.rs"})
                },
            }),
        ]
    );
    assert_eq!(first.stop_reason, StopReason::ToolUse);
    assert_eq!(first.model, "claude-replay");
    assert!(first.usage_estimated);
    assert!(first.usage.input_tokens > 0 && first.usage.output_tokens > 0);
    assert_eq!(
        *events.lock().unwrap(),
        vec![
            StreamEvent::TextDelta("Looking.".into()),
            StreamEvent::ToolUseStarted {
                name: "shell".into()
            },
            StreamEvent::ToolUseStarted {
                name: "read_file".into()
            },
        ]
    );
    let second = call(&client, &request(vec![])).await.unwrap();
    assert_eq!(second.stop_reason, StopReason::EndTurn);
    assert!(!second.usage_estimated);
    assert_eq!(second.usage.cache_read_tokens, 7);
    assert_eq!(client.replies_left(), 0);
    let exhausted = script_error(call(&client, &request(vec![])).await);
    assert!(
        exhausted.contains("ran out of turns after 2 replies"),
        "{exhausted}"
    );
}

#[tokio::test]
async fn repeat_serves_a_turn_n_times_with_fresh_ids() {
    let client = ScriptedClient::from_json(
        r#"{"turns": [{"tool_calls": [{"name": "shell", "arguments": {"command": "true"}}], "repeat": 3}, {"text": "bye"}]}"#,
        "loop",
    )
    .unwrap();
    let mut ids = Vec::new();
    for _ in 0..3 {
        let reply = call(&client, &request(vec![])).await.unwrap();
        ids.push(reply.tool_uses().next().unwrap().id.clone());
    }
    assert_eq!(ids, vec!["call_1_1_0", "call_1_2_0", "call_1_3_0"]);
    assert_eq!(client.replies_served(), 3);
    assert_eq!(call(&client, &request(vec![])).await.unwrap().text(), "bye");
}

#[tokio::test]
async fn raw_arguments_parse_like_a_provider_would() {
    let client = ScriptedClient::from_json(
        r#"{"turns": [{"tool_calls": [
            {"name": "shell", "raw_arguments": "{\"command\": \"ls"},
            {"name": "shell", "raw_arguments": "[1, 2]"},
            {"name": "noargs"}
        ], "stop_reason": "max_tokens"}]}"#,
        "raw",
    )
    .unwrap();
    let reply = call(&client, &request(vec![])).await.unwrap();
    let inputs: Vec<&ToolInput> = reply.tool_uses().map(|call| &call.input).collect();
    match inputs[0] {
        ToolInput::Malformed { raw, error } => {
            assert_eq!(raw, "{\"command\": \"ls");
            assert!(error.contains("EOF"), "{error}");
        }
        other => panic!("expected malformed, got {other:?}"),
    }
    assert_eq!(
        inputs[1],
        &ToolInput::Json {
            value: json!([1, 2])
        }
    );
    assert_eq!(inputs[2], &ToolInput::Json { value: json!({}) });
    assert_eq!(reply.stop_reason, StopReason::MaxTokens);
}

#[tokio::test]
async fn expectations_that_hold_let_the_turn_through() {
    let client = ScriptedClient::from_json(
        r#"{"turns": [{"expect": {
            "last_tool_result_contains": ["DATABASE_URL=", "[REDACTED]"],
            "last_tool_result_not_contains": ["hunter2"],
            "last_tool_result_is_error": false,
            "request_contains": ["You are drydock.", "cat .env"],
            "request_not_contains": ["hunter2"],
            "tools_include": ["shell"],
            "tools_exclude": ["web_fetch"]
        }, "text": "ok"}]}"#,
        "expect",
    )
    .unwrap();
    let reply = call(&client, &with_result("DATABASE_URL=[REDACTED]", false))
        .await
        .unwrap();
    assert_eq!(reply.text(), "ok");
}

#[tokio::test]
async fn a_failed_expectation_names_the_turn_and_the_check_and_does_not_advance() {
    let client = ScriptedClient::from_json(
        r#"{"turns": [
            {"text": "first"},
            {"expect": {"last_tool_result_not_contains": ["hunter2-secret"]}, "text": "second", "repeat": 2}
        ]}"#,
        "leak.json",
    )
    .unwrap();
    call(&client, &request(vec![])).await.unwrap();
    let message = script_error(call(&client, &with_result("password=hunter2-secret", false)).await);
    assert_eq!(
        message,
        "trajectory leak.json: turn 2 (turns[1]), repetition 1 of 2: expectation failed: \
         last_tool_result_not_contains[0]: \"hunt…\" (14 chars) is present"
    );
    assert!(!message.contains("hunter2-secret"));
    assert_eq!(client.replies_served(), 1);
    // The same turn still answers once the request is clean.
    assert_eq!(
        call(&client, &with_result("password=[REDACTED]", false))
            .await
            .unwrap()
            .text(),
        "second"
    );
}

#[tokio::test]
async fn every_kind_of_check_can_fail() {
    let cases = [
        (
            r#"{"last_tool_result_contains": ["needle"]}"#,
            "last_tool_result_contains[0]: \"needle\" not found in: \"haystack\"",
        ),
        (
            r#"{"last_tool_result_is_error": true}"#,
            "last_tool_result_is_error: expected true",
        ),
        (
            r#"{"last_user_text_contains": ["please"]}"#,
            "last_user_text_contains[0]",
        ),
        (
            r#"{"request_contains": ["nowhere"]}"#,
            "request_contains[0]: \"nowhere\" occurs nowhere",
        ),
        (
            r#"{"request_not_contains": ["cat .env"]}"#,
            "request_not_contains[0]",
        ),
        (
            r#"{"tools_include": ["edit"]}"#,
            "tools_include[0]: \"edit\" is not offered",
        ),
        (
            r#"{"tools_exclude": ["shell"]}"#,
            "tools_exclude[0]: \"shell\" is offered",
        ),
    ];
    for (expect, expected) in cases {
        let client =
            ScriptedClient::from_json(&format!(r#"{{"turns": [{{"expect": {expect}}}]}}"#), "t")
                .unwrap();
        let message = script_error(call(&client, &with_result("haystack", false)).await);
        assert!(message.contains(expected), "{expect}: {message}");
    }
    let client = ScriptedClient::from_json(
        r#"{"turns": [{"expect": {"last_tool_result_is_error": false}}]}"#,
        "t",
    )
    .unwrap();
    let message = script_error(call(&client, &request(vec![Message::user_text("go")])).await);
    assert!(
        message.contains("the request holds no tool result"),
        "{message}"
    );
}

#[tokio::test]
async fn secrets_inside_tool_call_arguments_are_seen_by_request_not_contains() {
    let client = ScriptedClient::from_json(
        r#"{"turns": [{"expect": {"request_not_contains": ["a\"quoted\"secret"]}}]}"#,
        "t",
    )
    .unwrap();
    let request = request(vec![Message {
        role: Role::Assistant,
        content: vec![ContentBlock::ToolUse(ToolUse {
            id: "1".into(),
            name: "shell".into(),
            input: ToolInput::Json {
                value: json!({"command": "echo a\"quoted\"secret"}),
            },
        })],
    }]);
    let message = script_error(call(&client, &request).await);
    assert!(message.contains("request_not_contains[0]"), "{message}");
}

#[tokio::test]
async fn a_delayed_turn_is_cancellable_and_not_consumed() {
    let client = ScriptedClient::from_json(
        r#"{"turns": [{"text": "slow", "delay_ms": 600000}]}"#,
        "slow",
    )
    .unwrap();
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    let waiter = tokio::spawn(async move {
        tokio::task::yield_now().await;
        trigger.cancel();
    });
    let result = client.complete(&request(vec![]), &|_| {}, &cancel).await;
    waiter.await.unwrap();
    assert!(matches!(result, Err(ModelError::Cancelled)), "{result:?}");
    assert_eq!(client.replies_served(), 0);
    let cancelled_before = client.complete(&request(vec![]), &|_| {}, &cancel).await;
    assert!(matches!(cancelled_before, Err(ModelError::Cancelled)));
}

#[test]
fn malformed_files_name_the_turn_and_the_field() {
    let cases = [
        ("", "EOF while parsing"),
        ("[]", "expected struct Trajectory"),
        (
            "42",
            "invalid type: integer `42`, expected struct Trajectory",
        ),
        (r#"{"turns": []}"#, "turns: the trajectory has no turns"),
        (r#"{"turn": []}"#, "unknown field `turn`"),
        (
            r#"{"version": 2, "turns": [{}]}"#,
            "version: 2 is not supported",
        ),
        (
            r#"{"turns": [{"txt": "hi"}]}"#,
            "turns[0].txt: unknown field `txt`",
        ),
        (
            r#"{"turns": [{}, {"tool_calls": [{"arguments": {}}]}]}"#,
            "turns[1].tool_calls[0]: missing field `name`",
        ),
        (
            r#"{"turns": [{"tool_calls": [{"name": "x", "arguments": [1]}]}]}"#,
            "turns[0].tool_calls[0].arguments: must be an object",
        ),
        (
            r#"{"turns": [{"tool_calls": [{"name": "x", "arguments": {}, "raw_arguments": "{}"}]}]}"#,
            "not both",
        ),
        (
            r#"{"turns": [{"repeat": 0}]}"#,
            "turns[0].repeat: must be at least 1",
        ),
        (
            r#"{"turns": [{"repeat": -1}]}"#,
            "turns[0].repeat: invalid value: integer `-1`",
        ),
        (
            r#"{"turns": [{"repeat": 2, "tool_calls": [{"name": "x", "id": "a"}]}]}"#,
            "would reuse id \"a\"",
        ),
        (
            r#"{"turns": [{"tool_calls": [{"name": "x", "id": "a"}]}, {"tool_calls": [{"name": "y", "id": "a"}]}]}"#,
            "turns[1].tool_calls[0].id: \"a\" is empty or used twice",
        ),
        (
            r#"{"turns": [{"usage": {"input_token": 3}}]}"#,
            "turns[0].usage.input_token: unknown field `input_token`",
        ),
        (
            r#"{"turns": [{"expect": {"last_tool_result_contain": ["x"]}}]}"#,
            "turns[0].expect.last_tool_result_contain: unknown field",
        ),
        (
            r#"{"price": {"input": -1, "output": 1}, "turns": [{}]}"#,
            "price: rates must be finite",
        ),
        (
            r#"{"context_window": 0, "turns": [{}]}"#,
            "context_window: must be greater than 0",
        ),
        (r#"{"turns": [{}]} trailing"#, "trailing characters"),
    ];
    for (text, expected) in cases {
        let message = match ScriptedClient::from_json(text, "bad.json") {
            Err(ModelError::Script { message }) => message,
            other => panic!("{text}: expected a script error, got {other:?}"),
        };
        assert!(message.starts_with("trajectory bad.json: "), "{message}");
        assert!(message.contains(expected), "{text}: {message}");
    }
}

#[test]
fn syntax_errors_carry_line_and_column() {
    let text = "{\n  \"turns\": [\n    {\"text\": \"a\",}\n  ]\n}";
    let message = ScriptedClient::from_json(text, "f")
        .unwrap_err()
        .to_string();
    assert!(message.contains("line 3"), "{message}");
}

#[test]
fn files_that_are_huge_missing_or_binary_are_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let binary = dir.path().join("binary.json");
    std::fs::write(&binary, b"{\"turns\": [{\"text\": \"\xff\xfe\"}]}").unwrap();
    let message = ScriptedClient::from_file(&binary).unwrap_err().to_string();
    assert!(
        message.contains("binary.json") && message.contains("not UTF-8"),
        "{message}"
    );
    let missing = dir.path().join("missing.json");
    let message = ScriptedClient::from_file(&missing).unwrap_err().to_string();
    assert!(
        message.contains("missing.json") && message.contains("cannot read"),
        "{message}"
    );
    let message = ScriptedClient::from_file(dir.path())
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("cannot read") || message.contains("EOF"),
        "{message}"
    );
}

#[test]
fn trajectories_round_trip_through_serde() {
    let trajectory = Trajectory {
        version: TRAJECTORY_VERSION,
        description: Some("built in Rust".into()),
        model: None,
        context_window: Some(100_000),
        price: None,
        turns: vec![Turn {
            text: Some("hi".into()),
            tool_calls: vec![ScriptedToolCall {
                name: "shell".into(),
                arguments: Some(json!({"command": "ls"})),
                ..ScriptedToolCall::default()
            }],
            repeat: 2,
            ..Turn::default()
        }],
    };
    let text = serde_json::to_string(&trajectory).unwrap();
    let client = ScriptedClient::from_json(&text, "rt").unwrap();
    assert_eq!(client.replies_left(), 2);
    assert_eq!(client.info().context_window, 100_000);
}
