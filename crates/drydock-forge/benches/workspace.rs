//! Time to prepare a task workspace for a repository of ~1000 files, and to inspect a change.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use drydock_forge::{LocalRepo, Workspace};
use tokio::runtime::Runtime;

/// A repository of `files` source files (about 2 KiB each) in 20 directories, one commit.
fn source_repo(dir: &Path, files: usize) {
    for n in 0..files {
        let path = dir.join(format!("src/mod{:02}/file{n:04}.rs", n % 20));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let body: String = (0..60)
            .map(|line| format!("pub fn f{n}_{line}() -> usize {{ {line} }}\n"))
            .collect();
        std::fs::write(path, body).unwrap();
    }
    for args in [
        &["init", "-q", "-b", "main"][..],
        &["add", "."],
        &[
            "-c",
            "user.name=b",
            "-c",
            "user.email=b@b",
            "commit",
            "-qm",
            "init",
        ],
    ] {
        let status = Command::new("git")
            .args(args)
            .current_dir(dir)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .status()
            .unwrap();
        assert!(status.success());
    }
}

fn workspace(c: &mut Criterion) {
    let rt = Runtime::new().unwrap();
    let source_dir = tempfile::tempdir().unwrap();
    source_repo(source_dir.path(), 1000);
    let source = rt.block_on(LocalRepo::open(source_dir.path())).unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let mut n = 0;

    let mut group = c.benchmark_group("workspace (1000 files)");
    group.sample_size(10);
    group.bench_function("create", |b| {
        // Workspaces are removed only at the end: on some file systems (ext4 with online
        // discard) a burst of deletions slows the writes after it, which is not what this
        // measures.
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                n += 1;
                let dest = scratch.path().join(format!("ws{n}"));
                let started = Instant::now();
                rt.block_on(Workspace::create(&source, &dest, "drydock/bench"))
                    .unwrap();
                total += started.elapsed();
            }
            total
        });
    });

    let ws = rt
        .block_on(Workspace::create(
            &source,
            &scratch.path().join("inspect"),
            "drydock/inspect",
        ))
        .unwrap();
    std::fs::write(ws.dir().join("src/mod00/file0000.rs"), "changed\n").unwrap();
    std::fs::write(ws.dir().join("NEW.md"), "new file\n").unwrap();
    group.bench_function("diff_stat", |b| {
        b.iter(|| rt.block_on(ws.diff_stat()).unwrap());
    });
    group.bench_function("diff_text", |b| {
        b.iter(|| rt.block_on(ws.diff_text()).unwrap());
    });
    group.finish();
}

criterion_group!(benches, workspace);
criterion_main!(benches);
