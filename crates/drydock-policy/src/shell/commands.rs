//! Pipelines, redirections and simple commands: what each command reads from and writes to,
//! and what it runs.

use std::collections::BTreeSet;

use tree_sitter::Node;

use super::parse::{field_children, fielded_children};
use super::state::{Input, ShellState, Value};
use super::walk::{Analyzer, basename, is_statement};
use super::word::Field;
use super::{AnalysisError, FileOperation};
use crate::paths::PathInfo;

impl Analyzer {
    /// Analyses the statements inside `$(...)`, `` `...` `` or `<(...)` in a copy of the state;
    /// returns the programs they run.
    pub fn substitution(
        &mut self,
        node: Node,
        src: &str,
        st: &ShellState,
        depth: u32,
        input: &Input,
    ) -> Result<BTreeSet<String>, AnalysisError> {
        if depth + 1 > self.limits.max_depth {
            return Err(AnalysisError::Limit {
                message: format!(
                    "commands nest more than {} levels deep",
                    self.limits.max_depth
                ),
            });
        }
        let mark = self.out.commands.len();
        let mut sub = st.clone();
        let text = &src[node.byte_range()];
        if let Some(inner) = text.strip_prefix('`').and_then(|t| t.strip_suffix('`')) {
            // Inside backticks bash removes the backslash before `\`, `` ` `` and `$` and then
            // parses the text: nested backticks are escaped ones. Re-parsing that text finds
            // commands tree-sitter leaves inside a word.
            let mut unescaped = String::with_capacity(inner.len());
            let mut chars = inner.chars().peekable();
            while let Some(c) = chars.next() {
                if c == '\\'
                    && let Some(&next) = chars.peek()
                    && matches!(next, '\\' | '`' | '$')
                {
                    unescaped.push(next);
                    chars.next();
                    continue;
                }
                unescaped.push(c);
            }
            self.source(&unescaped, &mut sub, input, depth + 1)?;
            // The re-parse covered what tree-sitter saw inside: the sweep need not.
            self.mark_visited(node);
            return Ok(self.programs_since(mark));
        }
        let children = fielded_children(node);
        for (field, child) in children {
            if field == Some("redirect") {
                // `$(<file)` reads the file.
                let mut ignored = Input::none();
                self.redirect(child, src, &sub, depth + 1, "cat", &mut ignored)?;
            } else if is_statement(child.kind()) {
                self.statement(child, src, &mut sub, input, depth + 1)?;
            }
        }
        Ok(self.programs_since(mark))
    }

    /// Marks every command below `node` as analysed.
    fn mark_visited(&mut self, node: Node) {
        if matches!(
            node.kind(),
            "command" | "declaration_command" | "unset_command"
        ) {
            self.visited.insert(node.id());
        }
        let mut cursor = node.walk();
        let children: Vec<Node> = node.named_children(&mut cursor).collect();
        for child in children {
            self.mark_visited(child);
        }
    }

    /// Programs of the commands recorded since `mark`.
    pub fn programs_since(&self, mark: usize) -> BTreeSet<String> {
        self.out.commands[mark..]
            .iter()
            .map(|c| {
                if c.dynamic_program {
                    "<dynamic>".to_string()
                } else {
                    c.program.clone()
                }
            })
            .collect()
    }

    /// `a | b | c`: each element runs in its own subshell and reads what the earlier ones wrote.
    pub(crate) fn pipeline(
        &mut self,
        elements: &[Node],
        src: &str,
        st: &mut ShellState,
        input: &Input,
        depth: u32,
    ) -> Result<(), AnalysisError> {
        self.pipeline_with(elements, src, st, input, &[], depth)
    }

    /// A pipeline whose last element gets `last_redirects`.
    pub(crate) fn pipeline_with(
        &mut self,
        elements: &[Node],
        src: &str,
        st: &mut ShellState,
        input: &Input,
        last_redirects: &[Node],
        depth: u32,
    ) -> Result<(), AnalysisError> {
        let mut upstream = input.programs.clone();
        let mut echoed: Option<String> = None;
        for (index, element) in elements.iter().enumerate() {
            let element_input = if index == 0 {
                input.clone()
            } else {
                Input {
                    programs: upstream.clone(),
                    opaque: echoed.is_none(),
                    text: echoed.take(),
                    files: Vec::new(),
                }
            };
            let mark = self.out.commands.len();
            let mut sub = st.clone();
            if index + 1 == elements.len() && !last_redirects.is_empty() {
                self.with_redirects(
                    *element,
                    src,
                    &mut sub,
                    &element_input,
                    last_redirects,
                    depth,
                )?;
            } else {
                self.statement(*element, src, &mut sub, &element_input, depth)?;
            }
            upstream.extend(self.programs_since(mark));
            echoed = self.echoed_text(mark);
        }
        Ok(())
    }

    /// When the commands since `mark` are exactly one whose output is known (`echo 'rm -rf /'`),
    /// that output, so a shell reading it can be checked.
    pub(crate) fn echoed_text(&self, mark: usize) -> Option<String> {
        if self.out.commands.len() != mark + 1 {
            return None;
        }
        self.outputs.get(&mark).cloned()
    }

    pub(crate) fn redirected(
        &mut self,
        node: Node,
        src: &str,
        st: &mut ShellState,
        input: &Input,
        depth: u32,
    ) -> Result<(), AnalysisError> {
        let mark = self.out.commands.len();
        let body = node.child_by_field_name("body");
        let redirects: Vec<Node> = fielded_children(node)
            .into_iter()
            .filter(|(field, c)| *field == Some("redirect") || c.kind() == "herestring_redirect")
            .map(|(_, c)| c)
            .collect();
        match body {
            Some(body) => self.with_redirects(body, src, st, input, &redirects, depth)?,
            None => {
                let mut ignored = input.clone();
                for redirect in &redirects {
                    self.redirect(*redirect, src, st, depth, "sh", &mut ignored)?;
                }
            }
        }
        // A here-document can carry the rest of its line: `cat <<EOF | sh`, `cat <<EOF && x`.
        for redirect in &redirects {
            if redirect.kind() != "heredoc_redirect" {
                continue;
            }
            let parts = fielded_children(*redirect);
            for (field, part) in parts {
                if part.kind() == "pipeline" {
                    // The body's commands feed the first element of this pipeline.
                    let upstream = self.programs_since(mark);
                    let mut cursor = part.walk();
                    let elements: Vec<Node> = part
                        .named_children(&mut cursor)
                        .filter(|c| is_statement(c.kind()))
                        .collect();
                    let piped = match self.echoed_text(mark) {
                        Some(text) => Input {
                            programs: upstream,
                            text: Some(text),
                            opaque: false,
                            files: Vec::new(),
                        },
                        None => Input::opaque_pipe(upstream),
                    };
                    self.pipeline(&elements, src, st, &piped, depth)?;
                } else if field == Some("right") && is_statement(part.kind()) {
                    self.statement(part, src, st, input, depth)?;
                }
            }
        }
        Ok(())
    }

    /// Runs `node` with `redirects` attached. tree-sitter-bash hangs trailing redirections on a
    /// whole list or pipeline (`cd x && echo > f`), but bash gives them to its last command,
    /// which runs after the `cd`; so they are pushed down to it.
    pub(crate) fn with_redirects(
        &mut self,
        node: Node,
        src: &str,
        st: &mut ShellState,
        input: &Input,
        redirects: &[Node],
        depth: u32,
    ) -> Result<(), AnalysisError> {
        match node.kind() {
            "command" => self.command(node, src, st, input, redirects, depth),
            "list" => {
                let mut cursor = node.walk();
                let children: Vec<Node> = node
                    .named_children(&mut cursor)
                    .filter(|c| is_statement(c.kind()) && c.kind() != "comment")
                    .collect();
                let Some((last, rest)) = children.split_last() else {
                    return Ok(());
                };
                for child in rest {
                    self.statement(*child, src, st, input, depth)?;
                }
                self.with_redirects(*last, src, st, input, redirects, depth)
            }
            "pipeline" => {
                let mut cursor = node.walk();
                let elements: Vec<Node> = node
                    .named_children(&mut cursor)
                    .filter(|c| is_statement(c.kind()))
                    .collect();
                self.pipeline_with(&elements, src, st, input, redirects, depth)
            }
            "negated_command" => {
                let mut cursor = node.walk();
                let children: Vec<Node> = node
                    .named_children(&mut cursor)
                    .filter(|c| is_statement(c.kind()))
                    .collect();
                for child in children {
                    self.with_redirects(child, src, st, input, redirects, depth)?;
                }
                Ok(())
            }
            _ => {
                let mut body_input = input.clone();
                for redirect in redirects {
                    self.redirect(*redirect, src, st, depth, "sh", &mut body_input)?;
                }
                self.statement(node, src, st, &body_input, depth)
            }
        }
    }

    /// One redirection of a command running `program`; updates `input` for `<`, here-documents
    /// and here-strings, records file accesses for the others.
    pub fn redirect(
        &mut self,
        node: Node,
        src: &str,
        st: &ShellState,
        depth: u32,
        program: &str,
        input: &mut Input,
    ) -> Result<Vec<PathInfo>, AnalysisError> {
        let mut taint = BTreeSet::new();
        let mut stdout_places = Vec::new();
        match node.kind() {
            "herestring_redirect" => {
                let mut cursor = node.walk();
                let words: Vec<Node> = node
                    .named_children(&mut cursor)
                    .filter(|c| c.kind() != "file_descriptor")
                    .collect();
                let mut text = String::new();
                let mut dynamic = false;
                for word in words {
                    for field in self.expand_single(word, src, st, depth, &mut taint)? {
                        dynamic |= field.dynamic;
                        text.push_str(&field.text);
                    }
                }
                *input = Input {
                    programs: taint,
                    opaque: dynamic,
                    text: (!dynamic).then(|| format!("{text}\n")),
                    files: Vec::new(),
                };
            }
            "heredoc_redirect" => {
                let delimiter = node
                    .named_children(&mut node.walk())
                    .find(|c| c.kind() == "heredoc_start")
                    .map(|c| src[c.byte_range()].to_string())
                    .unwrap_or_default();
                let quoted = delimiter.contains(['\'', '"', '\\']);
                let body = node
                    .named_children(&mut node.walk())
                    .find(|c| c.kind() == "heredoc_body");
                let mut text = String::new();
                let mut dynamic = false;
                if let Some(body) = body {
                    text = src[body.byte_range()].to_string();
                    if !quoted {
                        let mut cursor = body.walk();
                        dynamic = body
                            .named_children(&mut cursor)
                            .any(|c| c.kind() != "heredoc_content");
                        self.scan_substitutions(body, src, st, depth, &mut taint)?;
                    }
                }
                // Redirections written after the delimiter apply to the command too.
                let nested = field_children(node, "redirect");
                for redirect in nested {
                    let mut ignored = Input::none();
                    self.redirect(redirect, src, st, depth, program, &mut ignored)?;
                }
                *input = Input {
                    programs: taint,
                    opaque: dynamic,
                    text: (!dynamic).then_some(text),
                    files: Vec::new(),
                };
            }
            "file_redirect" => {
                let operator: String = node
                    .children(&mut node.walk())
                    .filter(|c| !c.is_named())
                    .map(|c| src[c.byte_range()].to_string())
                    .next()
                    .unwrap_or_default();
                let destinations = field_children(node, "destination");
                for destination in destinations {
                    let from_substitution = destination.kind() == "process_substitution";
                    let fields = self.expand_single(destination, src, st, depth, &mut taint)?;
                    let duplicating = matches!(operator.as_str(), ">&" | "<&" | ">&-" | "<&-");
                    for field in fields {
                        if duplicating
                            && (field.text == "-"
                                || (!field.text.is_empty()
                                    && field.text.chars().all(|c| c.is_ascii_digit())))
                        {
                            continue;
                        }
                        let reading = operator.starts_with('<') && operator != "<>";
                        if reading {
                            let places =
                                self.access(&field, st, FileOperation::Read, false, program);
                            input.files = places;
                            input.programs.extend(taint.iter().cloned());
                            if from_substitution || field.dynamic {
                                input.opaque = true;
                            }
                        } else {
                            let places =
                                self.access(&field, st, FileOperation::Write, false, program);
                            let descriptor = node
                                .child_by_field_name("descriptor")
                                .map(|d| &src[d.byte_range()]);
                            if matches!(descriptor, None | Some("1"))
                                && matches!(operator.as_str(), ">" | ">>" | ">|" | "&>" | "&>>")
                            {
                                stdout_places.extend(places.iter().cloned());
                            }
                            // `curl URL > x.sh` downloads x.sh.
                            if super::programs::is_fetcher(&super::programs::family(program)) {
                                self.downloads.extend(places);
                            }
                            if operator == "<>" {
                                self.access(&field, st, FileOperation::Read, false, program);
                            }
                        }
                    }
                }
            }
            _ => {}
        }
        Ok(stdout_places)
    }

    /// A simple command: its words, its redirections, then what it does.
    pub fn command(
        &mut self,
        node: Node,
        src: &str,
        st: &mut ShellState,
        input: &Input,
        extra_redirects: &[Node],
        depth: u32,
    ) -> Result<(), AnalysisError> {
        self.visited.insert(node.id());
        self.check_budget()?;
        reject_misparsed_keywords(node, src)?;
        let mut taint = BTreeSet::new();
        let children = fielded_children(node);
        let mut name_alternatives: Vec<Vec<Field>> = vec![Vec::new()];
        let mut args: Vec<Field> = Vec::new();
        let mut redirects: Vec<Node> = extra_redirects.to_vec();
        let mut prefix_env: Vec<(String, Value)> = Vec::new();
        for (field, child) in &children {
            match (*field, child.kind()) {
                (Some("name"), _) => {
                    name_alternatives = self.expand_word(*child, src, st, depth, &mut taint)?;
                }
                (Some("argument"), _) => {
                    for alternative in self.expand_word(*child, src, st, depth, &mut taint)? {
                        args.extend(alternative);
                    }
                }
                (Some("redirect"), _) => redirects.push(*child),
                (_, "variable_assignment") => {
                    let (name, value) = self.assignment_value(*child, src, st, depth)?;
                    if let Some(name) = name {
                        prefix_env.push((name, value));
                    }
                }
                (_, "subshell") => {
                    let mut sub = st.clone();
                    self.statements(*child, src, &mut sub, &Input::none(), depth)?;
                }
                (_, "herestring_redirect") => redirects.push(*child),
                _ => {}
            }
        }
        for (name, value) in &prefix_env {
            if let Value::Unknown(programs) = value {
                taint.extend(programs.iter().cloned());
            }
            self.code_variable(name, value, st, depth)?;
        }
        let first_program = name_alternatives
            .first()
            .and_then(|fields| fields.first())
            .or(args.first())
            .map(|f| basename(&f.shown()))
            .unwrap_or_default();
        let mut command_input = input.clone();
        let mut stdout_places = Vec::new();
        for redirect in redirects {
            stdout_places.extend(self.redirect(
                redirect,
                src,
                st,
                depth,
                &first_program,
                &mut command_input,
            )?);
        }
        for name_fields in name_alternatives {
            let mut argv = name_fields;
            argv.extend(args.iter().cloned());
            if argv.is_empty() {
                continue;
            }
            let index = self.out.commands.len();
            // Prefix assignments reach the program's environment, not this shell's variables.
            self.analyze_argv(argv, &command_input, st, &[], depth, taint.clone())?;
            self.remember_written(index, &stdout_places);
        }
        Ok(())
    }
}

/// Reserved words bash only accepts at the start of a compound command.
const RESERVED_WORDS: &[&str] = &[
    "if", "then", "else", "elif", "fi", "case", "esac", "for", "select", "while", "until", "do",
    "done", "in", "function", "{", "}", "!", "[[", "]]",
];

/// tree-sitter-bash does not know that `time` and `!` may prefix a compound command
/// (`time while …; do …; done`): it splits the loop into commands named `do` and `done`, with
/// the loop's commands as their arguments. A simple command named by an unquoted reserved
/// word, or `time`/`coproc`/`!` followed by one, is therefore a misparse: refused.
fn reject_misparsed_keywords(node: Node, src: &str) -> Result<(), AnalysisError> {
    let plain_word = |n: Node| -> Option<String> {
        let n = if n.kind() == "command_name" {
            n.named_child(0)?
        } else {
            n
        };
        (n.kind() == "word").then(|| src[n.byte_range()].to_string())
    };
    let name = node.child_by_field_name("name").and_then(plain_word);
    let first_argument = node
        .children_by_field_name("argument", &mut node.walk())
        .next()
        .and_then(plain_word);
    let misparsed = match (name.as_deref(), first_argument.as_deref()) {
        (Some(name), _) if RESERVED_WORDS.contains(&name) => Some(name.to_string()),
        (Some("time" | "coproc"), Some(word)) if RESERVED_WORDS.contains(&word) || word == "(" => {
            Some(format!("{} {word}", name.unwrap_or_default()))
        }
        _ => None,
    };
    match misparsed {
        Some(what) => Err(AnalysisError::Parse {
            message: format!(
                "`{what}` where a command should start: this form is not supported; write the \
                 compound command without the prefix"
            ),
        }),
        None => Ok(()),
    }
}
