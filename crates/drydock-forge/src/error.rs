use std::path::PathBuf;
use std::time::Duration;

/// A git command that could not run or did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// The git program could not be started.
    #[error("could not run `git {command}`: {source}")]
    Spawn {
        /// The subcommand and its arguments.
        command: String,
        /// Why it could not start.
        #[source]
        source: std::io::Error,
    },
    /// The command ran past its deadline and was killed with its process group.
    #[error("`git {command}` did not finish within {} s and was killed", .timeout.as_secs_f64())]
    Timeout {
        /// The subcommand and its arguments.
        command: String,
        /// The deadline.
        timeout: Duration,
    },
    /// The command exited unsuccessfully.
    #[error("`git {command}` failed ({status}): {stderr}")]
    Failed {
        /// The subcommand and its arguments.
        command: String,
        /// `exit code N` or `killed by signal N`.
        status: String,
        /// What git printed on stderr, trimmed.
        stderr: String,
    },
    /// The command succeeded but printed something drydock cannot interpret.
    #[error("`git {command}` printed output drydock cannot read: {message}")]
    Unexpected {
        /// The subcommand and its arguments.
        command: String,
        /// What was wrong with it.
        message: String,
    },
}

/// A forge operation that failed, with what it was about.
#[derive(Debug, thiserror::Error)]
pub enum ForgeError {
    /// The path does not exist.
    #[error("{}: no such file or directory", .path.display())]
    Missing {
        /// The path given.
        path: PathBuf,
    },
    /// The path is a file, not a directory.
    #[error("{} is not a directory", .path.display())]
    NotADirectory {
        /// The path given.
        path: PathBuf,
    },
    /// The directory is not in a git repository.
    #[error("{} is not a git repository", .path.display())]
    NotARepository {
        /// The path given.
        path: PathBuf,
    },
    /// The repository has no work tree.
    #[error("{} is a bare git repository; drydock needs a repository with a work tree", .path.display())]
    BareRepository {
        /// The path given.
        path: PathBuf,
    },
    /// The directory is inside a repository but is not its top directory.
    #[error(
        "{} is inside the git repository {}; give the repository's top directory",
        .path.display(), .root.display()
    )]
    NotRepoRoot {
        /// The path given.
        path: PathBuf,
        /// The repository's top directory.
        root: PathBuf,
    },
    /// The repository has no commit yet.
    #[error("{} is an empty repository (no commit at HEAD); commit something first", .path.display())]
    EmptyRepository {
        /// The repository.
        path: PathBuf,
    },
    /// HEAD is not on a branch.
    #[error(
        "{} has a detached HEAD (at {commit}); check out the branch the task should start from",
        .path.display()
    )]
    DetachedHead {
        /// The repository.
        path: PathBuf,
        /// The commit HEAD points at.
        commit: String,
    },
    /// A repository-relative path that is absolute, empty or leaves the repository.
    #[error("{path:?} is not a path inside the repository")]
    InvalidPath {
        /// The path given.
        path: String,
    },
    /// What is at the path in a commit is not a regular file.
    #[error("{path} at {rev} is a {kind}, not a regular file")]
    NotAFile {
        /// The path inside the repository.
        path: String,
        /// The commit it was read from.
        rev: String,
        /// `directory`, `symlink` or `submodule`.
        kind: &'static str,
    },
    /// The file is larger than drydock reads into memory.
    #[error("{path} at {rev} is {size} bytes, more than the {limit} bytes drydock reads")]
    FileTooLarge {
        /// The path inside the repository.
        path: String,
        /// The commit it was read from.
        rev: String,
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The workspace destination already holds something.
    #[error("cannot create a workspace at {}: it exists and is not an empty directory", .path.display())]
    DestinationNotEmpty {
        /// The destination.
        path: PathBuf,
    },
    /// A branch name git does not accept.
    #[error("{branch:?} is not a valid branch name")]
    InvalidBranch {
        /// The name given.
        branch: String,
    },
    /// The branch exists in the target repository and the push would rewrite its history.
    #[error(
        "branch {branch} already exists in {} with different history; drydock never force-pushes",
        .repo.display()
    )]
    BranchDiverged {
        /// The branch.
        branch: String,
        /// The repository pushed to.
        repo: PathBuf,
    },
    /// The branch is the one checked out in the target repository.
    #[error("branch {branch} is checked out in {}; drydock only pushes new task branches", .repo.display())]
    BranchCheckedOut {
        /// The branch.
        branch: String,
        /// The repository pushed to.
        repo: PathBuf,
    },
    /// Nothing changed since the last commit.
    #[error("nothing to commit in {}", .path.display())]
    NothingToCommit {
        /// The workspace.
        path: PathBuf,
    },
    /// The commit message is empty.
    #[error("the commit message is empty")]
    EmptyMessage,
    /// A trailer git would misread.
    #[error("invalid commit trailer {key:?}: {reason}")]
    InvalidTrailer {
        /// The trailer's key.
        key: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The pull request does not describe what the workspace holds.
    #[error("the pull request does not match the workspace: {reason}")]
    PullRequestMismatch {
        /// What differs.
        reason: String,
    },
    /// A file-system operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done, with the path.
        context: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// A git command failed.
    #[error(transparent)]
    Git(#[from] GitError),
}

impl ForgeError {
    /// An I/O error with what was being done.
    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> ForgeError {
        let context = context.into();
        move |source| ForgeError::Io { context, source }
    }
}
