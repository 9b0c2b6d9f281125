//! One tool call: recorded, confined, decided by the policy (and a human when it asks for one),
//! run, and scrubbed before the model and the audit log see its result.

use std::time::Instant;

use drydock_core::{
    Action, ActionRequest, Decision, EventKind, Failure, FailureClass, RuleHit, TaskStats,
};
use drydock_model::{ToolInput, ToolUse};

use super::{Agent, AgentEnd, AgentError, CallEnd};
use crate::seams::{ApprovalAsk, Progress, Scrubber};
use crate::tools::{self, PolicyQuestion, ToolCall, ToolContext, ToolFault, ToolOutput};

impl Agent<'_> {
    /// Records, decides, runs and scrubs one tool call.
    pub(super) async fn handle_call(
        &self,
        turn: u32,
        call: &ToolUse,
        stats: &mut TaskStats,
    ) -> Result<(ToolOutput, CallEnd), AgentError> {
        let recorded_arguments = match &call.input {
            ToolInput::Json { value } => scrub_json(self.scrubber, value),
            ToolInput::Malformed { raw, .. } => {
                serde_json::Value::String(self.scrubber.scrub(raw).text)
            }
        };
        self.record(EventKind::ToolCall {
            turn,
            call_id: call.id.clone(),
            tool: call.name.clone(),
            arguments: recorded_arguments,
        })
        .await?;
        let started = Instant::now();
        let (output, end) = match tools::parse_call(&call.name, &call.input) {
            Err(message) => (ToolOutput::error(message), CallEnd::Continue),
            Ok(parsed) => self.decide_and_run(call, &parsed, stats).await?,
        };
        let text = self
            .scrubbed("tool_result", Some(&call.id), &output.text)
            .await?;
        self.record(EventKind::ToolResult {
            call_id: call.id.clone(),
            tool: call.name.clone(),
            ok: output.ok,
            output: text.clone(),
            duration_ms: started.elapsed().as_millis() as u64,
        })
        .await?;
        Ok((
            ToolOutput {
                text,
                ok: output.ok,
            },
            end,
        ))
    }

    async fn decide_and_run(
        &self,
        call: &ToolUse,
        parsed: &ToolCall,
        stats: &mut TaskStats,
    ) -> Result<(ToolOutput, CallEnd), AgentError> {
        let question = match parsed.policy_question(&self.root) {
            Ok(question) => question,
            Err(err) => {
                stats.denials += 1;
                self.record(EventKind::PolicyDecision {
                    call_id: Some(call.id.clone()),
                    action: action_of(parsed),
                    resource: parsed.summary(),
                    decision: Decision::Deny,
                    rules: vec![RuleHit {
                        rule: "workspace_confinement".into(),
                        decision: Decision::Deny,
                        reason: err.to_string(),
                    }],
                })
                .await?;
                return Ok((ToolOutput::error(err.to_string()), CallEnd::Continue));
            }
        };
        if let PolicyQuestion::Ask { action, resource } = question {
            let verdict = self.gate.decide(&ActionRequest {
                principal: self.principal.clone(),
                action: action.clone(),
                resource: resource.clone(),
            });
            self.record(EventKind::PolicyDecision {
                call_id: Some(call.id.clone()),
                action: action.clone(),
                resource: resource.clone(),
                decision: verdict.decision,
                rules: verdict.hits.clone(),
            })
            .await?;
            let refusal = match verdict.decision {
                Decision::Allow => None,
                Decision::Deny => Some(format!(
                    "denied by policy: {}. Choose a different approach; do not try to work around the policy.",
                    verdict.reasons()
                )),
                Decision::RequireApproval => {
                    self.approval_refusal(action, resource, &verdict.reasons())
                        .await?
                }
            };
            if let Some(message) = refusal {
                stats.denials += 1;
                return Ok((ToolOutput::error(message), CallEnd::Continue));
            }
        }
        self.sink.progress(Progress::ToolStarted {
            tool: parsed.name(),
            summary: &parsed.summary(),
        });
        let ctx = ToolContext {
            root: &self.root,
            session: self.session,
            limits: self.limits,
            cancel: &self.cancel,
        };
        match parsed.execute(&ctx).await {
            Ok(output) => {
                let end = match parsed {
                    ToolCall::Finish(args) => CallEnd::Finish(args.clone()),
                    _ => CallEnd::Continue,
                };
                Ok((output, end))
            }
            Err(ToolFault::Cancelled) => Ok((
                ToolOutput::error("cancelled"),
                CallEnd::Stop(AgentEnd::Cancelled),
            )),
            Err(ToolFault::Sandbox(err)) => {
                self.record(EventKind::Error {
                    class: FailureClass::Sandbox,
                    message: err.to_string(),
                })
                .await?;
                Ok((
                    ToolOutput::error(format!("the sandbox failed: {err}")),
                    CallEnd::Stop(AgentEnd::Failed(Failure::new(
                        FailureClass::Sandbox,
                        "sandbox_failed",
                        err.to_string(),
                        "run `drydock sandbox check` to see what this machine supports",
                    ))),
                ))
            }
        }
    }

    /// Asks a human when a channel exists; `None` means approved, `Some(message)` refused.
    async fn approval_refusal(
        &self,
        action: Action,
        resource: String,
        reasons: &str,
    ) -> Result<Option<String>, AgentError> {
        let Some(approvals) = self.approvals else {
            self.note(format!(
                "{action} {resource:?} requires approval and this run has no approval channel: treated as deny"
            ))
            .await?;
            return Ok(Some(format!(
                "this action requires human approval ({reasons}), and this run is unattended: it is denied. Choose a different approach."
            )));
        };
        let ask = ApprovalAsk {
            action,
            resource,
            reason: reasons.to_string(),
        };
        Ok(if approvals.ask(&ask, &self.cancel).await? {
            None
        } else {
            Some(format!(
                "a human reviewer did not approve this action ({reasons}). Choose a different approach."
            ))
        })
    }

    /// Scrubs `text`, recording a redaction event per rule that fired.
    pub(super) async fn scrubbed(
        &self,
        location: &str,
        call_id: Option<&str>,
        text: &str,
    ) -> Result<String, AgentError> {
        let scrubbed = self.scrubber.scrub(text);
        for (rule, count) in scrubbed.rules {
            self.record(EventKind::Redaction {
                call_id: call_id.map(str::to_string),
                location: location.to_string(),
                rule,
                count,
            })
            .await?;
        }
        Ok(scrubbed.text)
    }

    pub(super) async fn record(&self, event: EventKind) -> Result<(), AgentError> {
        Ok(self.sink.record(event).await?)
    }

    pub(super) async fn note(&self, text: String) -> Result<(), AgentError> {
        self.record(EventKind::Note { text }).await
    }
}

fn action_of(call: &ToolCall) -> Action {
    match call {
        ToolCall::ReadFile(_) | ToolCall::ListDir(_) | ToolCall::Search(_) => Action::ReadFile,
        ToolCall::EditFile(_) | ToolCall::WriteFile(_) => Action::WriteFile,
        ToolCall::RunCommand(_) => Action::RunCommand,
        ToolCall::Finish(_) => Action::Tool("finish".into()),
    }
}

/// Scrubs every string inside recorded tool arguments.
fn scrub_json(scrubber: &dyn Scrubber, value: &serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::String(text) => serde_json::Value::String(scrubber.scrub(text).text),
        serde_json::Value::Array(items) => {
            serde_json::Value::Array(items.iter().map(|v| scrub_json(scrubber, v)).collect())
        }
        serde_json::Value::Object(map) => serde_json::Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), scrub_json(scrubber, v)))
                .collect(),
        ),
        other => other.clone(),
    }
}
