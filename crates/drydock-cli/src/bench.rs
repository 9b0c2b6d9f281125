//! `drydock bench harness`: the harness's own cost, measured on real components (SQLite store,
//! policy engine, redactor, local sandbox) with a scripted model.
//!
//! - *time to first model request*: from the start of `drydock run`'s work (request checks, task
//!   creation, workspace clone, sandbox start, prompt) to the moment the first model call begins;
//! - *overhead per tool call*: the agent loop's wall time, minus the time inside model calls and
//!   inside sandbox commands, divided by the tool calls made (events recorded, policy decided,
//!   output redacted, loop detection, context estimate).

use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use drydock_core::{Author, AuthorAssociation, Issue, IssueSource};
use drydock_model::{
    ModelClient, ModelError, ModelInfo, ModelRequest, ModelResponse, ScriptedClient, StreamObserver,
};
use drydock_orchestrator::{BackendProvider, LimitFlags, Platform, Silent, TaskRequest};
use drydock_sandbox::{
    Backend, BackendKind, ExecOutput, ExecRequest, SandboxError, Session, SessionInfo, SessionSpec,
};
use drydock_store::SqliteStore;
use tokio_util::sync::CancellationToken;

use crate::cli::{BenchArgs, GlobalArgs};
use crate::context::Backends;
use crate::output::{CliError, print_json};

/// Tool calls per measured task (half `read_file`, half `run_command true`).
const CALLS_PER_TASK: usize = 40;

#[derive(Debug, Default)]
struct Clock {
    first_model_start: Option<Instant>,
    last_model_end: Option<Instant>,
    model_time: Duration,
    command_time: Duration,
}

#[derive(Debug)]
struct TimedModel {
    inner: Arc<dyn ModelClient>,
    clock: Arc<Mutex<Clock>>,
}

#[async_trait]
impl ModelClient for TimedModel {
    fn info(&self) -> &ModelInfo {
        self.inner.info()
    }

    async fn complete(
        &self,
        request: &ModelRequest,
        observer: StreamObserver<'_>,
        cancel: &CancellationToken,
    ) -> Result<ModelResponse, ModelError> {
        let start = Instant::now();
        if let Ok(mut clock) = self.clock.lock() {
            clock.first_model_start.get_or_insert(start);
        }
        let response = self.inner.complete(request, observer, cancel).await;
        let end = Instant::now();
        if let Ok(mut clock) = self.clock.lock() {
            clock.model_time += end - start;
            clock.last_model_end = Some(end);
        }
        response
    }
}

#[derive(Debug)]
struct TimedSession {
    inner: Box<dyn Session>,
    clock: Arc<Mutex<Clock>>,
}

#[async_trait]
impl Session for TimedSession {
    fn info(&self) -> SessionInfo {
        self.inner.info()
    }

    async fn exec(
        &self,
        request: ExecRequest,
        cancel: &CancellationToken,
    ) -> Result<ExecOutput, SandboxError> {
        let start = Instant::now();
        let output = self.inner.exec(request, cancel).await;
        if let Ok(mut clock) = self.clock.lock() {
            clock.command_time += start.elapsed();
        }
        output
    }

    async fn stop(&self) -> Result<(), SandboxError> {
        self.inner.stop().await
    }
}

#[derive(Debug)]
struct TimedBackend {
    inner: Arc<dyn Backend>,
    clock: Arc<Mutex<Clock>>,
}

#[async_trait]
impl Backend for TimedBackend {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    async fn start(&self, spec: SessionSpec) -> Result<Box<dyn Session>, SandboxError> {
        let inner = self.inner.start(spec).await?;
        Ok(Box::new(TimedSession {
            inner,
            clock: self.clock.clone(),
        }))
    }
}

struct TimedBackends {
    backends: Backends,
    clock: Arc<Mutex<Clock>>,
}

#[async_trait::async_trait]
impl BackendProvider for TimedBackends {
    async fn backend(&self, kind: BackendKind) -> Result<Arc<dyn Backend>, SandboxError> {
        let inner = self.backends.backend(kind).await?;
        Ok(Arc::new(TimedBackend {
            inner,
            clock: self.clock.clone(),
        }))
    }
}

/// A trajectory of `calls` tool calls, one per turn, then `finish`.
fn trajectory(calls: usize) -> String {
    let mut turns = Vec::new();
    for i in 0..calls {
        let call = if i % 2 == 0 {
            serde_json::json!({"name": "read_file", "arguments": {"path": "README.md"}})
        } else {
            serde_json::json!({"name": "run_command", "arguments": {"command": "true"}})
        };
        turns.push(serde_json::json!({"text": format!("step {i}"), "tool_calls": [call]}));
    }
    turns.push(
        serde_json::json!({"tool_calls": [{"name": "finish", "arguments": {"summary": "bench"}}]}),
    );
    serde_json::json!({"version": 1, "price": {"input": 0.0, "output": 0.0}, "turns": turns})
        .to_string()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

pub async fn bench(global: &GlobalArgs, args: BenchArgs) -> Result<ExitCode, CliError> {
    let scratch = tempfile::tempdir().map_err(|e| CliError::internal(format!("temp dir: {e}")))?;
    let data_dir = scratch.path().to_path_buf();
    let repo = crate::cmd::demo_repo_in(&data_dir).await?;
    let store = SqliteStore::open(&data_dir.join("drydock.db"))
        .await
        .map_err(|e| CliError::internal(e.to_string()))?;
    let tasks = args.iterations.clamp(1, 1000) as usize;
    let mut first_request_ms = Vec::new();
    let mut overhead_us = Vec::new();
    for _ in 0..tasks {
        let clock = Arc::new(Mutex::new(Clock::default()));
        let platform = Platform {
            store: Arc::new(store.clone()),
            config: Default::default(),
            config_dir: data_dir.clone(),
            data_dir: data_dir.clone(),
            backends: Arc::new(TimedBackends {
                backends: Backends::new(&data_dir),
                clock: clock.clone(),
            }),
            env: Arc::new(|_: &str| None),
        };
        let scripted = ScriptedClient::from_json(&trajectory(CALLS_PER_TASK), "bench")
            .map_err(|e| CliError::internal(e.to_string()))?;
        let model = Arc::new(TimedModel {
            inner: Arc::new(scripted),
            clock: clock.clone(),
        });
        let issue = Issue::from_text(
            "bench: read and run",
            Author {
                login: "bench".into(),
                association: AuthorAssociation::Owner,
            },
            IssueSource::Text,
        );
        let started = Instant::now();
        let request = TaskRequest {
            repo: repo.clone(),
            issue,
            model: None,
            base_url: None,
            limits: LimitFlags {
                max_turns: Some(1000),
                ..LimitFlags::default()
            },
            approvals: false,
            allow_untested: true,
        };
        let prepared = platform
            .submit_with_model(request, model)
            .await
            .map_err(|e| CliError::internal(e.to_string()))?;
        platform
            .run(prepared, Arc::new(Silent), CancellationToken::new())
            .await
            .map_err(|e| CliError::internal(e.to_string()))?;
        let clock = clock
            .lock()
            .map_err(|_| CliError::internal("bench clock poisoned"))?;
        let (Some(first), Some(last)) = (clock.first_model_start, clock.last_model_end) else {
            return Err(CliError::internal("the bench task made no model call"));
        };
        first_request_ms.push((first - started).as_secs_f64() * 1e3);
        let window = last - first;
        let harness = window
            .saturating_sub(clock.model_time)
            .saturating_sub(clock.command_time);
        overhead_us.push(harness.as_secs_f64() * 1e6 / CALLS_PER_TASK as f64);
    }
    first_request_ms.sort_by(f64::total_cmp);
    overhead_us.sort_by(f64::total_cmp);
    let report = serde_json::json!({
        "tasks": tasks,
        "tool_calls_per_task": CALLS_PER_TASK,
        "time_to_first_model_request_ms": {
            "median": percentile(&first_request_ms, 50.0),
            "p99": percentile(&first_request_ms, 99.0),
        },
        "harness_overhead_per_tool_call_us": {
            "median": percentile(&overhead_us, 50.0),
            "p99": percentile(&overhead_us, 99.0),
        },
    });
    if global.json {
        print_json(&report);
    } else {
        crate::outln!(
            "drydock bench harness: {tasks} tasks of {CALLS_PER_TASK} tool calls (scripted model, SQLite store, local sandbox)"
        );
        crate::outln!(
            "  time to first model request   median {:>8.1} ms   p99 {:>8.1} ms",
            percentile(&first_request_ms, 50.0),
            percentile(&first_request_ms, 99.0)
        );
        crate::outln!(
            "  harness overhead per tool call median {:>8.0} µs   p99 {:>8.0} µs   (excludes model and command time)",
            percentile(&overhead_us, 50.0),
            percentile(&overhead_us, 99.0)
        );
    }
    Ok(ExitCode::SUCCESS)
}
