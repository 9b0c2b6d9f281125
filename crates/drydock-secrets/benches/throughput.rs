//! Scan throughput on a realistic mix (source code, lock files, logs): `cargo bench -p
//! drydock-secrets`. Group `redact` measures wall-clock time; group `redact_cpu` measures the
//! thread's CPU time, the figure to compare on a machine shared with other work. The comparison
//! with detect-secrets is `bench/compare.py`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/cpu_time.rs"]
mod cpu_time;
#[path = "support/mix.rs"]
mod mix;

use criterion::measurement::Measurement;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use drydock_secrets::{KnownSecret, Redactor, RuleSet};

fn redactor() -> Redactor {
    let known = (0..8)
        .map(|i| {
            KnownSecret::new(
                format!("SECRET_{i}"),
                format!("known-secret-value-{i}-Zq8xYyw3kLp0"),
            )
        })
        .collect();
    Redactor::new(RuleSet::builtin(), known).unwrap()
}

/// The inputs: the whole mix and its parts.
struct Inputs {
    all: String,
    source: String,
    logs: String,
    locks: String,
}

fn inputs() -> Inputs {
    let generated = mix::generate(8, 42);
    let pick = |filter: &dyn Fn(&str) -> bool| -> String {
        generated
            .files
            .iter()
            .filter(|f| filter(&f.path))
            .map(|f| f.text.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    };
    Inputs {
        all: pick(&|_| true),
        source: pick(&|p| p.ends_with(".rs") || p.ends_with(".py") || p.ends_with(".js")),
        logs: pick(&|p| p.ends_with(".log")),
        locks: pick(&|p| p.contains("lock_")),
    }
}

fn redact<M: Measurement>(c: &mut Criterion<M>, group: &str) {
    let inputs = inputs();
    let redactor = redactor();
    let mut group = c.benchmark_group(group);
    group.sample_size(10);
    for (name, text) in [
        ("mix", &inputs.all),
        ("source", &inputs.source),
        ("logs", &inputs.logs),
        ("lockfiles", &inputs.locks),
    ] {
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_function(name, |b| b.iter(|| redactor.redact(text)));
    }
    let all = inputs.all.as_bytes();
    group.throughput(Throughput::Bytes(all.len() as u64));
    group.bench_function("mix_streamed_64k_chunks", |b| {
        b.iter(|| {
            let mut stream = redactor.stream();
            let mut out = 0;
            for chunk in all.chunks(64 * 1024) {
                out += stream.push_bytes(chunk).len();
            }
            out + stream.finish_bytes().len()
        })
    });
    group.bench_function("mix_find_only", |b| b.iter(|| redactor.find(all, None)));
    group.finish();
}

fn wall_clock(c: &mut Criterion) {
    redact(c, "redact");
}

fn cpu_time(c: &mut Criterion<cpu_time::ThreadCpuTime>) {
    redact(c, "redact_cpu");
}

criterion_group!(benches, wall_clock);
criterion_group! {
    name = cpu_benches;
    config = Criterion::default().with_measurement(cpu_time::ThreadCpuTime);
    targets = cpu_time
}
criterion_main!(benches, cpu_benches);
