//! Checking a turn's expectations against the request it answers.

use super::format::Expect;
use crate::{ContentBlock, ModelRequest, Role, ToolInput};

/// Longest excerpt of the checked text quoted in a failure.
const EXCERPT_CHARS: usize = 200;

/// `Ok` when every check holds, else which check failed and why. Strings a `*_not_contains`
/// check looks for are usually secrets, so a failure shows only their first characters.
pub(super) fn check(expect: &Expect, request: &ModelRequest) -> Result<(), String> {
    let wants_last_result = !expect.last_tool_result_contains.is_empty()
        || !expect.last_tool_result_not_contains.is_empty()
        || expect.last_tool_result_is_error.is_some();
    if wants_last_result {
        let (content, is_error) = last_tool_result(request)
            .ok_or("last_tool_result: the request holds no tool result")?;
        contains_all(
            "last_tool_result_contains",
            content,
            &expect.last_tool_result_contains,
        )?;
        contains_none(
            "last_tool_result_not_contains",
            content,
            &expect.last_tool_result_not_contains,
        )?;
        if let Some(expected) = expect.last_tool_result_is_error
            && expected != is_error
        {
            return Err(format!(
                "last_tool_result_is_error: expected {expected}, the result has is_error = {is_error}: {}",
                excerpt(content)
            ));
        }
    }
    if !expect.last_user_text_contains.is_empty() {
        let text = last_user_text(request);
        contains_all(
            "last_user_text_contains",
            &text,
            &expect.last_user_text_contains,
        )?;
    }
    if !expect.request_contains.is_empty() || !expect.request_not_contains.is_empty() {
        let everything = visible_text(request);
        for (index, needle) in expect.request_contains.iter().enumerate() {
            if !everything.contains(needle.as_str()) {
                return Err(format!(
                    "request_contains[{index}]: {needle:?} occurs nowhere in the request"
                ));
            }
        }
        contains_none(
            "request_not_contains",
            &everything,
            &expect.request_not_contains,
        )?;
    }
    let offered: Vec<&str> = request
        .tools
        .iter()
        .map(|tool| tool.name.as_str())
        .collect();
    for (index, name) in expect.tools_include.iter().enumerate() {
        if !offered.contains(&name.as_str()) {
            return Err(format!(
                "tools_include[{index}]: {name:?} is not offered (offered: {offered:?})"
            ));
        }
    }
    for (index, name) in expect.tools_exclude.iter().enumerate() {
        if offered.contains(&name.as_str()) {
            return Err(format!("tools_exclude[{index}]: {name:?} is offered"));
        }
    }
    Ok(())
}

fn contains_all(check: &str, haystack: &str, needles: &[String]) -> Result<(), String> {
    for (index, needle) in needles.iter().enumerate() {
        if !haystack.contains(needle.as_str()) {
            return Err(format!(
                "{check}[{index}]: {needle:?} not found in: {}",
                excerpt(haystack)
            ));
        }
    }
    Ok(())
}

fn contains_none(check: &str, haystack: &str, needles: &[String]) -> Result<(), String> {
    for (index, needle) in needles.iter().enumerate() {
        if haystack.contains(needle.as_str()) {
            return Err(format!("{check}[{index}]: {} is present", masked(needle)));
        }
    }
    Ok(())
}

/// The content and error flag of the request's last tool result.
fn last_tool_result(request: &ModelRequest) -> Option<(&str, bool)> {
    request.messages.iter().rev().find_map(|message| {
        message.content.iter().rev().find_map(|block| match block {
            ContentBlock::ToolResult {
                content, is_error, ..
            } => Some((content.as_str(), *is_error)),
            _ => None,
        })
    })
}

fn last_user_text(request: &ModelRequest) -> String {
    request
        .messages
        .iter()
        .rev()
        .find(|message| message.role == Role::User)
        .map(|message| {
            message
                .content
                .iter()
                .filter_map(|block| match block {
                    ContentBlock::Text { text } => Some(text.as_str()),
                    _ => None,
                })
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
}

/// Everything the model can read, each piece separated by a NUL so that no match spans two.
fn visible_text(request: &ModelRequest) -> String {
    let mut pieces: Vec<String> = vec![request.system.clone()];
    for tool in &request.tools {
        pieces.push(tool.name.clone());
        pieces.push(tool.description.clone());
        pieces.push(tool.input_schema.to_string());
    }
    for message in &request.messages {
        for block in &message.content {
            match block {
                ContentBlock::Text { text } => pieces.push(text.clone()),
                ContentBlock::ToolResult { content, .. } => pieces.push(content.clone()),
                ContentBlock::ToolUse(call) => {
                    pieces.push(call.name.clone());
                    match &call.input {
                        ToolInput::Json { value } => {
                            // Both the encoded form and every string inside it, unescaped.
                            pieces.push(value.to_string());
                            collect_strings(value, &mut pieces);
                        }
                        ToolInput::Malformed { raw, .. } => pieces.push(raw.clone()),
                    }
                }
            }
        }
    }
    pieces.join("\0")
}

fn collect_strings(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::String(text) => out.push(text.clone()),
        serde_json::Value::Array(items) => items.iter().for_each(|item| collect_strings(item, out)),
        serde_json::Value::Object(map) => map.iter().for_each(|(key, item)| {
            out.push(key.clone());
            collect_strings(item, out);
        }),
        _ => {}
    }
}

fn excerpt(text: &str) -> String {
    match text.char_indices().nth(EXCERPT_CHARS) {
        Some((cut, _)) => format!("{:?}…", &text[..cut]),
        None => format!("{text:?}"),
    }
}

/// A needle shown without giving it away: its first four characters and its length.
fn masked(needle: &str) -> String {
    let shown: String = needle.chars().take(4).collect();
    format!("\"{shown}…\" ({} chars)", needle.chars().count())
}
