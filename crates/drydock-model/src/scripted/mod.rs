//! The scripted model: replays a recorded trajectory, so that whole tasks are deterministic.

mod expect;
mod format;

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

pub use format::{Expect, ScriptedToolCall, ScriptedUsage, TRAJECTORY_VERSION, Trajectory, Turn};

use crate::catalog::DEFAULT_CONTEXT_WINDOW;
use crate::{
    ContentBlock, ModelClient, ModelError, ModelInfo, ModelRequest, ModelResponse, Price,
    StopReason, StreamEvent, StreamObserver, ToolInput, ToolUse, estimate_request_tokens,
};

/// Largest trajectory file read.
const MAX_FILE_BYTES: u64 = 64 << 20;

/// Where the replay stands: the next turn and which of its repetitions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Cursor {
    turn: usize,
    repetition: u32,
}

/// A [`ModelClient`] that answers each call with the next turn of a [`Trajectory`].
#[derive(Debug)]
pub struct ScriptedClient {
    info: ModelInfo,
    label: String,
    reply_model: String,
    turns: Vec<Turn>,
    cursor: Mutex<Cursor>,
}

impl ScriptedClient {
    /// Loads a trajectory file; errors name the file, the field and the line.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, ModelError> {
        let path = path.as_ref();
        let label = path.display().to_string();
        let fail = |message: String| ModelError::Script {
            message: format!("trajectory {label}: {message}"),
        };
        let size = std::fs::metadata(path)
            .map_err(|error| fail(format!("cannot read: {error}")))?
            .len();
        if size > MAX_FILE_BYTES {
            return Err(fail(format!(
                "{size} bytes is more than the {MAX_FILE_BYTES} a trajectory may have"
            )));
        }
        let bytes = std::fs::read(path).map_err(|error| fail(format!("cannot read: {error}")))?;
        let text = String::from_utf8(bytes).map_err(|error| {
            fail(format!(
                "not UTF-8 (invalid byte at offset {})",
                error.utf8_error().valid_up_to()
            ))
        })?;
        Self::from_json(&text, &label)
    }

    /// Parses a trajectory held in memory (the demo embeds its own); `label` names it in errors
    /// and becomes the model name of [`ModelClient::info`].
    pub fn from_json(text: &str, label: &str) -> Result<Self, ModelError> {
        let trajectory = format::parse(text).map_err(|message| ModelError::Script {
            message: format!("trajectory {label}: {message}"),
        })?;
        Ok(Self::from_trajectory(trajectory, label))
    }

    /// A client replaying an already built trajectory (assumed valid: see [`Self::from_json`]).
    pub fn from_trajectory(trajectory: Trajectory, label: &str) -> Self {
        Self {
            info: ModelInfo {
                provider: "scripted".into(),
                model: label.to_owned(),
                context_window: trajectory.context_window.unwrap_or(DEFAULT_CONTEXT_WINDOW),
                price: trajectory.price,
            },
            label: label.to_owned(),
            reply_model: trajectory.model.unwrap_or_else(|| "scripted".into()),
            turns: trajectory.turns,
            cursor: Mutex::new(Cursor::default()),
        }
    }

    /// Replaces the reported price (a `[model.pricing]` entry for this trajectory wins).
    pub fn with_price(mut self, price: Option<Price>) -> Self {
        self.info.price = price;
        self
    }

    /// Replaces the reported context window.
    pub fn with_context_window(mut self, tokens: u64) -> Self {
        self.info.context_window = tokens;
        self
    }

    /// Replies served so far, repetitions included.
    pub fn replies_served(&self) -> u64 {
        let cursor = self.cursor();
        self.turns[..cursor.turn.min(self.turns.len())]
            .iter()
            .map(|turn| u64::from(turn.repeat))
            .sum::<u64>()
            + u64::from(cursor.repetition)
    }

    /// Replies the trajectory still holds.
    pub fn replies_left(&self) -> u64 {
        let total: u64 = self.turns.iter().map(|turn| u64::from(turn.repeat)).sum();
        total - self.replies_served()
    }

    fn cursor(&self) -> Cursor {
        // A poisoned lock only means another call panicked; the cursor itself is always valid.
        *self
            .cursor
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    fn advance_from(&self, seen: Cursor) -> Result<(), ModelError> {
        let mut cursor = self
            .cursor
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        if *cursor != seen {
            return Err(self.error(
                seen,
                "another call was answered meanwhile; scripted calls must not overlap".into(),
            ));
        }
        let turn = &self.turns[seen.turn];
        *cursor = if seen.repetition + 1 < turn.repeat {
            Cursor {
                turn: seen.turn,
                repetition: seen.repetition + 1,
            }
        } else {
            Cursor {
                turn: seen.turn + 1,
                repetition: 0,
            }
        };
        Ok(())
    }

    fn error(&self, at: Cursor, what: String) -> ModelError {
        let turn = &self.turns[at.turn];
        let repetition = if turn.repeat > 1 {
            format!(", repetition {} of {}", at.repetition + 1, turn.repeat)
        } else {
            String::new()
        };
        ModelError::Script {
            message: format!(
                "trajectory {}: turn {} (turns[{}]){repetition}: {what}",
                self.label,
                at.turn + 1,
                at.turn
            ),
        }
    }

    fn reply(
        &self,
        at: Cursor,
        request: &ModelRequest,
        observer: StreamObserver<'_>,
    ) -> ModelResponse {
        let turn = &self.turns[at.turn];
        let mut content = Vec::new();
        let mut reply_bytes = 0;
        if let Some(text) = turn.text.as_ref().filter(|text| !text.is_empty()) {
            observer(StreamEvent::TextDelta(text.clone()));
            reply_bytes += text.len();
            content.push(ContentBlock::Text { text: text.clone() });
        }
        for (index, call) in turn.tool_calls.iter().enumerate() {
            observer(StreamEvent::ToolUseStarted {
                name: call.name.clone(),
            });
            let input = match (&call.arguments, &call.raw_arguments) {
                (_, Some(raw)) => match serde_json::from_str(raw) {
                    Ok(value) => ToolInput::Json { value },
                    Err(error) => ToolInput::Malformed {
                        raw: raw.clone(),
                        error: error.to_string(),
                    },
                },
                (Some(value), None) => ToolInput::Json {
                    value: value.clone(),
                },
                (None, None) => ToolInput::Json {
                    value: serde_json::json!({}),
                },
            };
            reply_bytes += call.name.len()
                + match &input {
                    ToolInput::Json { value } => value.to_string().len(),
                    ToolInput::Malformed { raw, .. } => raw.len(),
                };
            content.push(ContentBlock::ToolUse(ToolUse {
                id: call.id.clone().unwrap_or_else(|| {
                    format!("call_{}_{}_{}", at.turn + 1, at.repetition + 1, index)
                }),
                name: call.name.clone(),
                input,
            }));
        }
        let stop_reason = match turn.stop_reason.as_deref() {
            Some("end_turn") => StopReason::EndTurn,
            Some("tool_use") => StopReason::ToolUse,
            Some("max_tokens") => StopReason::MaxTokens,
            Some(other) => StopReason::Other(other.to_owned()),
            None if turn.tool_calls.is_empty() => StopReason::EndTurn,
            None => StopReason::ToolUse,
        };
        let (usage, usage_estimated) = match turn.usage {
            Some(usage) => (usage.into(), false),
            None => (
                drydock_core::Usage {
                    input_tokens: estimate_request_tokens(request),
                    output_tokens: (reply_bytes as u64).div_ceil(4).max(1),
                    cache_write_tokens: 0,
                    cache_read_tokens: 0,
                },
                true,
            ),
        };
        ModelResponse {
            content,
            stop_reason,
            usage,
            model: self.reply_model.clone(),
            usage_estimated,
        }
    }
}

#[async_trait]
impl ModelClient for ScriptedClient {
    fn info(&self) -> &ModelInfo {
        &self.info
    }

    async fn complete(
        &self,
        request: &ModelRequest,
        observer: StreamObserver<'_>,
        cancel: &CancellationToken,
    ) -> Result<ModelResponse, ModelError> {
        if cancel.is_cancelled() {
            return Err(ModelError::Cancelled);
        }
        let at = self.cursor();
        let Some(turn) = self.turns.get(at.turn) else {
            return Err(ModelError::Script {
                message: format!(
                    "trajectory {}: ran out of turns after {} replies; the harness asked for one more",
                    self.label,
                    self.replies_served()
                ),
            });
        };
        if let Some(expect) = &turn.expect {
            expect::check(expect, request)
                .map_err(|why| self.error(at, format!("expectation failed: {why}")))?;
        }
        if let Some(delay) = turn.delay_ms.filter(|ms| *ms > 0) {
            tokio::select! {
                biased;
                () = cancel.cancelled() => return Err(ModelError::Cancelled),
                () = tokio::time::sleep(Duration::from_millis(delay)) => {}
            }
        }
        self.advance_from(at)?;
        Ok(self.reply(at, request, observer))
    }
}

#[cfg(test)]
#[path = "scripted_tests.rs"]
mod tests;
