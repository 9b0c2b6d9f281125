//! The SQLite backend: every SQL statement drydock runs against SQLite lives under this module.
//!
//! Writers take the database's write lock up front (`BEGIN IMMEDIATE`), so a read-modify-write
//! such as appending to a chain or claiming a task is serialised across connections and processes;
//! `busy_timeout` makes the others wait instead of failing. WAL lets readers run meanwhile.

mod approvals;
mod events;
mod queue;
mod tasks;

use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use drydock_core::{Event, EventKind, Failure, PullRequest, Task, TaskId, TaskState};
use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool, Transaction};

use crate::{Approval, ApprovalRequest, ChainReport, Store, StoreError, TaskProgress, TaskQuery};

/// The migrations compiled into this binary, from `crates/drydock-store/migrations/`.
static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// How long a writer waits for another connection's (or process's) write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// Connections per pool for a database file; writers still take turns, readers do not.
const FILE_POOL_SIZE: u32 = 8;

/// The store on an SQLite database: a file shared by every drydock process of a host, or memory.
///
/// Behaviour the [`Store`] trait leaves open:
/// - `events`, `append_event`, `transition`, `save_progress`, `request_cancel`,
///   `cancel_requested`, `renew_lease` and `verify_chain(Some(_))` on an unknown task are
///   `NotFound`; `task` and `pull_request` answer `None`.
/// - `request_approval` while another approval of the task is pending is `ApprovalPending`.
/// - `request_cancel` records the request once (with a `note` event); a `queued` task, which
///   no runner holds, moves to `cancelled` at once; a finished task is left alone.
/// - A move to a terminal state releases the task's lease.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    path: Option<PathBuf>,
}

impl SqliteStore {
    /// Opens (creating it and its parent directories when missing) the database at `path`,
    /// migrating it to this binary's schema. A database written by a newer drydock is refused.
    pub async fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(|err| StoreError::Database {
                    context: format!("creating the directory {}", parent.display()),
                    message: err.to_string(),
                })?;
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // The audit log must survive a power cut: sync the WAL on every commit.
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        let context = format!("opening the store at {}", path.display());
        let started = std::time::Instant::now();
        let mut attempt: u64 = 0;
        loop {
            attempt += 1;
            let result = async {
                let pool = SqlitePoolOptions::new()
                    .max_connections(FILE_POOL_SIZE)
                    .connect_with(options.clone())
                    .await?;
                migrate(&pool, &path.display().to_string()).await?;
                Ok::<_, OpenError>(pool)
            }
            .await;
            match result {
                Ok(pool) => {
                    return Ok(SqliteStore {
                        pool,
                        path: Some(path.to_path_buf()),
                    });
                }
                // Switching a new file to WAL needs a lock busy_timeout does not wait for;
                // another process opening the same new file holds it for a moment.
                Err(OpenError::Sqlx(err))
                    if is_locked(&err) && started.elapsed() < BUSY_TIMEOUT =>
                {
                    tokio::time::sleep(Duration::from_millis(20 * attempt.min(25))).await;
                }
                Err(OpenError::Sqlx(err)) => return Err(db_error(&context, &err)),
                Err(OpenError::Store(err)) => return Err(err),
            }
        }
    }

    /// A private in-memory database, gone when the last clone of the store is dropped.
    pub async fn open_in_memory() -> Result<SqliteStore, StoreError> {
        let options = SqliteConnectOptions::new()
            .in_memory(true)
            .foreign_keys(true);
        // One connection that never expires: every connection to `:memory:` is its own database.
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await
            .map_err(|err| db_error("opening an in-memory store", &err))?;
        migrate(&pool, ":memory:").await.map_err(|err| match err {
            OpenError::Sqlx(err) => db_error("migrating an in-memory store", &err),
            OpenError::Store(err) => err,
        })?;
        Ok(SqliteStore { pool, path: None })
    }

    /// The database file, or `None` in memory.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The newest schema version this binary can use.
    pub fn supported_schema_version() -> i64 {
        MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0)
    }

    /// Closes every connection; later calls fail. Waits for running statements to finish.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// A write transaction holding the database's write lock from its first statement.
    async fn write_tx(&self, context: &str) -> Result<Transaction<'static, Sqlite>, StoreError> {
        self.pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(|err| db_error(context, &err))
    }

    /// A read transaction: one consistent snapshot for several statements.
    async fn read_tx(&self, context: &str) -> Result<Transaction<'static, Sqlite>, StoreError> {
        self.pool
            .begin()
            .await
            .map_err(|err| db_error(context, &err))
    }
}

#[derive(Debug)]
enum OpenError {
    Sqlx(sqlx::Error),
    Store(StoreError),
}

impl From<sqlx::Error> for OpenError {
    fn from(err: sqlx::Error) -> Self {
        OpenError::Sqlx(err)
    }
}

/// Refuses a schema newer than this binary, then applies the missing migrations.
async fn migrate(pool: &SqlitePool, path: &str) -> Result<(), OpenError> {
    let has_table: Option<i64> = sqlx::query_scalar(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
    )
    .fetch_optional(pool)
    .await?;
    let supported = SqliteStore::supported_schema_version();
    if has_table.is_some() {
        let found: Option<i64> =
            sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success")
                .fetch_one(pool)
                .await?;
        if let Some(found) = found.filter(|found| *found > supported) {
            return Err(OpenError::Store(StoreError::SchemaTooNew {
                path: path.to_string(),
                found,
                supported,
            }));
        }
    }
    let context = format!("migrating the store at {path}");
    if let Err(first) = MIGRATOR.run(pool).await {
        // Two processes opening a new file at once both try the first migration; the loser's
        // second pass finds it applied and only checks it.
        MIGRATOR.run(pool).await.map_err(|second| {
            OpenError::Store(StoreError::Database {
                context,
                message: format!("{second} (first attempt: {first})"),
            })
        })?;
    }
    Ok(())
}

fn is_locked(err: &sqlx::Error) -> bool {
    err.as_database_error()
        .and_then(|db| db.code())
        .and_then(|code| code.parse::<i32>().ok())
        // SQLITE_BUSY (5) and SQLITE_LOCKED (6), with any extended code.
        .is_some_and(|code| matches!(code & 0xff, 5 | 6))
}

/// A database error with what was being done.
pub(crate) fn db_error(context: &str, err: &sqlx::Error) -> StoreError {
    StoreError::Database {
        context: context.to_string(),
        message: err.to_string(),
    }
}

/// A stored value that does not decode.
pub(crate) fn corrupt(context: impl Into<String>, message: impl ToString) -> StoreError {
    StoreError::Corrupt {
        context: context.into(),
        message: message.to_string(),
    }
}

/// Timestamps are stored as fixed-width RFC 3339 UTC text, so text order is time order.
pub(crate) fn ts(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

/// Parses a stored timestamp.
pub(crate) fn parse_ts(text: &str, context: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(text)
        .map(|at| at.with_timezone(&Utc))
        .map_err(|err| corrupt(context, format!("bad timestamp {text:?}: {err}")))
}

/// The instant `lease` from `now`, saturating at the end of year 9999: later instants format
/// with a sign and more digits, which would break the text order of stored timestamps.
pub(crate) fn lease_end(now: DateTime<Utc>, lease: Duration) -> DateTime<Utc> {
    let last = NaiveDate::from_ymd_opt(9999, 12, 31)
        .and_then(|day| day.and_hms_opt(23, 59, 59))
        .map(|end| end.and_utc())
        .unwrap_or(now);
    chrono::Duration::from_std(lease)
        .ok()
        .and_then(|lease| now.checked_add_signed(lease))
        .map_or(last, |end| end.min(last))
}

#[async_trait]
impl Store for SqliteStore {
    async fn create_task(&self, task: &Task) -> Result<(), StoreError> {
        self.insert_task(task).await
    }

    async fn task(&self, id: TaskId) -> Result<Option<Task>, StoreError> {
        self.load_task(id).await
    }

    async fn find_task(&self, needle: &str) -> Result<Task, StoreError> {
        self.search_task(needle).await
    }

    async fn list_tasks(&self, query: &TaskQuery) -> Result<Vec<Task>, StoreError> {
        self.query_tasks(query).await
    }

    async fn transition(
        &self,
        id: TaskId,
        to: TaskState,
        failure: Option<Failure>,
    ) -> Result<Task, StoreError> {
        let context = format!("moving task {id} to {to}");
        let mut tx = self.write_tx(&context).await?;
        let task = tasks::transition_in(&mut tx, id, to, failure, Utc::now()).await?;
        tx.commit().await.map_err(|err| db_error(&context, &err))?;
        Ok(task)
    }

    async fn save_progress(&self, id: TaskId, progress: &TaskProgress) -> Result<(), StoreError> {
        self.update_progress(id, progress).await
    }

    async fn append_event(&self, id: TaskId, kind: EventKind) -> Result<Event, StoreError> {
        let context = format!("appending an event to task {id}");
        let mut tx = self.write_tx(&context).await?;
        let event = events::append_in(&mut tx, id, kind, Utc::now()).await?;
        tx.commit().await.map_err(|err| db_error(&context, &err))?;
        Ok(event)
    }

    async fn events(&self, id: TaskId, after_seq: u64) -> Result<Vec<Event>, StoreError> {
        self.load_events(id, after_seq).await
    }

    async fn verify_chain(&self, id: Option<TaskId>) -> Result<Vec<ChainReport>, StoreError> {
        self.verify_chains(id).await
    }

    async fn save_pull_request(&self, pr: &PullRequest) -> Result<(), StoreError> {
        self.upsert_pull_request(pr).await
    }

    async fn pull_request(&self, id: TaskId) -> Result<Option<PullRequest>, StoreError> {
        self.load_pull_request(id).await
    }

    async fn request_approval(
        &self,
        id: TaskId,
        request: &ApprovalRequest,
    ) -> Result<Approval, StoreError> {
        self.open_approval(id, request).await
    }

    async fn resolve_approval(
        &self,
        id: TaskId,
        approved: bool,
        by: &str,
    ) -> Result<Approval, StoreError> {
        self.answer_approval(id, approved, by).await
    }

    async fn approval(&self, approval_id: &str) -> Result<Option<Approval>, StoreError> {
        self.load_approval(approval_id).await
    }

    async fn request_cancel(&self, id: TaskId) -> Result<(), StoreError> {
        self.mark_cancelled(id).await
    }

    async fn cancel_requested(&self, id: TaskId) -> Result<bool, StoreError> {
        self.is_cancel_requested(id).await
    }

    async fn claim_next(&self, worker: &str, lease: Duration) -> Result<Option<Task>, StoreError> {
        self.claim_oldest(worker, lease).await
    }

    async fn renew_lease(
        &self,
        id: TaskId,
        worker: &str,
        lease: Duration,
    ) -> Result<bool, StoreError> {
        self.extend_lease(id, worker, lease).await
    }

    async fn expired_leases(&self) -> Result<Vec<Task>, StoreError> {
        self.lapsed_leases().await
    }
}
