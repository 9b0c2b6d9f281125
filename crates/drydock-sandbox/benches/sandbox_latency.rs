//! Sandbox latency and footprint, side by side in one run:
//!
//! ```text
//! cargo bench -p drydock-sandbox --bench sandbox_latency            # 200 iterations
//! DRYDOCK_BENCH_ITERATIONS=50 cargo bench -p drydock-sandbox --bench sandbox_latency
//! ```
//!
//! Rows: plain fork+exec of `true` (the floor), `true` in a running `local` session, a cold
//! start (new session + `true`), stopping a session, and the resident memory of an idle session.
//!
//! When a docker daemon answers (`/var/run/docker.sock` or `DOCKER_HOST`), the same run adds the
//! `docker` rows, in an image made from this host's shell tools (built once, cached in the
//! daemon): `true` by a raw API exec in a running container (what `docker exec` costs), `true`
//! in a running `docker` session (ours: the raw exec plus the wrapper and the sweep), a
//! `docker run` equivalent through the API (create, start, wait, remove a container running
//! `true`), a cold `docker` session (start + `true`), stopping one, and the memory of an idle
//! session. `DRYDOCK_BENCH_DOCKER_ITERATIONS` (default 50) sets the iterations of the rows that
//! create containers.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use drydock_sandbox::host_image::HostImage;
use drydock_sandbox::{
    BackendKind, DockerBackend, DockerOptions, DockerSession, ExecRequest, LocalBackend,
    LocalOptions, LocalSession, NetworkConfig, SandboxConfig, Session, SessionSpec,
};
use futures::StreamExt;
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

/// Resident memory (KiB) of a process.
fn rss_kib(pid: i32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn parent_of(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 1..]
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// The docker rows, and a line about an idle session's memory.
struct DockerRows {
    rows: Vec<Measurement>,
    memory: String,
}

fn docker_socket() -> std::path::PathBuf {
    std::env::var("DOCKER_HOST")
        .ok()
        .and_then(|h| h.strip_prefix("unix://").map(Into::into))
        .unwrap_or_else(|| "/var/run/docker.sock".into())
}

/// `docker exec <container> true` through the API: create, start attached, read to the end.
async fn raw_exec(client: &bollard::Docker, container: &str) {
    use bollard::exec::{CreateExecOptions, StartExecResults};
    let exec = client
        .create_exec(
            container,
            CreateExecOptions::<String> {
                cmd: Some(vec!["true".into()]),
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    if let StartExecResults::Attached { mut output, .. } =
        client.start_exec(&exec.id, None).await.unwrap()
    {
        while output.next().await.is_some() {}
    }
}

/// `docker run --rm <image> true` through the API: create, start, wait, remove.
async fn raw_run(client: &bollard::Docker, image: &str) {
    let body = bollard::models::ContainerCreateBody {
        image: Some(image.into()),
        cmd: Some(vec!["true".into()]),
        host_config: Some(bollard::models::HostConfig {
            network_mode: Some("none".into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    let id = client.create_container(None, body).await.unwrap().id;
    client.start_container(&id, None).await.unwrap();
    let mut wait = client.wait_container(&id, None);
    while let Some(status) = wait.next().await {
        assert_eq!(status.unwrap().status_code, 0);
    }
    client
        .remove_container(
            &id,
            Some(bollard::query_parameters::RemoveContainerOptions {
                force: true,
                ..Default::default()
            }),
        )
        .await
        .unwrap();
}

async fn docker_rows(
    workspace: &std::path::Path,
    runtime_dir: std::path::PathBuf,
    iterations: usize,
    cold_iterations: usize,
) -> Result<DockerRows, String> {
    let mut options = DockerOptions::new(STAGE);
    options.socket = Some(docker_socket());
    options.runtime_dir = Some(runtime_dir);
    let backend = DockerBackend::connect(options)
        .await
        .map_err(|e| e.to_string())?;
    let image = HostImage::shell_tools()
        .ensure(&backend)
        .await
        .map_err(|e| e.to_string())?;
    let client = backend.client().clone();
    let spec = || SessionSpec {
        label: "bench".into(),
        workspace: workspace.to_path_buf(),
        sandbox: SandboxConfig {
            backend: BackendKind::Docker,
            image: Some(image.clone()),
            ..SandboxConfig::default()
        },
        network: NetworkConfig::default(),
        network_events: None,
    };
    let cancel = CancellationToken::new();
    let mut rows = Vec::new();
    let session: DockerSession = backend
        .start_docker(spec())
        .await
        .map_err(|e| e.to_string())?;
    // Warm up the daemon's paths once before measuring.
    session.exec(true_request(), &cancel).await.unwrap();
    let mut raw = Measurement {
        name: "docker: raw API exec `true` (running container)",
        samples: Vec::new(),
    };
    for _ in 0..iterations {
        let started = Instant::now();
        raw_exec(&client, session.container_id()).await;
        raw.samples.push(started.elapsed());
    }
    let mut warm = Measurement {
        name: "docker: `true` in a running session",
        samples: Vec::new(),
    };
    for _ in 0..iterations {
        let started = Instant::now();
        let out = session.exec(true_request(), &cancel).await.unwrap();
        warm.samples.push(started.elapsed());
        assert!(out.success());
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let inspected = client
        .inspect_container(session.container_id(), None)
        .await
        .unwrap();
    let init = inspected.state.and_then(|s| s.pid).unwrap_or(0) as i32;
    let shim = parent_of(init).unwrap_or(0);
    let stats = client
        .stats(
            session.container_id(),
            Some(bollard::query_parameters::StatsOptions {
                stream: false,
                one_shot: true,
            }),
        )
        .next()
        .await
        .and_then(Result::ok);
    let cgroup_kib = stats
        .and_then(|s| s.memory_stats)
        .and_then(|m| m.usage)
        .unwrap_or(0)
        >> 10;
    let memory = format!(
        "idle docker session: init RSS {} KiB, containerd-shim RSS {} KiB, container cgroup usage {} KiB (includes page cache)",
        rss_kib(init),
        rss_kib(shim),
        cgroup_kib
    );
    session.stop().await.unwrap();
    rows.push(raw);
    rows.push(warm);

    let mut run = Measurement {
        name: "docker: `docker run` equivalent (API)",
        samples: Vec::new(),
    };
    for _ in 0..cold_iterations {
        let started = Instant::now();
        raw_run(&client, &image).await;
        run.samples.push(started.elapsed());
    }
    rows.push(run);
    let mut cold = Measurement {
        name: "docker: cold start (new session + `true`)",
        samples: Vec::new(),
    };
    let mut stop = Measurement {
        name: "docker: stop a session",
        samples: Vec::new(),
    };
    for _ in 0..cold_iterations {
        let started = Instant::now();
        let session = backend.start_docker(spec()).await.unwrap();
        let out = session.exec(true_request(), &cancel).await.unwrap();
        cold.samples.push(started.elapsed());
        assert!(out.success());
        let started = Instant::now();
        session.stop().await.unwrap();
        stop.samples.push(started.elapsed());
    }
    rows.push(cold);
    rows.push(stop);
    Ok(DockerRows { rows, memory })
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

    let cold_iterations: usize = std::env::var("DRYDOCK_BENCH_DOCKER_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let docker = if std::os::unix::net::UnixStream::connect(docker_socket()).is_ok() {
        runtime.block_on(docker_rows(
            &workspace,
            scratch.path().join("docker-runtime"),
            iterations,
            cold_iterations,
        ))
    } else {
        Err(format!("no docker daemon at {}", docker_socket().display()))
    };
    let docker_memory = match docker {
        Ok(docker) => {
            rows.extend(docker.rows);
            Some(docker.memory)
        }
        Err(reason) => {
            println!("docker rows skipped: {reason}");
            None
        }
    };

    println!(
        "\nsandbox latency, {iterations} iterations each ({cold_iterations} for rows that create containers)\n"
    );
    println!(
        "| {:<50} | {:>10} | {:>10} | {:>10} | {:>10} |",
        "measurement", "median", "p99", "mean", "min"
    );
    println!(
        "|{:-<52}|{:->12}|{:->12}|{:->12}|{:->12}|",
        "", "", "", "", ""
    );
    for row in &rows {
        println!(
            "| {:<50} | {:>10} | {:>10} | {:>10} | {:>10} |",
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
    if let Some(memory) = docker_memory {
        println!("{memory}");
    }
    let median = |name: &str| {
        rows.iter()
            .find(|r| r.name == name)
            .map(|r| r.percentile(0.5))
    };
    if let (Some(local_cold), Some(local_exec), Some(docker_run)) = (
        median("local: cold start (new session + `true`)"),
        median("local: `true` in a running session"),
        median("docker: `docker run` equivalent (API)"),
    ) {
        println!(
            "\nmedians: local cold start {} (target <= 20 ms), local exec {} (target <= 10 ms); `docker run` is {:.1}x a local cold start (target >= 10x)",
            ms(local_cold),
            ms(local_exec),
            docker_run.as_secs_f64() / local_cold.as_secs_f64()
        );
    }
}
