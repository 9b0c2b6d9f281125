//! The shell state static analysis follows: variables, the working directory, aliases,
//! functions, and what feeds a command's standard input.

use std::collections::BTreeSet;

use foldhash::{HashMap, HashMapExt, HashSet};

use super::word::Field;
use crate::paths::{HOME, PathInfo, WORKSPACE_ROOT};

pub(crate) const MAX_VALUES: usize = 8;

/// What a variable holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Value {
    /// One of these strings.
    Known(Vec<String>),
    /// Anything; the programs whose output went into it.
    Unknown(BTreeSet<String>),
}

impl Value {
    pub fn known(text: impl Into<String>) -> Self {
        Value::Known(vec![text.into()])
    }

    pub fn unknown() -> Self {
        Value::Unknown(BTreeSet::new())
    }

    /// Either of two values (after branches that may or may not run).
    pub fn union(&self, other: &Value) -> Value {
        match (self, other) {
            (Value::Known(a), Value::Known(b)) => {
                let mut all = a.clone();
                for v in b {
                    if !all.contains(v) {
                        all.push(v.clone());
                    }
                }
                if all.len() > MAX_VALUES {
                    Value::unknown()
                } else {
                    Value::Known(all)
                }
            }
            (Value::Unknown(a), Value::Unknown(b)) => Value::Unknown(a.union(b).cloned().collect()),
            (Value::Unknown(a), _) | (_, Value::Unknown(a)) => Value::Unknown(a.clone()),
        }
    }
}

/// The shell state static analysis follows.
#[derive(Debug, Clone)]
pub(crate) struct ShellState {
    vars: HashMap<String, Value>,
    cwd: Value,
    pub aliases: HashMap<String, String>,
    pub functions: BTreeSet<String>,
    pub dotglob: bool,
    dir_stack: Vec<Value>,
}

impl ShellState {
    /// A fresh shell in the workspace.
    pub fn new() -> Self {
        Self {
            vars: HashMap::new(),
            cwd: Value::known(WORKSPACE_ROOT),
            aliases: HashMap::new(),
            functions: BTreeSet::new(),
            dotglob: false,
            dir_stack: Vec::new(),
        }
    }

    /// A child shell (`bash -c`): same directory, environment unknown.
    pub fn child(&self) -> Self {
        Self {
            cwd: self.cwd.clone(),
            ..Self::new()
        }
    }

    pub fn lookup(&self, name: &str) -> Value {
        if let Some(value) = self.vars.get(name) {
            return value.clone();
        }
        match name {
            "HOME" => Value::known(HOME.to_string()),
            "PWD" => self.cwd.clone(),
            "IFS" => Value::known(" \t\n"),
            _ => Value::unknown(),
        }
    }

    /// True when the line itself assigned `name`.
    pub fn is_set(&self, name: &str) -> bool {
        self.vars.contains_key(name)
    }

    pub fn set(&mut self, name: &str, value: Value) {
        self.vars.insert(name.to_string(), value);
    }

    /// Forgets every variable (after `source`, `eval` of unknown code).
    pub fn forget_vars(&mut self) {
        self.vars.clear();
    }

    /// The field separators, when known.
    pub fn ifs(&self) -> Option<String> {
        match self.lookup("IFS") {
            Value::Known(values) if values.len() == 1 => Some(values[0].clone()),
            _ => None,
        }
    }

    /// The possible working directories, `None` when unknown.
    pub fn cwds(&self) -> Option<&[String]> {
        match &self.cwd {
            Value::Known(values) => Some(values),
            Value::Unknown(_) => None,
        }
    }

    /// `cd` may fail, so the directory afterwards is either the old one or the new one.
    pub fn change_dir(&mut self, to: Value) {
        self.cwd = self.cwd.union(&to);
    }

    /// `pushd`: remembers the current directory.
    pub fn push_dir(&mut self) {
        self.dir_stack.push(self.cwd.clone());
    }

    /// `popd`: the remembered directory, unknown when none is.
    pub fn pop_dir(&mut self) -> Value {
        self.dir_stack.pop().unwrap_or_else(Value::unknown)
    }

    pub fn set_positional(&mut self, args: &[Field]) {
        let known = |f: &Field| {
            if f.dynamic {
                Value::unknown()
            } else {
                Value::known(f.text.clone())
            }
        };
        for (i, field) in args.iter().enumerate() {
            self.set(&i.to_string(), known(field));
        }
        self.set(
            "#",
            Value::known((args.len().saturating_sub(1)).to_string()),
        );
    }

    /// After branches: every variable is either value.
    pub fn merge(&mut self, other: &ShellState) {
        let names: HashSet<String> = self.vars.keys().chain(other.vars.keys()).cloned().collect();
        for name in names {
            let merged = self.lookup(&name).union(&other.lookup(&name));
            self.vars.insert(name, merged);
        }
        self.cwd = self.cwd.union(&other.cwd);
        for (name, value) in &other.aliases {
            self.aliases
                .entry(name.clone())
                .or_insert_with(|| value.clone());
        }
        self.functions.extend(other.functions.iter().cloned());
        self.dotglob |= other.dotglob;
    }
}

/// What feeds a command's standard input.
#[derive(Debug, Clone, Default)]
pub(crate) struct Input {
    /// Programs writing into it.
    pub programs: BTreeSet<String>,
    /// Its content, when statically known (a literal here-document, `echo` of literals).
    pub text: Option<String>,
    /// It is a pipe or here-document whose content is not known.
    pub opaque: bool,
    /// It is redirected from these files.
    pub files: Vec<PathInfo>,
}

impl Input {
    /// Nothing in particular (a terminal, or nothing).
    pub fn none() -> Self {
        Self::default()
    }

    /// A pipe fed by `programs`.
    pub fn opaque_pipe(programs: BTreeSet<String>) -> Self {
        Self {
            programs,
            opaque: true,
            ..Self::default()
        }
    }

    /// True when the command reads code or data someone else produced.
    pub fn is_piped(&self) -> bool {
        self.opaque || self.text.is_some() || !self.programs.is_empty()
    }
}
