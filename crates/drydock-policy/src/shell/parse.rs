//! Parsing with tree-sitter-bash, guarded against the places where its grammar and bash differ.

use std::cell::RefCell;

use tree_sitter::{Node, Parser, Tree};

use super::AnalysisError;

thread_local! {
    static PARSER: RefCell<Option<Parser>> = const { RefCell::new(None) };
}

/// A parsed command line: the source actually parsed (after line continuations are joined) and
/// its syntax tree.
pub(crate) struct Parsed {
    pub source: String,
    pub tree: Tree,
}

/// Parses `source` as bash. Line continuations are joined first, because tree-sitter-bash splits
/// `r\<newline>m` into two words where bash sees `rm`; then any syntax error, and any two words
/// the grammar separated without whitespace between them (bash would have joined them), is a
/// parse failure.
pub(crate) fn parse(source: &str) -> Result<Parsed, AnalysisError> {
    if source.contains('\0') {
        return Err(AnalysisError::Parse {
            message: "the command holds a NUL byte".to_string(),
        });
    }
    let first = parse_tree(source)?;
    let joined = join_line_continuations(source, &first);
    let (source, tree) = match joined {
        Some(joined) => {
            let tree = parse_tree(&joined)?;
            (joined, tree)
        }
        None => (source.to_string(), first),
    };
    check_errors(tree.root_node(), &source)?;
    check_word_boundaries(tree.root_node(), &source)?;
    Ok(Parsed { source, tree })
}

fn parse_tree(source: &str) -> Result<Tree, AnalysisError> {
    PARSER.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            let mut parser = Parser::new();
            parser
                .set_language(&tree_sitter_bash::LANGUAGE.into())
                .map_err(|e| AnalysisError::Parse {
                    message: format!("the bash grammar cannot be loaded: {e}"),
                })?;
            *slot = Some(parser);
        }
        let parser = slot.as_mut().ok_or_else(|| AnalysisError::Parse {
            message: "the bash parser is unavailable".to_string(),
        })?;
        parser
            .parse(source, None)
            .ok_or_else(|| AnalysisError::Parse {
                message: "the parser gave up".to_string(),
            })
    })
}

/// Joins `\<newline>` outside single quotes, ANSI-C strings, comments and here-document bodies,
/// as bash's reader does. Returns `None` when there is nothing to join.
fn join_line_continuations(source: &str, tree: &Tree) -> Option<String> {
    if !source.contains("\\\n") {
        return None;
    }
    let mut protected: Vec<(usize, usize)> = Vec::new();
    collect_protected(tree.root_node(), &mut protected);
    let bytes = source.as_bytes();
    let mut remove = vec![false; bytes.len()];
    let mut any = false;
    for (i, &b) in bytes.iter().enumerate() {
        if b != b'\n' || i == 0 {
            continue;
        }
        if protected.iter().any(|&(start, end)| i >= start && i < end) {
            continue;
        }
        let backslashes = bytes[..i].iter().rev().take_while(|&&c| c == b'\\').count();
        if backslashes % 2 == 1 {
            remove[i - 1] = true;
            remove[i] = true;
            any = true;
        }
    }
    if !any {
        return None;
    }
    let kept: Vec<u8> = bytes
        .iter()
        .zip(&remove)
        .filter(|(_, r)| !**r)
        .map(|(b, _)| *b)
        .collect();
    // Only ASCII bytes were removed, so the rest is still UTF-8.
    String::from_utf8(kept).ok()
}

fn collect_protected(node: Node, out: &mut Vec<(usize, usize)>) {
    match node.kind() {
        "raw_string" | "ansi_c_string" | "comment" | "heredoc_body" | "heredoc_content" => {
            out.push((node.start_byte(), node.end_byte()));
            return;
        }
        _ => {}
    }
    let mut cursor = node.walk();
    for child in node.children(&mut cursor) {
        collect_protected(child, out);
    }
}

fn check_errors(root: Node, source: &str) -> Result<(), AnalysisError> {
    if !root.has_error() {
        return Ok(());
    }
    let bad = find_error(root).unwrap_or(root);
    let start = bad.start_byte();
    let snippet: String = source[start..].chars().take(40).collect();
    let what = if bad.is_missing() {
        format!("missing `{}`", bad.kind())
    } else {
        "unexpected input".to_string()
    };
    Err(AnalysisError::Parse {
        message: format!("{what} at byte {start} near {snippet:?}"),
    })
}

fn find_error(node: Node) -> Option<Node> {
    if node.is_error() || node.is_missing() {
        return Some(node);
    }
    let mut cursor = node.walk();
    for child in node.children(&mut cursor) {
        if child.has_error()
            && let Some(found) = find_error(child)
        {
            return Some(found);
        }
    }
    None
}

/// Words of one command must be separated by blanks. tree-sitter-bash sometimes splits a single
/// bash word in two (`rm$IFS-rf$IFS/` becomes `rm$IFS-rf$` and `IFS/`); when two words touch,
/// the grammar and bash disagree, so the command is refused.
///
/// One cursor walks the whole tree: asking a node for a child's field name walks its children
/// again each time, which made this check a sixth of a decision.
fn check_word_boundaries(root: Node, source: &str) -> Result<(), AnalysisError> {
    let mut cursor = root.walk();
    loop {
        let node = cursor.node();
        if matches!(
            node.kind(),
            "command" | "declaration_command" | "unset_command" | "for_statement"
        ) {
            check_command_words(node, source)?;
        }
        if cursor.goto_first_child() {
            continue;
        }
        loop {
            if cursor.goto_next_sibling() {
                break;
            }
            if !cursor.goto_parent() {
                return Ok(());
            }
        }
    }
}

/// The words of one command, `node`, must not touch.
fn check_command_words(node: Node, source: &str) -> Result<(), AnalysisError> {
    let mut cursor = node.walk();
    if !cursor.goto_first_child() {
        return Ok(());
    }
    let mut previous: Option<Node> = None;
    loop {
        let child = cursor.node();
        let is_word = matches!(cursor.field_name(), Some("name" | "argument" | "value"))
            || (node.kind() != "command" && is_word_kind(child.kind()));
        if !is_word {
            previous = None;
        } else {
            if let Some(prev) = previous
                && prev.end_byte() == child.start_byte()
            {
                let snippet: String = source[prev.start_byte()..child.end_byte()]
                    .chars()
                    .take(40)
                    .collect();
                return Err(AnalysisError::Parse {
                    message: format!(
                        "the word {snippet:?} would be split where bash does not split it \
                         (the parser and bash disagree); write it more plainly"
                    ),
                });
            }
            previous = Some(child);
        }
        if !cursor.goto_next_sibling() {
            return Ok(());
        }
    }
}

fn is_word_kind(kind: &str) -> bool {
    matches!(
        kind,
        "word"
            | "string"
            | "raw_string"
            | "ansi_c_string"
            | "translated_string"
            | "concatenation"
            | "simple_expansion"
            | "expansion"
            | "command_substitution"
            | "process_substitution"
            | "arithmetic_expansion"
            | "number"
            | "brace_expression"
            | "$"
    )
}

/// The children of `node`, each with the field it fills. One cursor walk: asking the node for
/// each child's field name walks its children again every time.
pub(crate) fn fielded_children<'tree>(node: Node<'tree>) -> Vec<(Option<&'tree str>, Node<'tree>)> {
    let mut cursor = node.walk();
    let mut children = Vec::with_capacity(node.child_count() as usize);
    if cursor.goto_first_child() {
        loop {
            children.push((cursor.field_name(), cursor.node()));
            if !cursor.goto_next_sibling() {
                break;
            }
        }
    }
    children
}

/// The children of `node` that fill `field`, in order.
pub(crate) fn field_children<'tree>(node: Node<'tree>, field: &str) -> Vec<Node<'tree>> {
    fielded_children(node)
        .into_iter()
        .filter(|(name, _)| *name == Some(field))
        .map(|(_, child)| child)
        .collect()
}
