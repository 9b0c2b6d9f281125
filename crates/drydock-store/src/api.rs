use std::fmt::Debug;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use drydock_core::{
    Action, Event, EventKind, Failure, PullRequest, Task, TaskId, TaskState, TaskStats,
};

/// A store operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No task matches.
    #[error("no task matches {needle:?}")]
    NotFound {
        /// What was looked for.
        needle: String,
    },
    /// Several tasks match a short id or prefix.
    #[error("{needle:?} matches {count} tasks; give more of the id")]
    Ambiguous {
        /// What was looked for.
        needle: String,
        /// How many matched.
        count: usize,
    },
    /// The state machine refused a transition.
    #[error(transparent)]
    IllegalTransition(#[from] drydock_core::IllegalTransition),
    /// Another writer changed the task first (its state is not what the caller saw).
    #[error("task {task_id} changed concurrently: expected state {expected}, found {found}")]
    Conflict {
        /// The task.
        task_id: TaskId,
        /// What the caller expected.
        expected: TaskState,
        /// What the store holds.
        found: TaskState,
    },
    /// No pending approval to resolve.
    #[error("task {task_id} has no pending approval")]
    NoPendingApproval {
        /// The task.
        task_id: TaskId,
    },
    /// The database could not be opened, migrated or queried.
    #[error("store database error ({context}): {message}")]
    Database {
        /// What was being done, with the path when relevant.
        context: String,
        /// The driver's message.
        message: String,
    },
    /// Another approval request of the task is still waiting for an answer.
    #[error("task {task_id} already waits on approval {approval_id}")]
    ApprovalPending {
        /// The task.
        task_id: TaskId,
        /// The approval still pending.
        approval_id: String,
    },
    /// The database was written by a newer drydock: its schema is ahead of this binary.
    #[error(
        "the store at {path} has schema version {found}, newer than this drydock supports \
         ({supported}); upgrade drydock or point it at another database"
    )]
    SchemaTooNew {
        /// The database file.
        path: String,
        /// The newest migration applied to it.
        found: i64,
        /// The newest migration this binary knows.
        supported: i64,
    },
    /// A stored row could not be decoded.
    #[error("corrupt store data ({context}): {message}")]
    Corrupt {
        /// Which row.
        context: String,
        /// What is wrong.
        message: String,
    },
}

/// Which tasks to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskQuery {
    /// At most this many, newest first; `None` for all.
    pub limit: Option<u32>,
    /// Only tasks in these states; empty for all.
    pub states: Vec<TaskState>,
}

/// The fields of a task that change while it runs, other than its state.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskProgress {
    /// The task's branch.
    pub branch: Option<String>,
    /// Hash of the rendered system prompt.
    pub prompt_hash: Option<String>,
    /// Running totals.
    pub stats: TaskStats,
}

/// An action waiting for a human.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalRequest {
    /// The action.
    pub action: Action,
    /// Its resource.
    pub resource: String,
    /// Why approval is needed.
    pub reason: String,
}

/// An approval request and, once answered, its answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approval {
    /// Identifier (unique in the store).
    pub id: String,
    /// The task.
    pub task_id: TaskId,
    /// What was asked.
    pub request: ApprovalRequest,
    /// When it was asked.
    pub requested_at: DateTime<Utc>,
    /// `Some(true)` approved, `Some(false)` denied, `None` still pending.
    pub approved: Option<bool>,
    /// Who answered.
    pub resolved_by: Option<String>,
    /// When.
    pub resolved_at: Option<DateTime<Utc>>,
}

/// Where a task's event chain breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainBreak {
    /// Sequence number of the first event that does not verify.
    pub seq: u64,
    /// What is wrong with it (edited, missing, out of order, truncated chain).
    pub problem: String,
}

/// The result of verifying one task's chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainReport {
    /// The task.
    pub task_id: TaskId,
    /// Events checked.
    pub events: u64,
    /// The first break, or `None` when the chain is intact.
    pub first_break: Option<ChainBreak>,
    /// The chain head's hash as the task records it. Keep it outside the store (a PR body, a
    /// log) to detect a chain rewritten by someone who can also rewrite the head.
    pub head_hash: String,
}

/// Durable state of drydock. Every method is atomic. Implementations: SQLite (embedded default);
/// Postgres and others follow behind the same trait.
#[async_trait]
pub trait Store: Send + Sync + Debug {
    /// Inserts a new task and its `task_created` event.
    async fn create_task(&self, task: &Task) -> Result<(), StoreError>;

    /// The task with this id.
    async fn task(&self, id: TaskId) -> Result<Option<Task>, StoreError>;

    /// The task a user means: a full id (any case), a unique id prefix, or a unique short id.
    async fn find_task(&self, needle: &str) -> Result<Task, StoreError>;

    /// Tasks, newest first.
    async fn list_tasks(&self, query: &TaskQuery) -> Result<Vec<Task>, StoreError>;

    /// Moves a task to `to` if the state machine allows it, records `failure` (for unsuccessful
    /// ends) and appends the `state_changed` event, all in one transaction.
    async fn transition(
        &self,
        id: TaskId,
        to: TaskState,
        failure: Option<Failure>,
    ) -> Result<Task, StoreError>;

    /// Saves the branch, prompt hash and totals.
    async fn save_progress(&self, id: TaskId, progress: &TaskProgress) -> Result<(), StoreError>;

    /// Appends an event to the task's chain and returns it with its sequence number.
    async fn append_event(&self, id: TaskId, kind: EventKind) -> Result<Event, StoreError>;

    /// The task's events with `seq > after_seq`, in order.
    async fn events(&self, id: TaskId, after_seq: u64) -> Result<Vec<Event>, StoreError>;

    /// Verifies the hash chain of one task, or of every task when `id` is `None`.
    async fn verify_chain(&self, id: Option<TaskId>) -> Result<Vec<ChainReport>, StoreError>;

    /// Records the task's pull request (one per task; a second call replaces it).
    async fn save_pull_request(&self, pr: &PullRequest) -> Result<(), StoreError>;

    /// The task's pull request, if one was recorded.
    async fn pull_request(&self, id: TaskId) -> Result<Option<PullRequest>, StoreError>;

    /// Opens an approval request for a task (and appends `approval_requested`).
    async fn request_approval(
        &self,
        id: TaskId,
        request: &ApprovalRequest,
    ) -> Result<Approval, StoreError>;

    /// Answers the task's pending approval request (and appends `approval_resolved`).
    async fn resolve_approval(
        &self,
        id: TaskId,
        approved: bool,
        by: &str,
    ) -> Result<Approval, StoreError>;

    /// An approval request by id.
    async fn approval(&self, approval_id: &str) -> Result<Option<Approval>, StoreError>;

    /// Marks a task for cancellation; its runner sees it at its next check.
    async fn request_cancel(&self, id: TaskId) -> Result<(), StoreError>;

    /// True when cancellation was requested.
    async fn cancel_requested(&self, id: TaskId) -> Result<bool, StoreError>;

    /// Claims the oldest queued task for `worker` with a lease, moving it to `preparing`.
    async fn claim_next(&self, worker: &str, lease: Duration) -> Result<Option<Task>, StoreError>;

    /// Extends a worker's lease; false when the worker no longer holds it.
    async fn renew_lease(
        &self,
        id: TaskId,
        worker: &str,
        lease: Duration,
    ) -> Result<bool, StoreError>;

    /// Tasks whose lease expired without reaching a terminal state (their worker died).
    async fn expired_leases(&self) -> Result<Vec<Task>, StoreError>;
}
