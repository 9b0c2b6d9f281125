//! What differs between forges, behind one small trait.

use std::fmt::Debug;

use async_trait::async_trait;
use drydock_core::PullRequest;

use crate::{ForgeError, LocalRepo, Workspace};

/// What publishing a task's change produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    /// The forge's address of the pull request; `None` for the local forge, where the pull
    /// request is only recorded by the store.
    pub url: Option<String>,
    /// The ref pushed, `refs/heads/<branch>`.
    pub pushed_ref: String,
    /// Where it was pushed (a path or a URL, never with credentials).
    pub remote: String,
    /// The commit the ref now points at.
    pub sha: String,
}

/// A place pull requests go. The orchestrator commits in the workspace, records the pull
/// request in the store, and asks the forge to publish it.
#[async_trait]
pub trait Forge: Send + Sync + Debug {
    /// Short name for logs and the audit log (`local`, `github`).
    fn name(&self) -> &str;

    /// Pushes the workspace's branch and opens the pull request where the forge has them.
    async fn publish(
        &self,
        workspace: &Workspace,
        pr: &PullRequest,
    ) -> Result<Published, ForgeError>;
}

/// The forge of a repository on this machine: publishing pushes the task branch back into it.
#[derive(Debug, Clone)]
pub struct LocalForge {
    source: LocalRepo,
}

impl LocalForge {
    /// A forge that publishes into `source`.
    pub fn new(source: LocalRepo) -> LocalForge {
        LocalForge { source }
    }

    /// The repository it publishes into.
    pub fn source(&self) -> &LocalRepo {
        &self.source
    }
}

#[async_trait]
impl Forge for LocalForge {
    fn name(&self) -> &str {
        "local"
    }

    /// Checks that the pull request describes the workspace (same branch, same head commit) and
    /// pushes the branch to the source repository.
    async fn publish(
        &self,
        workspace: &Workspace,
        pr: &PullRequest,
    ) -> Result<Published, ForgeError> {
        if pr.head_branch != workspace.branch() {
            return Err(ForgeError::PullRequestMismatch {
                reason: format!(
                    "its head branch is {} but the workspace is on {}",
                    pr.head_branch,
                    workspace.branch()
                ),
            });
        }
        let head = workspace.head_commit().await?;
        if pr.head_sha != head {
            return Err(ForgeError::PullRequestMismatch {
                reason: format!(
                    "its head commit is {} but the workspace is at {head}",
                    pr.head_sha
                ),
            });
        }
        let pushed = workspace.push_to_source(&self.source).await?;
        Ok(Published {
            url: None,
            pushed_ref: pushed.pushed_ref,
            remote: pushed.remote.display().to_string(),
            sha: pushed.sha,
        })
    }
}
