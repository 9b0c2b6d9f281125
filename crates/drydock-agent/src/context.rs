//! Context management: when the conversation nears the model's window, the oldest tool outputs are
//! elided (with a marker) before anything else; then the large arguments of old tool calls (file
//! contents the model wrote). The most recent exchanges are always kept whole.

use drydock_model::{ContentBlock, Message, ModelRequest, ToolInput, estimate_request_tokens};

/// Tool results (counted from the end) that are never elided.
pub const KEEP_RECENT_RESULTS: usize = 6;
/// Text at least this long is worth eliding.
const ELIDE_MIN_BYTES: usize = 512;
/// Prefix of every elision marker (an elided block is never elided twice).
const MARKER_PREFIX: &str = "[elided by drydock:";

/// What fitting the context did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Fitted {
    /// Tool results replaced by a marker.
    pub results_elided: usize,
    /// Tool call arguments replaced by a marker.
    pub arguments_elided: usize,
    /// The estimate after fitting.
    pub estimated_tokens: u64,
}

/// Elides old content until the request's estimate is at most `budget` tokens (or nothing more
/// can go). Tool outputs go first, oldest first, keeping the [`KEEP_RECENT_RESULTS`] most recent
/// whole as long as that fits, then fewer, down to the last one; only then the large arguments of
/// old tool calls. Returns what it did; the caller checks `estimated_tokens` against the budget.
pub fn fit(request: &mut ModelRequest, budget: u64) -> Fitted {
    let mut fitted = Fitted {
        estimated_tokens: estimate_request_tokens(request),
        ..Fitted::default()
    };
    for pass in [Pass::ToolResults, Pass::ToolArguments] {
        for keep in (1..=KEEP_RECENT_RESULTS).rev() {
            if fitted.estimated_tokens <= budget {
                return fitted;
            }
            elide_before(
                request,
                protected_start(&request.messages, keep),
                pass,
                budget,
                &mut fitted,
            );
        }
    }
    fitted
}

/// Elides `pass` content in messages before `end`, oldest first, until the budget is met.
fn elide_before(
    request: &mut ModelRequest,
    end: usize,
    pass: Pass,
    budget: u64,
    fitted: &mut Fitted,
) {
    for index in 0..end {
        if fitted.estimated_tokens <= budget {
            return;
        }
        let mut changed = 0;
        for block in &mut request.messages[index].content {
            changed += usize::from(elide(block, pass));
        }
        if changed > 0 {
            match pass {
                Pass::ToolResults => fitted.results_elided += changed,
                Pass::ToolArguments => fitted.arguments_elided += changed,
            }
            fitted.estimated_tokens = estimate_request_tokens(request);
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pass {
    ToolResults,
    ToolArguments,
}

/// The index of the first message holding one of the last `keep` tool results; it and everything
/// after it stay whole.
fn protected_start(messages: &[Message], keep: usize) -> usize {
    let mut seen = 0;
    for (index, message) in messages.iter().enumerate().rev() {
        seen += message
            .content
            .iter()
            .filter(|b| matches!(b, ContentBlock::ToolResult { .. }))
            .count();
        if seen >= keep {
            return index;
        }
    }
    0
}

fn elide(block: &mut ContentBlock, pass: Pass) -> bool {
    match (block, pass) {
        (ContentBlock::ToolResult { content, .. }, Pass::ToolResults)
            if content.len() >= ELIDE_MIN_BYTES && !content.starts_with(MARKER_PREFIX) =>
        {
            *content = format!(
                "{MARKER_PREFIX} this tool output ({} bytes) was removed to keep the conversation within the model's context window; run the tool again if you need it]",
                content.len()
            );
            true
        }
        (ContentBlock::ToolUse(call), Pass::ToolArguments) => match &mut call.input {
            ToolInput::Json { value } => elide_long_strings(value),
            ToolInput::Malformed { raw, .. } if raw.len() >= ELIDE_MIN_BYTES => {
                *raw = format!(
                    "{MARKER_PREFIX} {} bytes of malformed arguments]",
                    raw.len()
                );
                true
            }
            ToolInput::Malformed { .. } => false,
        },
        _ => false,
    }
}

/// Replaces long strings inside tool arguments, keeping the JSON shape the provider expects.
fn elide_long_strings(value: &mut serde_json::Value) -> bool {
    match value {
        serde_json::Value::String(text)
            if text.len() >= ELIDE_MIN_BYTES && !text.starts_with(MARKER_PREFIX) =>
        {
            *text = format!("{MARKER_PREFIX} {} bytes]", text.len());
            true
        }
        serde_json::Value::Array(items) => {
            let mut any = false;
            for item in items {
                any |= elide_long_strings(item);
            }
            any
        }
        serde_json::Value::Object(map) => {
            let mut any = false;
            for item in map.values_mut() {
                any |= elide_long_strings(item);
            }
            any
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use drydock_model::{Role, ToolUse};
    use serde_json::json;

    use super::*;

    fn exchange(i: usize, output_bytes: usize) -> [Message; 2] {
        [
            Message {
                role: Role::Assistant,
                content: vec![ContentBlock::ToolUse(ToolUse {
                    id: format!("call_{i}"),
                    name: "write_file".into(),
                    input: ToolInput::Json {
                        value: json!({"path": format!("f{i}"), "content": "w".repeat(2000)}),
                    },
                })],
            },
            Message {
                role: Role::User,
                content: vec![ContentBlock::ToolResult {
                    tool_use_id: format!("call_{i}"),
                    content: "r".repeat(output_bytes),
                    is_error: false,
                }],
            },
        ]
    }

    fn request(exchanges: usize) -> ModelRequest {
        let mut messages = vec![Message::user_text("the issue")];
        for i in 0..exchanges {
            messages.extend(exchange(i, 8000));
        }
        ModelRequest {
            system: "system".into(),
            messages,
            tools: vec![],
            max_output_tokens: 1000,
        }
    }

    fn result_text(request: &ModelRequest, message: usize) -> &str {
        match &request.messages[message].content[0] {
            ContentBlock::ToolResult { content, .. } => content,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn small_conversations_are_left_alone() {
        let mut req = request(3);
        let before = req.clone();
        let fitted = fit(&mut req, 1_000_000);
        assert_eq!(fitted.results_elided, 0);
        assert_eq!(req, before);
    }

    #[test]
    fn oldest_tool_outputs_go_first_and_recent_ones_stay() {
        let mut req = request(10);
        let full = estimate_request_tokens(&req);
        // Room for everything but about three outputs.
        let fitted = fit(&mut req, full - 5000);
        assert_eq!(fitted.results_elided, 3);
        assert_eq!(fitted.arguments_elided, 0);
        assert!(fitted.estimated_tokens <= full - 5000);
        assert!(result_text(&req, 2).starts_with(MARKER_PREFIX));
        assert!(result_text(&req, 6).starts_with(MARKER_PREFIX));
        assert_eq!(result_text(&req, 8), "r".repeat(8000));
        assert_eq!(result_text(&req, 20), "r".repeat(8000));
        // The issue is never touched.
        assert_eq!(req.messages[0], Message::user_text("the issue"));
    }

    #[test]
    fn a_small_window_keeps_fewer_recent_outputs_down_to_the_last_one() {
        let mut req = request(10);
        let full = estimate_request_tokens(&req);
        // Room for about two outputs only: eight go, the last two stay.
        let fitted = fit(&mut req, full - 15_000);
        assert_eq!(fitted.results_elided, 8);
        assert_eq!(fitted.arguments_elided, 0);
        assert_eq!(result_text(&req, 18), "r".repeat(8000));
        assert_eq!(result_text(&req, 20), "r".repeat(8000));
        assert!(result_text(&req, 16).starts_with(MARKER_PREFIX));
    }

    #[test]
    fn arguments_go_only_after_every_eligible_output() {
        let mut req = request(10);
        let fitted = fit(&mut req, 1);
        // Every output but the last goes first, then the calls' arguments.
        assert_eq!(fitted.results_elided, 9);
        assert!(fitted.arguments_elided >= 9);
        let ContentBlock::ToolUse(call) = &req.messages[1].content[0] else {
            panic!()
        };
        let ToolInput::Json { value } = &call.input else {
            panic!()
        };
        assert_eq!(value["path"], "f0");
        assert!(
            value["content"]
                .as_str()
                .unwrap()
                .starts_with(MARKER_PREFIX)
        );
        // The last exchange stays whole whatever the budget.
        assert_eq!(result_text(&req, 20), "r".repeat(8000));
    }

    #[test]
    fn fitting_twice_does_not_elide_markers() {
        let mut req = request(10);
        fit(&mut req, 1);
        let once = req.clone();
        let again = fit(&mut req, 1);
        assert_eq!(again.results_elided, 0);
        assert_eq!(again.arguments_elided, 0);
        assert_eq!(req, once);
    }
}
