//! The agent's event sink: every event goes to the store's hash chain first, then to the observer.

use std::sync::Arc;

use async_trait::async_trait;
use drydock_agent::{EventSink, Progress, SinkError};
use drydock_core::{EventKind, Failure, Task, TaskId, TaskState, TaskStats};
use drydock_store::{Store, TaskProgress};
use tokio::sync::Mutex;

use crate::Observer;

/// Records a task's events in the store and shows them to an observer.
pub struct StoreSink {
    store: Arc<dyn Store>,
    task_id: TaskId,
    observer: Arc<dyn Observer>,
    progress: Mutex<TaskProgress>,
}

impl std::fmt::Debug for StoreSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreSink")
            .field("task_id", &self.task_id)
            .finish_non_exhaustive()
    }
}

impl StoreSink {
    /// A sink for one task; `progress` holds the fields saved with each stats update.
    pub fn new(
        store: Arc<dyn Store>,
        task_id: TaskId,
        observer: Arc<dyn Observer>,
        progress: TaskProgress,
    ) -> Self {
        Self {
            store,
            task_id,
            observer,
            progress: Mutex::new(progress),
        }
    }

    /// Appends an event and shows it.
    pub async fn append(&self, kind: EventKind) -> Result<(), SinkError> {
        self.store
            .append_event(self.task_id, kind.clone())
            .await
            .map_err(|err| SinkError(err.to_string()))?;
        self.observer.event(&kind);
        Ok(())
    }

    /// Moves the task to `to` (recording `state_changed` in the store) and shows it.
    pub async fn transition(
        &self,
        to: TaskState,
        failure: Option<Failure>,
    ) -> Result<Task, SinkError> {
        let before = self
            .store
            .task(self.task_id)
            .await
            .map_err(|err| SinkError(err.to_string()))?
            .map(|task| task.state);
        let task = self
            .store
            .transition(self.task_id, to, failure.clone())
            .await
            .map_err(|err| SinkError(err.to_string()))?;
        if let Some(from) = before {
            self.observer
                .event(&EventKind::StateChanged { from, to, failure });
        }
        Ok(task)
    }

    /// The store, for what the sink does not wrap.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The task.
    pub fn task_id(&self) -> TaskId {
        self.task_id
    }

    /// Updates the branch and prompt hash saved with the stats.
    pub async fn set_branch_and_prompt(
        &self,
        branch: Option<String>,
        prompt_hash: Option<String>,
    ) -> Result<(), SinkError> {
        let mut progress = self.progress.lock().await;
        if branch.is_some() {
            progress.branch = branch;
        }
        if prompt_hash.is_some() {
            progress.prompt_hash = prompt_hash;
        }
        self.store
            .save_progress(self.task_id, &progress)
            .await
            .map_err(|err| SinkError(err.to_string()))
    }

    /// The observer, for progress lines of the orchestrator's own.
    pub fn observer(&self) -> &dyn Observer {
        self.observer.as_ref()
    }
}

#[async_trait]
impl EventSink for StoreSink {
    async fn record(&self, event: EventKind) -> Result<(), SinkError> {
        self.append(event).await
    }

    async fn save_stats(&self, stats: &TaskStats) -> Result<(), SinkError> {
        let mut progress = self.progress.lock().await;
        progress.stats = stats.clone();
        self.store
            .save_progress(self.task_id, &progress)
            .await
            .map_err(|err| SinkError(err.to_string()))
    }

    fn progress(&self, progress: Progress<'_>) {
        self.observer.progress(progress);
    }
}
