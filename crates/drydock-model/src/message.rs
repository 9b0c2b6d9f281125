use drydock_core::Usage;
use serde::{Deserialize, Serialize};

/// Who said a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The harness, on behalf of the user: the task, tool results, notes.
    User,
    /// The model.
    Assistant,
}

/// The arguments of a tool call: JSON, or the raw text when the model sent something that isn't.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ToolInput {
    /// Well-formed JSON (not necessarily an object; the tool checks its schema).
    Json {
        /// The value.
        value: serde_json::Value,
    },
    /// Text that does not parse as JSON; the harness returns the error to the model.
    Malformed {
        /// The text as received.
        raw: String,
        /// Why it did not parse.
        error: String,
    },
}

/// A tool call the model asked for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolUse {
    /// The provider's id, echoed in the matching result.
    pub id: String,
    /// The tool's name as the model spelled it (may name no tool).
    pub name: String,
    /// The arguments.
    pub input: ToolInput,
}

/// A piece of a message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ContentBlock {
    /// Plain text.
    Text {
        /// The text.
        text: String,
    },
    /// A tool call (assistant messages only).
    ToolUse(ToolUse),
    /// The result of a tool call (user messages only).
    ToolResult {
        /// The id of the call it answers.
        tool_use_id: String,
        /// What the tool returned, already redacted.
        content: String,
        /// True when the result is an error the model should act on.
        is_error: bool,
    },
}

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// Who said it.
    pub role: Role,
    /// What was said, in order.
    pub content: Vec<ContentBlock>,
}

impl Message {
    /// A user message of one text block.
    pub fn user_text(text: impl Into<String>) -> Self {
        Self {
            role: Role::User,
            content: vec![ContentBlock::Text { text: text.into() }],
        }
    }
}

/// A tool the model may call, with its arguments' JSON Schema.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolSpec {
    /// Name.
    pub name: String,
    /// What it does and when to use it.
    pub description: String,
    /// JSON Schema of the arguments object.
    pub input_schema: serde_json::Value,
}

/// One model call's input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelRequest {
    /// The system prompt (cached by providers that support it).
    pub system: String,
    /// The conversation so far; starts with a user message.
    pub messages: Vec<Message>,
    /// The tools on offer (cached by providers that support it).
    pub tools: Vec<ToolSpec>,
    /// Upper bound on the reply's tokens.
    pub max_output_tokens: u32,
}

/// Why the model stopped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// It finished its reply.
    EndTurn,
    /// It wants tool calls run.
    ToolUse,
    /// It hit `max_output_tokens`.
    MaxTokens,
    /// Something else, as the provider named it.
    Other(String),
}

impl StopReason {
    /// The snake_case name used in events.
    pub fn as_str(&self) -> &str {
        match self {
            StopReason::EndTurn => "end_turn",
            StopReason::ToolUse => "tool_use",
            StopReason::MaxTokens => "max_tokens",
            StopReason::Other(other) => other,
        }
    }
}

/// One model call's output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelResponse {
    /// Text and tool calls, in the order the model produced them.
    pub content: Vec<ContentBlock>,
    /// Why it stopped.
    pub stop_reason: StopReason,
    /// Tokens, as the provider reported them.
    pub usage: Usage,
    /// The model that answered, as the provider named it.
    pub model: String,
    /// True when the provider reported no usage and `usage` is drydock's estimate (some
    /// OpenAI-compatible servers; scripted turns without `usage`).
    #[serde(default)]
    pub usage_estimated: bool,
}

impl ModelResponse {
    /// The tool calls, in order.
    pub fn tool_uses(&self) -> impl Iterator<Item = &ToolUse> {
        self.content.iter().filter_map(|block| match block {
            ContentBlock::ToolUse(call) => Some(call),
            _ => None,
        })
    }

    /// The text blocks joined with newlines.
    pub fn text(&self) -> String {
        self.content
            .iter()
            .filter_map(|block| match block {
                ContentBlock::Text { text } => Some(text.as_str()),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}
