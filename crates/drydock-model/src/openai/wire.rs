//! Our request as a Chat Completions body.

use serde_json::{Value, json};

use crate::{ContentBlock, MaxTokensField, Message, ModelRequest, Role, ToolInput};

/// Marks a tool result that is an error: Chat Completions has no field for it.
pub(super) const ERROR_PREFIX: &str = "[tool error] ";

/// Options that shape the body beyond the request itself.
#[derive(Debug, Clone, Copy)]
pub(super) struct BodyOptions<'a> {
    /// The model name.
    pub model: &'a str,
    /// The field carrying the reply limit.
    pub max_tokens_field: MaxTokensField,
    /// Sampling temperature, when configured.
    pub temperature: Option<f64>,
}

/// The JSON body of `POST /chat/completions`, streamed, with usage requested in the last chunk.
pub(super) fn request_body(request: &ModelRequest, options: BodyOptions<'_>) -> Value {
    let mut messages = Vec::new();
    if !request.system.is_empty() {
        messages.push(json!({"role": "system", "content": request.system}));
    }
    for message in &request.messages {
        push_message(&mut messages, message);
    }
    let mut body = json!({
        "model": options.model,
        "messages": messages,
        "stream": true,
        "stream_options": {"include_usage": true},
    });
    body[options.max_tokens_field.as_str()] = json!(request.max_output_tokens);
    if !request.tools.is_empty() {
        body["tools"] = request
            .tools
            .iter()
            .map(|tool| {
                json!({
                    "type": "function",
                    "function": {
                        "name": tool.name,
                        "description": tool.description,
                        "parameters": tool.input_schema,
                    },
                })
            })
            .collect();
    }
    if let Some(temperature) = options.temperature {
        body["temperature"] = json!(temperature);
    }
    body
}

fn push_message(out: &mut Vec<Value>, message: &Message) {
    let text = message
        .content
        .iter()
        .filter_map(|block| match block {
            ContentBlock::Text { text } if !text.is_empty() => Some(text.as_str()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("\n");
    match message.role {
        Role::Assistant => {
            let calls: Vec<Value> = message
                .content
                .iter()
                .filter_map(|block| match block {
                    ContentBlock::ToolUse(call) => Some(json!({
                        "id": call.id,
                        "type": "function",
                        "function": {
                            "name": call.name,
                            "arguments": match &call.input {
                                ToolInput::Json { value } => value.to_string(),
                                // Sent back exactly as the model wrote it.
                                ToolInput::Malformed { raw, .. } => raw.clone(),
                            },
                        },
                    })),
                    _ => None,
                })
                .collect();
            let mut wire = json!({
                "role": "assistant",
                "content": if text.is_empty() { Value::Null } else { json!(text) },
            });
            if !calls.is_empty() {
                wire["tool_calls"] = Value::Array(calls);
            } else if text.is_empty() {
                wire["content"] = json!("");
            }
            out.push(wire);
        }
        Role::User => {
            // Tool results become `tool` messages right after the assistant's calls; any text
            // of the same turn follows as a user message.
            for block in &message.content {
                if let ContentBlock::ToolResult {
                    tool_use_id,
                    content,
                    is_error,
                } = block
                {
                    let content = if *is_error {
                        format!("{ERROR_PREFIX}{content}")
                    } else {
                        content.clone()
                    };
                    out.push(
                        json!({"role": "tool", "tool_call_id": tool_use_id, "content": content}),
                    );
                }
            }
            let has_results = message
                .content
                .iter()
                .any(|block| matches!(block, ContentBlock::ToolResult { .. }));
            if !text.is_empty() || !has_results {
                out.push(json!({"role": "user", "content": text}));
            }
        }
    }
}
