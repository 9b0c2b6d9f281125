//! Sandbox latency and footprint, side by side in one run:
//!
//! ```text
//! cargo bench -p drydock-sandbox --bench sandbox_latency            # 200 iterations
//! DRYDOCK_BENCH_ITERATIONS=50 cargo bench -p drydock-sandbox --bench sandbox_latency
//! ```
//!
//! Rows: plain fork+exec of `true` (the floor), `true` in a running `local` session, a cold
//! start (new session + `true`), stopping a session, and the resident memory of an idle session.
//! Another backend adds its rows by pushing more [`Measurement`]s in `main`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use drydock_sandbox::{
    ExecRequest, LocalBackend, LocalOptions, LocalSession, NetworkConfig, SandboxConfig, Session,
    SessionSpec,
};
use tokio_util::sync::CancellationToken;

const STAGE: &str = env!("CARGO_BIN_EXE_drydock-sandbox-stage");

/// One row of the latency table.
struct Measurement {
    name: &'static str,
    samples: Vec<Duration>,
}

impl Measurement {
    fn percentile(&self, p: f64) -> Duration {
        let mut sorted = self.samples.clone();
        sorted.sort();
        let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
        sorted[index]
    }

    fn mean(&self) -> Duration {
        self.samples.iter().sum::<Duration>() / self.samples.len() as u32
    }
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn true_request() -> ExecRequest {
    ExecRequest {
        argv: vec!["true".into()],
        cwd: None,
        timeout: Duration::from_secs(30),
        max_output_bytes: 4096,
        merge_stderr: false,
        stdin: None,
    }
}

fn spec(workspace: &std::path::Path) -> SessionSpec {
    SessionSpec {
        label: "bench".into(),
        workspace: workspace.to_path_buf(),
        sandbox: SandboxConfig::default(),
        network: NetworkConfig::default(),
        network_events: None,
    }
}

/// Resident and proportional memory (KiB) of a session's processes: bubblewrap, the supervisor
/// and its children (the egress forwarder).
fn session_memory(session: &LocalSession) -> (u64, u64, usize) {
    let mut pids: Vec<i32> = session.host_pids();
    let mut i = 0;
    while i < pids.len() {
        let pid = pids[i];
        if let Ok(children) = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")) {
            for child in children
                .split_whitespace()
                .filter_map(|c| c.parse::<i32>().ok())
            {
                if !pids.contains(&child) {
                    pids.push(child);
                }
            }
        }
        i += 1;
    }
    let field = |text: &str, key: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let (mut rss, mut pss) = (0, 0);
    for pid in &pids {
        if let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
            rss += field(&status, "VmRSS:");
        }
        if let Ok(rollup) = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")) {
            pss += field(&rollup, "Pss:");
        }
    }
    (rss, pss, pids.len())
}

fn main() {
    // `cargo bench` passes `--bench`; this harness takes no other argument.
    let iterations: usize = std::env::var("DRYDOCK_BENCH_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let workspace = scratch.path().join("workspace");
    std::fs::create_dir_all(workspace.join(".git")).unwrap();
    let mut options = LocalOptions::new(STAGE);
    options.runtime_dir = Some(scratch.path().join("runtime"));
    let backend = LocalBackend::new(options).unwrap();
    let cancel = CancellationToken::new();

    let mut rows = Vec::new();

    let mut floor = Measurement {
        name: "fork+exec `true` (floor)",
        samples: Vec::new(),
    };
    for _ in 0..iterations {
        let started = Instant::now();
        let status = std::process::Command::new("true").status().unwrap();
        floor.samples.push(started.elapsed());
        assert!(status.success());
    }
    rows.push(floor);

    let (warm, idle_memory) = runtime.block_on(async {
        let session = backend.start_local(spec(&workspace)).await.unwrap();
        let mut warm = Measurement {
            name: "local: `true` in a running session",
            samples: Vec::new(),
        };
        for _ in 0..iterations {
            let started = Instant::now();
            let out = session.exec(true_request(), &cancel).await.unwrap();
            warm.samples.push(started.elapsed());
            assert!(out.success());
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        let memory = session_memory(&session);
        session.stop().await.unwrap();
        (warm, memory)
    });
    rows.push(warm);

    let (cold, stop) = runtime.block_on(async {
        let mut cold = Measurement {
            name: "local: cold start (new session + `true`)",
            samples: Vec::new(),
        };
        let mut stop = Measurement {
            name: "local: stop a session",
            samples: Vec::new(),
        };
        for _ in 0..iterations {
            let started = Instant::now();
            let session = backend.start_local(spec(&workspace)).await.unwrap();
            let out = session.exec(true_request(), &cancel).await.unwrap();
            cold.samples.push(started.elapsed());
            assert!(out.success());
            let started = Instant::now();
            session.stop().await.unwrap();
            stop.samples.push(started.elapsed());
        }
        (cold, stop)
    });
    rows.push(cold);
    rows.push(stop);

    println!("\nsandbox latency, {iterations} iterations each\n");
    println!(
        "| {:<42} | {:>10} | {:>10} | {:>10} | {:>10} |",
        "measurement", "median", "p99", "mean", "min"
    );
    println!(
        "|{:-<44}|{:->12}|{:->12}|{:->12}|{:->12}|",
        "", "", "", "", ""
    );
    for row in &rows {
        println!(
            "| {:<42} | {:>10} | {:>10} | {:>10} | {:>10} |",
            row.name,
            ms(row.percentile(0.5)),
            ms(row.percentile(0.99)),
            ms(row.mean()),
            ms(row.percentile(0.0)),
        );
    }
    let (rss, pss, processes) = idle_memory;
    println!(
        "\nidle local session: {processes} processes (bubblewrap, supervisor, egress forwarder), RSS {} KiB, PSS {} KiB (shared pages split)",
        rss, pss
    );
}
