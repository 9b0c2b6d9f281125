//! Costs of the store's hot paths: appending an event (one write transaction, fsync'd WAL),
//! verifying a chain, and claiming a task.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use drydock_core::{
    Author, AuthorAssociation, EventKind, Issue, IssueSource, Limits, RepoRef, Task, TaskKind,
    TaskSpec,
};
use drydock_store::{SqliteStore, Store};
use tokio::runtime::Runtime;

fn task() -> Task {
    Task::new(TaskSpec {
        kind: TaskKind::NewTask,
        repo: RepoRef {
            location: "/srv/repos/demo".into(),
            name: "demo".into(),
        },
        issue: Issue::from_text(
            "# Bench task\n\nbody",
            Author {
                login: "bench".into(),
                association: AuthorAssociation::Owner,
            },
            IssueSource::Text,
        ),
        model: "scripted:bench".into(),
        limits: Limits::default(),
    })
}

fn note(size: usize) -> EventKind {
    EventKind::Note {
        text: "x".repeat(size),
    }
}

fn append(c: &mut Criterion) {
    let rt = Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file_store = rt
        .block_on(SqliteStore::open(&dir.path().join("bench.db")))
        .unwrap();
    let memory_store = rt.block_on(SqliteStore::open_in_memory()).unwrap();
    let mut group = c.benchmark_group("append_event");
    for (name, store) in [("file", &file_store), ("memory", &memory_store)] {
        let task = task();
        rt.block_on(store.create_task(&task)).unwrap();
        for size in [100, 16 * 1024] {
            group.bench_with_input(BenchmarkId::new(name, size), &size, |b, &size| {
                b.iter(|| {
                    rt.block_on(store.append_event(task.id, note(size)))
                        .unwrap()
                });
            });
        }
    }
    group.finish();
}

fn verify(c: &mut Criterion) {
    let rt = Runtime::new().unwrap();
    let store = rt.block_on(SqliteStore::open_in_memory()).unwrap();
    let task = task();
    rt.block_on(async {
        store.create_task(&task).await.unwrap();
        for _ in 0..999 {
            store.append_event(task.id, note(1024)).await.unwrap();
        }
    });
    c.bench_function("verify_chain/1000 events of 1 KiB", |b| {
        b.iter(|| {
            let reports = rt.block_on(store.verify_chain(Some(task.id))).unwrap();
            assert!(reports[0].first_break.is_none());
        });
    });
}

fn claim(c: &mut Criterion) {
    let rt = Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = rt
        .block_on(SqliteStore::open(&dir.path().join("queue.db")))
        .unwrap();
    c.bench_function("claim_next/file", |b| {
        b.iter_batched(
            || rt.block_on(store.create_task(&task())).unwrap(),
            |()| {
                rt.block_on(store.claim_next("bench", Duration::from_secs(60)))
                    .unwrap()
                    .unwrap()
            },
            criterion::BatchSize::PerIteration,
        );
    });
}

criterion_group!(benches, append, verify, claim);
criterion_main!(benches);
