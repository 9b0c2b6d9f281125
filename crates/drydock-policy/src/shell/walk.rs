//! Walks the syntax tree statement by statement, keeping the shell state that static analysis
//! can follow (variables, working directory, aliases, functions) and what feeds each command's
//! standard input.

use std::collections::BTreeSet;

use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};
use tree_sitter::Node;

use super::parse::{fielded_children, parse};
use super::state::{Input, MAX_VALUES, ShellState, Value};

/// Longest value a variable may hold before it counts as unknown.
const MAX_VALUE_BYTES: usize = 64 * 1024;
use super::word::Field;
use super::{AnalysisError, AnalysisLimits, CommandAnalysis, FileAccess, FileOperation};
use crate::paths::{self, PathInfo};

/// Most values one variable (or the working directory) may have before it counts as unknown.
/// The analysis in progress.
pub(crate) struct Analyzer {
    pub limits: AnalysisLimits,
    pub out: CommandAnalysis,
    /// Files a download tool wrote earlier in the line.
    pub downloads: Vec<PathInfo>,
    seen_accesses: HashSet<FileAccess>,
    pub(crate) visited: HashSet<usize>,
    /// What a command prints, by its index in `out.commands`, when statically known (`echo`
    /// and `printf` of literals, `cat` of a literal here-document).
    pub outputs: HashMap<usize, String>,
    /// Files written earlier in the line with known content, by display path.
    pub written: HashMap<String, String>,
    /// Links made earlier in the line: (link display path, absolute target).
    pub links: Vec<(String, String)>,
}

impl Analyzer {
    pub fn run(command: &str, limits: AnalysisLimits) -> Result<CommandAnalysis, AnalysisError> {
        if command.len() > limits.max_bytes {
            return Err(AnalysisError::Limit {
                message: format!(
                    "the command is {} bytes long; at most {} are analysed",
                    command.len(),
                    limits.max_bytes
                ),
            });
        }
        let mut analyzer = Analyzer {
            limits,
            out: CommandAnalysis::default(),
            downloads: Vec::new(),
            seen_accesses: HashSet::new(),
            visited: HashSet::new(),
            outputs: HashMap::new(),
            written: HashMap::new(),
            links: Vec::new(),
        };
        let mut st = ShellState::new();
        analyzer.source(command, &mut st, &Input::none(), 0)?;
        Ok(analyzer.out)
    }

    /// Analyses shell source text (the whole line, a `bash -c` string, an `eval`'s arguments).
    pub fn source(
        &mut self,
        text: &str,
        st: &mut ShellState,
        input: &Input,
        depth: u32,
    ) -> Result<(), AnalysisError> {
        if depth > self.limits.max_depth {
            return Err(AnalysisError::Limit {
                message: format!(
                    "commands nest more than {} levels deep",
                    self.limits.max_depth
                ),
            });
        }
        let parsed = parse(text)?;
        let outer_visited = std::mem::take(&mut self.visited);
        let root = parsed.tree.root_node();
        let result = self
            .statements(root, &parsed.source, st, input, depth)
            .and_then(|()| self.sweep_unvisited(root, &parsed.source, st, depth));
        self.visited = outer_visited;
        result
    }

    /// Any command the structural walk did not reach (in a construct it does not model) is
    /// still analysed, in the current state, so nothing runs unseen.
    fn sweep_unvisited(
        &mut self,
        node: Node,
        src: &str,
        st: &ShellState,
        depth: u32,
    ) -> Result<(), AnalysisError> {
        if matches!(
            node.kind(),
            "command" | "declaration_command" | "unset_command"
        ) && !self.visited.contains(&node.id())
        {
            let mut scratch = st.clone();
            self.statement(node, src, &mut scratch, &Input::none(), depth)?;
        }
        let mut cursor = node.walk();
        for child in node.named_children(&mut cursor) {
            // Nested sources are parsed on their own; substitutions share this tree.
            self.sweep_unvisited(child, src, st, depth)?;
        }
        Ok(())
    }

    pub fn record_access(&mut self, access: FileAccess) {
        if self.seen_accesses.insert(access.clone()) {
            self.out.file_accesses.push(access);
        }
    }

    /// Records `operation` on every place `field` may name.
    pub fn access(
        &mut self,
        field: &Field,
        st: &ShellState,
        operation: FileOperation,
        recursive: bool,
        program: &str,
    ) -> Vec<PathInfo> {
        let mut places = self.resolve(field, st);
        let linked = self.through_links(&places, st);
        places.extend(linked);
        for path in &places {
            self.record_access(FileAccess {
                path: path.clone(),
                operation,
                recursive,
                program: program.to_string(),
            });
        }
        places
    }

    /// The places a path word may name from the current directories.
    pub fn resolve(&self, field: &Field, st: &ShellState) -> Vec<PathInfo> {
        match st.cwds() {
            Some(cwds) => {
                let mut out: Vec<PathInfo> = cwds
                    .iter()
                    .flat_map(|cwd| paths::resolve(&field.text, &field.glob, Some(cwd), st.dotglob))
                    .collect();
                out.sort();
                out.dedup();
                out
            }
            None => paths::resolve(&field.text, &field.glob, None, st.dotglob),
        }
    }

    pub fn check_budget(&self) -> Result<(), AnalysisError> {
        if self.out.commands.len() >= self.limits.max_commands {
            return Err(AnalysisError::Limit {
                message: format!("more than {} commands", self.limits.max_commands),
            });
        }
        Ok(())
    }

    pub fn statements(
        &mut self,
        parent: Node,
        src: &str,
        st: &mut ShellState,
        input: &Input,
        depth: u32,
    ) -> Result<(), AnalysisError> {
        let mut cursor = parent.walk();
        let children: Vec<Node> = parent.named_children(&mut cursor).collect();
        for child in children {
            if is_statement(child.kind()) {
                self.statement(child, src, st, input, depth)?;
            }
        }
        Ok(())
    }

    pub(crate) fn statement(
        &mut self,
        node: Node,
        src: &str,
        st: &mut ShellState,
        input: &Input,
        depth: u32,
    ) -> Result<(), AnalysisError> {
        match node.kind() {
            "command" => self.command(node, src, st, input, &[], depth),
            "redirected_statement" => self.redirected(node, src, st, input, depth),
            "pipeline" => {
                let mut cursor = node.walk();
                let elements: Vec<Node> = node
                    .named_children(&mut cursor)
                    .filter(|c| is_statement(c.kind()))
                    .collect();
                self.pipeline(&elements, src, st, input, depth)
            }
            "list" | "program" | "do_group" | "else_clause" | "negated_command" => {
                self.statements(node, src, st, input, depth)
            }
            "compound_statement" => {
                let mut taint = BTreeSet::new();
                self.scan_non_statements(node, src, st, depth, &mut taint)?;
                self.statements(node, src, st, input, depth)
            }
            "subshell" => {
                let mut sub = st.clone();
                self.statements(node, src, &mut sub, input, depth)
            }
            "test_command" => {
                let mut taint = BTreeSet::new();
                self.scan_non_statements(node, src, st, depth, &mut taint)?;
                self.statements(node, src, st, input, depth)
            }
            "if_statement" | "while_statement" | "case_statement" | "elif_clause" => {
                self.branches(node, src, st, input, depth)
            }
            "for_statement" => self.for_loop(node, src, st, input, depth),
            "c_style_for_statement" => {
                let mut taint = BTreeSet::new();
                self.scan_non_statements(node, src, st, depth, &mut taint)?;
                let mut body = st.clone();
                self.statements(node, src, &mut body, input, depth)?;
                st.merge(&body);
                Ok(())
            }
            "function_definition" => self.function(node, src, st, depth),
            "declaration_command" | "unset_command" => self.declaration(node, src, st, depth),
            "variable_assignment" => self.assignment(node, src, st, depth),
            "variable_assignments" => {
                let mut cursor = node.walk();
                let children: Vec<Node> = node.named_children(&mut cursor).collect();
                for child in children {
                    self.assignment(child, src, st, depth)?;
                }
                Ok(())
            }
            "comment" => Ok(()),
            other => Err(AnalysisError::Parse {
                message: format!("the construct `{other}` is not supported"),
            }),
        }
    }

    /// Analyses substitutions in the parts of `node` that are not statements (conditions of
    /// `[[ ]]`, arithmetic, case patterns, loop headers).
    fn scan_non_statements(
        &mut self,
        node: Node,
        src: &str,
        st: &ShellState,
        depth: u32,
        taint: &mut BTreeSet<String>,
    ) -> Result<(), AnalysisError> {
        let mut cursor = node.walk();
        let children: Vec<Node> = node.named_children(&mut cursor).collect();
        for child in children {
            if is_statement(child.kind()) {
                continue;
            }
            match child.kind() {
                "command_substitution" | "process_substitution" => {
                    let programs = self.substitution(child, src, st, depth, &Input::none())?;
                    taint.extend(programs);
                }
                _ => self.scan_non_statements(child, src, st, depth, taint)?,
            }
        }
        Ok(())
    }

    /// `if`, `while`, `case`: every branch may or may not run.
    fn branches(
        &mut self,
        node: Node,
        src: &str,
        st: &mut ShellState,
        input: &Input,
        depth: u32,
    ) -> Result<(), AnalysisError> {
        let mut taint = BTreeSet::new();
        self.scan_non_statements(node, src, st, depth, &mut taint)?;
        let children = fielded_children(node);
        // Conditions run in order, in the current shell.
        for (field, child) in &children {
            if *field == Some("condition") && is_statement(child.kind()) {
                self.statement(*child, src, st, input, depth)?;
            }
        }
        let before = st.clone();
        for (field, child) in &children {
            if *field == Some("condition") || !child.is_named() {
                continue;
            }
            let mut branch = before.clone();
            match child.kind() {
                "case_item" | "elif_clause" | "else_clause" | "do_group" => {
                    let mut taint = BTreeSet::new();
                    self.scan_non_statements(*child, src, &branch, depth, &mut taint)?;
                    self.statements(*child, src, &mut branch, input, depth)?;
                }
                kind if is_statement(kind) => {
                    self.statement(*child, src, &mut branch, input, depth)?;
                }
                _ => continue,
            }
            st.merge(&branch);
        }
        Ok(())
    }

    fn for_loop(
        &mut self,
        node: Node,
        src: &str,
        st: &mut ShellState,
        input: &Input,
        depth: u32,
    ) -> Result<(), AnalysisError> {
        let mut taint = BTreeSet::new();
        let mut values: Option<Vec<String>> = Some(Vec::new());
        let mut saw_in = false;
        let children = fielded_children(node);
        for (field, child) in &children {
            if *field == Some("value") {
                saw_in = true;
                for alternative in self.expand_word(*child, src, st, depth, &mut taint)? {
                    for f in alternative {
                        match (&mut values, f.dynamic || f.has_glob()) {
                            (Some(list), false) => list.push(f.text),
                            _ => values = None,
                        }
                    }
                }
            }
        }
        let name = node
            .child_by_field_name("variable")
            .map(|n| src[n.byte_range()].to_string())
            .unwrap_or_default();
        let value = match values {
            Some(list) if saw_in && !list.is_empty() && list.len() <= MAX_VALUES => {
                Value::Known(list)
            }
            _ => Value::Unknown(taint),
        };
        let mut body = st.clone();
        body.set(&name, value);
        if let Some(do_group) = node.child_by_field_name("body") {
            self.statements(do_group, src, &mut body, input, depth)?;
        }
        st.merge(&body);
        Ok(())
    }

    fn function(
        &mut self,
        node: Node,
        src: &str,
        st: &mut ShellState,
        depth: u32,
    ) -> Result<(), AnalysisError> {
        if let Some(name) = node.child_by_field_name("name") {
            st.functions.insert(src[name.byte_range()].to_string());
        }
        // The body is checked where it is defined, with its arguments unknown.
        let mut body_state = st.clone();
        for i in 0..10 {
            body_state.set(&i.to_string(), Value::unknown());
        }
        let children = fielded_children(node);
        for (field, child) in children {
            match field {
                Some("body") => {
                    self.statement(child, src, &mut body_state, &Input::none(), depth)?
                }
                Some("redirect") => {
                    let mut input = Input::none();
                    self.redirect(child, src, &body_state, depth, "", &mut input)?;
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn assignment(
        &mut self,
        node: Node,
        src: &str,
        st: &mut ShellState,
        depth: u32,
    ) -> Result<(), AnalysisError> {
        if node.kind() != "variable_assignment" {
            return Ok(());
        }
        let (name, value) = self.assignment_value(node, src, st, depth)?;
        if let Some(name) = name {
            if name == "GLOBIGNORE" {
                // Setting GLOBIGNORE turns on dotglob.
                st.dotglob = true;
            }
            self.code_variable(&name, &value, st, depth)?;
            st.set(&name, value);
        }
        Ok(())
    }

    /// The name (absent for array elements) and value of `NAME=value` / `NAME+=value`.
    pub fn assignment_value(
        &mut self,
        node: Node,
        src: &str,
        st: &ShellState,
        depth: u32,
    ) -> Result<(Option<String>, Value), AnalysisError> {
        let name_node = node.child_by_field_name("name");
        let name = name_node
            .filter(|n| n.kind() == "variable_name")
            .map(|n| src[n.byte_range()].to_string());
        let append = src[node.byte_range()]
            .split_once('=')
            .is_some_and(|(lhs, _)| lhs.ends_with('+'));
        let mut taint = BTreeSet::new();
        let value = match node.child_by_field_name("value") {
            None => Value::known(""),
            Some(value_node) if value_node.kind() == "array" => {
                self.scan_substitutions(value_node, src, st, depth, &mut taint)?;
                Value::Unknown(taint)
            }
            Some(value_node) => {
                let fields = self.expand_single(value_node, src, st, depth, &mut taint)?;
                if fields.iter().any(|f| f.dynamic) {
                    Value::Unknown(taint)
                } else {
                    let mut values: Vec<String> = fields.into_iter().map(|f| f.text).collect();
                    values.dedup();
                    Value::Known(values)
                }
            }
        };
        let value = match (append, &name) {
            (true, Some(n)) => match (st.lookup(n), value) {
                (Value::Known(old), Value::Known(new)) if old.len() * new.len() <= MAX_VALUES => {
                    Value::Known(
                        old.iter()
                            .flat_map(|o| new.iter().map(move |v| format!("{o}{v}")))
                            .collect(),
                    )
                }
                (_, Value::Unknown(t)) => Value::Unknown(t),
                _ => Value::unknown(),
            },
            _ => value,
        };
        // Doubling a variable in a loop of assignments would grow without bound.
        let value = match value {
            Value::Known(values) if values.iter().any(|v| v.len() > MAX_VALUE_BYTES) => {
                Value::unknown()
            }
            other => other,
        };
        Ok((name, value))
    }

    /// `export`, `declare`, `local`, `readonly`, `typeset`, `unset`: assignments plus a command
    /// record (a bare `export -p` prints the environment).
    fn declaration(
        &mut self,
        node: Node,
        src: &str,
        st: &mut ShellState,
        depth: u32,
    ) -> Result<(), AnalysisError> {
        self.visited.insert(node.id());
        let keyword = node
            .child(0)
            .map(|k| src[k.byte_range()].to_string())
            .unwrap_or_default();
        let mut argv = vec![Field::literal(&keyword)];
        let mut taint = BTreeSet::new();
        let mut opaque_attributes = false;
        let mut cursor = node.walk();
        let children: Vec<Node> = node.named_children(&mut cursor).collect();
        for child in children {
            match child.kind() {
                "variable_assignment" => {
                    let (name, value) = self.assignment_value(child, src, st, depth)?;
                    if let Some(name) = name {
                        let value = if opaque_attributes {
                            Value::unknown()
                        } else {
                            value
                        };
                        self.code_variable(&name, &value, st, depth)?;
                        st.set(&name, value);
                        argv.push(Field::literal(&name));
                    }
                }
                "variable_name" => {
                    let name = &src[child.byte_range()];
                    if keyword == "unset" {
                        st.set(name, Value::known(""));
                    } else if keyword == "local" || opaque_attributes {
                        st.set(name, Value::unknown());
                    }
                    argv.push(Field::literal(name));
                }
                _ => {
                    for alternative in self.expand_word(child, src, st, depth, &mut taint)? {
                        for field in alternative {
                            // Namerefs, integers and arrays change what later reads mean.
                            if field.text.starts_with('-')
                                && field.text.contains(['n', 'i', 'a', 'A', 'f'])
                            {
                                opaque_attributes = true;
                            }
                            if keyword == "unset" && !field.text.starts_with('-') {
                                st.set(&field.text, Value::known(""));
                            }
                            argv.push(field);
                        }
                    }
                }
            }
        }
        self.analyze_argv(argv, &Input::none(), st, &[], depth, taint)
    }
}

/// The last path component of a program path.
pub(crate) fn basename(path: &str) -> String {
    path.rsplit('/').next().unwrap_or(path).to_string()
}

pub(crate) fn is_statement(kind: &str) -> bool {
    matches!(
        kind,
        "command"
            | "redirected_statement"
            | "pipeline"
            | "list"
            | "subshell"
            | "compound_statement"
            | "if_statement"
            | "while_statement"
            | "for_statement"
            | "c_style_for_statement"
            | "case_statement"
            | "function_definition"
            | "negated_command"
            | "test_command"
            | "declaration_command"
            | "unset_command"
            | "variable_assignment"
            | "variable_assignments"
            | "comment"
    )
}
