//! The inner stage for this crate's tests and benches, plus a tiny developer front end.
//!
//! `drydock` embeds the same entry point: its `main` calls
//! `drydock_sandbox::run_stage_if_requested()` first. This binary does the same, then offers:
//!
//! ```text
//! drydock-sandbox-stage check
//! drydock-sandbox-stage exec --workspace DIR [--allow HOST]... [--allow-private NET]...
//!     [--timeout SECS] [--max-output BYTES] [--memory-mb N] [--max-processes N] [--disk-mb N]
//!     [--runtime-dir DIR] [--read-only PATH]... [--stream] -- PROGRAM [ARGS]...
//! ```
//!
//! `exec` prints a JSON summary (or, with `--stream`, passes output through and lists refused
//! connections on stderr). Tests use it to run a sandbox as another user.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use drydock_sandbox::capture::{OutputStream, output_channel};
use drydock_sandbox::{
    ExecRequest, LocalBackend, LocalOptions, NetworkConfig, SandboxConfig, Session, SessionSpec,
};
use tokio_util::sync::CancellationToken;

fn main() -> ExitCode {
    drydock_sandbox::run_stage_if_requested();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("cannot start the runtime: {err}");
            return ExitCode::from(2);
        }
    };
    let result = match args.first().map(String::as_str) {
        Some("check") => runtime.block_on(check()),
        Some("exec") => runtime.block_on(exec(&args[1..])),
        _ => Err(
            "usage: drydock-sandbox-stage check | exec --workspace DIR [...] -- PROGRAM [ARGS]"
                .into(),
        ),
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("drydock-sandbox-stage: {message}");
            ExitCode::from(2)
        }
    }
}

fn backend(runtime_dir: Option<PathBuf>, read_only: Vec<PathBuf>) -> Result<LocalBackend, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut options = LocalOptions::new(exe);
    options.runtime_dir = runtime_dir;
    options.read_only_paths = read_only;
    LocalBackend::new(options).map_err(|e| e.to_string())
}

async fn check() -> Result<ExitCode, String> {
    let report = backend(None, Vec::new())?.check().await;
    print!("{report}");
    Ok(if report.local_ready() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

#[derive(Default)]
struct ExecArgs {
    workspace: Option<PathBuf>,
    network: NetworkConfig,
    sandbox: SandboxConfig,
    timeout: Duration,
    max_output: usize,
    runtime_dir: Option<PathBuf>,
    read_only: Vec<PathBuf>,
    stream: bool,
    argv: Vec<String>,
}

fn parse_exec(args: &[String]) -> Result<ExecArgs, String> {
    let mut parsed = ExecArgs {
        network: NetworkConfig {
            allow: Vec::new(),
            ..NetworkConfig::default()
        },
        timeout: Duration::from_secs(60),
        max_output: 1 << 20,
        ..ExecArgs::default()
    };
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        if arg == "--" {
            parsed.argv = iter.cloned().collect();
            break;
        }
        if arg == "--stream" {
            parsed.stream = true;
            continue;
        }
        let value = iter.next().ok_or_else(|| format!("{arg} needs a value"))?;
        let number = || {
            value
                .parse::<u64>()
                .map_err(|_| format!("{arg}: not a number: {value}"))
        };
        match arg.as_str() {
            "--workspace" => parsed.workspace = Some(value.into()),
            "--allow" => parsed.network.allow.push(value.clone()),
            "--allow-private" => parsed.network.allow_private.push(value.clone()),
            "--timeout" => parsed.timeout = Duration::from_secs(number()?),
            "--max-output" => parsed.max_output = number()? as usize,
            "--memory-mb" => parsed.sandbox.memory_mb = number()?,
            "--max-processes" => parsed.sandbox.max_processes = number()?,
            "--disk-mb" => parsed.sandbox.disk_mb = number()?,
            "--runtime-dir" => parsed.runtime_dir = Some(value.into()),
            "--read-only" => parsed.read_only.push(value.into()),
            other => return Err(format!("unknown option {other}")),
        }
    }
    if parsed.argv.is_empty() {
        return Err("missing -- PROGRAM".into());
    }
    Ok(parsed)
}

async fn exec(args: &[String]) -> Result<ExitCode, String> {
    let args = parse_exec(args)?;
    let workspace = args.workspace.ok_or("missing --workspace")?;
    let backend = backend(args.runtime_dir, args.read_only)?;
    let (events_tx, mut events_rx) = tokio::sync::mpsc::unbounded_channel();
    let spec = SessionSpec {
        label: "cli".into(),
        workspace,
        sandbox: args.sandbox,
        network: args.network,
        network_events: Some(events_tx),
    };
    let session = backend.start_local(spec).await.map_err(|e| e.to_string())?;
    let request = ExecRequest {
        argv: args.argv,
        cwd: None,
        timeout: args.timeout,
        max_output_bytes: args.max_output,
        merge_stderr: false,
        stdin: None,
    };
    let cancel = CancellationToken::new();
    let output = if args.stream {
        let (sink, mut chunks) = output_channel(64);
        let printer = tokio::spawn(async move {
            use std::io::Write;
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
    } else {
        session.exec(request, &cancel).await
    };
    let info = session.info();
    session.stop().await.map_err(|e| e.to_string())?;
    let output = output.map_err(|e| e.to_string())?;
    let mut events = Vec::new();
    while let Ok(event) = events_rx.try_recv() {
        events.push(event);
    }
    if args.stream {
        for event in events.iter().filter(|e| !e.allowed) {
            eprintln!(
                "drydock: refused connection to {}:{}: {}",
                event.host, event.port, event.reason
            );
        }
    } else {
        let summary = serde_json::json!({
            "exit_code": output.exit_code,
            "signal": output.signal,
            "timed_out": output.timed_out,
            "stdout": output.stdout.to_text(),
            "stderr": output.stderr.to_text(),
            "isolation": info.isolation,
            "network": events,
        });
        println!("{summary}");
    }
    Ok(match output.exit_code {
        Some(0) => ExitCode::SUCCESS,
        _ => ExitCode::FAILURE,
    })
}
