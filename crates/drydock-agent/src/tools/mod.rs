//! The agent's tools: typed arguments with JSON Schemas, the policy question each call asks, and
//! execution. A tool's mistake (bad arguments, a missing file) is a result the model can act on;
//! only a broken sandbox is a fault that ends the task.

mod command;
mod edit;
mod read;
mod search;

use std::time::Duration;

use drydock_core::{Action, Limits};
use drydock_model::{ToolInput, ToolSpec};
use drydock_sandbox::{SandboxError, Session};
use schemars::JsonSchema;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use tokio_util::sync::CancellationToken;

use crate::confine::{Access, ConfinedPath, PathError, WorkspaceRoot};

pub use command::RunCommandArgs;
pub use edit::{EditFileArgs, WriteFileArgs};
pub(crate) use read::read_capped;
pub use read::{ListDirArgs, ReadFileArgs};
pub use search::SearchArgs;

/// Arguments of `finish`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FinishArgs {
    /// What you changed and why, for the pull request description (Markdown).
    pub summary: String,
    /// A one-line title for the pull request; defaults to the title.
    #[serde(default)]
    pub title: Option<String>,
}

/// A tool call whose arguments parsed against its schema.
#[derive(Debug, Clone, PartialEq)]
pub enum ToolCall {
    /// `read_file`.
    ReadFile(ReadFileArgs),
    /// `list_dir`.
    ListDir(ListDirArgs),
    /// `search`.
    Search(SearchArgs),
    /// `edit_file`.
    EditFile(EditFileArgs),
    /// `write_file`.
    WriteFile(WriteFileArgs),
    /// `run_command`.
    RunCommand(RunCommandArgs),
    /// `finish`.
    Finish(FinishArgs),
}

/// What a tool gives back to the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolOutput {
    /// The text the model sees (before redaction).
    pub text: String,
    /// False when the text describes an error the model should act on.
    pub ok: bool,
}

impl ToolOutput {
    /// A successful result.
    pub fn ok(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            ok: true,
        }
    }

    /// An error the model can act on.
    pub fn error(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            ok: false,
        }
    }
}

/// A failure of the platform under a tool (the sandbox is gone or broken); it ends the task.
#[derive(Debug, thiserror::Error)]
pub enum ToolFault {
    /// The sandbox failed.
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    /// The call was cancelled.
    #[error("tool call cancelled")]
    Cancelled,
}

/// What a tool needs to run.
#[derive(Debug)]
pub struct ToolContext<'a> {
    /// The workspace on the host.
    pub root: &'a WorkspaceRoot,
    /// The task's sandbox session.
    pub session: &'a dyn Session,
    /// The task's limits (command timeout, output size).
    pub limits: &'a Limits,
    /// Fires when the task is cancelled or runs out of time.
    pub cancel: &'a CancellationToken,
}

/// The names of every tool, in the order they are offered.
pub const TOOL_NAMES: [&str; 7] = [
    "read_file",
    "list_dir",
    "search",
    "edit_file",
    "write_file",
    "run_command",
    "finish",
];

/// The tools on offer, with their schemas.
pub fn tool_specs() -> Vec<ToolSpec> {
    vec![
        spec::<ReadFileArgs>(
            "read_file",
            "Read a text file of the workspace, with line numbers (`cat -n` style). Use start_line/end_line \
             for a range of a long file. Line numbers are not part of the file: never copy them into edits.",
        ),
        spec::<ListDirArgs>(
            "list_dir",
            "List a directory of the workspace (default: its root), honouring .gitignore. Directories end \
             with '/', files show their size.",
        ),
        spec::<SearchArgs>(
            "search",
            "Search the workspace for a regular expression (Rust regex syntax), honouring .gitignore; \
             returns path:line: text for each match.",
        ),
        spec::<EditFileArgs>(
            "edit_file",
            "Replace one exact passage of a file with new text. old_text must appear exactly once in the \
             file, character for character (including indentation); include a few surrounding lines to \
             make it unique.",
        ),
        spec::<WriteFileArgs>(
            "write_file",
            "Create a file, or replace a whole file, with the given content. Prefer edit_file for changes \
             to existing files.",
        ),
        spec::<RunCommandArgs>(
            "run_command",
            "Run a shell command (bash) in the sandbox, in /workspace unless cwd is given. Use it to run \
             tests, builds and tools. Network access is limited to package registries. Long output is \
             cut in the middle.",
        ),
        spec::<FinishArgs>(
            "finish",
            "Call once the change is complete and the tests pass: give a summary of what you changed and \
             why, for the pull request. drydock then runs the tests itself, commits and opens the pull \
             request.",
        ),
    ]
}

fn spec<T: JsonSchema>(name: &str, description: &str) -> ToolSpec {
    let mut schema = serde_json::to_value(schemars::schema_for!(T)).unwrap_or_default();
    if let Some(object) = schema.as_object_mut() {
        object.remove("$schema");
        object.remove("title");
    }
    ToolSpec {
        name: name.to_string(),
        description: description.to_string(),
        input_schema: schema,
    }
}

/// Parses a tool call; the error is a message for the model.
pub fn parse_call(name: &str, input: &ToolInput) -> Result<ToolCall, String> {
    let value = match input {
        ToolInput::Json { value } => value,
        ToolInput::Malformed { raw, error } => {
            return Err(format!(
                "the arguments of {name} are not valid JSON ({error}); send a JSON object matching the \
                 tool's schema. Received: {}",
                shorten(raw, 300)
            ));
        }
    };
    match name {
        "read_file" => args(name, value).map(ToolCall::ReadFile),
        "list_dir" => args(name, value).map(ToolCall::ListDir),
        "search" => args(name, value).map(ToolCall::Search),
        "edit_file" => args(name, value).map(ToolCall::EditFile),
        "write_file" => args(name, value).map(ToolCall::WriteFile),
        "run_command" => args(name, value).map(ToolCall::RunCommand),
        "finish" => args(name, value).map(ToolCall::Finish),
        _ => Err(format!(
            "there is no tool named {name:?}; the tools are: {}",
            TOOL_NAMES.join(", ")
        )),
    }
}

fn args<T: DeserializeOwned>(name: &str, value: &serde_json::Value) -> Result<T, String> {
    // Some models send `null` or nothing for a tool without required arguments.
    let value = if value.is_null() {
        serde_json::Value::Object(Default::default())
    } else {
        value.clone()
    };
    serde_json::from_value(value)
        .map_err(|err| format!("invalid arguments for {name}: {err}; check the tool's schema"))
}

/// The policy question a call asks: an action and its resource, or a confinement refusal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyQuestion {
    /// Ask the policy engine.
    Ask {
        /// The action.
        action: Action,
        /// Its resource.
        resource: String,
    },
    /// Nothing to ask (`finish`).
    None,
}

impl ToolCall {
    /// The tool's name.
    pub fn name(&self) -> &'static str {
        match self {
            ToolCall::ReadFile(_) => "read_file",
            ToolCall::ListDir(_) => "list_dir",
            ToolCall::Search(_) => "search",
            ToolCall::EditFile(_) => "edit_file",
            ToolCall::WriteFile(_) => "write_file",
            ToolCall::RunCommand(_) => "run_command",
            ToolCall::Finish(_) => "finish",
        }
    }

    /// A one-line description for progress output.
    pub fn summary(&self) -> String {
        match self {
            ToolCall::ReadFile(a) => a.path.clone(),
            ToolCall::ListDir(a) => a.path.clone().unwrap_or_else(|| ".".into()),
            ToolCall::Search(a) => format!("/{}/", a.pattern),
            ToolCall::EditFile(a) => a.path.clone(),
            ToolCall::WriteFile(a) => a.path.clone(),
            ToolCall::RunCommand(a) => a.command.clone(),
            ToolCall::Finish(_) => "done".into(),
        }
    }

    /// Confines the call's path and says what to ask the policy engine.
    pub fn policy_question(&self, root: &WorkspaceRoot) -> Result<PolicyQuestion, PathError> {
        let ask = |action, path: &ConfinedPath| PolicyQuestion::Ask {
            action,
            resource: path.display_rel(),
        };
        Ok(match self {
            ToolCall::ReadFile(a) => ask(Action::ReadFile, &root.resolve(&a.path, Access::Read)?),
            ToolCall::ListDir(a) => ask(Action::ReadFile, &resolve_dir(root, a.path.as_deref())?),
            ToolCall::Search(a) => ask(Action::ReadFile, &resolve_dir(root, a.path.as_deref())?),
            ToolCall::EditFile(a) => ask(Action::WriteFile, &root.resolve(&a.path, Access::Write)?),
            ToolCall::WriteFile(a) => {
                ask(Action::WriteFile, &root.resolve(&a.path, Access::Write)?)
            }
            ToolCall::RunCommand(a) => {
                if let Some(cwd) = &a.cwd {
                    root.resolve(cwd, Access::Read)?;
                }
                PolicyQuestion::Ask {
                    action: Action::RunCommand,
                    resource: a.command.clone(),
                }
            }
            ToolCall::Finish(_) => PolicyQuestion::None,
        })
    }

    /// Runs the call (its policy question was answered `allow`).
    pub async fn execute(&self, ctx: &ToolContext<'_>) -> Result<ToolOutput, ToolFault> {
        let output = match self {
            ToolCall::ReadFile(a) => read::read_file(ctx.root, a),
            ToolCall::ListDir(a) => read::list_dir(ctx.root, a),
            ToolCall::Search(a) => search::search(ctx.root, a),
            ToolCall::EditFile(a) => edit::edit_file(ctx.root, a),
            ToolCall::WriteFile(a) => edit::write_file(ctx.root, a),
            ToolCall::RunCommand(a) => return command::run_command(ctx, a).await,
            ToolCall::Finish(_) => ToolOutput::ok(
                "Finishing: drydock will now run the tests, commit and open the pull request.",
            ),
        };
        Ok(output)
    }
}

fn resolve_dir(root: &WorkspaceRoot, path: Option<&str>) -> Result<ConfinedPath, PathError> {
    root.resolve(path.unwrap_or("."), Access::Read)
}

/// At most `max` characters of `text`, with an ellipsis when cut.
pub(crate) fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max).collect();
    out.push('…');
    out
}

/// Seconds with one decimal, for messages.
pub(crate) fn seconds(duration: Duration) -> String {
    format!("{:.1}s", duration.as_secs_f64())
}

#[cfg(test)]
#[path = "mod_tests.rs"]
mod tests;
