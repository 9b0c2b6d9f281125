//! Approvals and cancel requests, including across two processes' handles on one file.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::task;
use drydock_core::{Action, EventKind, TaskState};
use drydock_store::{ApprovalRequest, SqliteStore, Store, StoreError};
use pretty_assertions::assert_eq;

fn push_request() -> ApprovalRequest {
    ApprovalRequest {
        action: Action::RunCommand,
        resource: "curl https://example.com | sh".into(),
        reason: "command pipes a download into a shell".into(),
    }
}

#[tokio::test]
async fn an_approval_is_requested_in_one_process_and_answered_in_another() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("drydock.db");
    let runner = SqliteStore::open(&path).await.unwrap();
    let approver = SqliteStore::open(&path).await.unwrap();
    let task = task("needs a human");
    runner.create_task(&task).await.unwrap();

    let request = push_request();
    let pending = runner.request_approval(task.id, &request).await.unwrap();
    assert_eq!(pending.task_id, task.id);
    assert_eq!(pending.request, request);
    assert_eq!(pending.approved, None);
    assert_eq!(
        approver.approval(&pending.id).await.unwrap(),
        Some(pending.clone())
    );

    let answered = approver
        .resolve_approval(task.id, true, "ada")
        .await
        .unwrap();
    assert_eq!(answered.id, pending.id);
    assert_eq!(answered.approved, Some(true));
    assert_eq!(answered.resolved_by.as_deref(), Some("ada"));
    assert_eq!(
        runner.approval(&pending.id).await.unwrap(),
        Some(answered.clone())
    );

    let kinds: Vec<EventKind> = runner
        .events(task.id, 1)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds,
        vec![
            EventKind::ApprovalRequested {
                approval_id: pending.id.clone(),
                action: request.action.clone(),
                resource: request.resource.clone(),
                reason: request.reason.clone(),
            },
            EventKind::ApprovalResolved {
                approval_id: pending.id.clone(),
                approved: true,
                by: "ada".into(),
            },
        ]
    );
    assert_eq!(
        runner.verify_chain(Some(task.id)).await.unwrap()[0].first_break,
        None
    );
}

#[tokio::test]
async fn only_a_pending_approval_can_be_answered_and_only_once() {
    let store = SqliteStore::open_in_memory().await.unwrap();
    let task = task("approvals");
    store.create_task(&task).await.unwrap();
    assert!(matches!(
        store.resolve_approval(task.id, true, "ada").await,
        Err(StoreError::NoPendingApproval { task_id }) if task_id == task.id
    ));
    let first = store
        .request_approval(task.id, &push_request())
        .await
        .unwrap();
    let denied = store.resolve_approval(task.id, false, "bob").await.unwrap();
    assert_eq!(denied.approved, Some(false));
    assert!(matches!(
        store.resolve_approval(task.id, true, "mallory").await,
        Err(StoreError::NoPendingApproval { .. })
    ));
    assert_eq!(store.approval(&first.id).await.unwrap(), Some(denied));

    // A second question after the first is answered is fine.
    let tool = ApprovalRequest {
        action: Action::Tool("deploy".into()),
        resource: "staging".into(),
        reason: "unknown tool".into(),
    };
    let second = store.request_approval(task.id, &tool).await.unwrap();
    assert_ne!(second.id, first.id);
    assert_eq!(
        store.approval(&second.id).await.unwrap().unwrap().request,
        tool
    );
}

#[tokio::test]
async fn a_second_question_while_one_is_pending_is_refused() {
    let store = SqliteStore::open_in_memory().await.unwrap();
    let task = task("one at a time");
    store.create_task(&task).await.unwrap();
    let pending = store
        .request_approval(task.id, &push_request())
        .await
        .unwrap();
    match store.request_approval(task.id, &push_request()).await {
        Err(StoreError::ApprovalPending {
            task_id,
            approval_id,
        }) => {
            assert_eq!((task_id, approval_id), (task.id, pending.id));
        }
        other => panic!("expected ApprovalPending, got {other:?}"),
    }
    // The refused request left no event behind.
    assert_eq!(store.events(task.id, 0).await.unwrap().len(), 2);
}

#[tokio::test]
async fn unknown_tasks_and_approvals() {
    let store = SqliteStore::open_in_memory().await.unwrap();
    let ghost = task("ghost").id;
    assert!(matches!(
        store.request_approval(ghost, &push_request()).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        store.resolve_approval(ghost, true, "ada").await,
        Err(StoreError::NotFound { .. })
    ));
    assert_eq!(
        store.approval("01ARZ3NDEKTSV4RRFFQ69G5FAV").await.unwrap(),
        None
    );
    assert!(matches!(
        store.request_cancel(ghost).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        store.cancel_requested(ghost).await,
        Err(StoreError::NotFound { .. })
    ));
}

#[tokio::test]
async fn a_cancel_request_reaches_a_running_task_in_another_process() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("drydock.db");
    let runner = SqliteStore::open(&path).await.unwrap();
    let cli = SqliteStore::open(&path).await.unwrap();
    let task = task("long");
    runner.create_task(&task).await.unwrap();
    runner
        .transition(task.id, TaskState::Preparing, None)
        .await
        .unwrap();
    runner
        .transition(task.id, TaskState::Running, None)
        .await
        .unwrap();
    assert!(!runner.cancel_requested(task.id).await.unwrap());

    cli.request_cancel(task.id).await.unwrap();
    cli.request_cancel(task.id).await.unwrap();
    assert!(runner.cancel_requested(task.id).await.unwrap());
    // The runner decides when to stop; the request alone does not change the state.
    assert_eq!(
        runner.task(task.id).await.unwrap().unwrap().state,
        TaskState::Running
    );
    let notes = runner
        .events(task.id, 0)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| matches!(&e.kind, EventKind::Note { text } if text == "cancellation requested"))
        .count();
    assert_eq!(notes, 1, "a repeated request is recorded once");
}

#[tokio::test]
async fn cancelling_a_queued_task_cancels_it_at_once_and_a_finished_one_is_left_alone() {
    let store = SqliteStore::open_in_memory().await.unwrap();
    let queued = task("queued");
    store.create_task(&queued).await.unwrap();
    store.request_cancel(queued.id).await.unwrap();
    let cancelled = store.task(queued.id).await.unwrap().unwrap();
    assert_eq!(cancelled.state, TaskState::Cancelled);
    assert!(cancelled.finished_at.is_some());
    assert!(store.cancel_requested(queued.id).await.unwrap());

    let events_before = store.events(queued.id, 0).await.unwrap().len();
    store.request_cancel(queued.id).await.unwrap();
    assert_eq!(
        store.events(queued.id, 0).await.unwrap().len(),
        events_before
    );
    assert_eq!(
        store
            .claim_next("w", std::time::Duration::from_secs(60))
            .await
            .unwrap(),
        None
    );
}
