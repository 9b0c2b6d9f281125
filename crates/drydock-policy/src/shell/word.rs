//! Word expansion as bash performs it, as far as it can be done statically: quote removal,
//! brace expansion, tilde expansion, known variables, field splitting and glob detection.
//! Anything unknowable becomes [`DYNAMIC`].

use std::collections::BTreeSet;

use tree_sitter::Node;

use super::AnalysisError;
use super::brace::{brace_expand, decode_ansi_c, is_special};
pub(crate) use super::field::Field;
use super::field::{join_items, split_fields};
use super::state::{Input, ShellState, Value};
use super::walk::Analyzer;
use crate::paths::{DYNAMIC, HOME};

/// One element of a word before fields are formed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Item {
    /// A character; `quoted` ones are never special, `expanded` ones came from an expansion
    /// (subject to field splitting, never to brace or tilde expansion).
    Char {
        c: char,
        quoted: bool,
        expanded: bool,
    },
    /// A variable with several possible values.
    Multi { values: Vec<String>, quoted: bool },
    /// Unknown content.
    Dynamic { quoted: bool },
    /// An empty quoted string: keeps an otherwise empty word alive.
    QuotedEmpty,
}

impl Item {
    /// `text` as quoted literal characters (never special, not from an expansion).
    pub(crate) fn literal(text: &str) -> Vec<Item> {
        text.chars()
            .map(|c| Item::Char {
                c,
                quoted: true,
                expanded: false,
            })
            .collect()
    }
}

/// The alternatives a word may expand to; each alternative is a list of fields.
pub(crate) type Alternatives = Vec<Vec<Field>>;

/// Most alternatives a word may have before its varying parts are treated as unknown.
const MAX_ALTERNATIVES: usize = 16;

impl Analyzer {
    /// Expands the word `node` into its alternatives; substitutions inside are analysed as
    /// commands, and the programs they run are added to `taint`.
    pub(crate) fn expand_word(
        &mut self,
        node: Node,
        src: &str,
        st: &ShellState,
        depth: u32,
        taint: &mut BTreeSet<String>,
    ) -> Result<Alternatives, AnalysisError> {
        let raw = &src[node.byte_range()];
        let single_word = node.kind() == "word"
            || (node.kind() == "command_name"
                && node.named_child_count() == 1
                && node.named_child(0).is_some_and(|c| c.kind() == "word"));
        let plain = single_word && !raw.contains('\\');
        let mut items = Vec::new();
        self.word_items(node, src, st, depth, taint, false, &mut items)?;
        let mut alternatives = Vec::new();
        for variant in substitute_multi(items) {
            let mut fields = Vec::new();
            for braced in brace_expand(&variant, self.limits.max_brace_words)? {
                let tilded = expand_tilde(braced, st);
                fields.extend(split_fields(&tilded, st, raw, plain));
            }
            alternatives.push(fields);
        }
        Ok(alternatives)
    }

    /// Expands a word that must be a single string (assignment values, redirection targets,
    /// here-strings): no field splitting and no brace expansion, as bash does there.
    pub(crate) fn expand_single(
        &mut self,
        node: Node,
        src: &str,
        st: &ShellState,
        depth: u32,
        taint: &mut BTreeSet<String>,
    ) -> Result<Vec<Field>, AnalysisError> {
        let raw = &src[node.byte_range()];
        let mut items = Vec::new();
        self.word_items(node, src, st, depth, taint, false, &mut items)?;
        let mut out = Vec::new();
        for variant in substitute_multi(items) {
            let tilded = expand_tilde(variant, st);
            out.push(join_items(&tilded, raw));
        }
        Ok(out)
    }

    #[allow(clippy::too_many_arguments)]
    fn word_items(
        &mut self,
        node: Node,
        src: &str,
        st: &ShellState,
        depth: u32,
        taint: &mut BTreeSet<String>,
        quoted: bool,
        out: &mut Vec<Item>,
    ) -> Result<(), AnalysisError> {
        let text = &src[node.byte_range()];
        match node.kind() {
            "word"
            | "number"
            | "extglob_pattern"
            | "regex"
            | "variable_name"
            | "heredoc_start"
            | "special_variable_name"
            | "test_operator"
            | "brace_expression"
            | "file_descriptor"
                if node.named_child_count() == 0 =>
            {
                if quoted {
                    push_quoted(out, text);
                } else {
                    push_unquoted_word(out, text);
                }
            }
            "raw_string" => {
                let inner = text
                    .strip_prefix('\'')
                    .and_then(|t| t.strip_suffix('\''))
                    .unwrap_or(text);
                push_quoted_or_empty(out, inner);
            }
            "ansi_c_string" => {
                let inner = text
                    .strip_prefix("$'")
                    .and_then(|t| t.strip_suffix('\''))
                    .unwrap_or(text);
                push_quoted_or_empty(out, &decode_ansi_c(inner));
            }
            "string" | "translated_string" => {
                let before = out.len();
                self.string_items(node, src, st, depth, taint, out)?;
                if out.len() == before {
                    out.push(Item::QuotedEmpty);
                }
            }
            "simple_expansion" | "expansion" => {
                let value = self.expansion_value(node, src, st, depth, taint)?;
                push_value(out, value, quoted, taint);
            }
            "command_substitution" => {
                let programs = self.substitution(node, src, st, depth, &Input::none())?;
                taint.extend(programs);
                out.push(Item::Dynamic { quoted });
            }
            "process_substitution" => {
                let writes_into = text.starts_with(">(");
                let input = if writes_into {
                    Input::opaque_pipe(BTreeSet::from(["<process-substitution>".to_string()]))
                } else {
                    Input::none()
                };
                let programs = self.substitution(node, src, st, depth, &input)?;
                taint.extend(programs);
                // The word becomes a /dev/fd path.
                push_quoted(out, "/dev/fd/63");
            }
            "arithmetic_expansion" => {
                self.scan_substitutions(node, src, st, depth, taint)?;
                out.push(Item::Dynamic { quoted });
            }
            "concatenation" | "command_name" | "number" | "word" | "brace_expression" => {
                let mut cursor = node.walk();
                let mut last_end = node.start_byte();
                for child in node.children(&mut cursor) {
                    if child.start_byte() > last_end {
                        push_gap(out, &src[last_end..child.start_byte()], quoted);
                    }
                    self.word_items(child, src, st, depth, taint, quoted, out)?;
                    last_end = child.end_byte();
                }
                if node.end_byte() > last_end {
                    push_gap(out, &src[last_end..node.end_byte()], quoted);
                }
            }
            _ if !node.is_named() => {
                // Punctuation inside a word, such as a lone `$`.
                if quoted {
                    push_quoted(out, text);
                } else {
                    push_unquoted_word(out, text);
                }
            }
            _ => {
                // Arrays and other constructs: their value is not modelled, but what they run is.
                self.scan_substitutions(node, src, st, depth, taint)?;
                out.push(Item::Dynamic { quoted });
            }
        }
        Ok(())
    }

    fn string_items(
        &mut self,
        node: Node,
        src: &str,
        st: &ShellState,
        depth: u32,
        taint: &mut BTreeSet<String>,
        out: &mut Vec<Item>,
    ) -> Result<(), AnalysisError> {
        // The string's own node for `$"..."` wraps a plain string.
        if node.kind() == "translated_string" {
            let mut cursor = node.walk();
            for child in node.named_children(&mut cursor) {
                self.string_items(child, src, st, depth, taint, out)?;
            }
            return Ok(());
        }
        let start = node.start_byte() + 1;
        let end = node.end_byte().saturating_sub(1).max(start);
        let mut last = start;
        let mut cursor = node.walk();
        for child in node.named_children(&mut cursor) {
            if child.start_byte() > last {
                push_double_quoted(out, &src[last..child.start_byte()]);
            }
            if child.kind() == "string_content" {
                push_double_quoted(out, &src[child.byte_range()]);
            } else {
                self.word_items(child, src, st, depth, taint, true, out)?;
            }
            last = child.end_byte();
        }
        if end > last {
            push_double_quoted(out, &src[last..end]);
        }
        Ok(())
    }

    fn expansion_value(
        &mut self,
        node: Node,
        src: &str,
        st: &ShellState,
        depth: u32,
        taint: &mut BTreeSet<String>,
    ) -> Result<Value, AnalysisError> {
        let text = &src[node.byte_range()];
        if node.kind() == "simple_expansion" {
            let name = text.trim_start_matches('$');
            return Ok(st.lookup(name));
        }
        // `${NAME}` and `${NAME:-word}` / `${NAME-word}` are modelled; other operators are not.
        let inner = text
            .strip_prefix("${")
            .and_then(|t| t.strip_suffix('}'))
            .unwrap_or("");
        let name_end = inner
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(inner.len());
        let (name, rest) = inner.split_at(name_end);
        if !name.is_empty() && rest.is_empty() {
            return Ok(st.lookup(name));
        }
        self.scan_substitutions(node, src, st, depth, taint)?;
        if !name.is_empty() && (rest.starts_with(":-") || rest.starts_with('-')) {
            let default = rest.trim_start_matches(':').trim_start_matches('-');
            let simple_default = !default.contains(['$', '`', '\\', '"', '\'', '{', '}']);
            return Ok(match (st.lookup(name), simple_default) {
                (Value::Known(values), true) => {
                    let mut out: Vec<String> = values
                        .into_iter()
                        .map(|v| if v.is_empty() { default.to_string() } else { v })
                        .collect();
                    out.dedup();
                    Value::Known(out)
                }
                (Value::Unknown(t), _) => Value::Unknown(t),
                (Value::Known(_), false) => Value::Unknown(BTreeSet::new()),
            });
        }
        Ok(Value::Unknown(BTreeSet::new()))
    }

    /// Analyses every command or process substitution below `node` (in words the analysis does
    /// not otherwise model), adding what they run to `taint`.
    pub(crate) fn scan_substitutions(
        &mut self,
        node: Node,
        src: &str,
        st: &ShellState,
        depth: u32,
        taint: &mut BTreeSet<String>,
    ) -> Result<(), AnalysisError> {
        let mut cursor = node.walk();
        for child in node.named_children(&mut cursor) {
            match child.kind() {
                "command_substitution" | "process_substitution" => {
                    let programs = self.substitution(child, src, st, depth, &Input::none())?;
                    taint.extend(programs);
                }
                _ => self.scan_substitutions(child, src, st, depth, taint)?,
            }
        }
        Ok(())
    }
}

fn push_value(out: &mut Vec<Item>, value: Value, quoted: bool, taint: &mut BTreeSet<String>) {
    match value {
        Value::Known(values) if values.len() == 1 => {
            let text = &values[0];
            if text.is_empty() && quoted {
                out.push(Item::QuotedEmpty);
            }
            for c in text.chars() {
                out.push(Item::Char {
                    c,
                    quoted: quoted || c == HOME || c == DYNAMIC,
                    expanded: true,
                });
            }
        }
        Value::Known(values) => out.push(Item::Multi { values, quoted }),
        Value::Unknown(programs) => {
            taint.extend(programs);
            out.push(Item::Dynamic { quoted });
        }
    }
}

fn push_quoted(out: &mut Vec<Item>, text: &str) {
    for c in text.chars() {
        out.push(Item::Char {
            c,
            quoted: true,
            expanded: false,
        });
    }
}

fn push_quoted_or_empty(out: &mut Vec<Item>, text: &str) {
    if text.is_empty() {
        out.push(Item::QuotedEmpty);
    }
    push_quoted(out, text);
}

fn push_gap(out: &mut Vec<Item>, text: &str, quoted: bool) {
    if quoted {
        push_quoted(out, text);
    } else {
        push_unquoted_word(out, text);
    }
}

/// Unquoted text: a backslash quotes the next character.
fn push_unquoted_word(out: &mut Vec<Item>, text: &str) {
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('\n') => {}
                Some(next) => out.push(Item::Char {
                    c: next,
                    quoted: true,
                    expanded: false,
                }),
                None => out.push(Item::Char {
                    c,
                    quoted: true,
                    expanded: false,
                }),
            }
        } else {
            out.push(Item::Char {
                c,
                quoted: false,
                expanded: false,
            });
        }
    }
}

/// Text inside double quotes: a backslash escapes only `$`, `` ` ``, `"`, `\` and newline.
fn push_double_quoted(out: &mut Vec<Item>, text: &str) {
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.peek() {
                Some('$' | '`' | '"' | '\\') => {
                    let next = chars.next().unwrap_or('\\');
                    out.push(Item::Char {
                        c: next,
                        quoted: true,
                        expanded: false,
                    });
                    continue;
                }
                Some('\n') => {
                    chars.next();
                    continue;
                }
                _ => {}
            }
        }
        out.push(Item::Char {
            c,
            quoted: true,
            expanded: false,
        });
    }
}

/// Replaces variables with several values by one alternative per combination; beyond
/// [`MAX_ALTERNATIVES`] they become unknown.
fn substitute_multi(items: Vec<Item>) -> Vec<Vec<Item>> {
    let combinations: usize = items
        .iter()
        .map(|item| match item {
            Item::Multi { values, .. } => values.len().max(1),
            _ => 1,
        })
        .try_fold(1usize, |acc, n| acc.checked_mul(n))
        .unwrap_or(usize::MAX);
    if combinations == 1 {
        return vec![items];
    }
    if combinations > MAX_ALTERNATIVES {
        return vec![
            items
                .into_iter()
                .map(|item| match item {
                    Item::Multi { quoted, .. } => Item::Dynamic { quoted },
                    other => other,
                })
                .collect(),
        ];
    }
    let mut out: Vec<Vec<Item>> = vec![Vec::new()];
    for item in items {
        match item {
            Item::Multi { values, quoted } => {
                let mut next = Vec::new();
                for prefix in &out {
                    for value in &values {
                        let mut extended = prefix.clone();
                        if value.is_empty() && quoted {
                            extended.push(Item::QuotedEmpty);
                        }
                        extended.extend(value.chars().map(|c| Item::Char {
                            c,
                            quoted: quoted || c == HOME || c == DYNAMIC,
                            expanded: true,
                        }));
                        next.push(extended);
                    }
                }
                out = next;
            }
            other => {
                for prefix in &mut out {
                    prefix.push(other.clone());
                }
            }
        }
    }
    out
}

/// `~`, `~/x`, `~user/x`, `~+` and `~-` at the start of a word.
fn expand_tilde(items: Vec<Item>, st: &ShellState) -> Vec<Item> {
    if !is_special_literal(items.first(), '~') {
        return items;
    }
    let end = items
        .iter()
        .position(|item| is_special_literal(Some(item), '/'))
        .unwrap_or(items.len());
    let mut prefix = String::new();
    for item in &items[1..end] {
        match item {
            Item::Char {
                c,
                quoted: false,
                expanded: false,
            } => prefix.push(*c),
            // A quoted or expanded character in the prefix disables tilde expansion.
            _ => return items,
        }
    }
    let replacement: Vec<Item> = match prefix.as_str() {
        "+" => match st.lookup("PWD") {
            Value::Known(values) if values.len() == 1 => Item::literal(&values[0]),
            _ => vec![Item::Dynamic { quoted: true }],
        },
        "-" => vec![Item::Dynamic { quoted: true }],
        // `~` is $HOME as the shell holds it (reassigning HOME moves it).
        "" => match st.lookup("HOME") {
            Value::Known(values) if values.len() == 1 => Item::literal(&values[0]),
            Value::Known(values) => vec![Item::Multi {
                values,
                quoted: true,
            }],
            Value::Unknown(_) => vec![Item::Dynamic { quoted: true }],
        },
        _ => vec![Item::Char {
            c: HOME,
            quoted: true,
            expanded: false,
        }],
    };
    let mut out = replacement;
    out.extend_from_slice(&items[end..]);
    out
}

fn is_special_literal(item: Option<&Item>, want: char) -> bool {
    item.is_some_and(|item| is_special(item, want))
}
