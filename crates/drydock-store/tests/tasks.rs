#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use chrono::{Duration, Utc};
use common::task;
use drydock_core::{
    DiffStat, EventKind, Failure, FailureClass, FileChange, PullRequest, TaskState, TaskStats,
    Usage,
};
use drydock_store::{SqliteStore, Store, StoreError, TaskProgress, TaskQuery};
use pretty_assertions::assert_eq;

#[tokio::test]
async fn a_created_task_reads_back_whole_with_its_creation_event() {
    let store = SqliteStore::open_in_memory().await.unwrap();
    let task = task("Pager skips the last page");
    store.create_task(&task).await.unwrap();

    assert_eq!(store.task(task.id).await.unwrap(), Some(task.clone()));
    let events = store.events(task.id, 0).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].seq, 1);
    assert_eq!(events[0].at, task.created_at);
    assert_eq!(
        events[0].kind,
        EventKind::TaskCreated {
            spec: Box::new(task.spec.clone())
        }
    );
}

#[tokio::test]
async fn an_unknown_task_is_none_and_its_operations_are_not_found() {
    let store = SqliteStore::open_in_memory().await.unwrap();
    let ghost = task("ghost").id;
    assert_eq!(store.task(ghost).await.unwrap(), None);
    assert!(matches!(
        store.events(ghost, 0).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        store
            .append_event(ghost, EventKind::Note { text: "x".into() })
            .await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        store.transition(ghost, TaskState::Preparing, None).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        store.verify_chain(Some(ghost)).await,
        Err(StoreError::NotFound { .. })
    ));
    let progress = TaskProgress {
        branch: None,
        prompt_hash: None,
        stats: TaskStats::new(),
    };
    assert!(matches!(
        store.save_progress(ghost, &progress).await,
        Err(StoreError::NotFound { .. })
    ));
}

#[tokio::test]
async fn creating_the_same_task_twice_is_refused_and_changes_nothing() {
    let store = SqliteStore::open_in_memory().await.unwrap();
    let task = task("once");
    store.create_task(&task).await.unwrap();
    let err = store.create_task(&task).await.unwrap_err();
    assert!(err.to_string().contains("already exists"), "{err}");
    assert_eq!(store.events(task.id, 0).await.unwrap().len(), 1);
}

#[tokio::test]
async fn find_task_accepts_full_ids_in_any_case_prefixes_and_short_ids() {
    let store = SqliteStore::open_in_memory().await.unwrap();
    let wanted = task("wanted");
    store.create_task(&wanted).await.unwrap();
    store.create_task(&task("other")).await.unwrap();
    let full = wanted.id.to_string();

    for needle in [
        full.clone(),
        full.to_ascii_lowercase(),
        format!("  {full}\n"),
        wanted.id.short(),
        wanted.id.short().to_ascii_uppercase(),
    ] {
        assert_eq!(
            store.find_task(&needle).await.unwrap().id,
            wanted.id,
            "{needle:?}"
        );
    }
    // A prefix long enough to reach the random part of the ULID is unique.
    let prefix = &full[..20];
    assert_eq!(store.find_task(prefix).await.unwrap().id, wanted.id);
    assert_eq!(
        store
            .find_task(&prefix.to_ascii_lowercase())
            .await
            .unwrap()
            .id,
        wanted.id
    );
}

#[tokio::test]
async fn find_task_reports_ambiguity_and_absence() {
    let store = SqliteStore::open_in_memory().await.unwrap();
    let first = task("a");
    let second = task("b");
    store.create_task(&first).await.unwrap();
    store.create_task(&second).await.unwrap();
    let third = task("c");
    store.create_task(&third).await.unwrap();

    // Every id minted this millennium starts with '0'.
    match store.find_task("0").await {
        Err(StoreError::Ambiguous { needle, count }) => {
            assert_eq!(needle, "0");
            assert_eq!(count, 3);
        }
        other => panic!("expected Ambiguous, got {other:?}"),
    }
    for needle in ["", "   ", "zzzzzzzz", "not an id", "%", "_", "01%"] {
        assert!(
            matches!(
                store.find_task(needle).await,
                Err(StoreError::NotFound { .. })
            ),
            "{needle:?}"
        );
    }
    // A well-formed id of a task that does not exist.
    let absent = task("absent").id.to_string();
    assert!(matches!(
        store.find_task(&absent).await,
        Err(StoreError::NotFound { .. })
    ));
}

#[tokio::test]
async fn list_tasks_is_newest_first_and_filters_by_state_and_limit() {
    let store = SqliteStore::open_in_memory().await.unwrap();
    let mut ids = Vec::new();
    for (n, offset) in [3, 2, 1].into_iter().enumerate() {
        let mut t = task(&format!("task {n}"));
        t.created_at = Utc::now() - Duration::minutes(offset);
        t.updated_at = t.created_at;
        store.create_task(&t).await.unwrap();
        ids.push(t.id);
    }
    store
        .transition(ids[1], TaskState::Preparing, None)
        .await
        .unwrap();

    let all = store.list_tasks(&TaskQuery::default()).await.unwrap();
    assert_eq!(
        all.iter().map(|t| t.id).collect::<Vec<_>>(),
        vec![ids[2], ids[1], ids[0]]
    );
    let limited = store
        .list_tasks(&TaskQuery {
            limit: Some(2),
            states: vec![],
        })
        .await
        .unwrap();
    assert_eq!(
        limited.iter().map(|t| t.id).collect::<Vec<_>>(),
        vec![ids[2], ids[1]]
    );
    let queued = store
        .list_tasks(&TaskQuery {
            limit: None,
            states: vec![TaskState::Queued],
        })
        .await
        .unwrap();
    assert_eq!(
        queued.iter().map(|t| t.id).collect::<Vec<_>>(),
        vec![ids[2], ids[0]]
    );
    let mixed = store
        .list_tasks(&TaskQuery {
            limit: None,
            states: vec![TaskState::Preparing, TaskState::Failed],
        })
        .await
        .unwrap();
    assert_eq!(mixed.iter().map(|t| t.id).collect::<Vec<_>>(), vec![ids[1]]);
    let none = store
        .list_tasks(&TaskQuery {
            limit: Some(0),
            states: vec![],
        })
        .await
        .unwrap();
    assert!(none.is_empty());
}

#[tokio::test]
async fn the_happy_path_records_every_state_change() {
    let store = SqliteStore::open_in_memory().await.unwrap();
    let task = task("happy");
    store.create_task(&task).await.unwrap();
    let path = [
        TaskState::Preparing,
        TaskState::Running,
        TaskState::AwaitingApproval,
        TaskState::Running,
        TaskState::Finalizing,
        TaskState::Completed,
    ];
    let mut from = TaskState::Queued;
    for to in path {
        let updated = store.transition(task.id, to, None).await.unwrap();
        assert_eq!(updated.state, to);
        assert_eq!(updated.finished_at.is_some(), to.is_terminal());
        assert!(updated.updated_at >= task.updated_at);
        let last = store.events(task.id, 0).await.unwrap().pop().unwrap();
        assert_eq!(
            last.kind,
            EventKind::StateChanged {
                from,
                to,
                failure: None
            }
        );
        from = to;
    }
    assert_eq!(
        store.events(task.id, 0).await.unwrap().len(),
        1 + path.len()
    );
    let done = store.task(task.id).await.unwrap().unwrap();
    assert_eq!(done.state, TaskState::Completed);
    assert!(done.finished_at.unwrap() >= done.created_at);
}

#[tokio::test]
async fn illegal_transitions_are_refused_and_leave_no_trace() {
    let store = SqliteStore::open_in_memory().await.unwrap();
    let task = task("strict");
    store.create_task(&task).await.unwrap();
    for to in [
        TaskState::Running,
        TaskState::Completed,
        TaskState::Failed,
        TaskState::Queued,
        TaskState::TimedOut,
    ] {
        match store.transition(task.id, to, None).await {
            Err(StoreError::IllegalTransition(err)) => {
                assert_eq!((err.from, err.to), (TaskState::Queued, to));
            }
            other => panic!("queued → {to} must be illegal, got {other:?}"),
        }
    }
    assert_eq!(store.task(task.id).await.unwrap(), Some(task.clone()));
    assert_eq!(store.events(task.id, 0).await.unwrap().len(), 1);

    store
        .transition(task.id, TaskState::Cancelled, None)
        .await
        .unwrap();
    for to in TaskState::ALL {
        assert!(
            matches!(
                store.transition(task.id, to, None).await,
                Err(StoreError::IllegalTransition(_))
            ),
            "cancelled → {to}"
        );
    }
}

#[tokio::test]
async fn a_failure_is_stored_on_the_task_and_in_the_event() {
    let store = SqliteStore::open_in_memory().await.unwrap();
    let task = task("doomed");
    store.create_task(&task).await.unwrap();
    store
        .transition(task.id, TaskState::Preparing, None)
        .await
        .unwrap();
    store
        .transition(task.id, TaskState::Running, None)
        .await
        .unwrap();
    let failure = Failure::new(
        FailureClass::Verification,
        "tests_failed",
        "3 tests failed after the change",
        "Read the test output in `drydock logs` and refine the issue.",
    );
    let failed = store
        .transition(task.id, TaskState::Failed, Some(failure.clone()))
        .await
        .unwrap();
    assert_eq!(failed.failure, Some(failure.clone()));
    assert!(failed.finished_at.is_some());
    assert_eq!(store.task(task.id).await.unwrap().unwrap(), failed);
    let last = store.events(task.id, 0).await.unwrap().pop().unwrap();
    assert_eq!(
        last.kind,
        EventKind::StateChanged {
            from: TaskState::Running,
            to: TaskState::Failed,
            failure: Some(failure),
        }
    );
}

#[tokio::test]
async fn progress_is_saved_and_read_back() {
    let store = SqliteStore::open_in_memory().await.unwrap();
    let task = task("progress");
    store.create_task(&task).await.unwrap();
    let progress = TaskProgress {
        branch: Some("drydock/abcdefgh-progress".into()),
        prompt_hash: Some("ab".repeat(32)),
        stats: TaskStats {
            turns: 7,
            tool_calls: 19,
            denials: 2,
            usage: Usage {
                input_tokens: 12_000,
                output_tokens: 900,
                cache_write_tokens: 3,
                cache_read_tokens: 4_000,
            },
            cost_usd: 0.125,
            cost_known: false,
        },
    };
    store.save_progress(task.id, &progress).await.unwrap();
    let saved = store.task(task.id).await.unwrap().unwrap();
    assert_eq!(saved.branch, progress.branch);
    assert_eq!(saved.prompt_hash, progress.prompt_hash);
    assert_eq!(saved.stats, progress.stats);
    assert_eq!(saved.state, TaskState::Queued);
    assert!(saved.updated_at >= task.updated_at);
}

#[tokio::test]
async fn a_pull_request_is_recorded_and_replaced() {
    let store = SqliteStore::open_in_memory().await.unwrap();
    let task = task("pr");
    store.create_task(&task).await.unwrap();
    assert_eq!(store.pull_request(task.id).await.unwrap(), None);
    let mut pr = PullRequest {
        task_id: task.id,
        title: "Fix pager".into(),
        body: "## What\n\nFixed the off-by-one. ✅".into(),
        head_branch: "drydock/abcdefgh-fix-pager".into(),
        base_branch: "main".into(),
        head_sha: "1".repeat(40),
        base_sha: "2".repeat(40),
        diff_stat: DiffStat {
            files: vec![
                FileChange {
                    path: "src/pager.rs".into(),
                    insertions: 3,
                    deletions: 1,
                    binary: false,
                },
                FileChange {
                    path: "logo.png".into(),
                    insertions: 0,
                    deletions: 0,
                    binary: true,
                },
            ],
        },
        url: None,
        created_at: Utc::now(),
    };
    store.save_pull_request(&pr).await.unwrap();
    assert_eq!(store.pull_request(task.id).await.unwrap(), Some(pr.clone()));

    pr.title = "Fix pager (v2)".into();
    pr.url = Some("https://forge.example/pr/1".into());
    store.save_pull_request(&pr).await.unwrap();
    assert_eq!(store.pull_request(task.id).await.unwrap(), Some(pr.clone()));

    pr.task_id = common::task("ghost").id;
    assert!(matches!(
        store.save_pull_request(&pr).await,
        Err(StoreError::NotFound { .. })
    ));
}
