use std::fmt::Debug;
use std::time::Duration;

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

use crate::{ContentBlock, ModelError, ModelRequest, ModelResponse, Price, ToolInput};

/// What a client knows about the model behind it.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelInfo {
    /// Provider name: `anthropic`, `openai`, `scripted`.
    pub provider: String,
    /// Model name as sent to the provider.
    pub model: String,
    /// Tokens the model accepts in one request (prompt plus reply).
    pub context_window: u64,
    /// Price per token, when known; `None` means cost is unknown and is reported so.
    pub price: Option<Price>,
}

impl ModelInfo {
    /// `provider:model`, as users write it.
    pub fn spec(&self) -> String {
        format!("{}:{}", self.provider, self.model)
    }
}

/// Progress of a streamed call, for live display. Never needed for correctness.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    /// More reply text.
    TextDelta(String),
    /// The model started a tool call.
    ToolUseStarted {
        /// The tool's name.
        name: String,
    },
    /// The call failed and will be retried after `delay`.
    Retrying {
        /// The attempt that failed, from 1.
        attempt: u32,
        /// How long until the next attempt.
        delay: Duration,
        /// What failed.
        reason: String,
    },
}

/// Receives [`StreamEvent`]s as a call progresses.
pub type StreamObserver<'a> = &'a (dyn Fn(StreamEvent) + Send + Sync);

/// A model service. Implementations retry transient failures themselves (429, 5xx, timeouts,
/// honouring `retry-after`) and stop promptly when `cancel` fires.
#[async_trait]
pub trait ModelClient: Send + Sync + Debug {
    /// The model behind the client.
    fn info(&self) -> &ModelInfo;

    /// Sends one request and returns the whole reply.
    async fn complete(
        &self,
        request: &ModelRequest,
        observer: StreamObserver<'_>,
        cancel: &CancellationToken,
    ) -> Result<ModelResponse, ModelError>;
}

/// A conservative estimate of a request's prompt tokens (about four bytes a token, plus a small
/// overhead per message and tool), used for budget checks before a call and for context management.
pub fn estimate_request_tokens(request: &ModelRequest) -> u64 {
    const PER_MESSAGE: u64 = 4;
    const PER_TOOL: u64 = 8;
    let mut bytes = request.system.len();
    for tool in &request.tools {
        bytes += tool.name.len() + tool.description.len() + tool.input_schema.to_string().len();
    }
    for message in &request.messages {
        for block in &message.content {
            bytes += match block {
                ContentBlock::Text { text } => text.len(),
                ContentBlock::ToolResult { content, .. } => content.len() + 16,
                ContentBlock::ToolUse(call) => {
                    call.name.len()
                        + call.id.len()
                        + match &call.input {
                            ToolInput::Json { value } => value.to_string().len(),
                            ToolInput::Malformed { raw, .. } => raw.len(),
                        }
                }
            };
        }
    }
    (bytes as u64).div_ceil(4)
        + PER_MESSAGE * request.messages.len() as u64
        + PER_TOOL * request.tools.len() as u64
}
