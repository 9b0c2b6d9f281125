use pretty_assertions::assert_eq;
use serde_json::json;

use super::stream::OpenAiStream;
use super::wire::{BodyOptions, request_body};
use crate::http::sse::SseEvent;
use crate::http::{AttemptError, Progress, StreamDecoder};
use crate::{
    ContentBlock, MaxTokensField, Message, ModelRequest, Role, StopReason, ToolInput, ToolUse,
};

fn feed(stream: &mut OpenAiStream, data: &str) -> Result<Progress, AttemptError> {
    stream.event(
        SseEvent {
            event: None,
            data: data.to_owned(),
        },
        &|_| {},
    )
}

#[test]
fn results_become_tool_messages_and_text_follows_them() {
    let request = ModelRequest {
        system: String::new(),
        messages: vec![
            Message::user_text("go"),
            Message {
                role: Role::Assistant,
                content: vec![ContentBlock::ToolUse(ToolUse {
                    id: "a".into(),
                    name: "shell".into(),
                    input: ToolInput::Malformed {
                        raw: "{'bad': 1}".into(),
                        error: "e".into(),
                    },
                })],
            },
            Message {
                role: Role::User,
                content: vec![
                    ContentBlock::Text {
                        text: "hint".into(),
                    },
                    ContentBlock::ToolResult {
                        tool_use_id: "a".into(),
                        content: "bad arguments".into(),
                        is_error: true,
                    },
                ],
            },
            Message {
                role: Role::Assistant,
                content: vec![],
            },
        ],
        tools: vec![],
        max_output_tokens: 50,
    };
    let body = request_body(
        &request,
        BodyOptions {
            model: "qwen",
            max_tokens_field: MaxTokensField::MaxTokens,
            temperature: Some(0.0),
        },
    );
    assert_eq!(
        body,
        json!({
            "model": "qwen",
            "stream": true,
            "stream_options": {"include_usage": true},
            "max_tokens": 50,
            "temperature": 0.0,
            "messages": [
                {"role": "user", "content": "go"},
                {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "a", "type": "function", "function": {"name": "shell", "arguments": "{'bad': 1}"}}
                ]},
                {"role": "tool", "tool_call_id": "a", "content": "[tool error] bad arguments"},
                {"role": "user", "content": "hint"},
                {"role": "assistant", "content": ""}
            ]
        })
    );
}

#[test]
fn tool_calls_without_index_or_id_are_assembled_and_given_ids() {
    let mut stream = OpenAiStream::new("m", 40);
    for chunk in [
        r#"{"choices":[{"delta":{"tool_calls":[{"function":{"name":"read","arguments":"{\"path\":"}}]}}]}"#,
        r#"{"choices":[{"delta":{"tool_calls":[{"function":{"arguments":"\"a\"}"}}]}}]}"#,
        r#"{"choices":[{"delta":{"tool_calls":[{"id":"x2","function":{"name":"list","arguments":{"dir":"."}}}]}}]}"#,
        r#"{"choices":[{"delta":{},"finish_reason":"stop"}]}"#,
    ] {
        assert_eq!(feed(&mut stream, chunk).unwrap(), Progress::More);
    }
    // No [DONE] and no usage: a finish_reason is enough, and usage is estimated.
    let response = stream.finish().unwrap();
    let calls: Vec<&ToolUse> = response.tool_uses().collect();
    assert_eq!(calls.len(), 2);
    assert!(
        calls[0].id.starts_with("call_") && calls[0].id.len() > 10,
        "{}",
        calls[0].id
    );
    assert_eq!(
        calls[0].input,
        ToolInput::Json {
            value: json!({"path": "a"})
        }
    );
    assert_eq!(calls[1].id, "x2");
    assert_eq!(
        calls[1].input,
        ToolInput::Json {
            value: json!({"dir": "."})
        }
    );
    assert_eq!(response.stop_reason, StopReason::ToolUse);
    assert!(response.usage_estimated);
    assert_eq!(response.usage.input_tokens, 40);
    assert!(response.usage.output_tokens > 0);
}

#[test]
fn mid_stream_errors_are_classified_by_code() {
    let classify = |chunk: &str| match feed(&mut OpenAiStream::new("m", 0), chunk) {
        Err(AttemptError::Retry(transient)) => format!("retry {:?}", transient.status),
        Err(AttemptError::Fatal(error)) => format!("fatal {}", error.code()),
        Ok(progress) => format!("{progress:?}"),
    };
    assert_eq!(
        classify(r#"{"error":{"message":"context too long","code":400}}"#),
        "fatal model_http"
    );
    assert_eq!(
        classify(r#"{"error":{"message":"x","type":"server_error"}}"#),
        "retry Some(500)"
    );
    assert_eq!(
        classify(r#"{"error":{"message":"x","code":"429"}}"#),
        "retry Some(429)"
    );
    assert_eq!(classify(r#"{"error":"plain"}"#), "retry Some(500)");
    assert_eq!(classify(r#"{"choices":[],"error":null}"#), "More");
    assert_eq!(classify("not json"), "fatal model_protocol");
}

#[test]
fn a_stream_cut_before_any_finish_is_retried() {
    let mut stream = OpenAiStream::new("m", 0);
    feed(&mut stream, r#"{"choices":[{"delta":{"content":"Hel"}}]}"#).unwrap();
    assert!(matches!(stream.finish(), Err(AttemptError::Retry(_))));
}

#[test]
fn cached_tokens_are_not_billed_twice() {
    let mut stream = OpenAiStream::new("m", 0);
    feed(
        &mut stream,
        r#"{"choices":[{"delta":{"content":"hi"},"finish_reason":"stop"}]}"#,
    )
    .unwrap();
    feed(
        &mut stream,
        r#"{"choices":[],"usage":{"prompt_tokens":1000,"completion_tokens":5,"prompt_tokens_details":{"cached_tokens":800}}}"#,
    )
    .unwrap();
    assert_eq!(feed(&mut stream, "[DONE]").unwrap(), Progress::Done);
    let response = stream.finish().unwrap();
    assert_eq!(
        (
            response.usage.input_tokens,
            response.usage.cache_read_tokens,
            response.usage.output_tokens
        ),
        (200, 800, 5)
    );
    assert!(!response.usage_estimated);
    assert_eq!(response.stop_reason, StopReason::EndTurn);
}
