//! The hash-chained event log: append, read back, verify.

use chrono::{DateTime, Utc};
use drydock_core::{Event, EventKind, TaskId};
use futures::TryStreamExt;
use sqlx::{Row, SqliteConnection};

use super::tasks::{column, ensure_task};
use super::{SqliteStore, corrupt, db_error, ts};
use crate::canonical::{link_hash, to_canonical_json};
use crate::chain::{ChainVerifier, StoredLink};
use crate::{ChainReport, StoreError};

/// Appends `kind` to the task's chain inside a write transaction and moves the chain head.
///
/// The caller's transaction holds the write lock, so reading the head and writing the next link
/// cannot interleave with another appender.
pub(super) async fn append_in(
    conn: &mut SqliteConnection,
    id: TaskId,
    kind: EventKind,
    at: DateTime<Utc>,
) -> Result<Event, StoreError> {
    let context = format!("appending an event to task {id}");
    let head = sqlx::query("SELECT chain_seq, chain_hash FROM tasks WHERE id = ?")
        .bind(id.to_string())
        .fetch_optional(&mut *conn)
        .await
        .map_err(|err| db_error(&context, &err))?
        .ok_or_else(|| StoreError::NotFound {
            needle: id.to_string(),
        })?;
    let head_seq: i64 = column(&head, "chain_seq", &context)?;
    let prev_hash: String = column(&head, "chain_hash", &context)?;
    let seq = u64::try_from(head_seq)
        .map_err(|_| corrupt(&context, format!("negative chain head {head_seq}")))?
        + 1;
    let event = Event {
        task_id: id,
        seq,
        at,
        kind,
    };
    let payload = to_canonical_json(&event)
        .map_err(|err| corrupt(&context, format!("serialising the event: {err}")))?;
    let hash = link_hash(&prev_hash, &payload);
    let seq_db = head_seq + 1;
    sqlx::query(
        "INSERT INTO events (task_id, seq, at, type, payload, prev_hash, hash) \
         VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(id.to_string())
    .bind(seq_db)
    .bind(ts(at))
    .bind(event.kind.type_name())
    .bind(&payload)
    .bind(&prev_hash)
    .bind(&hash)
    .execute(&mut *conn)
    .await
    .map_err(|err| db_error(&context, &err))?;
    let moved = sqlx::query(
        "UPDATE tasks SET chain_seq = ?, chain_hash = ? WHERE id = ? AND chain_seq = ?",
    )
    .bind(seq_db)
    .bind(&hash)
    .bind(id.to_string())
    .bind(head_seq)
    .execute(&mut *conn)
    .await
    .map_err(|err| db_error(&context, &err))?;
    if moved.rows_affected() != 1 {
        return Err(StoreError::Database {
            context,
            message: "the chain head moved during the append".into(),
        });
    }
    Ok(event)
}

impl SqliteStore {
    pub(super) async fn load_events(
        &self,
        id: TaskId,
        after_seq: u64,
    ) -> Result<Vec<Event>, StoreError> {
        let context = format!("reading the events of task {id}");
        let mut tx = self.read_tx(&context).await?;
        ensure_task(&mut tx, id).await?;
        let after = i64::try_from(after_seq).unwrap_or(i64::MAX);
        let rows = sqlx::query(
            "SELECT seq, payload FROM events WHERE task_id = ? AND seq > ? ORDER BY seq",
        )
        .bind(id.to_string())
        .bind(after)
        .fetch_all(&mut *tx)
        .await
        .map_err(|err| db_error(&context, &err))?;
        tx.commit().await.map_err(|err| db_error(&context, &err))?;
        rows.iter()
            .map(|row| {
                let seq: i64 = column(row, "seq", &context)?;
                let payload: String = column(row, "payload", &context)?;
                serde_json::from_str(&payload)
                    .map_err(|err| corrupt(format!("event {seq} of task {id}"), err))
            })
            .collect()
    }

    pub(super) async fn verify_chains(
        &self,
        id: Option<TaskId>,
    ) -> Result<Vec<ChainReport>, StoreError> {
        let context = "verifying event chains";
        // One snapshot for heads and events, so appends running meanwhile do not look like tampering.
        let mut tx = self.read_tx(context).await?;
        let heads = match id {
            Some(id) => {
                sqlx::query("SELECT id, chain_seq, chain_hash FROM tasks WHERE id = ?")
                    .bind(id.to_string())
                    .fetch_all(&mut *tx)
                    .await
            }
            None => {
                sqlx::query("SELECT id, chain_seq, chain_hash FROM tasks ORDER BY created_at, id")
                    .fetch_all(&mut *tx)
                    .await
            }
        }
        .map_err(|err| db_error(context, &err))?;
        if let (Some(id), true) = (id, heads.is_empty()) {
            return Err(StoreError::NotFound {
                needle: id.to_string(),
            });
        }
        let mut reports = Vec::with_capacity(heads.len());
        for head in &heads {
            let task_text: String = column(head, "id", context)?;
            let task_id = task_text
                .parse::<TaskId>()
                .map_err(|err| corrupt(context, err))?;
            let head_seq: i64 = column(head, "chain_seq", context)?;
            let head_hash: String = column(head, "chain_hash", context)?;
            let mut verifier =
                ChainVerifier::new(task_id, u64::try_from(head_seq).unwrap_or(0), head_hash);
            // Streamed, not collected: a long chain of large tool outputs need not fit in memory.
            let mut rows = sqlx::query(
                "SELECT seq, at, type, payload, prev_hash, hash FROM events \
                 WHERE task_id = ? ORDER BY seq",
            )
            .bind(&task_text)
            .fetch(&mut *tx);
            while let Some(row) = rows
                .try_next()
                .await
                .map_err(|err| db_error(context, &err))?
            {
                match link_from_row(&row, &task_text) {
                    Ok(link) => verifier.push(&link),
                    Err(err) => verifier.unreadable(&err.to_string()),
                }
                if verifier.is_broken() {
                    break;
                }
            }
            drop(rows);
            reports.push(verifier.finish());
        }
        tx.commit().await.map_err(|err| db_error(context, &err))?;
        Ok(reports)
    }
}

fn link_from_row(row: &sqlx::sqlite::SqliteRow, task: &str) -> Result<StoredLink, StoreError> {
    let context = format!("an event of task {task}");
    let seq: i64 = row.try_get("seq").map_err(|err| corrupt(&context, err))?;
    Ok(StoredLink {
        seq: u64::try_from(seq).map_err(|_| corrupt(&context, format!("negative seq {seq}")))?,
        at: column(row, "at", &context)?,
        event_type: column(row, "type", &context)?,
        payload: column(row, "payload", &context)?,
        prev_hash: column(row, "prev_hash", &context)?,
        hash: column(row, "hash", &context)?,
    })
}
