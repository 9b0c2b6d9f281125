use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::TaskId;

/// Lines changed in one file of a diff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct FileChange {
    /// Path relative to the repository root (lossy UTF-8 for non-UTF-8 names).
    pub path: String,
    /// Lines added (0 for binary files).
    pub insertions: u32,
    /// Lines removed (0 for binary files).
    pub deletions: u32,
    /// True when git reports the file as binary.
    pub binary: bool,
}

/// The size of a change, file by file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DiffStat {
    /// One entry per changed file.
    pub files: Vec<FileChange>,
}

impl DiffStat {
    /// Lines added across all files.
    pub fn insertions(&self) -> u32 {
        self.files.iter().map(|f| f.insertions).sum()
    }

    /// Lines removed across all files.
    pub fn deletions(&self) -> u32 {
        self.files.iter().map(|f| f.deletions).sum()
    }

    /// Lines added plus lines removed.
    pub fn changed_lines(&self) -> u32 {
        self.insertions() + self.deletions()
    }
}

/// A pull request as drydock records it (and, for a remote forge, as it was opened).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PullRequest {
    /// The task that produced it.
    pub task_id: TaskId,
    /// One line.
    pub title: String,
    /// Markdown: what changed and why, tests, turns, tokens, cost, denials. Redacted.
    pub body: String,
    /// The branch with the change.
    pub head_branch: String,
    /// The branch it is meant to merge into.
    pub base_branch: String,
    /// The commit at the tip of the head branch.
    pub head_sha: String,
    /// The commit the head branch started from.
    pub base_sha: String,
    /// What changed.
    pub diff_stat: DiffStat,
    /// The forge's address of the pull request, when a remote forge opened one.
    pub url: Option<String>,
    /// When it was recorded.
    pub created_at: DateTime<Utc>,
}
