//! Opening database files: creation, persistence, migrations, and files that are not ours.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{raw, task};
use drydock_core::TaskState;
use drydock_store::{SqliteStore, Store, StoreError};
use sqlx::Connection;

#[tokio::test]
async fn open_creates_missing_parent_directories_and_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state/nested/drydock.db");
    let store = SqliteStore::open(&path).await.unwrap();
    assert!(path.is_file());
    assert_eq!(store.path(), Some(path.as_path()));
    store.close().await;
}

#[tokio::test]
async fn data_survives_reopening_and_the_journal_is_wal() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("drydock.db");
    let t = task("persist");
    {
        let store = SqliteStore::open(&path).await.unwrap();
        store.create_task(&t).await.unwrap();
        store
            .transition(t.id, TaskState::Preparing, None)
            .await
            .unwrap();
        store.close().await;
    }
    let store = SqliteStore::open(&path).await.unwrap();
    let back = store.task(t.id).await.unwrap().unwrap();
    assert_eq!(back.state, TaskState::Preparing);
    assert_eq!(store.verify_chain(None).await.unwrap()[0].first_break, None);

    let mut conn = raw(&path).await;
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(mode, "wal");
    conn.close().await.unwrap();
}

#[tokio::test]
async fn a_schema_newer_than_the_binary_is_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("drydock.db");
    SqliteStore::open(&path).await.unwrap().close().await;
    let newer = SqliteStore::supported_schema_version() + 1;
    let mut conn = raw(&path).await;
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (?, 'from the future', 1, x'00', 0)",
    )
    .bind(newer)
    .execute(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();

    let err = SqliteStore::open(&path).await.unwrap_err();
    match &err {
        StoreError::SchemaTooNew {
            path: named,
            found,
            supported,
        } => {
            assert_eq!(named, &path.display().to_string());
            assert_eq!(*found, newer);
            assert_eq!(*supported, SqliteStore::supported_schema_version());
        }
        other => panic!("expected SchemaTooNew, got {other:?}"),
    }
    assert!(err.to_string().contains("upgrade drydock"), "{err}");
}

#[tokio::test]
async fn an_edited_migration_record_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("drydock.db");
    SqliteStore::open(&path).await.unwrap().close().await;
    let mut conn = raw(&path).await;
    sqlx::query("UPDATE _sqlx_migrations SET checksum = x'00' WHERE version = 1")
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    let err = SqliteStore::open(&path).await.unwrap_err();
    assert!(matches!(err, StoreError::Database { .. }), "{err:?}");
    assert!(err.to_string().contains("modified"), "{err}");
}

#[tokio::test]
async fn a_file_that_is_not_a_database_is_refused_and_left_intact() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.txt");
    let content = b"these are my notes, not a database\n".repeat(200);
    std::fs::write(&path, &content).unwrap();
    let err = SqliteStore::open(&path).await.unwrap_err();
    assert!(matches!(err, StoreError::Database { .. }), "{err:?}");
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), content);
}

#[tokio::test]
async fn a_directory_in_the_way_is_an_error_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let err = SqliteStore::open(dir.path()).await.unwrap_err();
    assert!(
        err.to_string().contains(&dir.path().display().to_string()),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn several_handles_may_create_the_same_new_file_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("drydock.db");
    let mut opens = Vec::new();
    for _ in 0..6 {
        let path = path.clone();
        opens.push(tokio::spawn(async move { SqliteStore::open(&path).await }));
    }
    let mut stores = Vec::new();
    for open in opens {
        stores.push(open.await.unwrap().unwrap());
    }
    let t = task("shared");
    stores[0].create_task(&t).await.unwrap();
    for store in &stores {
        assert_eq!(store.task(t.id).await.unwrap().unwrap().id, t.id);
    }
}
