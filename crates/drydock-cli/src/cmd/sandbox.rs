//! `drydock sandbox exec` and `drydock sandbox check`.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use drydock_orchestrator::BackendProvider;
use drydock_sandbox::capture::{OutputStream, output_channel};
use drydock_sandbox::{BackendKind, ExecRequest, SessionSpec, check_isolation};
use tokio_util::sync::CancellationToken;

use crate::cli::{GlobalArgs, SandboxExecArgs};
use crate::context::{self, Backends};
use crate::output::{CliError, print_json};

/// Exit status of a command killed by its timeout (as coreutils' `timeout` does).
const TIMED_OUT: u8 = 124;

pub async fn exec(global: &GlobalArgs, args: SandboxExecArgs) -> Result<ExitCode, CliError> {
    let (config, _) = context::config(global)?;
    let data_dir = context::data_dir(global)?;
    let mut sandbox = config.sandbox.clone();
    if let Some(name) = &args.backend {
        sandbox.backend = match name.as_str() {
            "docker" => BackendKind::Docker,
            _ => BackendKind::Local,
        };
    }
    if let Some(image) = &args.image {
        sandbox.image = Some(image.clone());
    }
    if let Some(runtime) = &args.runtime {
        sandbox.runtime = Some(runtime.clone());
    }
    if let Some(memory) = args.memory {
        sandbox.memory_mb = memory;
    }
    let mut network = config.network.clone();
    if args.offline {
        network.allow.clear();
    }
    network.allow.extend(args.allow_hosts.iter().cloned());
    let workspace = match &args.workspace {
        Some(dir) => dir.clone(),
        None => std::env::current_dir()
            .map_err(|err| CliError::input(format!("no current directory: {err}")))?,
    };
    let backend = Backends::new(&data_dir)
        .backend(sandbox.backend)
        .await
        .map_err(|err| CliError::input(err.to_string()))?;
    let (events_tx, mut events_rx) = tokio::sync::mpsc::unbounded_channel();
    let session = backend
        .start(SessionSpec {
            label: "cli".into(),
            workspace,
            sandbox,
            network,
            network_events: Some(events_tx),
        })
        .await
        .map_err(|err| CliError::input(err.to_string()))?;
    let request = ExecRequest {
        argv: args.command.clone(),
        cwd: None,
        timeout: Duration::from_secs(args.timeout),
        max_output_bytes: 1 << 20,
        merge_stderr: false,
        stdin: None,
    };
    let cancel = CancellationToken::new();
    let interrupt = {
        let cancel = cancel.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                cancel.cancel();
            }
        })
    };
    let output = if global.json {
        session.exec(request, &cancel).await
    } else {
        let (sink, mut chunks) = output_channel(64);
        let printer = tokio::spawn(async move {
            while let Some(chunk) = chunks.recv().await {
                let _ = match chunk.stream {
                    OutputStream::Stdout => std::io::stdout().write_all(&chunk.data),
                    OutputStream::Stderr => std::io::stderr().write_all(&chunk.data),
                };
            }
        });
        let output = session.exec_streaming(request, &cancel, sink).await;
        let _ = printer.await;
        output
    };
    interrupt.abort();
    let info = session.info();
    let stopped = session.stop().await;
    drop(session);
    let output = output.map_err(|err| CliError::input(err.to_string()))?;
    stopped.map_err(|err| CliError::internal(format!("stopping the sandbox: {err}")))?;
    let mut connections = Vec::new();
    while let Some(event) = events_rx.recv().await {
        connections.push(event);
    }
    if global.json {
        print_json(&serde_json::json!({
            "exit_code": output.exit_code,
            "signal": output.signal,
            "timed_out": output.timed_out,
            "duration_ms": output.duration.as_millis() as u64,
            "stdout": output.stdout.to_text(),
            "stderr": output.stderr.to_text(),
            "isolation": info.isolation,
            "network": connections,
        }));
    } else {
        for event in connections.iter().filter(|e| !e.allowed) {
            eprintln!(
                "drydock: denied connection to {}:{}: {}",
                event.host, event.port, event.reason
            );
        }
        if output.timed_out {
            eprintln!(
                "drydock: the command timed out after {}s and was killed",
                args.timeout
            );
        }
    }
    let code = if output.timed_out {
        TIMED_OUT
    } else if let Some(code) = output.exit_code {
        u8::try_from(code).unwrap_or(1)
    } else {
        output.signal.map_or(1, |signal| {
            128u8.saturating_add(u8::try_from(signal).unwrap_or(0))
        })
    };
    Ok(ExitCode::from(code))
}

pub async fn check(global: &GlobalArgs) -> Result<ExitCode, CliError> {
    let data_dir = context::data_dir(global)?;
    let report = match Backends::new(&data_dir).local() {
        Ok(backend) => backend.check().await,
        Err(_) => check_isolation(),
    };
    if global.json {
        let checks: Vec<serde_json::Value> = report
            .checks
            .iter()
            .map(|check| {
                serde_json::json!({
                    "name": check.name,
                    "status": format!("{:?}", check.status).to_ascii_lowercase(),
                    "detail": check.detail,
                    "remedy": check.remedy,
                })
            })
            .collect();
        print_json(&serde_json::json!({ "local_ready": report.local_ready(), "checks": checks }));
    } else {
        crate::out!("{report}");
    }
    Ok(if report.local_ready() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
