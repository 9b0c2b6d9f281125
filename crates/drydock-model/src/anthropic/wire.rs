//! Our request as an Anthropic Messages API body.

use serde_json::{Value, json};

use crate::{ContentBlock, Message, ModelRequest, Role, ToolInput};

/// Options that shape the body beyond the request itself.
#[derive(Debug, Clone, Copy)]
pub(super) struct BodyOptions<'a> {
    /// The model name.
    pub model: &'a str,
    /// Mark cache breakpoints.
    pub caching: bool,
    /// Sampling temperature, when configured.
    pub temperature: Option<f64>,
}

/// The JSON body of `POST /v1/messages`, streamed. With caching on, three breakpoints are set:
/// after the tools, after the system prompt, and after the last message, so each call of an
/// agent loop reads everything before its newest message from the cache.
pub(super) fn request_body(request: &ModelRequest, options: BodyOptions<'_>) -> Value {
    let mut body = json!({
        "model": options.model,
        "max_tokens": request.max_output_tokens,
        "stream": true,
        "messages": messages(&request.messages, options.caching),
    });
    if !request.system.is_empty() {
        let mut block = json!({"type": "text", "text": request.system});
        if options.caching {
            block["cache_control"] = ephemeral();
        }
        body["system"] = json!([block]);
    }
    if !request.tools.is_empty() {
        let mut tools: Vec<Value> = request
            .tools
            .iter()
            .map(|tool| {
                json!({
                    "name": tool.name,
                    "description": tool.description,
                    "input_schema": tool.input_schema,
                })
            })
            .collect();
        if options.caching
            && let Some(last) = tools.last_mut()
        {
            last["cache_control"] = ephemeral();
        }
        body["tools"] = Value::Array(tools);
    }
    if let Some(temperature) = options.temperature {
        body["temperature"] = json!(temperature);
    }
    body
}

fn ephemeral() -> Value {
    json!({"type": "ephemeral"})
}

fn messages(messages: &[Message], caching: bool) -> Vec<Value> {
    let mut wire: Vec<Value> = messages.iter().map(message).collect();
    if caching
        && let Some(block) = wire
            .last_mut()
            .and_then(|message| message["content"].as_array_mut())
            .and_then(|content| content.last_mut())
    {
        block["cache_control"] = ephemeral();
    }
    wire
}

fn message(message: &Message) -> Value {
    // The API requires a user message's tool results before any of its text.
    let (results, others): (Vec<&ContentBlock>, Vec<&ContentBlock>) = message
        .content
        .iter()
        .partition(|block| matches!(block, ContentBlock::ToolResult { .. }));
    let mut content: Vec<Value> = results
        .into_iter()
        .chain(others)
        .filter_map(block)
        .collect();
    if content.is_empty() {
        // Empty messages and empty text blocks are refused; keep the turn visible instead.
        content.push(json!({"type": "text", "text": "(empty)"}));
    }
    json!({
        "role": match message.role {
            Role::User => "user",
            Role::Assistant => "assistant",
        },
        "content": content,
    })
}

fn block(block: &ContentBlock) -> Option<Value> {
    Some(match block {
        ContentBlock::Text { text } if text.trim().is_empty() => return None,
        ContentBlock::Text { text } => json!({"type": "text", "text": text}),
        ContentBlock::ToolUse(call) => json!({
            "type": "tool_use",
            "id": call.id,
            "name": call.name,
            "input": match &call.input {
                ToolInput::Json { value } if value.is_object() => value.clone(),
                // The API takes only objects; the matching tool result explains what was wrong.
                ToolInput::Json { .. } | ToolInput::Malformed { .. } => json!({}),
            },
        }),
        ContentBlock::ToolResult {
            tool_use_id,
            content,
            is_error,
        } => {
            let mut result = json!({"type": "tool_result", "tool_use_id": tool_use_id});
            if !content.is_empty() {
                result["content"] = json!(content);
            }
            if *is_error {
                result["is_error"] = json!(true);
            }
            result
        }
    })
}
