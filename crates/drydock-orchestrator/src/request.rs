//! From a request to a task: everything that is bad input is refused here, before a task exists
//! (missing or dirty repository, malformed repository config, empty issue, unknown model, missing
//! key, invalid policy), with a message that says what to do.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use drydock_core::{Issue, Limits, RepoRef, Task, TaskKind, TaskSpec};
use drydock_forge::{ForgeError, LocalRepo, detect_test_command};
use drydock_model::{ModelClient, ModelConfig, build_client};
use drydock_policy::{ApprovalChannel, PolicyEngine};
use drydock_secrets::{KnownSecret, Redactor, WELL_KNOWN_SECRET_ENV};

use crate::config::{Config, LimitFlags, RepoConfig};
use crate::{EnvLookup, Platform, RunError};

/// What a user asks for.
#[derive(Debug, Clone)]
pub struct TaskRequest {
    /// The source repository on disk.
    pub repo: PathBuf,
    /// The issue.
    pub issue: Issue,
    /// `provider:model`; `None` for the configured default.
    pub model: Option<String>,
    /// The provider's base URL (OpenAI-compatible servers).
    pub base_url: Option<String>,
    /// Budgets from flags.
    pub limits: LimitFlags,
    /// Wait for `drydock approve|deny` when an action needs approval.
    pub approvals: bool,
    /// Run even when no test command is configured or detected (the change is then unverified).
    pub allow_untested: bool,
}

/// A request that passed every check, and the task created for it.
pub struct PreparedTask {
    /// The task, in state `queued`.
    pub task: Task,
    pub(crate) repo: LocalRepo,
    pub(crate) repo_config: RepoConfig,
    pub(crate) test_command: Option<String>,
    pub(crate) model: Arc<dyn ModelClient>,
    pub(crate) policy: PolicyEngine,
    pub(crate) redactor: Redactor,
    pub(crate) approvals: bool,
}

impl std::fmt::Debug for PreparedTask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreparedTask")
            .field("task", &self.task.id)
            .field("test_command", &self.test_command)
            .finish_non_exhaustive()
    }
}

/// A request that cannot become a task.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// The repository is missing, not a git repository, empty, detached or dirty.
    #[error("{message}")]
    Repo {
        /// What is wrong, naming the path.
        message: String,
    },
    /// A configuration file is invalid.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// The issue has no text.
    #[error("the issue is empty: give a title and a description (--issue-text or --issue-file)")]
    EmptyIssue,
    /// The model cannot be used (unknown provider, missing key, bad URL).
    #[error("{0}")]
    Model(String),
    /// No test command, and running untested was not asked for.
    #[error(
        "no test command for {repo}: set `[test] command` in its .drydock.toml (or in drydock.toml), or pass --allow-untested to run without verification"
    )]
    NoTestCommand {
        /// The repository.
        repo: String,
    },
    /// The policy or the secret rules could not be loaded.
    #[error("{0}")]
    Policy(String),
}

impl Platform {
    /// Checks a request and creates its task (state `queued`, `task_created` recorded).
    pub async fn submit(&self, request: TaskRequest) -> Result<PreparedTask, RunError> {
        let prepared = self.check(request, None).await?;
        self.store.create_task(&prepared.task).await?;
        Ok(prepared)
    }

    /// Like [`Platform::submit`], with a model client given directly (the demo's recording).
    pub async fn submit_with_model(
        &self,
        request: TaskRequest,
        model: Arc<dyn ModelClient>,
    ) -> Result<PreparedTask, RunError> {
        let prepared = self.check(request, Some(model)).await?;
        self.store.create_task(&prepared.task).await?;
        Ok(prepared)
    }

    async fn check(
        &self,
        request: TaskRequest,
        model: Option<Arc<dyn ModelClient>>,
    ) -> Result<PreparedTask, InputError> {
        if request.issue.title.trim().is_empty() && request.issue.body.trim().is_empty() {
            return Err(InputError::EmptyIssue);
        }
        let repo = open_clean_repo(&request.repo).await?;
        let repo_config = read_repo_config(&repo).await?;

        let model_spec = request
            .model
            .clone()
            .unwrap_or_else(|| self.config.agent.model.clone());
        let model = match model {
            Some(model) => model,
            None => {
                let mut model_config: ModelConfig = self.config.model.clone();
                if request.base_url.is_some() {
                    model_config.base_url = request.base_url.clone();
                }
                build_client(&model_spec, &model_config, self.env.as_ref()).map_err(|err| {
                    // An auth error already says which variable to set.
                    if err.class() == drydock_core::FailureClass::Auth {
                        InputError::Model(err.to_string())
                    } else {
                        InputError::Model(format!("{err} ({})", err.remedy()))
                    }
                })?
            }
        };

        let test_command = repo_config
            .test
            .command
            .clone()
            .or_else(|| self.config.test.command.clone())
            .or_else(|| detect_test_command(repo.root()));
        if test_command.is_none() && !request.allow_untested {
            return Err(InputError::NoTestCommand {
                repo: repo.root().display().to_string(),
            });
        }

        let policy = PolicyEngine::new(&self.config.policy, Some(&repo_config.policy))
            .map_err(|err| InputError::Policy(format!("policy: {err}")))?;
        let redactor = build_redactor(&self.config, &self.config_dir, self.env.as_ref())?;

        let limits: Limits = self.config.task_limits(&repo_config, &request.limits);
        let name = repo
            .root()
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "repo".to_string());
        let spec = TaskSpec {
            kind: TaskKind::NewTask,
            repo: RepoRef {
                location: repo.root().display().to_string(),
                name,
            },
            issue: request.issue,
            model: model.info().spec(),
            limits,
        };
        Ok(PreparedTask {
            task: Task::new(spec),
            repo,
            repo_config,
            test_command,
            model,
            policy,
            redactor,
            // `--approvals`, or an operator who configured the terminal channel.
            approvals: request.approvals
                || self.config.policy.approval.channel == ApprovalChannel::Terminal,
        })
    }
}

/// The redactor every task (and `drydock redact`) uses: the configured rules, the well-known
/// provider keys and tokens in the environment, and the configured secret variables.
pub fn build_redactor(
    config: &Config,
    config_dir: &Path,
    env: &EnvLookup,
) -> Result<Redactor, InputError> {
    let mut known: Vec<KnownSecret> = WELL_KNOWN_SECRET_ENV
        .iter()
        .filter_map(|name| {
            env(name)
                .filter(|value| !value.trim().is_empty())
                .map(|value| KnownSecret::new(*name, value))
        })
        .collect();
    known.extend(config.secrets.env_secrets_with(|name| env(name)));
    let rules = config
        .secrets
        .rule_set(config_dir)
        .map_err(|err| InputError::Policy(format!("secrets: {err}")))?;
    Redactor::new(rules, known).map_err(|err| InputError::Policy(format!("secrets: {err}")))
}

async fn open_clean_repo(path: &Path) -> Result<LocalRepo, InputError> {
    let repo = LocalRepo::open(path)
        .await
        .map_err(|err| InputError::Repo {
            message: repo_message(path, &err),
        })?;
    let status = repo.status().await.map_err(|err| InputError::Repo {
        message: err.to_string(),
    })?;
    if !status.is_empty() {
        let listed: Vec<String> = status
            .iter()
            .take(10)
            .map(|entry| format!("  {}", entry.path.to_string_lossy()))
            .collect();
        return Err(InputError::Repo {
            message: format!(
                "{} has uncommitted changes ({} paths); drydock works from the last commit, so commit or stash them first:\n{}{}",
                repo.root().display(),
                status.len(),
                listed.join("\n"),
                if status.len() > 10 { "\n  ..." } else { "" }
            ),
        });
    }
    Ok(repo)
}

fn repo_message(path: &Path, err: &ForgeError) -> String {
    match err {
        ForgeError::Missing { .. } => format!("{}: no such directory", path.display()),
        ForgeError::NotARepository { .. } => format!(
            "{} is not a git repository (drydock needs one: `git init && git add -A && git commit`)",
            path.display()
        ),
        other => other.to_string(),
    }
}

async fn read_repo_config(repo: &LocalRepo) -> Result<RepoConfig, InputError> {
    let bytes = repo
        .read_file_at_head(".drydock.toml")
        .await
        .map_err(|err| InputError::Repo {
            message: err.to_string(),
        })?;
    let Some(bytes) = bytes else {
        return Ok(RepoConfig::default());
    };
    let origin = format!(".drydock.toml at HEAD of {}", repo.root().display());
    let text = String::from_utf8(bytes).map_err(|_| crate::config::ConfigError::Invalid {
        origin: origin.clone(),
        message: "not UTF-8 text".into(),
    })?;
    Ok(RepoConfig::parse(&text, &origin)?)
}
