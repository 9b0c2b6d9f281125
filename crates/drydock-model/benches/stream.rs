#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]
//! Client overhead: a ~100 KiB streamed reply through the real client on loopback (SSE decoding,
//! JSON parsing, tool-call assembly), a scripted call, and the request token estimate.

use std::hint::black_box;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::response::Response;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use drydock_model::{
    ContentBlock, Message, ModelClient, ModelConfig, ModelRequest, Role, ScriptedClient, ToolSpec,
    build_client, estimate_request_tokens,
};
use serde_json::json;
use tokio::runtime::Runtime;
use tokio_util::sync::CancellationToken;

fn anthropic_body() -> String {
    let mut out = String::new();
    let mut event = |value: serde_json::Value| {
        out.push_str(&format!(
            "event: {}\ndata: {value}\n\n",
            value["type"].as_str().unwrap()
        ));
    };
    event(
        json!({"type": "message_start", "message": {"model": "claude-sonnet-4-5", "usage": {"input_tokens": 10, "output_tokens": 1}}}),
    );
    event(
        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
    );
    for i in 0..1500 {
        event(
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": format!("word{i} and some more ")}}),
        );
    }
    event(
        json!({"type": "content_block_start", "index": 1, "content_block": {"type": "tool_use", "id": "toolu_1", "name": "write_file", "input": {}}}),
    );
    let input = json!({"path": "src/lib.rs", "content": "fn main() {}\n".repeat(1500)}).to_string();
    for piece in input.as_bytes().chunks(40) {
        let piece = std::str::from_utf8(piece).unwrap();
        event(
            json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": piece}}),
        );
    }
    event(
        json!({"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 9000}}),
    );
    event(json!({"type": "message_stop"}));
    out
}

fn openai_body() -> String {
    let mut out = String::new();
    let mut chunk = |delta: serde_json::Value, finish: Option<&str>| {
        let value = json!({"model": "gpt-4.1", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
        out.push_str(&format!("data: {value}\n\n"));
    };
    for i in 0..1500 {
        chunk(json!({"content": format!("word{i} and some more ")}), None);
    }
    chunk(
        json!({"tool_calls": [{"index": 0, "id": "call_1", "type": "function", "function": {"name": "write_file", "arguments": ""}}]}),
        None,
    );
    let input = json!({"path": "src/lib.rs", "content": "fn main() {}\n".repeat(1500)}).to_string();
    for piece in input.as_bytes().chunks(40) {
        let piece = std::str::from_utf8(piece).unwrap();
        chunk(
            json!({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}),
            None,
        );
    }
    chunk(json!({}), Some("tool_calls"));
    out.push_str("data: {\"choices\":[],\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":9000}}\n\ndata: [DONE]\n\n");
    out
}

fn serve(runtime: &Runtime, body: String) -> String {
    let body = Arc::new(body);
    runtime.block_on(async move {
        // The request body is read in full: a server that answers without reading it resets the
        // connection under the client.
        let router = Router::new().fallback(move |_request: axum::body::Bytes| {
            let body = body.clone();
            async move {
                Response::builder()
                    .header("content-type", "text/event-stream")
                    .body(Body::from(body.as_str().to_owned()))
                    .unwrap()
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        base
    })
}

fn request() -> ModelRequest {
    let mut messages = vec![Message::user_text("Fix the bug")];
    for i in 0..50 {
        messages.push(Message {
            role: Role::User,
            content: vec![ContentBlock::ToolResult {
                tool_use_id: format!("call_{i}"),
                content: "test output line\n".repeat(100),
                is_error: false,
            }],
        });
    }
    ModelRequest {
        system: "You are drydock.".into(),
        messages,
        tools: vec![ToolSpec {
            name: "shell".into(),
            description: "Run a command".into(),
            input_schema: json!({"type": "object"}),
        }],
        max_output_tokens: 8192,
    }
}

fn bench_streams(c: &mut Criterion) {
    let runtime = Runtime::new().unwrap();
    let request = request();
    let env = |_: &str| Some("bench-key".to_owned());
    let mut group = c.benchmark_group("stream");
    for (name, spec, body) in [
        ("anthropic", "anthropic:claude-sonnet-4-5", anthropic_body()),
        ("openai", "openai:gpt-4.1", openai_body()),
    ] {
        group.throughput(Throughput::Bytes(body.len() as u64));
        let base = serve(&runtime, body);
        let config = ModelConfig {
            base_url: Some(base),
            ..ModelConfig::default()
        };
        let client = build_client(spec, &config, &env).unwrap();
        let cancel = CancellationToken::new();
        group.bench_function(name, |b| {
            b.iter(|| {
                let response = runtime
                    .block_on(client.complete(&request, &|_| {}, &cancel))
                    .unwrap();
                black_box(response)
            })
        });
    }
    group.finish();
}

fn bench_scripted_and_estimate(c: &mut Criterion) {
    let runtime = Runtime::new().unwrap();
    let request = request();
    let client = ScriptedClient::from_json(
        r#"{"turns": [{"text": "ok", "tool_calls": [{"name": "shell", "arguments": {"command": "cargo test"}}],
            "expect": {"request_not_contains": ["hunter2"]}, "repeat": 4000000000}]}"#,
        "bench",
    )
    .unwrap();
    let cancel = CancellationToken::new();
    c.bench_function("scripted_call_with_expectation_85KiB_request", |b| {
        b.iter(|| {
            black_box(
                runtime
                    .block_on(client.complete(&request, &|_| {}, &cancel))
                    .unwrap(),
            )
        })
    });
    c.bench_function("estimate_request_tokens_85KiB", |b| {
        b.iter(|| black_box(estimate_request_tokens(black_box(&request))))
    });
}

criterion_group!(benches, bench_streams, bench_scripted_and_estimate);
criterion_main!(benches);
