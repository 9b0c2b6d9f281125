//! The trajectory file format (documented in `docs/trajectory-format.md`) and its validation.

use std::collections::BTreeSet;

use drydock_core::Usage;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Price;

/// The only format version so far.
pub const TRAJECTORY_VERSION: u32 = 1;

/// A recorded conversation: the assistant turns a [`ScriptedClient`](super::ScriptedClient)
/// replays, one per model call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Trajectory {
    /// Format version; `1`.
    #[serde(default = "version_one")]
    pub version: u32,
    /// Free text for the reader: what the trajectory exercises.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The model name replies report (default `scripted`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The context window the client reports (default 32k).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_window: Option<u64>,
    /// The price the client reports, so cost budgets can be tested (default: unknown).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<Price>,
    /// The replies, in order.
    pub turns: Vec<Turn>,
}

fn version_one() -> u32 {
    TRAJECTORY_VERSION
}

fn once() -> u32 {
    1
}

fn is_once(repeat: &u32) -> bool {
    *repeat == 1
}

/// One assistant reply (or `repeat` identical ones).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Turn {
    /// Free text for the reader; never sent anywhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Checks on the request this turn answers; a failed check ends the call with an error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<Expect>,
    /// Reply text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Tool calls, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ScriptedToolCall>,
    /// Tokens reported for the call; estimated from the request and reply when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<ScriptedUsage>,
    /// Why the model stopped (default `tool_use` with tool calls, else `end_turn`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_reason: Option<String>,
    /// Serve this turn this many times in a row (default 1).
    #[serde(default = "once", skip_serializing_if = "is_once")]
    pub repeat: u32,
    /// Wait this long (cancellably) before replying, to test timeouts and the kill switch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<u64>,
}

impl Default for Turn {
    fn default() -> Self {
        Self {
            note: None,
            expect: None,
            text: None,
            tool_calls: Vec::new(),
            usage: None,
            stop_reason: None,
            repeat: 1,
            delay_ms: None,
        }
    }
}

/// A tool call in a scripted reply.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScriptedToolCall {
    /// The tool's name.
    pub name: String,
    /// The arguments object (default `{}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arguments: Option<Value>,
    /// The arguments as raw text, instead of `arguments`: parsed like a provider would, so text
    /// that is not JSON arrives as `ToolInput::Malformed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_arguments: Option<String>,
    /// The call's id (default `call_<turn>_<repetition>_<index>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

/// Token counts of a scripted reply.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScriptedUsage {
    /// Uncached prompt tokens.
    #[serde(default)]
    pub input_tokens: u64,
    /// Reply tokens.
    #[serde(default)]
    pub output_tokens: u64,
    /// Prompt tokens written to the cache.
    #[serde(default)]
    pub cache_write_tokens: u64,
    /// Prompt tokens read from the cache.
    #[serde(default)]
    pub cache_read_tokens: u64,
}

impl From<ScriptedUsage> for Usage {
    fn from(usage: ScriptedUsage) -> Self {
        Usage {
            input_tokens: usage.input_tokens,
            output_tokens: usage.output_tokens,
            cache_write_tokens: usage.cache_write_tokens,
            cache_read_tokens: usage.cache_read_tokens,
        }
    }
}

/// Checks on the request a turn answers. All given checks must hold.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// Each string occurs in the last tool result of the request.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub last_tool_result_contains: Vec<String>,
    /// No string occurs in the last tool result.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub last_tool_result_not_contains: Vec<String>,
    /// The last tool result is (or is not) marked as an error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_tool_result_is_error: Option<bool>,
    /// Each string occurs in the text of the last user message.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub last_user_text_contains: Vec<String>,
    /// Each string occurs somewhere the model can read: system prompt, tools, any message.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub request_contains: Vec<String>,
    /// No string occurs anywhere the model can read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub request_not_contains: Vec<String>,
    /// Each name is among the tools offered.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools_include: Vec<String>,
    /// No name is among the tools offered.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools_exclude: Vec<String>,
}

/// Parses and validates a trajectory; the error names the field (`turns[2].tool_calls[0].id`)
/// and, for syntax errors, the line and column.
pub(crate) fn parse(text: &str) -> Result<Trajectory, String> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let trajectory: Trajectory =
        serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
            let path = error.path().to_string();
            let inner = error.into_inner();
            if path == "." || path.is_empty() {
                inner.to_string()
            } else {
                format!("{path}: {inner}")
            }
        })?;
    deserializer.end().map_err(|error| error.to_string())?;
    validate(&trajectory)?;
    Ok(trajectory)
}

fn validate(trajectory: &Trajectory) -> Result<(), String> {
    if trajectory.version != TRAJECTORY_VERSION {
        return Err(format!(
            "version: {} is not supported (this drydock reads version {TRAJECTORY_VERSION})",
            trajectory.version
        ));
    }
    if trajectory.turns.is_empty() {
        return Err("turns: the trajectory has no turns".into());
    }
    if trajectory.context_window == Some(0) {
        return Err("context_window: must be greater than 0".into());
    }
    if let Some(price) = &trajectory.price {
        let rates = [
            Some(price.input),
            Some(price.output),
            price.cache_write,
            price.cache_read,
        ];
        if rates
            .into_iter()
            .flatten()
            .any(|rate| !rate.is_finite() || rate < 0.0)
        {
            return Err("price: rates must be finite and not negative".into());
        }
    }
    let mut ids = BTreeSet::new();
    for (t, turn) in trajectory.turns.iter().enumerate() {
        if turn.repeat == 0 {
            return Err(format!("turns[{t}].repeat: must be at least 1"));
        }
        for (c, call) in turn.tool_calls.iter().enumerate() {
            let at = format!("turns[{t}].tool_calls[{c}]");
            match (&call.arguments, &call.raw_arguments) {
                (Some(_), Some(_)) => {
                    return Err(format!(
                        "{at}: give either `arguments` or `raw_arguments`, not both"
                    ));
                }
                (Some(arguments), None) if !arguments.is_object() => {
                    return Err(format!(
                        "{at}.arguments: must be an object; use `raw_arguments` for anything else"
                    ));
                }
                _ => {}
            }
            if let Some(id) = &call.id {
                if turn.repeat > 1 {
                    return Err(format!(
                        "{at}.id: a turn repeated {} times would reuse id {id:?}; drop the id",
                        turn.repeat
                    ));
                }
                if id.is_empty() || !ids.insert(id.as_str()) {
                    return Err(format!("{at}.id: {id:?} is empty or used twice"));
                }
            }
        }
    }
    Ok(())
}
