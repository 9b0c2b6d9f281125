//! Chat Completions chunks, assembled into a [`ModelResponse`]. Written for OpenAI and for the
//! servers that imitate it with small differences (vLLM, Ollama, llama.cpp): missing usage,
//! missing tool call ids or indexes, arguments sent as an object, no `[DONE]`.

use std::collections::BTreeMap;

use drydock_core::Usage;
use serde::Deserialize;
use serde_json::Value;

use crate::http::sse::SseEvent;
use crate::http::{AttemptError, Progress, StreamDecoder, status_failure};
use crate::{
    ContentBlock, ModelResponse, StopReason, StreamEvent, StreamObserver, ToolInput, ToolUse,
};

const PROVIDER: &str = "openai";

#[derive(Debug, Deserialize)]
struct Chunk {
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    choices: Option<Vec<Choice>>,
    #[serde(default)]
    usage: Option<WireUsage>,
    #[serde(default)]
    error: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct Choice {
    #[serde(default)]
    index: u32,
    #[serde(default)]
    delta: Option<Delta>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Delta {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    refusal: Option<String>,
    #[serde(default)]
    tool_calls: Option<Vec<ToolCallDelta>>,
}

#[derive(Debug, Deserialize)]
struct ToolCallDelta {
    #[serde(default)]
    index: Option<usize>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    function: Option<FunctionDelta>,
}

#[derive(Debug, Deserialize)]
struct FunctionDelta {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    arguments: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct WireUsage {
    #[serde(default)]
    prompt_tokens: Option<u64>,
    #[serde(default)]
    completion_tokens: Option<u64>,
    #[serde(default)]
    prompt_tokens_details: Option<PromptDetails>,
}

#[derive(Debug, Deserialize)]
struct PromptDetails {
    #[serde(default)]
    cached_tokens: Option<u64>,
}

#[derive(Debug, Default)]
struct PartialCall {
    id: Option<String>,
    name: String,
    arguments: String,
}

/// Assembles one streamed reply.
#[derive(Debug)]
pub(super) struct OpenAiStream {
    model: String,
    text: String,
    calls: BTreeMap<usize, PartialCall>,
    finish_reason: Option<String>,
    usage: Option<Usage>,
    estimated_input: u64,
    done: bool,
}

impl OpenAiStream {
    /// A decoder for a call to `model`; `estimated_input` stands in for the prompt tokens when
    /// the server reports no usage.
    pub fn new(model: &str, estimated_input: u64) -> Self {
        Self {
            model: model.to_owned(),
            text: String::new(),
            calls: BTreeMap::new(),
            finish_reason: None,
            usage: None,
            estimated_input,
            done: false,
        }
    }

    fn tool_call(&mut self, position: usize, delta: ToolCallDelta, observer: StreamObserver<'_>) {
        let index = match delta.index {
            Some(index) => index,
            // Without an index: a new id opens a new call, anything else continues the last one.
            None => match (&delta.id, self.calls.last_key_value()) {
                (Some(id), Some((last, call))) if call.id.as_ref() != Some(id) => last + 1,
                (_, Some((last, _))) => *last,
                (_, None) => position,
            },
        };
        let call = self.calls.entry(index).or_default();
        if let Some(id) = delta.id.filter(|id| !id.is_empty()) {
            call.id = Some(id);
        }
        let Some(function) = delta.function else {
            return;
        };
        if let Some(name) = function.name.filter(|name| !name.is_empty()) {
            if call.name.is_empty() {
                observer(StreamEvent::ToolUseStarted { name: name.clone() });
            }
            call.name.push_str(&name);
        }
        match function.arguments {
            Some(Value::String(fragment)) => call.arguments.push_str(&fragment),
            Some(Value::Null) | None => {}
            // Some servers send the arguments as an object rather than a JSON string.
            Some(object) => call.arguments.push_str(&object.to_string()),
        }
    }

    fn chunk_error(error: &Value) -> AttemptError {
        let message = error
            .get("message")
            .and_then(Value::as_str)
            .or_else(|| error.as_str())
            .unwrap_or("the server reported an error mid-stream")
            .to_owned();
        let code = error.get("code");
        let status = code
            .and_then(Value::as_u64)
            .or_else(|| code.and_then(Value::as_str).and_then(|c| c.parse().ok()))
            .and_then(|status| u16::try_from(status).ok())
            .filter(|status| (400..600).contains(status))
            .unwrap_or_else(|| {
                let kind = error.get("type").and_then(Value::as_str).unwrap_or("");
                if kind.contains("rate_limit") {
                    429
                } else if kind.contains("invalid_request") {
                    400
                } else {
                    500
                }
            });
        status_failure(PROVIDER, status, message, None, None)
    }
}

fn tool_input(arguments: String) -> ToolInput {
    if arguments.trim().is_empty() {
        // Models call argument-less tools with "" as often as with "{}".
        return ToolInput::Json {
            value: Value::Object(serde_json::Map::new()),
        };
    }
    match serde_json::from_str(&arguments) {
        Ok(value) => ToolInput::Json { value },
        Err(error) => ToolInput::Malformed {
            raw: arguments,
            error: error.to_string(),
        },
    }
}

fn generated_call_id() -> String {
    format!("call_{:024x}", rand::random::<u128>() >> 32)
}

impl StreamDecoder for OpenAiStream {
    fn event(
        &mut self,
        event: SseEvent,
        observer: StreamObserver<'_>,
    ) -> Result<Progress, AttemptError> {
        let data = event.data.trim();
        if data == "[DONE]" {
            self.done = true;
            return Ok(Progress::Done);
        }
        if data.is_empty() {
            return Ok(Progress::More);
        }
        let chunk: Chunk = serde_json::from_str(data).map_err(|error| {
            AttemptError::protocol(
                PROVIDER,
                format!("a stream chunk is not valid JSON: {error}"),
            )
        })?;
        if let Some(error) = &chunk.error {
            return Err(Self::chunk_error(error));
        }
        if let Some(model) = chunk.model.filter(|model| !model.is_empty()) {
            self.model = model;
        }
        if let Some(usage) = chunk.usage {
            let prompt = usage.prompt_tokens.unwrap_or(0);
            let cached = usage
                .prompt_tokens_details
                .and_then(|details| details.cached_tokens)
                .unwrap_or(0)
                .min(prompt);
            // `prompt_tokens` counts cached tokens too; bill each token once.
            self.usage = Some(Usage {
                input_tokens: prompt - cached,
                output_tokens: usage.completion_tokens.unwrap_or(0),
                cache_write_tokens: 0,
                cache_read_tokens: cached,
            });
        }
        for choice in chunk.choices.unwrap_or_default() {
            if choice.index != 0 {
                continue;
            }
            if let Some(delta) = choice.delta {
                for more in [delta.content, delta.refusal].into_iter().flatten() {
                    if !more.is_empty() {
                        self.text.push_str(&more);
                        observer(StreamEvent::TextDelta(more));
                    }
                }
                for (position, call) in delta.tool_calls.unwrap_or_default().into_iter().enumerate()
                {
                    self.tool_call(position, call, observer);
                }
            }
            if let Some(reason) = choice.finish_reason.filter(|reason| !reason.is_empty()) {
                self.finish_reason = Some(reason);
            }
        }
        Ok(Progress::More)
    }

    fn finish(self) -> Result<ModelResponse, AttemptError> {
        if !self.done && self.finish_reason.is_none() {
            return Err(AttemptError::network("the stream ended before [DONE]"));
        }
        let mut content = Vec::new();
        let mut output_bytes = self.text.len();
        if !self.text.is_empty() {
            content.push(ContentBlock::Text { text: self.text });
        }
        for call in self.calls.into_values() {
            output_bytes += call.name.len() + call.arguments.len();
            content.push(ContentBlock::ToolUse(ToolUse {
                id: call.id.unwrap_or_else(generated_call_id),
                name: call.name,
                input: tool_input(call.arguments),
            }));
        }
        let has_tools = content
            .iter()
            .any(|block| matches!(block, ContentBlock::ToolUse(_)));
        let stop_reason = match self.finish_reason.as_deref() {
            Some("tool_calls" | "function_call") => StopReason::ToolUse,
            // Some servers say "stop" after tool calls; the calls are what matters.
            Some("stop") | None if has_tools => StopReason::ToolUse,
            Some("stop") | None => StopReason::EndTurn,
            Some("length") => StopReason::MaxTokens,
            Some(other) => StopReason::Other(other.to_owned()),
        };
        let (usage, usage_estimated) = match self.usage {
            Some(usage) => (usage, false),
            None => (
                Usage {
                    input_tokens: self.estimated_input,
                    output_tokens: (output_bytes as u64).div_ceil(4),
                    cache_write_tokens: 0,
                    cache_read_tokens: 0,
                },
                true,
            ),
        };
        Ok(ModelResponse {
            content,
            stop_reason,
            usage,
            model: self.model,
            usage_estimated,
        })
    }
}
