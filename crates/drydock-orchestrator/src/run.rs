//! Running a prepared task: workspace, sandbox session, the agent, then finalize; the sandbox is
//! stopped however the task ends, and the end is recorded with a classified reason.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use drydock_agent::confine::WorkspaceRoot;
use drydock_agent::prompt::{
    PromptContext, initial_message, read_instructions, render_system_prompt,
};
use drydock_agent::{Agent, AgentEnd, AgentSettings, Approvals, SinkError};
use drydock_core::{
    EventKind, Failure, FailureClass, NetworkEvent, Principal, PullRequest, Task, TaskState,
    TaskStats,
};
use drydock_forge::Workspace;
use drydock_policy::sanitize_untrusted;
use drydock_sandbox::{SandboxError, Session, SessionSpec};
use drydock_store::TaskProgress;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::approvals::StoreApprovals;
use crate::sink::StoreSink;
use crate::{Observer, Platform, PreparedTask, RunError};

/// How often a running task looks for a cancel request from another process.
const CANCEL_POLL: Duration = Duration::from_millis(500);

/// A task that has ended.
#[derive(Debug, Clone)]
pub struct TaskOutcome {
    /// The task as stored at its end.
    pub task: Task,
    /// Its pull request, when it completed.
    pub pull_request: Option<PullRequest>,
    /// The workspace, kept for inspection.
    pub workspace: Option<PathBuf>,
}

/// How a task ends.
pub(crate) enum Ending {
    Completed,
    Failed(Failure),
    TimedOut(Failure),
    Cancelled,
}

/// Why driving a task stopped early.
pub(crate) enum Fault {
    /// The task fails with this reason.
    Failed(Failure),
    /// Recording failed; the task cannot be recorded any further.
    Record(SinkError),
}

impl From<SinkError> for Fault {
    fn from(err: SinkError) -> Self {
        Fault::Record(err)
    }
}

impl From<drydock_agent::AgentError> for Fault {
    fn from(err: drydock_agent::AgentError) -> Self {
        Fault::Record(err.0)
    }
}

/// A fault of drydock's own machinery (git, files), classified `internal`.
pub(crate) fn internal(code: &'static str, what: &str) -> impl FnOnce(String) -> Fault {
    let what = what.to_string();
    move |message| {
        Fault::Failed(Failure::new(
            FailureClass::Internal,
            code,
            format!("{what}: {message}"),
            "this is a fault of drydock or of this machine; see the message, fix it and run again",
        ))
    }
}

fn sandbox_failure(err: &SandboxError) -> Fault {
    let remedy = match err {
        SandboxError::Unavailable { remedy, .. } => remedy.clone(),
        _ => "run `drydock sandbox check` to see what this machine supports".to_string(),
    };
    Fault::Failed(Failure::new(
        FailureClass::Sandbox,
        "sandbox_unavailable",
        err.to_string(),
        remedy,
    ))
}

/// What the run of a task shares between its steps.
pub(crate) struct Running<'a> {
    pub prepared: &'a PreparedTask,
    pub sink: &'a Arc<StoreSink>,
    pub session: &'a dyn Session,
    pub workspace: &'a Workspace,
    pub principal: Principal,
    pub prompt_hash: String,
    pub cancel: &'a CancellationToken,
    pub deadline: Instant,
}

impl Platform {
    /// Runs a prepared task to its end and records how it ended.
    pub async fn run(
        &self,
        prepared: PreparedTask,
        observer: Arc<dyn Observer>,
        cancel: CancellationToken,
    ) -> Result<TaskOutcome, RunError> {
        let task_id = prepared.task.id;
        let sink = Arc::new(StoreSink::new(
            self.store.clone(),
            task_id,
            observer.clone(),
            TaskProgress {
                branch: None,
                prompt_hash: None,
                stats: TaskStats::new(),
            },
        ));
        observer.event(&EventKind::TaskCreated {
            spec: Box::new(prepared.task.spec.clone()),
        });
        let deadline =
            Instant::now() + Duration::from_secs(prepared.task.spec.limits.wall_clock_secs);
        let watcher = tokio::spawn(watch_cancel_requests(
            self.store.clone(),
            task_id,
            cancel.clone(),
        ));
        let mut workspace_dir = None;
        let driven = self
            .drive(&prepared, &sink, &cancel, deadline, &mut workspace_dir)
            .await;
        watcher.abort();
        let ending = match driven {
            Ok(ending) => ending,
            Err(Fault::Failed(failure)) => Ending::Failed(failure),
            Err(Fault::Record(err)) => return Err(RunError::Record(err.0)),
        };
        let (state, failure) = match ending {
            Ending::Completed => (TaskState::Completed, None),
            Ending::Failed(failure) => (TaskState::Failed, Some(failure)),
            Ending::TimedOut(failure) => (TaskState::TimedOut, Some(failure)),
            Ending::Cancelled => (TaskState::Cancelled, None),
        };
        if let Some(failure) = &failure {
            sink.append(EventKind::Error {
                class: failure.class,
                message: failure.message.clone(),
            })
            .await
            .map_err(|e| RunError::Record(e.0))?;
        }
        let task = sink
            .transition(state, failure)
            .await
            .map_err(|e| RunError::Record(e.0))?;
        let pull_request = self.store.pull_request(task_id).await?;
        Ok(TaskOutcome {
            task,
            pull_request,
            workspace: workspace_dir,
        })
    }

    async fn drive(
        &self,
        prepared: &PreparedTask,
        sink: &Arc<StoreSink>,
        cancel: &CancellationToken,
        deadline: Instant,
        workspace_dir: &mut Option<PathBuf>,
    ) -> Result<Ending, Fault> {
        let task = &prepared.task;
        sink.transition(TaskState::Preparing, None).await?;
        let branch = task.branch_name();
        let dir = self.data_dir.join("workspaces").join(task.id.to_string());
        let workspace = Workspace::create(&prepared.repo, &dir, &branch)
            .await
            .map_err(|err| internal("workspace", "creating the workspace")(err.to_string()))?;
        *workspace_dir = Some(workspace.dir().to_path_buf());
        sink.append(EventKind::WorkspacePrepared {
            path: workspace.dir().display().to_string(),
            branch: branch.clone(),
            base_commit: workspace.base_commit().to_string(),
            test_command: prepared.test_command.clone(),
        })
        .await?;
        sink.set_branch_and_prompt(Some(branch.clone()), None)
            .await?;

        let sandbox = self.config.task_sandbox(&prepared.repo_config);
        let backend = self
            .backends
            .backend(sandbox.backend)
            .await
            .map_err(|err| sandbox_failure(&err))?;
        let (events_tx, events_rx) = tokio::sync::mpsc::unbounded_channel();
        let session = backend
            .start(SessionSpec {
                label: task.id.to_string(),
                workspace: workspace.dir().to_path_buf(),
                sandbox,
                network: self.config.task_network(&prepared.repo_config),
                network_events: Some(events_tx),
            })
            .await
            .map_err(|err| sandbox_failure(&err))?;
        let forwarder = tokio::spawn(forward_network_events(events_rx, sink.clone()));
        let info = session.info();
        let result = match sink
            .append(EventKind::SandboxStarted {
                backend: info.backend,
                isolation: info.isolation,
            })
            .await
        {
            Ok(()) => {
                self.run_agent(
                    prepared,
                    sink,
                    session.as_ref(),
                    &workspace,
                    cancel,
                    deadline,
                )
                .await
            }
            Err(err) => Err(Fault::Record(err)),
        };
        let stopped = session.stop().await;
        drop(session);
        // The proxy's sender is gone with the session; the forwarder drains what is left.
        let _ = tokio::time::timeout(Duration::from_secs(5), forwarder).await;
        if let Err(err) = stopped {
            sink.append(EventKind::Error {
                class: FailureClass::Sandbox,
                message: format!("stopping the sandbox: {err}"),
            })
            .await?;
        }
        result
    }

    async fn run_agent(
        &self,
        prepared: &PreparedTask,
        sink: &Arc<StoreSink>,
        session: &dyn Session,
        workspace: &Workspace,
        cancel: &CancellationToken,
        deadline: Instant,
    ) -> Result<Ending, Fault> {
        let task = &prepared.task;
        sink.transition(TaskState::Running, None).await?;
        let system = render_system_prompt(&PromptContext {
            repo: &task.spec.repo.name,
            test_command: prepared.test_command.as_deref(),
        });
        sink.append(EventKind::PromptRendered {
            version: system.version.to_string(),
            hash: system.hash.clone(),
        })
        .await?;
        sink.set_branch_and_prompt(None, Some(system.hash.clone()))
            .await?;

        let issue = &task.spec.issue;
        let title = sanitize_untrusted(&issue.title);
        let body = sanitize_untrusted(&issue.body);
        for (part, sanitized) in [("title", &title), ("body", &body)] {
            if !sanitized.is_clean() {
                sink.append(EventKind::Note {
                    text: format!(
                        "hidden content stripped from the issue {part} before the model saw it: {} (the original is in task_created)",
                        sanitized.summary()
                    ),
                })
                .await?;
            }
        }
        let root = WorkspaceRoot::new(workspace.dir())
            .map_err(|err| internal("workspace", "opening the workspace")(err.to_string()))?;
        let instructions = read_instructions(&root, &|text| sanitize_untrusted(text).text);
        let first_message = initial_message(issue, &title.text, &body.text, &instructions);
        let principal = Principal {
            task_kind: task.spec.kind,
            author_association: issue.author.association,
            repo: task.spec.repo.name.clone(),
            branch: workspace.branch().to_string(),
        };
        let approvals = prepared.approvals.then(|| {
            StoreApprovals::new(
                sink.clone(),
                TaskState::Running,
                Duration::from_secs(self.config.agent.approval_timeout_secs),
            )
        });
        let agent = Agent {
            principal: principal.clone(),
            limits: &task.spec.limits,
            model: prepared.model.as_ref(),
            session,
            root,
            gate: &prepared.policy,
            scrubber: &prepared.redactor,
            approvals: approvals.as_ref().map(|a| a as &dyn Approvals),
            sink: sink.as_ref(),
            system: system.clone(),
            first_message,
            settings: AgentSettings {
                max_output_tokens: self.config.model.max_output_tokens,
                ..AgentSettings::default()
            },
            cancel: cancel.clone(),
            deadline,
        };
        let outcome = agent.run().await?;
        match outcome.end {
            AgentEnd::Finished { summary, title } => {
                let running = Running {
                    prepared,
                    sink,
                    session,
                    workspace,
                    principal,
                    prompt_hash: system.hash,
                    cancel,
                    deadline,
                };
                self.finalize(&running, &summary, title.as_deref(), &outcome.stats)
                    .await
            }
            AgentEnd::Failed(failure) => Ok(Ending::Failed(failure)),
            AgentEnd::TimedOut(failure) => Ok(Ending::TimedOut(failure)),
            AgentEnd::Cancelled => Ok(Ending::Cancelled),
        }
    }
}

async fn forward_network_events(mut events: UnboundedReceiver<NetworkEvent>, sink: Arc<StoreSink>) {
    while let Some(event) = events.recv().await {
        // The audit log is the record of egress; a failure to write it is reported by the next
        // write of the task itself, which will fail the same way.
        let _ = sink.append(EventKind::Network(event)).await;
    }
}

async fn watch_cancel_requests(
    store: Arc<dyn drydock_store::Store>,
    task_id: drydock_core::TaskId,
    cancel: CancellationToken,
) {
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(CANCEL_POLL) => {}
        }
        if matches!(store.cancel_requested(task_id).await, Ok(true)) {
            cancel.cancel();
            return;
        }
    }
}
