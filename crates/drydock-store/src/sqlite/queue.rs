//! The task queue: claims with leases, renewals, and leases that lapsed.

use std::time::Duration;

use chrono::Utc;
use drydock_core::{Task, TaskId, TaskState};

use super::tasks::{
    ensure_task, select_tasks, task_from_row, task_in, terminal_states, transition_in,
};
use super::{SqliteStore, db_error, lease_end, ts};
use crate::StoreError;

impl SqliteStore {
    /// Claims the oldest queued task. The write lock taken by `BEGIN IMMEDIATE` covers the
    /// select and the update, so two claimers (threads or processes) never get the same task.
    pub(super) async fn claim_oldest(
        &self,
        worker: &str,
        lease: Duration,
    ) -> Result<Option<Task>, StoreError> {
        let context = format!("claiming a task for worker {worker:?}");
        let mut tx = self.write_tx(&context).await?;
        let next: Option<String> = sqlx::query_scalar(
            "SELECT id FROM tasks WHERE state = 'queued' AND cancel_requested_at IS NULL \
             ORDER BY created_at, id LIMIT 1",
        )
        .fetch_optional(&mut *tx)
        .await
        .map_err(|err| db_error(&context, &err))?;
        let Some(next) = next else {
            return Ok(None);
        };
        let id: TaskId = next.parse().map_err(|err| super::corrupt(&context, err))?;
        let now = Utc::now();
        transition_in(&mut tx, id, TaskState::Preparing, None, now).await?;
        sqlx::query("UPDATE tasks SET lease_worker = ?, lease_expires_at = ? WHERE id = ?")
            .bind(worker)
            .bind(ts(lease_end(now, lease)))
            .bind(id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(|err| db_error(&context, &err))?;
        let task = task_in(&mut tx, id).await?;
        tx.commit().await.map_err(|err| db_error(&context, &err))?;
        Ok(Some(task))
    }

    pub(super) async fn extend_lease(
        &self,
        id: TaskId,
        worker: &str,
        lease: Duration,
    ) -> Result<bool, StoreError> {
        let context = format!("renewing the lease of worker {worker:?} on task {id}");
        let mut tx = self.write_tx(&context).await?;
        ensure_task(&mut tx, id).await?;
        let renewed = sqlx::query(concat!(
            "UPDATE tasks SET lease_expires_at = ? WHERE id = ? AND lease_worker = ? ",
            "AND state NOT IN ",
            terminal_states!()
        ))
        .bind(ts(lease_end(Utc::now(), lease)))
        .bind(id.to_string())
        .bind(worker)
        .execute(&mut *tx)
        .await
        .map_err(|err| db_error(&context, &err))?;
        tx.commit().await.map_err(|err| db_error(&context, &err))?;
        Ok(renewed.rows_affected() == 1)
    }

    pub(super) async fn lapsed_leases(&self) -> Result<Vec<Task>, StoreError> {
        let rows = sqlx::query(select_tasks!(
            "WHERE lease_expires_at IS NOT NULL AND lease_expires_at < ? \
             AND state NOT IN ('completed', 'failed', 'cancelled', 'timed_out') \
             ORDER BY lease_expires_at, id"
        ))
        .bind(ts(Utc::now()))
        .fetch_all(&self.pool)
        .await
        .map_err(|err| db_error("listing expired leases", &err))?;
        rows.iter().map(task_from_row).collect()
    }
}
