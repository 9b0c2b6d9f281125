//! Task rows: insert, read, search, list, state transitions and progress.

use chrono::{DateTime, Utc};
use drydock_core::{EventKind, Failure, Task, TaskId, TaskState, TaskStats};
use serde::Serialize;
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection};

use super::{SqliteStore, corrupt, db_error, events, parse_ts, ts};
use crate::{StoreError, TaskProgress, TaskQuery};

/// `SELECT <every task column> FROM tasks <tail>`, as one static string.
macro_rules! select_tasks {
    ($tail:literal) => {
        concat!(
            "SELECT id, spec, state, created_at, updated_at, finished_at, branch, prompt_hash, ",
            "failure, stats FROM tasks ",
            $tail
        )
    };
}
pub(super) use select_tasks;

/// The SQL list of terminal states, for `state NOT IN (...)`.
macro_rules! terminal_states {
    () => {
        "('completed', 'failed', 'cancelled', 'timed_out')"
    };
}
pub(super) use terminal_states;

impl SqliteStore {
    pub(super) async fn insert_task(&self, task: &Task) -> Result<(), StoreError> {
        let context = format!("creating task {}", task.id);
        let mut tx = self.write_tx(&context).await?;
        let inserted = sqlx::query(
            "INSERT INTO tasks (id, short_id, kind, repo_location, repo_name, title, spec, state, \
             created_at, updated_at, finished_at, branch, prompt_hash, failure, stats) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(task.id.to_string())
        .bind(task.id.short())
        .bind(
            to_json(&task.spec.kind, &context)?
                .trim_matches('"')
                .to_string(),
        )
        .bind(&task.spec.repo.location)
        .bind(&task.spec.repo.name)
        .bind(&task.spec.issue.title)
        .bind(to_json(&task.spec, &context)?)
        .bind(task.state.as_str())
        .bind(ts(task.created_at))
        .bind(ts(task.updated_at))
        .bind(task.finished_at.map(ts))
        .bind(&task.branch)
        .bind(&task.prompt_hash)
        .bind(
            task.failure
                .as_ref()
                .map(|f| to_json(f, &context))
                .transpose()?,
        )
        .bind(to_json(&task.stats, &context)?)
        .execute(&mut *tx)
        .await;
        match inserted {
            Ok(_) => {}
            Err(err) if is_unique_violation(&err) => {
                return Err(StoreError::Database {
                    context,
                    message: "a task with this id already exists".into(),
                });
            }
            Err(err) => return Err(db_error(&context, &err)),
        }
        let kind = EventKind::TaskCreated {
            spec: Box::new(task.spec.clone()),
        };
        events::append_in(&mut tx, task.id, kind, task.created_at).await?;
        tx.commit().await.map_err(|err| db_error(&context, &err))
    }

    pub(super) async fn load_task(&self, id: TaskId) -> Result<Option<Task>, StoreError> {
        let row = sqlx::query(select_tasks!("WHERE id = ?"))
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(|err| db_error(&format!("reading task {id}"), &err))?;
        row.as_ref().map(task_from_row).transpose()
    }

    pub(super) async fn search_task(&self, needle: &str) -> Result<Task, StoreError> {
        let trimmed = needle.trim();
        let not_found = || StoreError::NotFound {
            needle: needle.to_string(),
        };
        if trimmed.is_empty() {
            return Err(not_found());
        }
        if trimmed.len() == 26
            && let Ok(id) = trimmed.parse::<TaskId>()
        {
            return self.load_task(id).await?.ok_or_else(not_found);
        }
        let prefix = trimmed.to_ascii_uppercase();
        let short = (trimmed.len() == 8).then(|| trimmed.to_ascii_lowercase());
        // Ids are upper-case alphanumerics, all below '~': `prefix <= id < prefix || '~'` is
        // exactly "starts with prefix", and uses the primary key.
        let rows = sqlx::query(select_tasks!(
            "WHERE (id >= ?1 AND id < ?1 || '~') OR short_id = ?2 ORDER BY created_at DESC LIMIT 2"
        ))
        .bind(&prefix)
        .bind(&short)
        .fetch_all(&self.pool)
        .await
        .map_err(|err| db_error(&format!("looking up task {trimmed:?}"), &err))?;
        match rows.as_slice() {
            [] => Err(not_found()),
            [row] => task_from_row(row),
            _ => {
                let count: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM tasks WHERE (id >= ?1 AND id < ?1 || '~') OR short_id = ?2",
                )
                .bind(&prefix)
                .bind(&short)
                .fetch_one(&self.pool)
                .await
                .map_err(|err| db_error(&format!("counting tasks like {trimmed:?}"), &err))?;
                Err(StoreError::Ambiguous {
                    needle: needle.to_string(),
                    count: usize::try_from(count).unwrap_or(usize::MAX),
                })
            }
        }
    }

    pub(super) async fn query_tasks(&self, query: &TaskQuery) -> Result<Vec<Task>, StoreError> {
        let states: Vec<&str> = query.states.iter().map(|s| s.as_str()).collect();
        let states = serde_json::to_string(&states).map_err(|err| corrupt("task query", err))?;
        let limit = query.limit.map_or(-1, i64::from);
        let rows = sqlx::query(select_tasks!(
            "WHERE ?1 = '[]' OR state IN (SELECT value FROM json_each(?1)) \
             ORDER BY created_at DESC, id DESC LIMIT ?2"
        ))
        .bind(states)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(|err| db_error("listing tasks", &err))?;
        rows.iter().map(task_from_row).collect()
    }

    pub(super) async fn update_progress(
        &self,
        id: TaskId,
        progress: &TaskProgress,
    ) -> Result<(), StoreError> {
        let context = format!("saving the progress of task {id}");
        let done = sqlx::query(
            "UPDATE tasks SET branch = ?, prompt_hash = ?, stats = ?, updated_at = ? WHERE id = ?",
        )
        .bind(&progress.branch)
        .bind(&progress.prompt_hash)
        .bind(to_json(&progress.stats, &context)?)
        .bind(ts(Utc::now()))
        .bind(id.to_string())
        .execute(&self.pool)
        .await
        .map_err(|err| db_error(&context, &err))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound {
                needle: id.to_string(),
            });
        }
        Ok(())
    }
}

/// Moves a task to `to` inside a write transaction and appends `state_changed`.
pub(super) async fn transition_in(
    conn: &mut SqliteConnection,
    id: TaskId,
    to: TaskState,
    failure: Option<Failure>,
    now: DateTime<Utc>,
) -> Result<Task, StoreError> {
    let context = format!("moving task {id} to {to}");
    let from = task_in(conn, id).await?.state;
    from.transition(to)?;
    let finished_at = to.is_terminal().then(|| ts(now));
    let failure_json = failure.as_ref().map(|f| to_json(f, &context)).transpose()?;
    // The state guard is for backends without a write lock up front; under BEGIN IMMEDIATE
    // nobody can change the row between the read above and this update.
    let done = sqlx::query(
        "UPDATE tasks SET state = ?1, updated_at = ?2, \
             finished_at = COALESCE(?3, finished_at), failure = COALESCE(?4, failure), \
             lease_worker = CASE WHEN ?5 THEN NULL ELSE lease_worker END, \
             lease_expires_at = CASE WHEN ?5 THEN NULL ELSE lease_expires_at END \
         WHERE id = ?6 AND state = ?7",
    )
    .bind(to.as_str())
    .bind(ts(now))
    .bind(finished_at)
    .bind(failure_json)
    .bind(to.is_terminal())
    .bind(id.to_string())
    .bind(from.as_str())
    .execute(&mut *conn)
    .await
    .map_err(|err| db_error(&context, &err))?;
    if done.rows_affected() == 0 {
        let found = task_in(conn, id).await?.state;
        return Err(StoreError::Conflict {
            task_id: id,
            expected: from,
            found,
        });
    }
    let kind = EventKind::StateChanged { from, to, failure };
    events::append_in(conn, id, kind, now).await?;
    task_in(conn, id).await
}

/// The task, read on a connection (inside a transaction); `NotFound` when absent.
pub(super) async fn task_in(conn: &mut SqliteConnection, id: TaskId) -> Result<Task, StoreError> {
    let row = sqlx::query(select_tasks!("WHERE id = ?"))
        .bind(id.to_string())
        .fetch_optional(&mut *conn)
        .await
        .map_err(|err| db_error(&format!("reading task {id}"), &err))?
        .ok_or_else(|| StoreError::NotFound {
            needle: id.to_string(),
        })?;
    task_from_row(&row)
}

/// Decodes a row of `select_tasks!`.
pub(super) fn task_from_row(row: &SqliteRow) -> Result<Task, StoreError> {
    let id_text: String = column(row, "id", "task row")?;
    let context = format!("task {id_text}");
    let id = id_text
        .parse::<TaskId>()
        .map_err(|err| corrupt(&context, err))?;
    let state_text: String = column(row, "state", &context)?;
    let state = state_text
        .parse::<TaskState>()
        .map_err(|err| corrupt(&context, err))?;
    let spec = from_json(&column::<String>(row, "spec", &context)?, "spec", &context)?;
    let failure = column::<Option<String>>(row, "failure", &context)?
        .map(|text| from_json::<Failure>(&text, "failure", &context))
        .transpose()?;
    let stats: TaskStats = from_json(
        &column::<String>(row, "stats", &context)?,
        "stats",
        &context,
    )?;
    let finished_at = column::<Option<String>>(row, "finished_at", &context)?
        .map(|text| parse_ts(&text, &context))
        .transpose()?;
    Ok(Task {
        id,
        spec,
        state,
        created_at: parse_ts(&column::<String>(row, "created_at", &context)?, &context)?,
        updated_at: parse_ts(&column::<String>(row, "updated_at", &context)?, &context)?,
        finished_at,
        branch: column(row, "branch", &context)?,
        prompt_hash: column(row, "prompt_hash", &context)?,
        failure,
        stats,
    })
}

/// One column of a row, with the row named in the error.
pub(super) fn column<'r, T>(row: &'r SqliteRow, name: &str, context: &str) -> Result<T, StoreError>
where
    T: sqlx::Decode<'r, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite>,
{
    row.try_get(name)
        .map_err(|err| corrupt(context, format!("column {name}: {err}")))
}

/// JSON text of a value for a JSON column.
pub(super) fn to_json<T: Serialize + ?Sized>(
    value: &T,
    context: &str,
) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|err| corrupt(context, format!("serialising: {err}")))
}

/// A JSON column decoded.
pub(super) fn from_json<T: serde::de::DeserializeOwned>(
    text: &str,
    column: &str,
    context: &str,
) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|err| corrupt(context, format!("column {column}: {err}")))
}

/// True for a primary-key or unique-index violation.
pub(super) fn is_unique_violation(err: &sqlx::Error) -> bool {
    err.as_database_error()
        .is_some_and(|db| matches!(db.kind(), sqlx::error::ErrorKind::UniqueViolation))
}

/// `NotFound` unless the task exists (read on a connection, inside a transaction).
pub(super) async fn ensure_task(conn: &mut SqliteConnection, id: TaskId) -> Result<(), StoreError> {
    let found: Option<i64> = sqlx::query_scalar("SELECT 1 FROM tasks WHERE id = ?")
        .bind(id.to_string())
        .fetch_optional(&mut *conn)
        .await
        .map_err(|err| db_error(&format!("reading task {id}"), &err))?;
    match found {
        Some(_) => Ok(()),
        None => Err(StoreError::NotFound {
            needle: id.to_string(),
        }),
    }
}
