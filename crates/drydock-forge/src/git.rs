//! The git CLI, run with a clean environment, a deadline, and hooks switched off.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tempfile::TempDir;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use crate::{ForgeError, GitError};

/// Who drydock's commits are by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// Author and committer name.
    pub name: String,
    /// Author and committer e-mail.
    pub email: String,
}

impl Default for Identity {
    fn default() -> Self {
        Self {
            name: "drydock".into(),
            email: "drydock@localhost".into(),
        }
    }
}

/// What a git command printed and how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitOutput {
    /// Standard output, raw bytes (paths may not be UTF-8).
    pub stdout: Vec<u8>,
    /// Standard error.
    pub stderr: Vec<u8>,
    /// The exit code; `None` when killed by a signal.
    pub code: Option<i32>,
}

impl GitOutput {
    /// Standard output as text, trailing newline removed (lossy for non-UTF-8 bytes).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.stdout)
            .trim_end_matches(['\n', '\r'])
            .to_string()
    }
}

/// Runs git. Every command gets:
/// - a clean environment: only `PATH` survives; no system or global config
///   (`GIT_CONFIG_NOSYSTEM=1`, `GIT_CONFIG_GLOBAL=/dev/null`), `HOME` an empty directory,
///   no terminal prompt, no credential helper, no optional index writes;
/// - `core.hooksPath` set to an empty directory, so no hook of any repository ever runs, and
///   `core.fsmonitor` off (it names a program to run);
/// - an explicit identity for commits;
/// - a deadline, after which its whole process group is killed.
///
/// Cloning a `Git` is cheap; clones share one scratch directory, removed with the last clone.
#[derive(Debug, Clone)]
pub struct Git {
    program: PathBuf,
    timeout: Duration,
    identity: Identity,
    scratch: Arc<Scratch>,
}

#[derive(Debug)]
struct Scratch {
    dir: TempDir,
}

impl Scratch {
    fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    fn hooks(&self) -> PathBuf {
        self.dir.path().join("hooks")
    }

    fn template(&self) -> PathBuf {
        self.dir.path().join("template")
    }
}

/// The default deadline of one git command.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

impl Git {
    /// The `git` on `PATH`, the default identity and deadline.
    pub fn new() -> Result<Git, ForgeError> {
        let dir = tempfile::Builder::new()
            .prefix("drydock-git-")
            .tempdir()
            .map_err(ForgeError::io("creating git's scratch directory"))?;
        let scratch = Scratch { dir };
        for empty in [scratch.home(), scratch.hooks(), scratch.template()] {
            std::fs::create_dir(&empty).map_err(ForgeError::io(format!(
                "creating the empty directory {}",
                empty.display()
            )))?;
        }
        Ok(Git {
            program: PathBuf::from("git"),
            timeout: DEFAULT_TIMEOUT,
            identity: Identity::default(),
            scratch: Arc::new(scratch),
        })
    }

    /// The same, with another deadline per command.
    pub fn with_timeout(mut self, timeout: Duration) -> Git {
        self.timeout = timeout;
        self
    }

    /// The same, committing as `identity`.
    pub fn with_identity(mut self, identity: Identity) -> Git {
        self.identity = identity;
        self
    }

    /// The same, running `program` instead of the `git` on `PATH`.
    pub fn with_program(mut self, program: impl Into<PathBuf>) -> Git {
        self.program = program.into();
        self
    }

    /// The deadline per command.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The commit identity.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// The empty directory every command uses as `core.hooksPath`.
    pub fn hooks_dir(&self) -> PathBuf {
        self.scratch.hooks()
    }

    /// An empty directory to pass as `--template` so new repositories get no sample hooks.
    pub(crate) fn template_dir(&self) -> PathBuf {
        self.scratch.template()
    }

    /// Runs `git <args>` in `dir`; an unsuccessful exit is an error carrying stderr.
    pub async fn run<I, S>(&self, dir: &Path, args: I) -> Result<GitOutput, GitError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.command(dir).args(args).run().await
    }

    /// The shell command `git push` runs on the receiving side of a local push. Git drops `-c`
    /// settings when it starts a process in another repository, so the guards are repeated on
    /// `receive-pack`'s own command line: no hook of the receiving repository runs, and it does
    /// not start a `gc` in it.
    pub(crate) fn receive_pack_command(&self) -> OsString {
        let mut command = shell_quote(self.program.as_os_str());
        command.push(" -c ");
        command.push(shell_quote(&config_arg(
            "core.hooksPath=",
            self.scratch.hooks().as_os_str(),
        )));
        command.push(" -c core.fsmonitor=false -c receive.autogc=false receive-pack");
        command
    }

    /// A command to configure further (environment, stdin) before running it.
    pub fn command(&self, dir: &Path) -> GitCommand<'_> {
        GitCommand {
            git: self,
            dir: dir.to_path_buf(),
            args: Vec::new(),
            envs: Vec::new(),
            stdin: None,
        }
    }
}

/// One git invocation being built.
#[derive(Debug)]
pub struct GitCommand<'g> {
    git: &'g Git,
    dir: PathBuf,
    args: Vec<OsString>,
    envs: Vec<(OsString, OsString)>,
    stdin: Option<Vec<u8>>,
}

impl GitCommand<'_> {
    /// Adds one argument.
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.args.push(arg.as_ref().to_os_string());
        self
    }

    /// Adds arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_os_string()));
        self
    }

    /// Sets an environment variable on top of the clean environment.
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.envs
            .push((key.as_ref().to_os_string(), value.as_ref().to_os_string()));
        self
    }

    /// Bytes written to the command's stdin (else stdin is empty).
    pub fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(bytes.into());
        self
    }

    /// Runs it; an unsuccessful exit is an error carrying stderr.
    pub async fn run(self) -> Result<GitOutput, GitError> {
        let command = self.describe();
        let output = self.output().await?;
        if output.code == Some(0) {
            Ok(output)
        } else {
            Err(failed(&command, &output))
        }
    }

    /// Runs it and returns the output whatever the exit code (for commands whose exit code is
    /// an answer, such as `rev-parse --verify -q`).
    pub async fn output(self) -> Result<GitOutput, GitError> {
        let command = self.describe();
        let git = self.git;
        let scratch = &git.scratch;
        let mut cmd = Command::new(&git.program);
        cmd.current_dir(&self.dir)
            .env_clear()
            .env(
                "PATH",
                std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into()),
            )
            .env("HOME", scratch.home())
            .env("XDG_CONFIG_HOME", scratch.home())
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_OPTIONAL_LOCKS", "0")
            .env("LC_ALL", "C")
            .env("GIT_AUTHOR_NAME", &git.identity.name)
            .env("GIT_AUTHOR_EMAIL", &git.identity.email)
            .env("GIT_COMMITTER_NAME", &git.identity.name)
            .env("GIT_COMMITTER_EMAIL", &git.identity.email)
            .envs(self.envs.iter().map(|(k, v)| (k, v)))
            .arg("-c")
            .arg(config_arg("core.hooksPath=", scratch.hooks().as_os_str()))
            .args(["-c", "core.fsmonitor=false"])
            .args(["-c", "credential.helper="])
            .args(["-c", "commit.gpgSign=false"])
            .args(["-c", "core.pager=cat"])
            .args(&self.args)
            .stdin(if self.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            // Its own process group, so a timeout kills the helpers git starts as well.
            .process_group(0);
        let mut child = cmd.spawn().map_err(|source| GitError::Spawn {
            command: command.clone(),
            source,
        })?;
        let pid = child.id();
        let writer = match (self.stdin, child.stdin.take()) {
            (Some(bytes), Some(mut pipe)) => Some(tokio::spawn(async move {
                // A command that exits without reading its stdin closes the pipe; that is its
                // business, and its exit code tells the story.
                let _ = pipe.write_all(&bytes).await;
            })),
            _ => None,
        };
        let result = tokio::time::timeout(git.timeout, child.wait_with_output()).await;
        if let Some(writer) = writer {
            writer.abort();
        }
        match result {
            Ok(Ok(output)) => Ok(GitOutput {
                stdout: output.stdout,
                stderr: output.stderr,
                code: output.status.code(),
            }),
            Ok(Err(source)) => Err(GitError::Spawn { command, source }),
            Err(_) => {
                if let Some(pid) = pid.and_then(|pid| i32::try_from(pid).ok()) {
                    // The group may be gone already; nothing else to do then.
                    let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
                }
                Err(GitError::Timeout {
                    command,
                    timeout: git.timeout,
                })
            }
        }
    }

    fn describe(&self) -> String {
        let parts: Vec<String> = self
            .args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        parts.join(" ")
    }
}

fn config_arg(prefix: &str, value: &OsStr) -> OsString {
    let mut arg = OsString::from(prefix);
    arg.push(value);
    arg
}

/// `text` in single quotes for `sh`, with embedded single quotes escaped.
pub(crate) fn shell_quote(text: &OsStr) -> OsString {
    let mut quoted = Vec::with_capacity(text.len() + 2);
    quoted.push(b'\'');
    for byte in text.as_bytes() {
        if *byte == b'\'' {
            quoted.extend_from_slice(b"'\\''");
        } else {
            quoted.push(*byte);
        }
    }
    quoted.push(b'\'');
    OsString::from_vec(quoted)
}

/// The error for an unsuccessful exit.
pub(crate) fn failed(command: &str, output: &GitOutput) -> GitError {
    let status = match output.code {
        Some(code) => format!("exit code {code}"),
        None => "killed by a signal".to_string(),
    };
    GitError::Failed {
        command: command.to_string(),
        status,
        stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
    }
}

/// A path from git's raw (`-z`) output.
pub(crate) fn path_from_bytes(bytes: &[u8]) -> PathBuf {
    PathBuf::from(OsStr::from_bytes(bytes))
}

#[cfg(test)]
#[path = "git_tests.rs"]
mod tests;
