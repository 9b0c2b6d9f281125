//! Helper for `bench/compare.py`: `gen DIR [MB]` writes the benchmark mix and a manifest of the
//! planted secrets; `corpus DIR` writes the labelled corpus (format positives and near misses,
//! one case per file) and its labels; `scan DIR` scans a directory with the built-in rules and
//! prints JSON; `redact N` redacts the mix N times in memory (run it under `/usr/bin/time` for
//! CPU-time throughput; `PROBE=empty|known|rules` isolates the parts).

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/support/corpus.rs"]
mod corpus;
#[path = "../benches/support/mix.rs"]
mod mix;

use std::path::PathBuf;
use std::time::Instant;

use drydock_secrets::{Redactor, RuleSet};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("gen") => {
            let dir = PathBuf::from(&args[1]);
            let megabytes = args.get(2).map_or(8, |mb| mb.parse().expect("MB"));
            let generated = mix::generate(megabytes, 42);
            mix::write(&generated, &dir).expect("write mix");
            let planted: Vec<serde_json::Value> = generated
                .planted
                .iter()
                .map(|p| serde_json::json!({"path": p.path, "line": p.line, "rule": p.rule}))
                .collect();
            let manifest = serde_json::json!({
                "files": generated.files.len(),
                "bytes": generated.files.iter().map(|f| f.text.len()).sum::<usize>(),
                "planted": planted,
            });
            std::fs::write(dir.join("manifest.json"), manifest.to_string()).expect("manifest");
        }
        Some("corpus") => {
            let dir = PathBuf::from(&args[1]);
            let mut labels = Vec::new();
            for (index, case) in corpus::load(1).into_iter().enumerate() {
                let kind = match case.kind {
                    corpus::Kind::Positive => "positive",
                    corpus::Kind::Negative => "negative",
                    corpus::Kind::Known => continue,
                };
                let path = format!("{kind}/case_{index:03}.txt");
                std::fs::create_dir_all(dir.join(kind)).expect("dir");
                std::fs::write(dir.join(&path), format!("{}\n", case.text)).expect("case");
                labels.push(serde_json::json!({"path": path, "kind": kind, "label": case.label}));
            }
            std::fs::write(
                dir.join("labels.json"),
                serde_json::Value::Array(labels).to_string(),
            )
            .expect("labels");
        }
        Some("redact") => {
            // Throughput in CPU time (use with `/usr/bin/time`): redacts the mix N times.
            let rounds: usize = args.get(1).map_or(10, |n| n.parse().expect("N"));
            let generated = mix::generate(8, 42);
            let text: String = generated
                .files
                .iter()
                .map(|f| f.text.as_str())
                .collect::<Vec<_>>()
                .join("\n");
            let known = (0..8)
                .map(|i| {
                    drydock_secrets::KnownSecret::new(
                        format!("SECRET_{i}"),
                        format!("known-secret-value-{i}-Zq8xYyw3kLp0"),
                    )
                })
                .collect();
            let (rules, known) = match std::env::var("PROBE").as_deref() {
                Ok("empty") => (RuleSet::empty(), Vec::new()),
                Ok("known") => (RuleSet::empty(), known),
                Ok("rules") => (RuleSet::builtin(), Vec::new()),
                _ => (RuleSet::builtin(), known),
            };
            let redactor = Redactor::new(rules, known).expect("redactor");
            let started = Instant::now();
            let mut findings = 0;
            for _ in 0..rounds {
                findings += redactor.redact(&text).findings.len();
            }
            let seconds = started.elapsed().as_secs_f64();
            println!(
                "{} bytes x {rounds}: {seconds:.3} s wall, {:.1} MB/s wall, {findings} findings",
                text.len(),
                (text.len() * rounds) as f64 / 1e6 / seconds
            );
        }
        Some("scan") => {
            let dir = PathBuf::from(&args[1]);
            let redactor = Redactor::new(RuleSet::builtin(), Vec::new()).expect("redactor");
            let started = Instant::now();
            let report = redactor
                .scan_paths(std::slice::from_ref(&dir))
                .expect("scan");
            let seconds = started.elapsed().as_secs_f64();
            let prefix = format!("{}/", dir.display());
            let findings: Vec<serde_json::Value> = report
                .findings
                .iter()
                .map(|f| serde_json::json!({"path": f.path.strip_prefix(&prefix).unwrap_or(&f.path), "line": f.line, "rule": f.rule}))
                .collect();
            let out = serde_json::json!({
                "files": report.files_scanned,
                "bytes": report.bytes_scanned,
                "seconds": seconds,
                "findings": findings,
            });
            println!("{out}");
        }
        _ => {
            eprintln!("usage: secrets_bench gen DIR [MB] | corpus DIR | scan DIR");
            std::process::exit(2);
        }
    }
}
