//! Shell command analysis: a command line is parsed as bash parses it (tree-sitter-bash), every
//! simple command it can run is found (pipelines, lists, subshells, substitutions, `bash -c`
//! strings, `eval`, wrappers such as `sudo`/`env`/`xargs`/`find -exec`), its program and flags
//! are normalised, and its effects (files written, read or deleted, git pushes) are extracted.
//! What cannot be known statically is marked as such so rules can refuse it.

use std::collections::BTreeSet;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::paths::PathInfo;

mod argv;
mod brace;
mod builtins;
mod code;
mod commands;
mod effects;
mod field;
mod files;
mod find;
mod git;
mod inline;
mod interpreters;
mod network;
mod parse;
mod programs;
mod runners;
mod sed;
mod specs;
mod state;
mod walk;
mod word;

/// Bounds on the work one analysis may do; a command beyond them is refused, not guessed at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnalysisLimits {
    /// Longest command line, in bytes.
    pub max_bytes: usize,
    /// Deepest nesting of `bash -c`, `eval`, substitutions and wrappers.
    pub max_depth: u32,
    /// Most simple commands found in one line (including nested ones).
    pub max_commands: usize,
    /// Most words one brace expansion may produce.
    pub max_brace_words: usize,
}

impl Default for AnalysisLimits {
    fn default() -> Self {
        Self {
            max_bytes: 64 * 1024,
            max_depth: 8,
            max_commands: 2_000,
            max_brace_words: 1_024,
        }
    }
}

/// Why a command could not be analysed. Any of these makes the command denied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AnalysisError {
    /// The shell grammar rejects it, or it uses syntax the analysis does not model.
    #[error("cannot parse the command: {message}")]
    Parse {
        /// What was wrong, with the offending text.
        message: String,
    },
    /// It exceeds an [`AnalysisLimits`] bound.
    #[error("the command is too complex to check: {message}")]
    Limit {
        /// Which bound.
        message: String,
    },
}

/// What one command line would do, as far as static analysis can tell.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CommandAnalysis {
    /// Every simple command that may run, in source order, nested ones included.
    pub commands: Vec<SimpleCommand>,
    /// Files the commands read, write, delete or change.
    pub file_accesses: Vec<FileAccess>,
    /// `git push` destinations.
    pub pushes: Vec<PushIntent>,
}

/// One program invocation with its arguments resolved.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SimpleCommand {
    /// The program's name without directories or quoting (`/bin/rm`, `\rm`, `"rm"` → `rm`);
    /// empty when `dynamic_program`.
    pub program: String,
    /// The name without a version suffix (`python3.11` → `python`).
    pub family: String,
    /// The program as written, after quote removal.
    pub path: String,
    /// The program's name is not statically known (a variable, a substitution, a glob).
    pub dynamic_program: bool,
    /// The arguments after expansion; unknown parts show as `…`.
    pub args: Vec<String>,
    /// The first operand (for `git`, the subcommand after global options); empty when none.
    pub subcommand: String,
    /// Operands (arguments that are not options or option values).
    pub positionals: Vec<String>,
    /// Options, normalised: clusters split (`-rf` → `-r`, `-f`), values dropped, known
    /// aliases added (`--recursive`, `-R` → `-r` for `rm`).
    pub flags: BTreeSet<String>,
    /// Some argument is not statically known.
    pub dynamic_args: bool,
    /// It only runs another command given in its arguments (`sudo`, `env`, `timeout`, ...);
    /// that command is recorded separately with this one in its `wrappers`.
    pub wraps: bool,
    /// The wrappers this command runs under, outermost first (`sudo`, `env`, `xargs`, ...).
    pub wrappers: Vec<String>,
    /// Nesting depth: 0 for the top level.
    pub depth: u32,
    /// Programs whose output reaches this command's standard input (pipelines, here-strings).
    pub stdin_programs: BTreeSet<String>,
    /// Programs whose output becomes part of this command's arguments (`$(...)`, `<(...)`).
    pub substitution_programs: BTreeSet<String>,
    /// Network hosts named in the arguments (URLs, `host:port`), normalised.
    pub hosts: BTreeSet<String>,
    /// It runs shell code the analysis cannot see (`bash -c "$X"`, `eval "$(...)"`, a shell
    /// reading a pipe).
    pub opaque_code: bool,
    /// It runs a file that an earlier command in the same line downloaded.
    pub runs_downloaded: bool,
    /// It sends a local file or standard input over the network (`curl -d @file`, `-T`).
    pub uploads_file: bool,
    /// Git refs it creates, moves or deletes locally (`update-ref`, `branch -f`), short names.
    pub refs_updated: BTreeSet<String>,
}

/// What a command does to a file.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum FileOperation {
    /// Reads it (or names it as an argument).
    Read,
    /// Creates or changes its content.
    Write,
    /// Removes it or destroys its content.
    Delete,
    /// Changes its mode, owner or attributes.
    Metadata,
}

impl FileOperation {
    /// The name policies compare against.
    pub fn as_str(self) -> &'static str {
        match self {
            FileOperation::Read => "read",
            FileOperation::Write => "write",
            FileOperation::Delete => "delete",
            FileOperation::Metadata => "metadata",
        }
    }
}

/// A file a command touches.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
pub struct FileAccess {
    /// Where.
    pub path: PathInfo,
    /// What.
    pub operation: FileOperation,
    /// The whole tree below it (`rm -r`, `chmod -R`, `find -delete`).
    pub recursive: bool,
    /// The program that does it (`>` redirections count for the command they belong to).
    pub program: String,
}

/// One destination of a `git push` found in a command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PushIntent {
    /// The remote as written; empty for the default.
    pub remote: String,
    /// The remote is a URL or path rather than a configured name.
    pub remote_is_url: bool,
    /// The source side of the refspec as written.
    pub source: String,
    /// The destination branch (short name for `refs/heads/*`, the full ref otherwise); `None`
    /// when it cannot be known statically (`git push`, `HEAD`, a variable).
    pub destination: Option<String>,
    /// Forced: `--force`, `-f`, `--force-with-lease`, `--force-if-includes`, `+refspec`.
    pub force: bool,
    /// Deletes the destination: `--delete`, `-d`, `:branch`.
    pub delete: bool,
    /// Pushes many refs: `--all`, `--mirror`, `--tags`, `--prune`, a glob refspec.
    pub all_refs: bool,
}

/// Analyses a command line as `bash -c` would run it in the workspace.
pub fn analyze(command: &str) -> Result<CommandAnalysis, AnalysisError> {
    analyze_with_limits(command, AnalysisLimits::default())
}

/// [`analyze`] with explicit bounds.
pub fn analyze_with_limits(
    command: &str,
    limits: AnalysisLimits,
) -> Result<CommandAnalysis, AnalysisError> {
    walk::Analyzer::run(command, limits)
}

pub(crate) use git::refspec_intent;
pub(crate) use network::normalise_host;

#[cfg(test)]
#[path = "shell_tests.rs"]
mod tests;
