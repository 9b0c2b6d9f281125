//! An approval channel through the store: the task waits in `awaiting_approval` until
//! `drydock approve|deny` (from another process) answers, the wait times out, or it is cancelled.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use drydock_agent::{ApprovalAsk, Approvals, SinkError};
use drydock_core::{EventKind, TaskState};
use drydock_store::ApprovalRequest;
use tokio_util::sync::CancellationToken;

use crate::sink::StoreSink;

/// Approvals answered through the store.
pub struct StoreApprovals {
    sink: Arc<StoreSink>,
    /// The state the task returns to after an answer.
    resume: TaskState,
    timeout: Duration,
    poll: Duration,
}

impl std::fmt::Debug for StoreApprovals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreApprovals")
            .field("task_id", &self.sink.task_id())
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl StoreApprovals {
    /// A channel for one task that waits at most `timeout` for each answer.
    pub fn new(sink: Arc<StoreSink>, resume: TaskState, timeout: Duration) -> Self {
        Self {
            sink,
            resume,
            timeout,
            poll: Duration::from_millis(250),
        }
    }

    async fn wait(
        &self,
        approval_id: &str,
        cancel: &CancellationToken,
    ) -> Result<Option<bool>, SinkError> {
        let deadline = tokio::time::Instant::now() + self.timeout;
        loop {
            let approval = self
                .sink
                .store()
                .approval(approval_id)
                .await
                .map_err(|e| SinkError(e.to_string()))?;
            if let Some(answer) = approval.and_then(|a| a.approved) {
                return Ok(Some(answer));
            }
            let cancel_requested = self
                .sink
                .store()
                .cancel_requested(self.sink.task_id())
                .await
                .map_err(|e| SinkError(e.to_string()))?;
            if cancel_requested || cancel.is_cancelled() || tokio::time::Instant::now() >= deadline
            {
                return Ok(None);
            }
            tokio::select! {
                () = cancel.cancelled() => {}
                () = tokio::time::sleep(self.poll) => {}
            }
        }
    }
}

#[async_trait]
impl Approvals for StoreApprovals {
    async fn ask(&self, ask: &ApprovalAsk, cancel: &CancellationToken) -> Result<bool, SinkError> {
        let sink_err = |e: drydock_store::StoreError| SinkError(e.to_string());
        self.sink
            .transition(TaskState::AwaitingApproval, None)
            .await?;
        let approval = self
            .sink
            .store()
            .request_approval(
                self.sink.task_id(),
                &ApprovalRequest {
                    action: ask.action.clone(),
                    resource: ask.resource.clone(),
                    reason: ask.reason.clone(),
                },
            )
            .await
            .map_err(sink_err)?;
        self.sink.observer().event(&EventKind::ApprovalRequested {
            approval_id: approval.id.clone(),
            action: ask.action.clone(),
            resource: ask.resource.clone(),
            reason: ask.reason.clone(),
        });
        let answer = self.wait(&approval.id, cancel).await?;
        let approved = match answer {
            Some(approved) => approved,
            None => {
                // Nobody answered: record the timeout as a denial, unless a human raced us.
                match self
                    .sink
                    .store()
                    .resolve_approval(self.sink.task_id(), false, "timeout")
                    .await
                {
                    Ok(resolved) => resolved.approved.unwrap_or(false),
                    Err(drydock_store::StoreError::NoPendingApproval { .. }) => self
                        .sink
                        .store()
                        .approval(&approval.id)
                        .await
                        .map_err(sink_err)?
                        .and_then(|a| a.approved)
                        .unwrap_or(false),
                    Err(err) => return Err(sink_err(err)),
                }
            }
        };
        let by = self
            .sink
            .store()
            .approval(&approval.id)
            .await
            .map_err(sink_err)?
            .and_then(|a| a.resolved_by)
            .unwrap_or_default();
        self.sink.observer().event(&EventKind::ApprovalResolved {
            approval_id: approval.id.clone(),
            approved,
            by,
        });
        if !cancel.is_cancelled() {
            self.sink.transition(self.resume, None).await?;
        } else {
            self.sink
                .store()
                .append_event(
                    self.sink.task_id(),
                    EventKind::Note {
                        text: "cancelled while waiting for approval".into(),
                    },
                )
                .await
                .map_err(sink_err)?;
        }
        Ok(approved)
    }
}
