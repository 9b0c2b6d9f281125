//! Scan throughput on a realistic mix (source code, lock files, logs): `cargo bench -p
//! drydock-secrets`. The comparison with detect-secrets is `bench/compare.py`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/mix.rs"]
mod mix;

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

fn bench(c: &mut Criterion) {
    let generated = mix::generate(8, 42);
    let redactor = redactor();
    let all: String = generated
        .files
        .iter()
        .map(|f| f.text.as_str())
        .collect::<Vec<_>>()
        .join("\n");
    let pick = |filter: &dyn Fn(&str) -> bool| -> String {
        generated
            .files
            .iter()
            .filter(|f| filter(&f.path))
            .map(|f| f.text.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    };
    let source = pick(&|p| p.ends_with(".rs") || p.ends_with(".py") || p.ends_with(".js"));
    let logs = pick(&|p| p.ends_with(".log"));
    let locks = pick(&|p| p.contains("lock_"));

    let mut group = c.benchmark_group("redact");
    group.sample_size(10);
    for (name, text) in [
        ("mix", &all),
        ("source", &source),
        ("logs", &logs),
        ("lockfiles", &locks),
    ] {
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_function(name, |b| b.iter(|| redactor.redact(text)));
    }
    group.throughput(Throughput::Bytes(all.len() as u64));
    group.bench_function("mix_streamed_64k_chunks", |b| {
        b.iter(|| {
            let mut stream = redactor.stream();
            let mut out = 0;
            for chunk in all.as_bytes().chunks(64 * 1024) {
                out += stream.push_bytes(chunk).len();
            }
            out + stream.finish_bytes().len()
        })
    });
    group.bench_function("mix_find_only", |b| {
        b.iter(|| redactor.find(all.as_bytes(), None))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
