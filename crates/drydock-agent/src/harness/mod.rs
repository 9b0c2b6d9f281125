//! The loop: model call, tool calls, results, until `finish`, a budget, a loop, an error or a
//! cancellation ends it.

mod calls;

use std::time::Instant;

use drydock_core::{
    BudgetKind, EventKind, Failure, FailureClass, Limits, LoopAction, Principal, TaskStats,
};
use drydock_model::{
    ContentBlock, Message, ModelClient, ModelError, ModelRequest, Role, StopReason, ToolInput,
    ToolUse,
};
use drydock_sandbox::Session;
use tokio_util::sync::CancellationToken;

use crate::budget::{BudgetCheck, check_before_call, wall_clock_failure};
use crate::confine::WorkspaceRoot;
use crate::context;
use crate::loop_detect::{LoopDetector, LoopVerdict};
use crate::prompt::RenderedPrompt;
use crate::seams::{Approvals, EventSink, Progress, Scrubber, SinkError, ToolGate};
use crate::tools::{self, FinishArgs};

/// Replies in a row without a tool call after which the task counts as stuck.
const MAX_IDLE_TURNS: u32 = 3;

/// Tunables of the loop.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentSettings {
    /// Upper bound on one reply's tokens.
    pub max_output_tokens: u32,
    /// Share of the context window (after the reply) the prompt may fill before old tool output
    /// is elided.
    pub context_fill: f64,
}

impl Default for AgentSettings {
    fn default() -> Self {
        Self {
            max_output_tokens: 8192,
            context_fill: 0.85,
        }
    }
}

/// Everything one run of the loop works with.
pub struct Agent<'a> {
    /// The task's agent, as policies see it.
    pub principal: Principal,
    /// Budgets.
    pub limits: &'a Limits,
    /// The model.
    pub model: &'a dyn ModelClient,
    /// The task's sandbox session.
    pub session: &'a dyn Session,
    /// The workspace on the host.
    pub root: WorkspaceRoot,
    /// Decides every action.
    pub gate: &'a dyn ToolGate,
    /// Scrubs every result and recorded text.
    pub scrubber: &'a dyn Scrubber,
    /// A human to ask, when one is configured; without it `require_approval` is `deny`.
    pub approvals: Option<&'a dyn Approvals>,
    /// Where events go.
    pub sink: &'a dyn EventSink,
    /// The rendered system prompt.
    pub system: RenderedPrompt,
    /// The first user message (task, issue, repository instructions).
    pub first_message: String,
    /// Tunables.
    pub settings: AgentSettings,
    /// Fires on cancellation (user, kill switch).
    pub cancel: CancellationToken,
    /// When the task's wall-clock budget runs out.
    pub deadline: tokio::time::Instant,
}

impl std::fmt::Debug for Agent<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agent")
            .field("principal", &self.principal)
            .field("model", &self.model.info().spec())
            .finish_non_exhaustive()
    }
}

/// How the loop ended.
#[derive(Debug, Clone, PartialEq)]
pub enum AgentEnd {
    /// The model called `finish`.
    Finished {
        /// Its summary for the pull request.
        summary: String,
        /// Its title, if it gave one.
        title: Option<String>,
    },
    /// Stopped with a classified reason (budget, stuck, model, sandbox, ...).
    Failed(Failure),
    /// The wall-clock budget ran out.
    TimedOut(Failure),
    /// Cancelled.
    Cancelled,
}

/// The loop's result.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentOutcome {
    /// How it ended.
    pub end: AgentEnd,
    /// Totals.
    pub stats: TaskStats,
}

/// The platform failed to record something; the task ends as `internal`.
#[derive(Debug, thiserror::Error)]
#[error("agent could not record its progress: {0}")]
pub struct AgentError(#[from] pub SinkError);

/// What one tool call came to.
enum CallEnd {
    /// Go on.
    Continue,
    /// The model finished.
    Finish(FinishArgs),
    /// The task must end.
    Stop(AgentEnd),
}

impl Agent<'_> {
    /// Runs the loop to its end.
    pub async fn run(self) -> Result<AgentOutcome, AgentError> {
        let mut stats = TaskStats::new();
        let end = self.run_loop(&mut stats).await?;
        self.sink.save_stats(&stats).await?;
        Ok(AgentOutcome { end, stats })
    }

    async fn run_loop(&self, stats: &mut TaskStats) -> Result<AgentEnd, AgentError> {
        let info = self.model.info().clone();
        if info.price.is_none() {
            self.note(format!(
                "no price is known for {}: cost is reported as unknown and the cost budget cannot be enforced; set [model.pricing.\"{}\"] to enforce it",
                info.spec(),
                info.spec()
            ))
            .await?;
        }
        let tools = tools::tool_specs();
        let mut messages = vec![Message::user_text(self.first_message.clone())];
        let mut detector = LoopDetector::new();
        let mut idle_turns = 0;
        loop {
            if self.cancel.is_cancelled() {
                return Ok(AgentEnd::Cancelled);
            }
            if tokio::time::Instant::now() >= self.deadline {
                return Ok(AgentEnd::TimedOut(wall_clock_failure(self.limits)));
            }
            let mut request = ModelRequest {
                system: self.system.text.clone(),
                messages: messages.clone(),
                tools: tools.clone(),
                max_output_tokens: self.settings.max_output_tokens,
            };
            let prompt_room = (info
                .context_window
                .saturating_sub(u64::from(self.settings.max_output_tokens))
                as f64
                * self.settings.context_fill) as u64;
            let fitted = context::fit(&mut request, prompt_room);
            if fitted.results_elided + fitted.arguments_elided > 0 {
                messages = request.messages.clone();
                self.note(format!(
                    "context: elided {} old tool outputs and {} old tool arguments to fit the model's window ({} tokens)",
                    fitted.results_elided, fitted.arguments_elided, info.context_window
                ))
                .await?;
            }
            if fitted.estimated_tokens > prompt_room {
                return Ok(AgentEnd::Failed(Failure::new(
                    FailureClass::Budget,
                    "context_exhausted",
                    format!(
                        "the conversation (about {} tokens) no longer fits the model's context window ({} tokens) even with old output elided",
                        fitted.estimated_tokens, info.context_window
                    ),
                    "use a model with a larger window, or split the issue",
                )));
            }
            match check_before_call(
                self.limits,
                stats,
                info.price.as_ref(),
                fitted.estimated_tokens,
                self.settings.max_output_tokens,
            ) {
                BudgetCheck::Go { max_output_tokens } => {
                    request.max_output_tokens = max_output_tokens;
                }
                BudgetCheck::Exhausted {
                    budget,
                    used,
                    limit,
                    failure,
                } => {
                    self.record(EventKind::Budget {
                        budget,
                        used,
                        limit,
                        exhausted: true,
                    })
                    .await?;
                    return Ok(AgentEnd::Failed(failure));
                }
            }

            let turn = stats.turns + 1;
            self.sink.progress(Progress::Thinking { turn });
            let started = Instant::now();
            let call_cancel = self.cancel.child_token();
            let observer = |event| self.sink.progress(Progress::Stream(&event));
            let result = tokio::select! {
                result = self.model.complete(&request, &observer, &call_cancel) => result,
                () = tokio::time::sleep_until(self.deadline) => {
                    call_cancel.cancel();
                    self.record(EventKind::Budget {
                        budget: BudgetKind::WallClock,
                        used: self.limits.wall_clock_secs as f64,
                        limit: self.limits.wall_clock_secs as f64,
                        exhausted: true,
                    })
                    .await?;
                    return Ok(AgentEnd::TimedOut(wall_clock_failure(self.limits)));
                }
            };
            let response = match result {
                Ok(response) => response,
                Err(ModelError::Cancelled) => return Ok(AgentEnd::Cancelled),
                Err(err) => {
                    self.record(EventKind::Error {
                        class: err.class(),
                        message: err.to_string(),
                    })
                    .await?;
                    return Ok(AgentEnd::Failed(Failure::new(
                        err.class(),
                        err.code(),
                        err.to_string(),
                        err.remedy(),
                    )));
                }
            };
            stats.turns = turn;
            stats.usage += response.usage;
            let cost = info.price.map(|price| price.cost(&response.usage));
            match cost {
                Some(cost) => stats.cost_usd += cost,
                None => stats.cost_known = false,
            }
            let calls: Vec<ToolUse> = response.tool_uses().cloned().collect();
            self.record(EventKind::ModelTurn {
                turn,
                model: info.spec(),
                usage: response.usage,
                cost_usd: cost,
                stop_reason: response.stop_reason.as_str().to_string(),
                text: self.scrubbed("model_text", None, &response.text()).await?,
                tool_calls: calls.len() as u32,
                duration_ms: started.elapsed().as_millis() as u64,
            })
            .await?;
            self.sink.save_stats(stats).await?;
            let mut assistant = response.content.clone();
            if assistant.is_empty() {
                assistant.push(ContentBlock::Text {
                    text: "(empty reply)".into(),
                });
            }
            messages.push(Message {
                role: Role::Assistant,
                content: assistant,
            });

            if calls.is_empty() {
                idle_turns += 1;
                if idle_turns >= MAX_IDLE_TURNS {
                    let pattern = format!("{MAX_IDLE_TURNS} replies in a row without a tool call");
                    self.record(EventKind::LoopDetected {
                        pattern: pattern.clone(),
                        action: LoopAction::Stop,
                    })
                    .await?;
                    return Ok(AgentEnd::Failed(stuck(&pattern)));
                }
                let cut = if response.stop_reason == StopReason::MaxTokens {
                    " Your last reply was cut off at the token limit: be briefer, and write large files in parts."
                } else {
                    ""
                };
                messages.push(Message::user_text(format!(
                    "[drydock] Continue by calling tools. When the change is complete and tested, call finish with a summary.{cut}"
                )));
                continue;
            }
            idle_turns = 0;

            let mut results = Vec::with_capacity(calls.len());
            let mut notes = Vec::new();
            let mut finish = None;
            let mut stop = None;
            for call in &calls {
                if stop.is_some() {
                    results.push(ContentBlock::ToolResult {
                        tool_use_id: call.id.clone(),
                        content: "not run: the task stopped".into(),
                        is_error: true,
                    });
                    continue;
                }
                stats.tool_calls += 1;
                let (output, end) = self.handle_call(turn, call, stats).await?;
                let arguments = match &call.input {
                    ToolInput::Json { value } => value.to_string(),
                    ToolInput::Malformed { raw, .. } => raw.clone(),
                };
                match detector.observe(&call.name, &arguments, &output.text, !output.ok) {
                    LoopVerdict::Fine => {}
                    LoopVerdict::Steer { pattern, note } => {
                        self.record(EventKind::LoopDetected {
                            pattern,
                            action: LoopAction::Steer,
                        })
                        .await?;
                        notes.push(note);
                    }
                    LoopVerdict::Stop { pattern } => {
                        self.record(EventKind::LoopDetected {
                            pattern: pattern.clone(),
                            action: LoopAction::Stop,
                        })
                        .await?;
                        stop = Some(AgentEnd::Failed(stuck(&pattern)));
                    }
                }
                results.push(ContentBlock::ToolResult {
                    tool_use_id: call.id.clone(),
                    content: output.text,
                    is_error: !output.ok,
                });
                match end {
                    CallEnd::Continue => {}
                    CallEnd::Finish(args) => finish = Some(args),
                    CallEnd::Stop(end) => stop = Some(end),
                }
            }
            results.extend(notes.into_iter().map(|text| ContentBlock::Text { text }));
            messages.push(Message {
                role: Role::User,
                content: results,
            });
            if let Some(end) = stop {
                return Ok(end);
            }
            if let Some(args) = finish {
                return Ok(AgentEnd::Finished {
                    summary: args.summary,
                    title: args.title,
                });
            }
        }
    }
}

fn stuck(pattern: &str) -> Failure {
    Failure::new(
        FailureClass::Budget,
        "stuck",
        format!("the agent was stuck: {pattern}"),
        "look at the trajectory (drydock show), then clarify the issue or raise the limits",
    )
}
