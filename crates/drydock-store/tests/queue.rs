//! The queue: claims in creation order, leases, and many claimers on one file.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashSet;
use std::time::Duration;

use chrono::Utc;
use common::task;
use drydock_core::{EventKind, TaskId, TaskState};
use drydock_store::{SqliteStore, Store, StoreError};
use pretty_assertions::assert_eq;

const MINUTE: Duration = Duration::from_secs(60);

#[tokio::test]
async fn claims_take_the_oldest_queued_task_through_the_state_machine() {
    let store = SqliteStore::open_in_memory().await.unwrap();
    let mut older = task("older");
    older.created_at = Utc::now() - chrono::Duration::seconds(10);
    let newer = task("newer");
    store.create_task(&newer).await.unwrap();
    store.create_task(&older).await.unwrap();

    let claimed = store.claim_next("worker-a", MINUTE).await.unwrap().unwrap();
    assert_eq!(claimed.id, older.id);
    assert_eq!(claimed.state, TaskState::Preparing);
    let last = store.events(older.id, 0).await.unwrap().pop().unwrap();
    assert_eq!(
        last.kind,
        EventKind::StateChanged {
            from: TaskState::Queued,
            to: TaskState::Preparing,
            failure: None
        }
    );
    assert_eq!(
        store
            .claim_next("worker-b", MINUTE)
            .await
            .unwrap()
            .unwrap()
            .id,
        newer.id
    );
    assert_eq!(store.claim_next("worker-c", MINUTE).await.unwrap(), None);
}

#[tokio::test]
async fn only_the_holder_renews_a_lease_and_only_while_the_task_lives() {
    let store = SqliteStore::open_in_memory().await.unwrap();
    let t = task("leased");
    store.create_task(&t).await.unwrap();
    store.claim_next("holder", MINUTE).await.unwrap().unwrap();

    assert!(store.renew_lease(t.id, "holder", MINUTE).await.unwrap());
    assert!(!store.renew_lease(t.id, "intruder", MINUTE).await.unwrap());
    store
        .transition(t.id, TaskState::Running, None)
        .await
        .unwrap();
    assert!(store.renew_lease(t.id, "holder", MINUTE).await.unwrap());
    store
        .transition(t.id, TaskState::Cancelled, None)
        .await
        .unwrap();
    assert!(!store.renew_lease(t.id, "holder", MINUTE).await.unwrap());

    assert!(matches!(
        store.renew_lease(task("ghost").id, "holder", MINUTE).await,
        Err(StoreError::NotFound { .. })
    ));
}

#[tokio::test]
async fn lapsed_leases_of_live_tasks_are_listed_and_a_renewal_revives_them() {
    let store = SqliteStore::open_in_memory().await.unwrap();
    let dead = task("worker died");
    let alive = task("worker alive");
    let finished = task("finished");
    for t in [&dead, &alive, &finished] {
        store.create_task(t).await.unwrap();
    }
    let mut claimed = Vec::new();
    for lease in [Duration::ZERO, MINUTE, Duration::ZERO] {
        claimed.push(store.claim_next("w", lease).await.unwrap().unwrap().id);
    }
    assert_eq!(claimed, vec![dead.id, alive.id, finished.id]);
    store
        .transition(finished.id, TaskState::Failed, None)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;

    let expired: Vec<TaskId> = store
        .expired_leases()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(expired, vec![dead.id]);

    assert!(store.renew_lease(dead.id, "w", MINUTE).await.unwrap());
    assert!(store.expired_leases().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_huge_lease_saturates_instead_of_failing() {
    let store = SqliteStore::open_in_memory().await.unwrap();
    let t = task("forever");
    store.create_task(&t).await.unwrap();
    store.claim_next("w", Duration::MAX).await.unwrap().unwrap();
    assert!(store.renew_lease(t.id, "w", Duration::MAX).await.unwrap());
    assert!(store.expired_leases().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_claimers_on_two_handles_never_share_a_task() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("drydock.db");
    let first = SqliteStore::open(&path).await.unwrap();
    let second = SqliteStore::open(&path).await.unwrap();
    let mut created = HashSet::new();
    for n in 0..40 {
        let t = task(&format!("task {n}"));
        created.insert(t.id);
        first.create_task(&t).await.unwrap();
    }

    let mut claimers = Vec::new();
    for worker in 0..12 {
        let store = if worker % 2 == 0 {
            first.clone()
        } else {
            second.clone()
        };
        claimers.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            while let Some(t) = store
                .claim_next(&format!("worker-{worker}"), MINUTE)
                .await
                .unwrap()
            {
                mine.push(t.id);
            }
            mine
        }));
    }
    let mut claimed = Vec::new();
    for claimer in claimers {
        claimed.extend(claimer.await.unwrap());
    }
    let unique: HashSet<TaskId> = claimed.iter().copied().collect();
    assert_eq!(claimed.len(), 40, "every task claimed exactly once");
    assert_eq!(unique, created);
    for id in unique {
        assert_eq!(
            second.task(id).await.unwrap().unwrap().state,
            TaskState::Preparing
        );
    }
    for report in second.verify_chain(None).await.unwrap() {
        assert_eq!(report.events, 2);
        assert_eq!(report.first_break, None);
    }
}
