//! The command line.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// drydock: issues in, reviewed-ready pull requests out, with an untrusted agent kept in a sandbox.
#[derive(Debug, Parser)]
#[command(name = "drydock", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Print one JSON document on stdout instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// Where drydock keeps its database and workspaces [default: $XDG_DATA_HOME/drydock].
    #[arg(long, global = true, env = "DRYDOCK_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// The drydock.toml to use [default: $XDG_CONFIG_HOME/drydock/drydock.toml, if it exists].
    #[arg(long, global = true, env = "DRYDOCK_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Never use colour or a spinner, even on a terminal.
    #[arg(long, global = true)]
    pub plain: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the agent on a repository and an issue; leaves a branch and a pull-request record.
    Run(RunArgs),
    /// Run a full task on a bundled example repository with a recorded model (no keys needed).
    Demo(DemoArgs),
    /// List recent tasks.
    Tasks(TasksArgs),
    /// Show a task's trajectory: turns, tool calls, results, decisions, cost.
    Show(ShowArgs),
    /// Pull-request records.
    #[command(subcommand)]
    Pr(PrCommand),
    /// The tamper-evident audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Approve the action a task is waiting on.
    Approve(ApprovalArgs),
    /// Deny the action a task is waiting on.
    Deny(ApprovalArgs),
    /// Ask a running task to stop.
    Cancel(TaskRef),
    /// Run commands in the sandbox, or check what isolation this machine supports.
    #[command(subcommand)]
    Sandbox(SandboxCommand),
    /// Ask the policy engine about a command, or test rule files.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Report secrets in files or in a git diff range.
    Scan(ScanArgs),
    /// Copy stdin to stdout with secrets replaced by [REDACTED:<rule>].
    Redact,
    /// Configuration helpers.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Measure drydock's own overhead.
    Bench(BenchArgs),
}

/// Which model, and the options every live task run shares.
#[derive(Debug, Clone, Args)]
pub struct TaskOptions {
    /// Maximum model calls.
    #[arg(long, value_name = "N")]
    pub max_turns: Option<u32>,
    /// Maximum tokens across all calls.
    #[arg(long, value_name = "N")]
    pub max_tokens: Option<u64>,
    /// Maximum spend in US dollars.
    #[arg(long, value_name = "USD")]
    pub max_cost: Option<f64>,
    /// Wall-clock limit for the whole task, in seconds.
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<u64>,
    /// Wait for `drydock approve|deny <task>` (from another terminal) when an action needs
    /// approval, instead of denying it.
    #[arg(long)]
    pub approvals: bool,
    /// Run even when the repository has no test command (the change is then not verified).
    #[arg(long)]
    pub allow_untested: bool,
}

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// The git repository to work on (its current HEAD; it must be clean).
    #[arg(long, value_name = "DIR")]
    pub repo: PathBuf,
    /// The issue, from a Markdown file (a leading `# Title` line is the title).
    #[arg(
        long,
        value_name = "FILE",
        conflicts_with = "issue_text",
        required_unless_present = "issue_text"
    )]
    pub issue_file: Option<PathBuf>,
    /// The issue, as text.
    #[arg(long, value_name = "TEXT")]
    pub issue_text: Option<String>,
    /// The model as provider:model (anthropic:claude-sonnet-4-5, openai:gpt-4.1,
    /// openai:qwen2.5-coder with --base-url, scripted:path/to/trajectory.json).
    #[arg(long, value_name = "PROVIDER:MODEL")]
    pub model: Option<String>,
    /// Base URL of the provider's API (for OpenAI-compatible servers such as vLLM, Ollama, llama.cpp).
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
    #[command(flatten)]
    pub options: TaskOptions,
}

#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    #[command(flatten)]
    pub options: TaskOptions,
}

#[derive(Debug, Clone, Args)]
pub struct TasksArgs {
    /// How many tasks to list.
    #[arg(long, short = 'n', default_value_t = 20)]
    pub limit: u32,
}

#[derive(Debug, Clone, Args)]
pub struct TaskRef {
    /// A task id (full, unique prefix, or the 8-character short id).
    pub task: String,
}

#[derive(Debug, Clone, Args)]
pub struct ShowArgs {
    /// A task id (full, unique prefix, or the 8-character short id).
    pub task: String,
    /// Show tool outputs in full instead of their first lines.
    #[arg(long)]
    pub full: bool,
}

#[derive(Debug, Subcommand)]
pub enum PrCommand {
    /// Show a task's pull-request record: branch, title, body, diff stat.
    Show(TaskRef),
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Verify event hash chains: exit 0 when intact, 1 naming the first broken event.
    Verify(AuditVerifyArgs),
}

#[derive(Debug, Clone, Args)]
pub struct AuditVerifyArgs {
    /// Only this task (default: every task).
    pub task: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct ApprovalArgs {
    /// The waiting task.
    pub task: String,
    /// Who answers (default: the local user).
    #[arg(long)]
    pub by: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum SandboxCommand {
    /// Run one command exactly as the agent's run_command would.
    Exec(SandboxExecArgs),
    /// Report what isolation this machine supports and what is missing.
    Check,
}

#[derive(Debug, Clone, Args)]
pub struct SandboxExecArgs {
    /// The backend (default: the configured one).
    #[arg(long, value_parser = ["local", "docker"])]
    pub backend: Option<String>,
    /// The workspace to mount at /workspace (default: the current directory).
    #[arg(long, value_name = "DIR")]
    pub workspace: Option<PathBuf>,
    /// Docker: the image to run in (default: `[sandbox] image`); it must be in the daemon.
    #[arg(long, value_name = "IMAGE")]
    pub image: Option<String>,
    /// Docker: the OCI runtime, e.g. `runsc` for gVisor (default: `[sandbox] runtime`).
    #[arg(long, value_name = "NAME")]
    pub runtime: Option<String>,
    /// Allow a host (glob) through the egress proxy, on top of the configured list.
    #[arg(long = "allow-host", value_name = "HOST")]
    pub allow_hosts: Vec<String>,
    /// Deny all network access (overrides the configured allowlist).
    #[arg(long, conflicts_with = "allow_hosts")]
    pub offline: bool,
    /// Seconds before the command is killed.
    #[arg(long, value_name = "SECS", default_value_t = 600)]
    pub timeout: u64,
    /// Memory limit in MiB.
    #[arg(long, value_name = "MB")]
    pub memory: Option<u64>,
    /// The command and its arguments.
    #[arg(last = true, required = true, value_name = "CMD")]
    pub command: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Decide a command line: exit 0 allow, 1 deny, 3 require_approval.
    Check(PolicyCheckArgs),
    /// Load rule files and run their embedded examples.
    Test(PolicyTestArgs),
}

#[derive(Debug, Clone, Args)]
pub struct PolicyCheckArgs {
    /// A repository whose .drydock.toml (at HEAD) adds policies.
    #[arg(long, value_name = "DIR")]
    pub repo: Option<PathBuf>,
    /// The author's association (owner, member, collaborator, contributor, none, bot).
    #[arg(long, default_value = "owner")]
    pub author: String,
    /// The command line.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

#[derive(Debug, Clone, Args)]
pub struct PolicyTestArgs {
    /// Rule files (default: the shipped rules and the configured files).
    pub files: Vec<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct ScanArgs {
    /// Files or directories (walked honouring .gitignore).
    #[arg(required_unless_present = "diff")]
    pub paths: Vec<PathBuf>,
    /// Scan the lines added in a git diff range (A..B) of the current repository instead.
    #[arg(long, value_name = "A..B")]
    pub diff: Option<String>,
    /// The repository for --diff (default: the current directory).
    #[arg(long, value_name = "DIR")]
    pub repo: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the JSON Schema of drydock.toml.
    Schema,
    /// Print the effective configuration (defaults and drydock.toml), as TOML.
    Show,
}

#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// What to measure (the sandbox has its own bench: cargo bench -p drydock-sandbox).
    #[arg(value_parser = ["harness"], default_value = "harness")]
    pub what: String,
    /// Tasks to run (each makes 40 tool calls).
    #[arg(long, default_value_t = 20)]
    pub iterations: u32,
}
