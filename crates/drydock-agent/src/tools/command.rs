//! `run_command`: one bash command in the task's sandbox session.

use std::path::PathBuf;
use std::time::Duration;

use drydock_sandbox::{ExecRequest, SandboxError};
use schemars::JsonSchema;
use serde::Deserialize;

use super::{ToolContext, ToolFault, ToolOutput, seconds};
use crate::confine::Access;

/// Arguments of `run_command`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunCommandArgs {
    /// The command line, run by `bash -c`.
    pub command: String,
    /// Seconds before the command is killed; default and maximum: the task's command timeout.
    #[serde(default)]
    pub timeout_secs: Option<u64>,
    /// Working directory relative to the workspace root; default: the root.
    #[serde(default)]
    pub cwd: Option<String>,
}

pub(super) async fn run_command(
    ctx: &ToolContext<'_>,
    args: &RunCommandArgs,
) -> Result<ToolOutput, ToolFault> {
    if args.command.trim().is_empty() {
        return Ok(ToolOutput::error("command is empty"));
    }
    let cwd = match &args.cwd {
        Some(cwd) => match ctx.root.resolve(cwd, Access::Read) {
            Ok(path) if path.abs.is_dir() => Some(path.rel),
            Ok(path) => return Ok(ToolOutput::error(format!("cwd {path} is not a directory"))),
            Err(err) => return Ok(ToolOutput::error(err.to_string())),
        },
        None => None,
    };
    let max_timeout = ctx.limits.command_timeout_secs.max(1);
    let timeout_secs = args
        .timeout_secs
        .unwrap_or(max_timeout)
        .clamp(1, max_timeout);
    let request = ExecRequest {
        argv: vec!["bash".into(), "-c".into(), args.command.clone()],
        cwd: cwd.filter(|rel: &PathBuf| !rel.as_os_str().is_empty()),
        timeout: Duration::from_secs(timeout_secs),
        max_output_bytes: usize::try_from(ctx.limits.max_output_bytes).unwrap_or(usize::MAX),
        merge_stderr: true,
        stdin: None,
    };
    let output = match ctx.session.exec(request, ctx.cancel).await {
        Ok(output) => output,
        Err(SandboxError::Cancelled) => return Err(ToolFault::Cancelled),
        Err(err @ (SandboxError::InvalidRequest { .. } | SandboxError::Exec { .. })) => {
            return Ok(ToolOutput::error(format!(
                "the command could not run: {err}"
            )));
        }
        Err(err) => return Err(ToolFault::Sandbox(err)),
    };
    let status = if output.timed_out {
        format!("timed out after {timeout_secs}s and was killed (with every process it started)")
    } else if let Some(code) = output.exit_code {
        format!("exit code {code}")
    } else if let Some(signal) = output.signal {
        format!("killed by signal {signal}")
    } else {
        "ended without an exit status".to_string()
    };
    let mut text = format!("{status} ({})\n", seconds(output.duration));
    let body = output.stdout.to_text();
    if body.is_empty() {
        text.push_str("(no output)");
    } else {
        text.push_str(&body);
    }
    let ok = output.success();
    Ok(ToolOutput { text, ok })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_reject_unknown_fields() {
        let err = serde_json::from_value::<RunCommandArgs>(serde_json::json!({
            "command": "ls", "shell": "zsh"
        }))
        .unwrap_err();
        assert!(err.to_string().contains("unknown field `shell`"), "{err}");
    }

    #[test]
    fn timeout_is_optional() {
        let args: RunCommandArgs =
            serde_json::from_value(serde_json::json!({"command": "cargo test"})).unwrap();
        assert_eq!(args.timeout_secs, None);
        assert_eq!(args.cwd, None);
    }
}
