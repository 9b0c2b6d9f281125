use pretty_assertions::assert_eq;
use serde_json::json;

use super::stream::AnthropicStream;
use super::wire::{BodyOptions, request_body};
use crate::http::sse::SseEvent;
use crate::http::{AttemptError, Progress, StreamDecoder};
use crate::{
    ContentBlock, Message, ModelError, ModelRequest, Role, StopReason, ToolInput, ToolSpec, ToolUse,
};

fn options(caching: bool) -> BodyOptions<'static> {
    BodyOptions {
        model: "claude-sonnet-4-5",
        caching,
        temperature: None,
    }
}

fn conversation() -> ModelRequest {
    ModelRequest {
        system: "You are drydock.".into(),
        messages: vec![
            Message::user_text("Fix it"),
            Message {
                role: Role::Assistant,
                content: vec![
                    ContentBlock::Text { text: "  ".into() },
                    ContentBlock::ToolUse(ToolUse {
                        id: "toolu_1".into(),
                        name: "shell".into(),
                        input: ToolInput::Malformed {
                            raw: "{\"command\": ".into(),
                            error: "EOF".into(),
                        },
                    }),
                ],
            },
            Message {
                role: Role::User,
                content: vec![
                    ContentBlock::Text {
                        text: "Note: budget half spent".into(),
                    },
                    ContentBlock::ToolResult {
                        tool_use_id: "toolu_1".into(),
                        content: String::new(),
                        is_error: true,
                    },
                ],
            },
        ],
        tools: vec![ToolSpec {
            name: "shell".into(),
            description: "Run".into(),
            input_schema: json!({"type": "object"}),
        }],
        max_output_tokens: 100,
    }
}

#[test]
fn tool_results_come_first_and_empty_pieces_are_dropped() {
    let body = request_body(&conversation(), options(false));
    assert_eq!(
        body["messages"],
        json!([
            {"role": "user", "content": [{"type": "text", "text": "Fix it"}]},
            {"role": "assistant", "content": [
                {"type": "tool_use", "id": "toolu_1", "name": "shell", "input": {}}
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "is_error": true},
                {"type": "text", "text": "Note: budget half spent"}
            ]}
        ])
    );
    assert_eq!(
        body["system"],
        json!([{"type": "text", "text": "You are drydock."}])
    );
    assert!(body.get("temperature").is_none());
}

#[test]
fn caching_off_sets_no_breakpoint_and_empty_messages_stay_visible() {
    let mut request = conversation();
    request.messages.push(Message {
        role: Role::Assistant,
        content: vec![],
    });
    let body = request_body(&request, options(false));
    assert!(!body.to_string().contains("cache_control"));
    assert_eq!(
        body["messages"][3]["content"],
        json!([{"type": "text", "text": "(empty)"}])
    );
}

fn feed(stream: &mut AnthropicStream, data: serde_json::Value) -> Result<Progress, AttemptError> {
    stream.event(
        SseEvent {
            event: data["type"].as_str().map(str::to_owned),
            data: data.to_string(),
        },
        &|_| {},
    )
}

#[test]
fn a_delta_for_a_block_that_never_started_is_a_protocol_error() {
    let mut stream = AnthropicStream::new("m");
    let error = feed(
        &mut stream,
        json!({"type": "content_block_delta", "index": 2, "delta": {"type": "text_delta", "text": "x"}}),
    )
    .unwrap_err();
    assert!(
        matches!(error, AttemptError::Fatal(ModelError::Protocol { message, .. }) if message.contains("block 2"))
    );
}

#[test]
fn unknown_events_and_blocks_are_skipped_and_arguments_default_to_the_start_input() {
    let mut stream = AnthropicStream::new("m");
    for event in [
        json!({"type": "message_start", "message": {"model": "claude-x", "usage": {"input_tokens": 5, "output_tokens": 1}}}),
        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": ""}}),
        json!({"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "hmm"}}),
        json!({"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "abc"}}),
        json!({"type": "brand_new_event", "payload": 1}),
        json!({"type": "content_block_start", "index": 1, "content_block": {"type": "tool_use", "id": "toolu_9", "name": "list", "input": {}}}),
        json!({"type": "content_block_stop", "index": 1}),
        json!({"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 12}}),
    ] {
        assert_eq!(feed(&mut stream, event).unwrap(), Progress::More);
    }
    assert_eq!(
        feed(&mut stream, json!({"type": "message_stop"})).unwrap(),
        Progress::Done
    );
    let response = stream.finish().unwrap();
    assert_eq!(
        response.content,
        vec![ContentBlock::ToolUse(ToolUse {
            id: "toolu_9".into(),
            name: "list".into(),
            input: ToolInput::Json { value: json!({}) },
        })]
    );
    assert_eq!(response.stop_reason, StopReason::ToolUse);
    assert_eq!(
        (response.usage.input_tokens, response.usage.output_tokens),
        (5, 12)
    );
    assert_eq!(response.model, "claude-x");
}

#[test]
fn in_stream_errors_are_retried_or_final_by_type() {
    let classify = |kind: &str| {
        let mut stream = AnthropicStream::new("m");
        match feed(
            &mut stream,
            json!({"type": "error", "error": {"type": kind, "message": "boom"}}),
        ) {
            Err(AttemptError::Retry(transient)) => format!("retry {:?}", transient.status),
            Err(AttemptError::Fatal(error)) => format!("fatal {}", error.code()),
            Ok(progress) => format!("{progress:?}"),
        }
    };
    assert_eq!(classify("overloaded_error"), "retry Some(529)");
    assert_eq!(classify("api_error"), "retry Some(500)");
    assert_eq!(classify("rate_limit_error"), "retry Some(429)");
    assert_eq!(classify("invalid_request_error"), "fatal model_http");
    assert_eq!(classify("authentication_error"), "fatal model_auth");
}

#[test]
fn a_stream_without_message_stop_is_incomplete() {
    let mut stream = AnthropicStream::new("m");
    feed(&mut stream, json!({"type": "message_start", "message": {}})).unwrap();
    assert!(matches!(stream.finish(), Err(AttemptError::Retry(_))));
}
