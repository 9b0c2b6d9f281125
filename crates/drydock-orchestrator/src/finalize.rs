//! After the agent finishes: the orchestrator (not the agent) runs the tests, checks the gates
//! (diff size, protected paths, the secret scan of the diff, push and pull-request policy),
//! commits with trailers, pushes the branch and records the pull request.

use std::time::Duration;

use chrono::Utc;
use drydock_agent::Approvals;
use drydock_core::{
    Action, ActionRequest, Decision, EventKind, Failure, FailureClass, PullRequest, RuleHit,
    TaskState, TaskStats, Verdict,
};
use drydock_sandbox::{ExecRequest, SandboxError};
use tokio_util::sync::CancellationToken;

use crate::Platform;
use crate::approvals::StoreApprovals;
use crate::pr_text::{self, Denial, PrInputs, TestReport};
use crate::run::{Ending, Fault, Running, internal};

/// Bytes of test output kept (head and tail) and shown at the end of a failure.
const TEST_OUTPUT_BYTES: usize = 64 * 1024;
/// Bytes of the tail of the test output recorded in the audit log.
const TEST_TAIL_BYTES: usize = 4 * 1024;

impl Platform {
    pub(crate) async fn finalize(
        &self,
        run: &Running<'_>,
        summary: &str,
        title: Option<&str>,
        stats: &TaskStats,
    ) -> Result<Ending, Fault> {
        let sink = run.sink;
        let task = &run.prepared.task;
        let workspace = run.workspace;
        let redactor = &run.prepared.redactor;
        sink.transition(TaskState::Finalizing, None).await?;

        let changed = workspace
            .has_changes()
            .await
            .map_err(|e| internal("git", "reading the workspace's changes")(e.to_string()))?;
        if !changed {
            return Ok(Ending::Failed(Failure::new(
                FailureClass::Verification,
                "no_changes",
                "the agent finished without changing any file",
                "read the trajectory (drydock show) and make the issue more specific",
            )));
        }

        let tests = match &run.prepared.test_command {
            Some(command) => match self.run_tests(run, command).await? {
                TestsOutcome::Ran(report) => Some(report),
                TestsOutcome::OutOfTime => return Ok(timed_out(task)),
                TestsOutcome::Cancelled => return Ok(Ending::Cancelled),
            },
            None => None,
        };
        let branch = workspace.branch().to_string();
        let trailers = [
            ("Drydock-Task", task.id.to_string()),
            ("Drydock-Prompt", run.prompt_hash.clone()),
        ];
        let summary = redactor.redact(summary).text;
        let inputs_title = title.map(|t| redactor.redact(t).text);

        if let Some(report) = tests.as_ref().filter(|r| !r.passed) {
            // Keep the attempt on the branch, in the workspace only, for inspection.
            let message = format!("WIP (tests failed): {}\n\n{summary}", task.spec.issue.title);
            let trailers: Vec<(&str, &str)> =
                trailers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let sha = workspace
                .commit(&redactor.redact(&message).text, &trailers)
                .await
                .map_err(|e| internal("git", "committing the failed attempt")(e.to_string()))?;
            self.record_commit(run, &sha).await?;
            return Ok(Ending::Failed(Failure::new(
                FailureClass::Verification,
                "tests_failed",
                format!(
                    "`{}` failed after the agent finished ({})",
                    report.command,
                    report
                        .exit_code
                        .map_or("killed".into(), |c| format!("exit code {c}"))
                ),
                format!(
                    "the attempt is on branch {branch} in {} (not pushed); see drydock show {}",
                    workspace.dir().display(),
                    task.id.short()
                ),
            )));
        }

        let diff_stat = workspace
            .diff_stat()
            .await
            .map_err(|e| internal("git", "computing the diff")(e.to_string()))?;
        let diff_text = workspace
            .diff_text()
            .await
            .map_err(|e| internal("git", "computing the diff")(e.to_string()))?;

        let mut push_hits = Vec::new();
        let leaks = redactor.scan_diff(&diff_text);
        for leak in leaks.iter().take(20) {
            push_hits.push(RuleHit {
                rule: "secret_in_diff".into(),
                decision: Decision::Deny,
                reason: match leak.line {
                    Some(line) => format!(
                        "the diff adds a secret ({}) at {}:{line}",
                        leak.rule, leak.path
                    ),
                    None => format!(
                        "the diff adds a file the secret rules flag ({}): {}",
                        leak.rule, leak.path
                    ),
                },
            });
        }
        let gate = run
            .prepared
            .policy
            .finalize_gate(&diff_stat, &run.principal);
        push_hits.extend(gate.hits);
        let push = run.prepared.policy.decide(&ActionRequest {
            principal: run.principal.clone(),
            action: Action::GitPush,
            resource: branch.clone(),
        });
        push_hits.extend(push.hits);
        let push_verdict = Verdict::from_hits(push_hits);
        if let Some(failure) = self
            .enforce(run, Action::GitPush, &branch, push_verdict, "push_blocked")
            .await?
        {
            return Ok(Ending::Failed(failure));
        }

        let denials = self.denials(run).await?;
        let inputs = PrInputs {
            task,
            summary: &summary,
            title: inputs_title.as_deref(),
            tests: tests.as_ref(),
            stats,
            denials: &denials,
            diff_stat: &diff_stat,
        };
        let mut task_for_text = task.clone();
        task_for_text.prompt_hash = Some(run.prompt_hash.clone());
        let inputs = PrInputs {
            task: &task_for_text,
            ..inputs
        };
        let pr_title = redactor.redact(&pr_text::title(&inputs)).text;
        let pr_body = redactor.redact(&pr_text::body(&inputs)).text;

        let message = format!("{pr_title}\n\n{summary}");
        let trailers: Vec<(&str, &str)> = trailers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let sha = workspace
            .commit(&message, &trailers)
            .await
            .map_err(|e| internal("git", "committing the change")(e.to_string()))?;
        self.record_commit(run, &sha).await?;

        let open = run.prepared.policy.decide(&ActionRequest {
            principal: run.principal.clone(),
            action: Action::OpenPr,
            resource: branch.clone(),
        });
        if let Some(failure) = self
            .enforce(run, Action::OpenPr, &branch, open, "pr_blocked")
            .await?
        {
            return Ok(Ending::Failed(failure));
        }

        let pushed = workspace
            .push_to_source(&run.prepared.repo)
            .await
            .map_err(|e| {
                internal("push", "pushing the branch to the source repository")(e.to_string())
            })?;
        sink.append(EventKind::Pushed {
            remote: pushed.remote.display().to_string(),
            branch: branch.clone(),
            sha: pushed.sha.clone(),
        })
        .await?;

        let pull_request = PullRequest {
            task_id: task.id,
            title: pr_title.clone(),
            body: pr_body,
            head_branch: branch.clone(),
            base_branch: workspace.base_branch().to_string(),
            head_sha: sha,
            base_sha: workspace.base_commit().to_string(),
            diff_stat,
            url: None,
            created_at: Utc::now(),
        };
        self.store
            .save_pull_request(&pull_request)
            .await
            .map_err(|e| Fault::Record(drydock_agent::SinkError(e.to_string())))?;
        sink.append(EventKind::PullRequestOpened {
            title: pr_title,
            branch,
            url: None,
        })
        .await?;
        Ok(Ending::Completed)
    }

    /// Runs the test command in the sandbox.
    async fn run_tests(&self, run: &Running<'_>, command: &str) -> Result<TestsOutcome, Fault> {
        let limits = &run.prepared.task.spec.limits;
        let configured = run
            .prepared
            .repo_config
            .test
            .timeout_secs
            .or(self.config.test.timeout_secs)
            .unwrap_or(limits.command_timeout_secs);
        let remaining = run
            .deadline
            .saturating_duration_since(tokio::time::Instant::now());
        if remaining.is_zero() {
            return Ok(TestsOutcome::OutOfTime);
        }
        let timeout = Duration::from_secs(configured).min(remaining);
        let request = ExecRequest {
            argv: vec!["bash".into(), "-c".into(), command.to_string()],
            cwd: None,
            timeout,
            max_output_bytes: TEST_OUTPUT_BYTES,
            merge_stderr: true,
            stdin: None,
        };
        let output = match run.session.exec(request, run.cancel).await {
            Ok(output) => output,
            Err(SandboxError::Cancelled) => return Ok(TestsOutcome::Cancelled),
            Err(err) => {
                return Err(Fault::Failed(Failure::new(
                    FailureClass::Sandbox,
                    "tests_not_run",
                    format!("the tests could not run: {err}"),
                    "run `drydock sandbox check`",
                )));
            }
        };
        if output.timed_out && timeout < Duration::from_secs(configured) {
            return Ok(TestsOutcome::OutOfTime);
        }
        let text = run.prepared.redactor.redact(&output.stdout.to_text()).text;
        let tail_start = text.len().saturating_sub(TEST_TAIL_BYTES);
        let tail_start = (tail_start..text.len())
            .find(|i| text.is_char_boundary(*i))
            .unwrap_or(text.len());
        let report = TestReport {
            command: command.to_string(),
            passed: output.success(),
            exit_code: output.exit_code,
            duration_ms: output.duration.as_millis() as u64,
        };
        run.sink
            .append(EventKind::TestsRun {
                command: command.to_string(),
                exit_code: output.exit_code,
                passed: report.passed,
                duration_ms: report.duration_ms,
                output_tail: text[tail_start..].to_string(),
            })
            .await?;
        Ok(TestsOutcome::Ran(report))
    }

    async fn record_commit(&self, run: &Running<'_>, sha: &str) -> Result<(), Fault> {
        let stat = run
            .workspace
            .diff_stat()
            .await
            .map_err(|e| internal("git", "computing the diff")(e.to_string()))?;
        run.sink
            .append(EventKind::Committed {
                sha: sha.to_string(),
                branch: run.workspace.branch().to_string(),
                files_changed: stat.files.len() as u32,
                insertions: stat.insertions(),
                deletions: stat.deletions(),
            })
            .await?;
        Ok(())
    }

    /// Records a finalize decision and applies it; `Some(failure)` when it blocks.
    async fn enforce(
        &self,
        run: &Running<'_>,
        action: Action,
        resource: &str,
        verdict: Verdict,
        code: &'static str,
    ) -> Result<Option<Failure>, Fault> {
        run.sink
            .append(EventKind::PolicyDecision {
                call_id: None,
                action: action.clone(),
                resource: resource.to_string(),
                decision: verdict.decision,
                rules: verdict.hits.clone(),
            })
            .await?;
        let action_name = action.to_string();
        let blocked = |reasons: String| {
            Some(Failure::new(
                FailureClass::Policy,
                code,
                format!("{action_name} {resource} was blocked: {reasons}"),
                format!(
                    "the branch stays in the workspace ({}), unpushed; fix the cause or approve with --approvals",
                    run.workspace.dir().display()
                ),
            ))
        };
        match verdict.decision {
            Decision::Allow => Ok(None),
            Decision::Deny => Ok(blocked(verdict.reasons())),
            Decision::RequireApproval if run.prepared.approvals => {
                let approvals = StoreApprovals::new(
                    run.sink.clone(),
                    TaskState::Finalizing,
                    Duration::from_secs(self.config.agent.approval_timeout_secs),
                );
                let ask = drydock_agent::ApprovalAsk {
                    action,
                    resource: resource.to_string(),
                    reason: verdict.reasons(),
                };
                let cancel: &CancellationToken = run.cancel;
                if approvals.ask(&ask, cancel).await? {
                    Ok(None)
                } else {
                    Ok(blocked(format!("not approved ({})", verdict.reasons())))
                }
            }
            Decision::RequireApproval => Ok(blocked(format!(
                "{}; it needs approval and this run has no approval channel",
                verdict.reasons()
            ))),
        }
    }

    async fn denials(&self, run: &Running<'_>) -> Result<Vec<Denial>, Fault> {
        let events = self
            .store
            .events(run.prepared.task.id, 0)
            .await
            .map_err(|e| Fault::Record(drydock_agent::SinkError(e.to_string())))?;
        Ok(events
            .into_iter()
            .filter_map(|event| match event.kind {
                EventKind::PolicyDecision {
                    action,
                    resource,
                    decision,
                    rules,
                    ..
                } if decision != Decision::Allow => Some(Denial {
                    action: action.to_string(),
                    resource,
                    rule: rules
                        .iter()
                        .find(|r| r.decision == decision)
                        .map(|r| r.rule.clone())
                        .unwrap_or_default(),
                }),
                _ => None,
            })
            .collect())
    }
}

/// What running the tests came to.
enum TestsOutcome {
    Ran(TestReport),
    OutOfTime,
    Cancelled,
}

fn timed_out(task: &drydock_core::Task) -> Ending {
    Ending::TimedOut(drydock_agent::budget::wall_clock_failure(&task.spec.limits))
}
