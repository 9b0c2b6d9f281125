//! The Messages API's streamed events, assembled into a [`ModelResponse`].

use std::collections::BTreeMap;

use drydock_core::Usage;
use serde::Deserialize;
use serde_json::Value;

use crate::http::sse::SseEvent;
use crate::http::{AttemptError, Progress, StreamDecoder, status_failure};
use crate::{
    ContentBlock, ModelResponse, StopReason, StreamEvent, StreamObserver, ToolInput, ToolUse,
};

const PROVIDER: &str = "anthropic";

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Event {
    MessageStart {
        message: StartMessage,
    },
    ContentBlockStart {
        index: usize,
        content_block: StartBlock,
    },
    ContentBlockDelta {
        index: usize,
        delta: Delta,
    },
    ContentBlockStop,
    MessageDelta {
        delta: MessageDelta,
        #[serde(default)]
        usage: Option<WireUsage>,
    },
    MessageStop,
    Ping,
    Error {
        error: WireError,
    },
    /// Event types added to the API later are skipped, as its versioning policy asks.
    #[serde(other)]
    Unknown,
}

#[derive(Debug, Deserialize)]
struct StartMessage {
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    usage: Option<WireUsage>,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum StartBlock {
    Text {
        #[serde(default)]
        text: String,
    },
    ToolUse {
        id: String,
        name: String,
        #[serde(default)]
        input: Value,
    },
    /// Thinking, server tools and future block types carry nothing the harness uses.
    #[serde(other)]
    Other,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Delta {
    #[serde(rename = "text_delta")]
    Text { text: String },
    #[serde(rename = "input_json_delta")]
    InputJson { partial_json: String },
    #[serde(other)]
    Other,
}

#[derive(Debug, Deserialize)]
struct MessageDelta {
    #[serde(default)]
    stop_reason: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct WireUsage {
    #[serde(default)]
    input_tokens: Option<u64>,
    #[serde(default)]
    output_tokens: Option<u64>,
    #[serde(default)]
    cache_creation_input_tokens: Option<u64>,
    #[serde(default)]
    cache_read_input_tokens: Option<u64>,
}

#[derive(Debug, Deserialize)]
struct WireError {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    message: String,
}

#[derive(Debug)]
enum Block {
    Text(String),
    Tool {
        id: String,
        name: String,
        start_input: Value,
        json: String,
    },
    Ignored,
}

/// Assembles one streamed reply.
#[derive(Debug)]
pub(super) struct AnthropicStream {
    model: String,
    blocks: BTreeMap<usize, Block>,
    usage: Usage,
    stop_reason: Option<String>,
    stopped: bool,
}

impl AnthropicStream {
    /// A decoder for a call to `model` (the name the reply reports wins).
    pub fn new(model: &str) -> Self {
        Self {
            model: model.to_owned(),
            blocks: BTreeMap::new(),
            usage: Usage::default(),
            stop_reason: None,
            stopped: false,
        }
    }

    fn merge_usage(&mut self, usage: WireUsage) {
        // message_start carries the prompt side; message_delta the running totals.
        let fields = [
            (&mut self.usage.input_tokens, usage.input_tokens),
            (&mut self.usage.output_tokens, usage.output_tokens),
            (
                &mut self.usage.cache_write_tokens,
                usage.cache_creation_input_tokens,
            ),
            (
                &mut self.usage.cache_read_tokens,
                usage.cache_read_input_tokens,
            ),
        ];
        for (slot, value) in fields {
            if let Some(value) = value {
                *slot = value;
            }
        }
    }

    fn delta(
        &mut self,
        index: usize,
        delta: Delta,
        observer: StreamObserver<'_>,
    ) -> Result<(), AttemptError> {
        let block = self.blocks.get_mut(&index).ok_or_else(|| {
            AttemptError::protocol(
                PROVIDER,
                format!("delta for content block {index}, which never started"),
            )
        })?;
        match (block, delta) {
            (Block::Text(text), Delta::Text { text: more }) => {
                text.push_str(&more);
                observer(StreamEvent::TextDelta(more));
            }
            (Block::Tool { json, .. }, Delta::InputJson { partial_json }) => {
                json.push_str(&partial_json);
            }
            (_, Delta::Other) | (Block::Ignored, _) => {}
            (_, delta) => {
                return Err(AttemptError::protocol(
                    PROVIDER,
                    format!("content block {index} got a delta of the wrong kind: {delta:?}"),
                ));
            }
        }
        Ok(())
    }
}

/// The HTTP status an in-stream error type stands for, so it is retried like the status would be.
fn error_status(kind: &str) -> u16 {
    match kind {
        "invalid_request_error" => 400,
        "authentication_error" => 401,
        "billing_error" => 402,
        "permission_error" => 403,
        "not_found_error" => 404,
        "request_too_large" => 413,
        "rate_limit_error" => 429,
        "overloaded_error" => 529,
        // api_error, timeout_error and anything new: the server's fault, worth a retry.
        _ => 500,
    }
}

fn tool_input(start_input: Value, json: String) -> ToolInput {
    if json.trim().is_empty() {
        // A call without arguments streams no delta; the start block holds `{}`.
        let value = if start_input.is_null() {
            Value::Object(serde_json::Map::new())
        } else {
            start_input
        };
        return ToolInput::Json { value };
    }
    match serde_json::from_str(&json) {
        Ok(value) => ToolInput::Json { value },
        Err(error) => ToolInput::Malformed {
            raw: json,
            error: error.to_string(),
        },
    }
}

impl StreamDecoder for AnthropicStream {
    fn event(
        &mut self,
        event: SseEvent,
        observer: StreamObserver<'_>,
    ) -> Result<Progress, AttemptError> {
        let parsed: Event = serde_json::from_str(&event.data).map_err(|error| {
            let name = event.event.as_deref().unwrap_or("(unnamed)");
            AttemptError::protocol(PROVIDER, format!("event {name} is not valid JSON: {error}"))
        })?;
        match parsed {
            Event::MessageStart { message } => {
                if let Some(model) = message.model {
                    self.model = model;
                }
                self.merge_usage(message.usage.unwrap_or_default());
            }
            Event::ContentBlockStart {
                index,
                content_block,
            } => {
                let block = match content_block {
                    StartBlock::Text { text } => {
                        if !text.is_empty() {
                            observer(StreamEvent::TextDelta(text.clone()));
                        }
                        Block::Text(text)
                    }
                    StartBlock::ToolUse { id, name, input } => {
                        observer(StreamEvent::ToolUseStarted { name: name.clone() });
                        Block::Tool {
                            id,
                            name,
                            start_input: input,
                            json: String::new(),
                        }
                    }
                    StartBlock::Other => Block::Ignored,
                };
                if self.blocks.insert(index, block).is_some() {
                    return Err(AttemptError::protocol(
                        PROVIDER,
                        format!("content block {index} started twice"),
                    ));
                }
            }
            Event::ContentBlockDelta { index, delta } => self.delta(index, delta, observer)?,
            Event::ContentBlockStop | Event::Ping | Event::Unknown => {}
            Event::MessageDelta { delta, usage } => {
                if delta.stop_reason.is_some() {
                    self.stop_reason = delta.stop_reason;
                }
                self.merge_usage(usage.unwrap_or_default());
            }
            Event::MessageStop => {
                self.stopped = true;
                return Ok(Progress::Done);
            }
            Event::Error { error } => {
                let status = error_status(&error.kind);
                let message = if error.message.is_empty() {
                    error.kind
                } else {
                    error.message
                };
                return Err(status_failure(PROVIDER, status, message, None, None));
            }
        }
        Ok(Progress::More)
    }

    fn finish(self) -> Result<ModelResponse, AttemptError> {
        if !self.stopped && self.stop_reason.is_none() {
            return Err(AttemptError::network(
                "the stream ended before message_stop",
            ));
        }
        let mut content = Vec::new();
        for block in self.blocks.into_values() {
            match block {
                Block::Text(text) if !text.is_empty() => content.push(ContentBlock::Text { text }),
                Block::Tool {
                    id,
                    name,
                    start_input,
                    json,
                } => content.push(ContentBlock::ToolUse(ToolUse {
                    id,
                    name,
                    input: tool_input(start_input, json),
                })),
                Block::Text(_) | Block::Ignored => {}
            }
        }
        let has_tools = content
            .iter()
            .any(|block| matches!(block, ContentBlock::ToolUse(_)));
        let stop_reason = match self.stop_reason.as_deref() {
            Some("end_turn" | "stop_sequence") => StopReason::EndTurn,
            Some("tool_use") => StopReason::ToolUse,
            Some("max_tokens") => StopReason::MaxTokens,
            Some(other) => StopReason::Other(other.to_owned()),
            None if has_tools => StopReason::ToolUse,
            None => StopReason::EndTurn,
        };
        Ok(ModelResponse {
            content,
            stop_reason,
            usage: self.usage,
            model: self.model,
            usage_estimated: false,
        })
    }
}
