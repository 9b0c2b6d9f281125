//! Pull-request records, approval requests and cancel requests.

use chrono::Utc;
use drydock_core::{Action, EventKind, PullRequest, TaskId, TaskState};
use sqlx::SqliteConnection;
use sqlx::sqlite::SqliteRow;

use super::tasks::{column, ensure_task, from_json, task_in, to_json, transition_in};
use super::{SqliteStore, corrupt, db_error, events, parse_ts, ts};
use crate::{Approval, ApprovalRequest, StoreError};

/// `SELECT <every approval column> FROM approvals <tail>`, as one static string.
macro_rules! select_approvals {
    ($tail:literal) => {
        concat!(
            "SELECT id, task_id, action, resource, reason, requested_at, approved, resolved_by, ",
            "resolved_at FROM approvals ",
            $tail
        )
    };
}

impl SqliteStore {
    pub(super) async fn upsert_pull_request(&self, pr: &PullRequest) -> Result<(), StoreError> {
        let context = format!("recording the pull request of task {}", pr.task_id);
        let mut tx = self.write_tx(&context).await?;
        ensure_task(&mut tx, pr.task_id).await?;
        sqlx::query(
            "INSERT INTO pull_requests (task_id, title, body, head_branch, base_branch, head_sha, \
             base_sha, diff_stat, url, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
             ON CONFLICT (task_id) DO UPDATE SET title = excluded.title, body = excluded.body, \
             head_branch = excluded.head_branch, base_branch = excluded.base_branch, \
             head_sha = excluded.head_sha, base_sha = excluded.base_sha, \
             diff_stat = excluded.diff_stat, url = excluded.url, created_at = excluded.created_at",
        )
        .bind(pr.task_id.to_string())
        .bind(&pr.title)
        .bind(&pr.body)
        .bind(&pr.head_branch)
        .bind(&pr.base_branch)
        .bind(&pr.head_sha)
        .bind(&pr.base_sha)
        .bind(to_json(&pr.diff_stat, &context)?)
        .bind(&pr.url)
        .bind(ts(pr.created_at))
        .execute(&mut *tx)
        .await
        .map_err(|err| db_error(&context, &err))?;
        tx.commit().await.map_err(|err| db_error(&context, &err))
    }

    pub(super) async fn load_pull_request(
        &self,
        id: TaskId,
    ) -> Result<Option<PullRequest>, StoreError> {
        let context = format!("pull request of task {id}");
        let row = sqlx::query(
            "SELECT title, body, head_branch, base_branch, head_sha, base_sha, diff_stat, url, \
             created_at FROM pull_requests WHERE task_id = ?",
        )
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await
        .map_err(|err| db_error(&format!("reading the {context}"), &err))?;
        let Some(row) = row else {
            return Ok(None);
        };
        Ok(Some(PullRequest {
            task_id: id,
            title: column(&row, "title", &context)?,
            body: column(&row, "body", &context)?,
            head_branch: column(&row, "head_branch", &context)?,
            base_branch: column(&row, "base_branch", &context)?,
            head_sha: column(&row, "head_sha", &context)?,
            base_sha: column(&row, "base_sha", &context)?,
            diff_stat: from_json(
                &column::<String>(&row, "diff_stat", &context)?,
                "diff_stat",
                &context,
            )?,
            url: column(&row, "url", &context)?,
            created_at: parse_ts(&column::<String>(&row, "created_at", &context)?, &context)?,
        }))
    }

    pub(super) async fn open_approval(
        &self,
        id: TaskId,
        request: &ApprovalRequest,
    ) -> Result<Approval, StoreError> {
        let context = format!("requesting approval for task {id}");
        let mut tx = self.write_tx(&context).await?;
        ensure_task(&mut tx, id).await?;
        if let Some(pending) = pending_approval(&mut tx, id).await? {
            return Err(StoreError::ApprovalPending {
                task_id: id,
                approval_id: pending.id,
            });
        }
        let now = Utc::now();
        let approval = Approval {
            id: ulid::Ulid::generate().to_string(),
            task_id: id,
            request: request.clone(),
            requested_at: now,
            approved: None,
            resolved_by: None,
            resolved_at: None,
        };
        sqlx::query(
            "INSERT INTO approvals (id, task_id, action, resource, reason, requested_at) \
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(&approval.id)
        .bind(id.to_string())
        .bind(to_json(&request.action, &context)?)
        .bind(&request.resource)
        .bind(&request.reason)
        .bind(ts(now))
        .execute(&mut *tx)
        .await
        .map_err(|err| db_error(&context, &err))?;
        let kind = EventKind::ApprovalRequested {
            approval_id: approval.id.clone(),
            action: request.action.clone(),
            resource: request.resource.clone(),
            reason: request.reason.clone(),
        };
        events::append_in(&mut tx, id, kind, now).await?;
        tx.commit().await.map_err(|err| db_error(&context, &err))?;
        Ok(approval)
    }

    pub(super) async fn answer_approval(
        &self,
        id: TaskId,
        approved: bool,
        by: &str,
    ) -> Result<Approval, StoreError> {
        let context = format!("resolving the approval of task {id}");
        let mut tx = self.write_tx(&context).await?;
        ensure_task(&mut tx, id).await?;
        let mut approval = pending_approval(&mut tx, id)
            .await?
            .ok_or(StoreError::NoPendingApproval { task_id: id })?;
        let now = Utc::now();
        sqlx::query(
            "UPDATE approvals SET approved = ?, resolved_by = ?, resolved_at = ? \
             WHERE id = ? AND approved IS NULL",
        )
        .bind(approved)
        .bind(by)
        .bind(ts(now))
        .bind(&approval.id)
        .execute(&mut *tx)
        .await
        .map_err(|err| db_error(&context, &err))?;
        let kind = EventKind::ApprovalResolved {
            approval_id: approval.id.clone(),
            approved,
            by: by.to_string(),
        };
        events::append_in(&mut tx, id, kind, now).await?;
        tx.commit().await.map_err(|err| db_error(&context, &err))?;
        approval.approved = Some(approved);
        approval.resolved_by = Some(by.to_string());
        approval.resolved_at = Some(now);
        Ok(approval)
    }

    pub(super) async fn load_approval(
        &self,
        approval_id: &str,
    ) -> Result<Option<Approval>, StoreError> {
        let row = sqlx::query(select_approvals!("WHERE id = ?"))
            .bind(approval_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(|err| db_error(&format!("reading approval {approval_id}"), &err))?;
        row.as_ref().map(approval_from_row).transpose()
    }

    /// Records the request (once, with a note in the log); a queued task, which no runner holds
    /// yet, is cancelled on the spot. A finished task is left as it is.
    pub(super) async fn mark_cancelled(&self, id: TaskId) -> Result<(), StoreError> {
        let context = format!("requesting cancellation of task {id}");
        let mut tx = self.write_tx(&context).await?;
        let task = task_in(&mut tx, id).await?;
        if task.state.is_terminal() {
            return Ok(());
        }
        let now = Utc::now();
        let marked = sqlx::query(
            "UPDATE tasks SET cancel_requested_at = ?, updated_at = ? \
             WHERE id = ? AND cancel_requested_at IS NULL",
        )
        .bind(ts(now))
        .bind(ts(now))
        .bind(id.to_string())
        .execute(&mut *tx)
        .await
        .map_err(|err| db_error(&context, &err))?;
        if marked.rows_affected() == 1 {
            let kind = EventKind::Note {
                text: "cancellation requested".into(),
            };
            events::append_in(&mut tx, id, kind, now).await?;
        }
        if task.state == TaskState::Queued {
            transition_in(&mut tx, id, TaskState::Cancelled, None, now).await?;
        }
        tx.commit().await.map_err(|err| db_error(&context, &err))
    }

    pub(super) async fn is_cancel_requested(&self, id: TaskId) -> Result<bool, StoreError> {
        let requested: Option<bool> =
            sqlx::query_scalar("SELECT cancel_requested_at IS NOT NULL FROM tasks WHERE id = ?")
                .bind(id.to_string())
                .fetch_optional(&self.pool)
                .await
                .map_err(|err| db_error(&format!("reading task {id}"), &err))?;
        requested.ok_or_else(|| StoreError::NotFound {
            needle: id.to_string(),
        })
    }
}

/// The task's unanswered approval request, if any (the schema allows at most one).
async fn pending_approval(
    conn: &mut SqliteConnection,
    id: TaskId,
) -> Result<Option<Approval>, StoreError> {
    let row = sqlx::query(select_approvals!("WHERE task_id = ? AND approved IS NULL"))
        .bind(id.to_string())
        .fetch_optional(&mut *conn)
        .await
        .map_err(|err| db_error(&format!("reading the approvals of task {id}"), &err))?;
    row.as_ref().map(approval_from_row).transpose()
}

fn approval_from_row(row: &SqliteRow) -> Result<Approval, StoreError> {
    let id: String = column(row, "id", "approval row")?;
    let context = format!("approval {id}");
    let task_text: String = column(row, "task_id", &context)?;
    let action: Action = from_json(
        &column::<String>(row, "action", &context)?,
        "action",
        &context,
    )?;
    Ok(Approval {
        task_id: task_text.parse().map_err(|err| corrupt(&context, err))?,
        request: ApprovalRequest {
            action,
            resource: column(row, "resource", &context)?,
            reason: column(row, "reason", &context)?,
        },
        requested_at: parse_ts(&column::<String>(row, "requested_at", &context)?, &context)?,
        approved: column(row, "approved", &context)?,
        resolved_by: column(row, "resolved_by", &context)?,
        resolved_at: column::<Option<String>>(row, "resolved_at", &context)?
            .map(|text| parse_ts(&text, &context))
            .transpose()?,
        id,
    })
}
