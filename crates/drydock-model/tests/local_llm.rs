#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Opt-in: both providers against a real llama.cpp server (`../shared/tools/local-llm.sh`, a tiny
//! Qwen coder model). Runs only with `DRYDOCK_LOCAL_LLM=1`; uses the server at
//! `DRYDOCK_LOCAL_LLM_URL` when set, else starts (and afterwards stops) one.
//! The model is too small to solve anything, so this checks the protocol, not the answers.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use drydock_model::{
    ContentBlock, Message, ModelClient, ModelConfig, ModelError, ModelRequest, ModelResponse, Role,
    StopReason, ToolInput, ToolSpec, build_client,
};
use serde_json::json;
use tokio_util::sync::CancellationToken;

const KEY: &str = "local-test-key";

struct LocalServer {
    base: String,
    script: Option<PathBuf>,
}

impl LocalServer {
    fn start() -> Self {
        if let Ok(base) = std::env::var("DRYDOCK_LOCAL_LLM_URL") {
            return Self { base, script: None };
        }
        let script =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/tools/local-llm.sh");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let output = Command::new("bash")
            .arg(&script)
            .args(["start", &port.to_string()])
            .output()
            .unwrap_or_else(|error| panic!("{}: {error}", script.display()));
        assert!(
            output.status.success(),
            "local-llm.sh start failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let base = String::from_utf8(output.stdout).unwrap().trim().to_owned();
        Self {
            base,
            script: Some(script),
        }
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        if let Some(script) = &self.script {
            let _ = Command::new("bash").arg(script).arg("stop").status();
        }
    }
}

fn key(name: &str) -> Option<String> {
    matches!(name, "ANTHROPIC_API_KEY" | "OPENAI_API_KEY").then(|| KEY.to_owned())
}

fn client(spec: &str, base: &str) -> Arc<dyn ModelClient> {
    let config = ModelConfig {
        base_url: Some(base.to_owned()),
        temperature: Some(0.0),
        max_retries: 1,
        retry_base_delay_ms: 10,
        request_timeout_secs: 120,
        ..ModelConfig::default()
    };
    build_client(spec, &config, &key).unwrap()
}

fn list_dir() -> ToolSpec {
    ToolSpec {
        name: "list_dir".into(),
        description: "List the files in a directory".into(),
        input_schema: json!({
            "type": "object",
            "properties": {"path": {"type": "string"}},
            "required": ["path"],
        }),
    }
}

fn request(messages: Vec<Message>, tools: Vec<ToolSpec>) -> ModelRequest {
    ModelRequest {
        system: "You are a careful coding assistant.".into(),
        messages,
        tools,
        max_output_tokens: 64,
    }
}

async fn call(
    client: &dyn ModelClient,
    request: &ModelRequest,
) -> Result<ModelResponse, ModelError> {
    tokio::time::timeout(
        Duration::from_secs(300),
        client.complete(request, &|_| {}, &CancellationToken::new()),
    )
    .await
    .expect("the local server hung")
}

/// Well-formed whatever the tiny model chose to say.
fn assert_well_formed(label: &str, response: &ModelResponse, offered: &[ToolSpec]) {
    assert!(
        !response.content.is_empty(),
        "{label}: empty reply {response:?}"
    );
    assert!(
        !response.usage_estimated,
        "{label}: the server reports usage"
    );
    assert!(response.usage.output_tokens > 0, "{label}: {response:?}");
    assert!(
        response.usage.input_tokens + response.usage.cache_read_tokens > 0,
        "{label}: {response:?}"
    );
    for call in response.tool_uses() {
        assert!(!call.id.is_empty(), "{label}: {call:?}");
        assert!(
            offered.iter().any(|tool| tool.name == call.name),
            "{label}: {call:?}"
        );
        assert!(
            matches!(call.input, ToolInput::Json { .. }),
            "{label}: {call:?}"
        );
    }
    if response.tool_uses().count() > 0 {
        assert_eq!(response.stop_reason, StopReason::ToolUse, "{label}");
    }
    println!(
        "{label}: {:?} {:?} {:?}",
        response.stop_reason, response.usage, response.content
    );
}

#[tokio::test]
async fn local_llm_speaks_both_apis() {
    if std::env::var("DRYDOCK_LOCAL_LLM").as_deref() != Ok("1") {
        println!(
            "skipped: set DRYDOCK_LOCAL_LLM=1 to run against a real llama.cpp server \
             (install it once with ../shared/tools/local-llm.sh install, ~11 min)"
        );
        return;
    }
    let server = LocalServer::start();
    let tools = vec![list_dir()];
    for (spec, base) in [
        ("openai:qwen2.5-coder-0.5b", format!("{}/v1", server.base)),
        ("anthropic:qwen2.5-coder-0.5b", server.base.clone()),
    ] {
        let client = client(spec, &base);

        let hello = request(vec![Message::user_text("Say hello in five words.")], vec![]);
        let reply = call(client.as_ref(), &hello).await.unwrap();
        assert_well_formed(&format!("{spec} text"), &reply, &tools);
        assert!(!reply.text().is_empty());

        let ask = request(
            vec![Message::user_text(
                "List the files in the directory src using the tool.",
            )],
            tools.clone(),
        );
        let reply = call(client.as_ref(), &ask).await.unwrap();
        assert_well_formed(&format!("{spec} tools"), &reply, &tools);

        // A full round trip: a tool call and its result must be accepted in our mapping.
        let round_trip = request(
            vec![
                Message::user_text("List the files in src."),
                Message {
                    role: Role::Assistant,
                    content: vec![ContentBlock::ToolUse(drydock_model::ToolUse {
                        id: "call_1".into(),
                        name: "list_dir".into(),
                        input: ToolInput::Json {
                            value: json!({"path": "src"}),
                        },
                    })],
                },
                Message {
                    role: Role::User,
                    content: vec![ContentBlock::ToolResult {
                        tool_use_id: "call_1".into(),
                        content: "main.rs\nlib.rs".into(),
                        is_error: false,
                    }],
                },
            ],
            tools.clone(),
        );
        let reply = call(client.as_ref(), &round_trip).await.unwrap();
        assert_well_formed(&format!("{spec} round trip"), &reply, &tools);

        let refused = build_client(
            spec,
            &ModelConfig {
                base_url: Some(base.clone()),
                max_retries: 0,
                ..ModelConfig::default()
            },
            &|name: &str| key(name).map(|_| "wrong-key".to_owned()),
        )
        .unwrap();
        let error = call(refused.as_ref(), &hello).await.unwrap_err();
        assert!(
            matches!(error, ModelError::Auth { .. }),
            "{spec}: {error:?}"
        );
        assert!(!error.to_string().contains("wrong-key"), "{error}");
    }
}
