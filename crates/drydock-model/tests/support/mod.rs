//! A stateful fake model vendor on 127.0.0.1: serves queued replies in the vendor's wire format
//! (fixtures under `tests/fixtures/`), records every request it receives, and enforces the
//! `retry-after` it hands out so tests can prove it was honoured by counting requests.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use drydock_model::{
    ContentBlock, Message, ModelConfig, ModelRequest, Role, StreamEvent, ToolInput, ToolSpec,
    ToolUse,
};
use futures::StreamExt;
use serde_json::{Value, json};

/// How a reply's body is delivered.
#[derive(Debug, Clone)]
pub enum Delivery {
    /// All of it, in chunks of this many bytes.
    Chunked(usize),
    /// This many bytes, then the connection is aborted.
    CutAfter(usize),
    /// This many bytes, then silence forever.
    StallAfter(usize),
    /// One event (up to and including its blank line) after each pause.
    Trickle(Duration),
}

/// One queued reply.
#[derive(Debug, Clone)]
pub struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    delivery: Delivery,
    window: Option<Duration>,
    delay: Option<Duration>,
}

pub fn fixture(path: &str) -> Vec<u8> {
    let full = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(path);
    std::fs::read(&full).unwrap_or_else(|error| panic!("{}: {error}", full.display()))
}

pub fn fixture_json(path: &str) -> Value {
    serde_json::from_slice(&fixture(path)).unwrap()
}

impl Reply {
    /// A 200 event stream from a fixture file, delivered in 7-byte chunks.
    pub fn sse(path: &str) -> Self {
        Self::sse_bytes(fixture(path))
    }

    /// A 200 event stream with the given body.
    pub fn sse_bytes(body: Vec<u8>) -> Self {
        Self {
            status: 200,
            headers: vec![("content-type".into(), "text/event-stream".into())],
            body,
            delivery: Delivery::Chunked(7),
            window: None,
            delay: None,
        }
    }

    /// A JSON reply with this status, body from a fixture file.
    pub fn json(status: u16, path: &str) -> Self {
        Self::json_text(status, &String::from_utf8(fixture(path)).unwrap())
    }

    /// A JSON reply with this status and body.
    pub fn json_text(status: u16, body: &str) -> Self {
        Self {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.as_bytes().to_vec(),
            delivery: Delivery::Chunked(usize::MAX),
            window: None,
            delay: None,
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// `retry-after: <secs>`, and refuse (429, counted as early) any request before it passes.
    pub fn retry_after_secs(self, secs: u64) -> Self {
        let mut reply = self.header("retry-after", &secs.to_string());
        reply.window = Some(Duration::from_secs(secs));
        reply
    }

    /// `retry-after-ms: <ms>`, enforced the same way.
    pub fn retry_after_ms(self, ms: u64) -> Self {
        let mut reply = self.header("retry-after-ms", &ms.to_string());
        reply.window = Some(Duration::from_millis(ms));
        reply
    }

    /// Sit on the request this long before answering at all.
    pub fn answer_after(mut self, delay: Duration) -> Self {
        self.delay = Some(delay);
        self
    }

    pub fn delivered(mut self, delivery: Delivery) -> Self {
        self.delivery = delivery;
        self
    }

    fn into_response(self) -> Response {
        let body = Bytes::from(self.body);
        let stream_body = match self.delivery {
            Delivery::Chunked(size) => {
                let size = size.max(1);
                let chunks: Vec<Result<Bytes, std::io::Error>> = (0..body.len())
                    .step_by(size)
                    .map(|at| Ok(body.slice(at..(at + size).min(body.len()))))
                    .collect();
                Body::from_stream(futures::stream::iter(chunks))
            }
            Delivery::CutAfter(bytes) => {
                let head = body.slice(..bytes.min(body.len()));
                let items: Vec<Result<Bytes, std::io::Error>> = vec![
                    Ok(head),
                    Err(std::io::Error::new(
                        std::io::ErrorKind::ConnectionReset,
                        "cut",
                    )),
                ];
                Body::from_stream(futures::stream::iter(items))
            }
            Delivery::StallAfter(bytes) => {
                let head = body.slice(..bytes.min(body.len()));
                let first = futures::stream::iter(vec![Ok::<Bytes, std::io::Error>(head)]);
                Body::from_stream(first.chain(futures::stream::pending()))
            }
            Delivery::Trickle(pause) => {
                let text = String::from_utf8(body.to_vec()).unwrap();
                let events: Vec<String> = text.split_inclusive("\n\n").map(str::to_owned).collect();
                Body::from_stream(futures::stream::iter(events).then(move |event| async move {
                    tokio::time::sleep(pause).await;
                    Ok::<Bytes, std::io::Error>(Bytes::from(event))
                }))
            }
        };
        let mut response = Response::new(stream_body);
        *response.status_mut() = StatusCode::from_u16(self.status).unwrap();
        for (name, value) in self.headers {
            response.headers_mut().insert(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(&value).unwrap(),
            );
        }
        response
    }
}

/// A request as the server received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub headers: BTreeMap<String, String>,
    pub body: Value,
}

#[derive(Default)]
struct Inner {
    replies: VecDeque<Reply>,
    requests: Vec<Recorded>,
    not_before: Option<Instant>,
    early: usize,
}

/// The fake vendor. Dropping it stops the server.
pub struct FakeServer {
    base: String,
    inner: Arc<Mutex<Inner>>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeServer {
    pub async fn start(replies: Vec<Reply>) -> Self {
        let inner = Arc::new(Mutex::new(Inner {
            replies: replies.into(),
            ..Inner::default()
        }));
        let router = Router::new().fallback(handle).with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        Self { base, inner, task }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.inner.lock().unwrap().requests.clone()
    }

    /// Requests that arrived before a `retry-after` the server had handed out had passed.
    pub fn early_requests(&self) -> usize {
        self.inner.lock().unwrap().early
    }

    pub fn replies_left(&self) -> usize {
        self.inner.lock().unwrap().replies.len()
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn handle(State(inner): State<Arc<Mutex<Inner>>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, 16 << 20)
        .await
        .unwrap_or_default();
    let now = Instant::now();
    let reply = {
        let mut inner = inner.lock().unwrap();
        inner.requests.push(Recorded {
            method: parts.method.to_string(),
            path: parts.uri.path().to_owned(),
            headers: parts
                .headers
                .iter()
                .map(|(name, value)| {
                    (
                        name.as_str().to_owned(),
                        value.to_str().unwrap_or("<binary>").to_owned(),
                    )
                })
                .collect(),
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        });
        if inner.not_before.is_some_and(|not_before| now < not_before) {
            inner.early += 1;
            return Reply::json_text(
                429,
                r#"{"error":{"message":"fake server: retry-after ignored"}}"#,
            )
            .into_response();
        }
        let reply = inner.replies.pop_front().unwrap_or_else(|| {
            Reply::json_text(
                418,
                r#"{"error":{"message":"fake server: no reply queued"}}"#,
            )
        });
        inner.not_before = reply.window.map(|window| now + window);
        reply
    };
    if let Some(delay) = reply.delay {
        tokio::time::sleep(delay).await;
    }
    reply.into_response()
}

/// A key-bearing environment for the tests.
pub const TEST_KEY: &str = "test-key-0123456789abcdef";

pub fn env_with_keys(name: &str) -> Option<String> {
    matches!(name, "ANTHROPIC_API_KEY" | "OPENAI_API_KEY").then(|| TEST_KEY.to_owned())
}

pub fn no_env(_: &str) -> Option<String> {
    None
}

/// A config pointing at `base` with tiny retry delays.
pub fn config_for(base: &str) -> ModelConfig {
    ModelConfig {
        base_url: Some(base.to_owned()),
        retry_base_delay_ms: 1,
        retry_max_delay_secs: 1,
        ..ModelConfig::default()
    }
}

/// An observer that keeps every event.
#[derive(Default)]
pub struct Events(Mutex<Vec<StreamEvent>>);

impl Events {
    pub fn push(&self, event: StreamEvent) {
        self.0.lock().unwrap().push(event);
    }

    pub fn all(&self) -> Vec<StreamEvent> {
        self.0.lock().unwrap().clone()
    }

    pub fn retries(&self) -> Vec<(u32, Duration)> {
        self.all()
            .into_iter()
            .filter_map(|event| match event {
                StreamEvent::Retrying { attempt, delay, .. } => Some((attempt, delay)),
                _ => None,
            })
            .collect()
    }

    pub fn text(&self) -> String {
        self.all()
            .into_iter()
            .filter_map(|event| match event {
                StreamEvent::TextDelta(text) => Some(text),
                _ => None,
            })
            .collect()
    }
}

/// A typical mid-task request: a task, a tool call, its (redacted) result, and two tools.
pub fn agent_request() -> ModelRequest {
    ModelRequest {
        system: "You are drydock's coding agent. Work only inside the repository.".into(),
        messages: vec![
            Message::user_text("Fix the failing test in src/parser.rs"),
            Message {
                role: Role::Assistant,
                content: vec![
                    ContentBlock::Text {
                        text: "Running the tests first.".into(),
                    },
                    ContentBlock::ToolUse(ToolUse {
                        id: "toolu_01".into(),
                        name: "shell".into(),
                        input: ToolInput::Json {
                            value: json!({"command": "cargo test"}),
                        },
                    }),
                ],
            },
            Message {
                role: Role::User,
                content: vec![ContentBlock::ToolResult {
                    tool_use_id: "toolu_01".into(),
                    content: "test parser::zero ... FAILED".into(),
                    is_error: true,
                }],
            },
        ],
        tools: vec![
            ToolSpec {
                name: "shell".into(),
                description: "Run a command in the sandbox".into(),
                input_schema: json!({"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]}),
            },
            ToolSpec {
                name: "edit_file".into(),
                description: "Replace text in a file".into(),
                input_schema: json!({"type": "object", "properties": {"path": {"type": "string"}}}),
            },
        ],
        max_output_tokens: 4096,
    }
}
