//! The audit log on a real database file: appends, reading back, and tampering done with raw SQL
//! on the file, which `verify_chain` must name precisely.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::PathBuf;

use common::{raw, tamper, task};
use drydock_core::{EventKind, TaskId, TaskState};
use drydock_store::canonical::{GENESIS_HASH, link_hash, to_canonical_json};
use drydock_store::{ChainBreak, SqliteStore, Store};
use pretty_assertions::assert_eq;
use sqlx::Row;
use tempfile::TempDir;

/// A store file holding one task with `notes` notes after its `task_created` event.
async fn store_with_chain(notes: usize) -> (TempDir, PathBuf, SqliteStore, TaskId) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("drydock.db");
    let store = SqliteStore::open(&path).await.unwrap();
    let task = task("chain");
    store.create_task(&task).await.unwrap();
    for n in 1..=notes {
        store
            .append_event(
                task.id,
                EventKind::Note {
                    text: format!("note {n}"),
                },
            )
            .await
            .unwrap();
    }
    (dir, path, store, task.id)
}

async fn first_break(store: &SqliteStore, id: TaskId) -> ChainBreak {
    let reports = store.verify_chain(Some(id)).await.unwrap();
    assert_eq!(reports.len(), 1);
    reports[0]
        .first_break
        .clone()
        .expect("tampering must be detected")
}

#[tokio::test]
async fn appended_events_get_contiguous_seqs_and_read_back_after_a_seq() {
    let (_dir, _path, store, id) = store_with_chain(4).await;
    let appended = store
        .append_event(
            id,
            EventKind::Note {
                text: "five".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(appended.seq, 6);
    let all = store.events(id, 0).await.unwrap();
    assert_eq!(
        all.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![1, 2, 3, 4, 5, 6]
    );
    assert_eq!(all.last().unwrap(), &appended);
    let tail = store.events(id, 4).await.unwrap();
    assert_eq!(tail, all[4..].to_vec());
    assert!(store.events(id, 6).await.unwrap().is_empty());
    assert!(store.events(id, u64::MAX).await.unwrap().is_empty());
}

#[tokio::test]
async fn stored_rows_follow_the_documented_scheme() {
    let (_dir, path, store, id) = store_with_chain(2).await;
    let events = store.events(id, 0).await.unwrap();
    let mut conn = raw(&path).await;
    let rows = sqlx::query(
        "SELECT seq, type, payload, prev_hash, hash FROM events WHERE task_id = ? ORDER BY seq",
    )
    .bind(id.to_string())
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let mut prev = GENESIS_HASH.to_string();
    for (row, event) in rows.iter().zip(&events) {
        let payload: String = row.get("payload");
        assert_eq!(payload, to_canonical_json(event).unwrap());
        assert_eq!(row.get::<String, _>("type"), event.kind.type_name());
        assert_eq!(row.get::<String, _>("prev_hash"), prev);
        let hash: String = row.get("hash");
        assert_eq!(hash, link_hash(&prev, &payload));
        prev = hash;
    }
    let head: (i64, String) =
        sqlx::query_as("SELECT chain_seq, chain_hash FROM tasks WHERE id = ?")
            .bind(id.to_string())
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert_eq!(head, (3, prev.clone()));
    let report = store.verify_chain(Some(id)).await.unwrap().remove(0);
    assert_eq!(report.events, 3);
    assert_eq!(report.first_break, None);
    assert_eq!(report.head_hash, prev);
}

#[tokio::test]
async fn an_intact_store_verifies_every_task() {
    let (_dir, _path, store, first) = store_with_chain(3).await;
    let second = task("second");
    store.create_task(&second).await.unwrap();
    store
        .transition(second.id, TaskState::Preparing, None)
        .await
        .unwrap();
    let reports = store.verify_chain(None).await.unwrap();
    assert_eq!(
        reports
            .iter()
            .map(|r| (r.task_id, r.events, r.first_break.clone()))
            .collect::<Vec<_>>(),
        vec![(first, 4, None), (second.id, 2, None)]
    );
}

#[tokio::test]
async fn the_log_refuses_plain_updates_and_deletes() {
    let (_dir, path, store, id) = store_with_chain(2).await;
    let mut conn = raw(&path).await;
    for statement in [
        "UPDATE events SET payload = '{}' WHERE seq = 2",
        "DELETE FROM events WHERE seq = 3",
    ] {
        let err = sqlx::raw_sql(statement)
            .execute(&mut conn)
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("append-only"),
            "{statement}: {err}"
        );
    }
    assert_eq!(
        store.verify_chain(Some(id)).await.unwrap()[0].first_break,
        None
    );
}

#[tokio::test]
async fn an_edited_payload_is_detected() {
    let (_dir, path, store, id) = store_with_chain(4).await;
    tamper(
        &path,
        &["UPDATE events SET payload = replace(payload, 'note 2', 'note 9') WHERE seq = 3"],
    )
    .await;
    let found = first_break(&store, id).await;
    assert_eq!(found.seq, 3);
    assert!(
        found.problem.starts_with("payload edited"),
        "{}",
        found.problem
    );
}

#[tokio::test]
async fn an_edited_hash_is_detected() {
    let (_dir, path, store, id) = store_with_chain(4).await;
    tamper(
        &path,
        &["UPDATE events SET hash = 'deadbeef' || substr(hash, 9) WHERE seq = 2"],
    )
    .await;
    let found = first_break(&store, id).await;
    assert_eq!(found.seq, 2);
    assert!(
        found.problem.starts_with("hash edited"),
        "{}",
        found.problem
    );
}

#[tokio::test]
async fn a_deleted_middle_event_is_detected() {
    let (_dir, path, store, id) = store_with_chain(4).await;
    tamper(&path, &["DELETE FROM events WHERE seq = 3"]).await;
    let found = first_break(&store, id).await;
    assert_eq!(found.seq, 3);
    assert!(
        found.problem.starts_with("event missing"),
        "{}",
        found.problem
    );
}

#[tokio::test]
async fn a_deleted_last_event_is_detected() {
    let (_dir, path, store, id) = store_with_chain(4).await;
    tamper(&path, &["DELETE FROM events WHERE seq = 5"]).await;
    let found = first_break(&store, id).await;
    assert_eq!(found.seq, 5);
    assert!(
        found.problem.starts_with("chain truncated"),
        "{}",
        found.problem
    );
}

#[tokio::test]
async fn swapped_seqs_are_detected_as_reordering() {
    let (_dir, path, store, id) = store_with_chain(4).await;
    tamper(
        &path,
        &[
            "UPDATE events SET seq = 100 WHERE seq = 2",
            "UPDATE events SET seq = 2 WHERE seq = 3",
            "UPDATE events SET seq = 3 WHERE seq = 100",
        ],
    )
    .await;
    let found = first_break(&store, id).await;
    assert_eq!(found.seq, 2);
    assert!(found.problem.starts_with("reordered"), "{}", found.problem);
}

#[tokio::test]
async fn a_payload_moved_to_another_task_is_detected() {
    let (_dir, path, store, id) = store_with_chain(3).await;
    let other = task("other").id.to_string();
    tamper(
        &path,
        &[&format!(
            "UPDATE events SET payload = replace(payload, '{id}', '{other}') WHERE seq = 2"
        )],
    )
    .await;
    let found = first_break(&store, id).await;
    assert_eq!(found.seq, 2);
    assert!(found.problem.contains(&other), "{}", found.problem);
}

#[tokio::test]
async fn a_forger_who_rehashes_the_whole_chain_but_not_the_head_is_detected() {
    let (_dir, path, store, id) = store_with_chain(3).await;
    // Rewrite event 2 and recompute every later hash, as someone who knows the scheme would.
    let mut conn = raw(&path).await;
    let rows = sqlx::query("SELECT seq, payload FROM events WHERE task_id = ? ORDER BY seq")
        .bind(id.to_string())
        .fetch_all(&mut conn)
        .await
        .unwrap();
    let mut prev = GENESIS_HASH.to_string();
    let mut statements = Vec::new();
    for row in rows {
        let seq: i64 = row.get("seq");
        let mut payload: String = row.get("payload");
        if seq == 2 {
            payload = payload.replace("note 1", "nothing to see");
        }
        let hash = link_hash(&prev, &payload);
        statements.push(format!(
            "UPDATE events SET payload = '{}', prev_hash = '{prev}', hash = '{hash}' \
             WHERE task_id = '{id}' AND seq = {seq}",
            payload.replace('\'', "''")
        ));
        prev = hash;
    }
    let statements: Vec<&str> = statements.iter().map(String::as_str).collect();
    tamper(&path, &statements).await;
    let found = first_break(&store, id).await;
    assert_eq!(found.seq, 4);
    assert!(
        found.problem.starts_with("head edited"),
        "{}",
        found.problem
    );
}

#[tokio::test]
async fn a_payload_that_is_no_longer_text_is_reported_as_a_break() {
    let (_dir, path, store, id) = store_with_chain(2).await;
    tamper(
        &path,
        &["UPDATE events SET payload = x'00ff' WHERE seq = 2"],
    )
    .await;
    let found = first_break(&store, id).await;
    assert_eq!(found.seq, 2);
}

#[tokio::test]
async fn verification_of_every_task_names_only_the_tampered_one() {
    let (_dir, path, store, tampered) = store_with_chain(2).await;
    let clean = task("clean");
    store.create_task(&clean).await.unwrap();
    tamper(
        &path,
        &[&format!(
            "DELETE FROM events WHERE task_id = '{tampered}' AND seq = 1"
        )],
    )
    .await;
    let reports = store.verify_chain(None).await.unwrap();
    let by_task: Vec<(TaskId, Option<u64>)> = reports
        .iter()
        .map(|r| (r.task_id, r.first_break.as_ref().map(|b| b.seq)))
        .collect();
    assert_eq!(by_task, vec![(tampered, Some(1)), (clean.id, None)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appenders_on_two_handles_never_fork_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("drydock.db");
    let first = SqliteStore::open(&path).await.unwrap();
    let second = SqliteStore::open(&path).await.unwrap();
    let tasks = [task("one"), task("two")];
    for t in &tasks {
        first.create_task(t).await.unwrap();
    }
    let mut handles = Vec::new();
    for writer in 0..8 {
        let store = if writer % 2 == 0 {
            first.clone()
        } else {
            second.clone()
        };
        let ids: Vec<TaskId> = tasks.iter().map(|t| t.id).collect();
        handles.push(tokio::spawn(async move {
            for n in 0..15 {
                let id = ids[(writer + n) % 2];
                store
                    .append_event(
                        id,
                        EventKind::Note {
                            text: format!("{writer}/{n}"),
                        },
                    )
                    .await
                    .unwrap();
            }
        }));
    }
    for handle in handles {
        handle.await.unwrap();
    }
    let reports = second.verify_chain(None).await.unwrap();
    let total: u64 = reports.iter().map(|r| r.events).sum();
    assert_eq!(total, 2 + 8 * 15);
    for report in reports {
        assert_eq!(report.first_break, None, "{report:?}");
        let seqs: Vec<u64> = first
            .events(report.task_id, 0)
            .await
            .unwrap()
            .iter()
            .map(|e| e.seq)
            .collect();
        assert_eq!(seqs, (1..=report.events).collect::<Vec<_>>());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn verification_during_appends_sees_a_consistent_snapshot() {
    let (_dir, path, store, id) = store_with_chain(1).await;
    let writer = SqliteStore::open(&path).await.unwrap();
    let appends = tokio::spawn(async move {
        for n in 0..60 {
            writer
                .append_event(
                    id,
                    EventKind::Note {
                        text: format!("live {n}"),
                    },
                )
                .await
                .unwrap();
        }
    });
    let mut checks = 0;
    while !appends.is_finished() {
        let report = store.verify_chain(Some(id)).await.unwrap().remove(0);
        assert_eq!(report.first_break, None, "after {} events", report.events);
        checks += 1;
    }
    appends.await.unwrap();
    assert!(checks > 0);
    assert_eq!(store.verify_chain(Some(id)).await.unwrap()[0].events, 62);
}
