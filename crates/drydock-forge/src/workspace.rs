//! A task's workspace: a hard-linked clone of the source repository on a new branch, and what
//! the orchestrator does with it afterwards (inspect the change, commit, push back).

use std::path::{Path, PathBuf};

use drydock_core::DiffStat;

use crate::diff::parse_numstat;
use crate::git::Git;
use crate::repo::{LocalRepo, resolve_commit};
use crate::status::{StatusEntry, status};
use crate::{ForgeError, GitError};

/// Attributes that take precedence over the repository's own `.gitattributes`: binary detection
/// is git's content check, so a change cannot hide from the diff (and the secret scan of it) by
/// marking text files `-diff` or `binary`.
const INFO_ATTRIBUTES: &str = "* !diff\n";

/// A clone of a source repository's HEAD, on the task's branch.
#[derive(Debug, Clone)]
pub struct Workspace {
    dir: PathBuf,
    branch: String,
    base_commit: String,
    base_branch: String,
    git: Git,
}

/// A branch pushed to a repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pushed {
    /// The repository pushed to.
    pub remote: PathBuf,
    /// The ref updated, `refs/heads/<branch>`.
    pub pushed_ref: String,
    /// The commit the branch now points at.
    pub sha: String,
    /// True when the push created the branch, false when it fast-forwarded or matched it.
    pub created: bool,
}

impl Workspace {
    /// Clones `source` at its current HEAD into `dest` (missing, or an empty directory) and
    /// checks out a new branch `branch` at that commit.
    ///
    /// The clone hard-links the source's object files (`git clone --local`) instead of copying
    /// them, gets no hooks (an empty template), no remote (so its config names no URL, with or
    /// without credentials), and attributes that keep binary detection honest. On failure
    /// nothing is left at `dest`.
    pub async fn create(
        source: &LocalRepo,
        dest: &Path,
        branch: &str,
    ) -> Result<Workspace, ForgeError> {
        let git = source.git().clone();
        check_branch_name(&git, source.root(), branch).await?;
        let existed = check_destination(dest).await?;
        let base_branch = source.current_branch().await?;
        let base_commit = source.head_commit().await?;
        let workspace = Workspace {
            dir: dest.to_path_buf(),
            branch: branch.to_string(),
            base_commit,
            base_branch,
            git,
        };
        match workspace.clone_from(source).await {
            Ok(()) => Ok(workspace),
            Err(err) => {
                // Best effort: the clone error is what the caller needs to see.
                let _ = tokio::fs::remove_dir_all(dest).await;
                if existed {
                    let _ = tokio::fs::create_dir(dest).await;
                }
                Err(err)
            }
        }
    }

    async fn clone_from(&self, source: &LocalRepo) -> Result<(), ForgeError> {
        let mut template = std::ffi::OsString::from("--template=");
        template.push(self.git.template_dir());
        self.git
            .command(source.root())
            .args(["clone", "--local", "--no-checkout", "--quiet"])
            .arg(template)
            .arg("--")
            .arg(source.root())
            .arg(&self.dir)
            .run()
            .await?;
        self.run_git(["remote", "remove", "origin"]).await?;
        let info = self.git_dir().join("info");
        tokio::fs::create_dir_all(&info)
            .await
            .map_err(ForgeError::io(format!("creating {}", info.display())))?;
        let attributes = info.join("attributes");
        tokio::fs::write(&attributes, INFO_ATTRIBUTES)
            .await
            .map_err(ForgeError::io(format!("writing {}", attributes.display())))?;
        // -B: the clone already has a local branch for the source's HEAD, which may carry this
        // name; it is at the base commit anyway, and the push refuses to update a checked-out
        // branch of the source.
        self.run_git([
            "checkout",
            "-q",
            "--no-track",
            "-B",
            &self.branch,
            &self.base_commit,
        ])
        .await?;
        Ok(())
    }

    /// The work tree on the host.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The task's branch.
    pub fn branch(&self) -> &str {
        &self.branch
    }

    /// The commit the branch started from.
    pub fn base_commit(&self) -> &str {
        &self.base_commit
    }

    /// The source branch the workspace was cloned from (the pull request's base).
    pub fn base_branch(&self) -> &str {
        &self.base_branch
    }

    /// The commit at the tip of the task's branch.
    pub async fn head_commit(&self) -> Result<String, ForgeError> {
        resolve_commit(&self.git, &self.dir, "HEAD")
            .await?
            .ok_or_else(|| ForgeError::EmptyRepository {
                path: self.dir.clone(),
            })
    }

    /// Paths that differ from the last commit, untracked files included.
    pub async fn status_paths(&self) -> Result<Vec<StatusEntry>, ForgeError> {
        status(&self.git, &self.dir).await
    }

    /// What changed since the base commit, committed or not, new files included (ignored files
    /// are not: they would not be committed either).
    pub async fn diff_stat(&self) -> Result<DiffStat, ForgeError> {
        let tree = self.snapshot_tree().await?;
        let out = self
            .run_git([
                "diff-tree",
                "-r",
                "-z",
                "--numstat",
                "--no-renames",
                &self.base_commit,
                &tree,
            ])
            .await?;
        parse_numstat(&out.stdout).map_err(|message| {
            ForgeError::Git(GitError::Unexpected {
                command: "diff-tree --numstat".into(),
                message,
            })
        })
    }

    /// The unified diff from the base commit to the work tree, new files included; binary files
    /// appear as `Binary files ... differ`. Non-UTF-8 content is replaced lossily.
    pub async fn diff_text(&self) -> Result<String, ForgeError> {
        let tree = self.snapshot_tree().await?;
        let out = self
            .run_git([
                "diff-tree",
                "-r",
                "-p",
                "--no-renames",
                "--no-ext-diff",
                "--no-textconv",
                "--no-color",
                &self.base_commit,
                &tree,
            ])
            .await?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// True when the work tree (or a commit) differs from the base commit.
    pub async fn has_changes(&self) -> Result<bool, ForgeError> {
        let tree = self.snapshot_tree().await?;
        let base_tree = self
            .run_git(["rev-parse", &format!("{}^{{tree}}", self.base_commit)])
            .await?
            .text();
        Ok(tree != base_tree)
    }

    /// Stages everything (new files and deletions included) and commits it with `message`
    /// followed by `trailers` (`Key: value` lines git itself places and formats). Hooks do not
    /// run. Returns the new commit's id.
    pub async fn commit(
        &self,
        message: &str,
        trailers: &[(&str, &str)],
    ) -> Result<String, ForgeError> {
        if message.trim().is_empty() {
            return Err(ForgeError::EmptyMessage);
        }
        let mut args: Vec<String> = [
            "commit",
            "--quiet",
            "--no-verify",
            "--no-gpg-sign",
            "--cleanup=whitespace",
            "--file=-",
        ]
        .map(String::from)
        .to_vec();
        for (key, value) in trailers {
            check_trailer(key, value)?;
            args.push(format!("--trailer={key}: {value}"));
        }
        self.run_git(["add", "--all"]).await?;
        let staged = self
            .git
            .command(&self.dir)
            .args(["diff-index", "--cached", "--quiet", "HEAD", "--"])
            .output()
            .await?;
        match staged.code {
            Some(0) => {
                return Err(ForgeError::NothingToCommit {
                    path: self.dir.clone(),
                });
            }
            Some(1) => {}
            _ => {
                return Err(crate::git::failed("diff-index --cached --quiet HEAD", &staged).into());
            }
        }
        self.git
            .command(&self.dir)
            .args(&args)
            .stdin(message.as_bytes().to_vec())
            .run()
            .await?;
        self.head_commit().await
    }

    /// Pushes the task branch, and only it, to `source`: never forced, so a branch of the same
    /// name with other history is left alone and the push refused. Nothing else in the source
    /// changes: not its HEAD, index, work tree or other refs, and none of its hooks runs.
    pub async fn push_to_source(&self, source: &LocalRepo) -> Result<Pushed, ForgeError> {
        let checked_out = source.current_branch().await.ok();
        if checked_out.as_deref() == Some(self.branch.as_str()) {
            return Err(ForgeError::BranchCheckedOut {
                branch: self.branch.clone(),
                repo: source.root().to_path_buf(),
            });
        }
        let sha = self.head_commit().await?;
        let pushed_ref = format!("refs/heads/{}", self.branch);
        let refspec = format!("{pushed_ref}:{pushed_ref}");
        let mut receive_pack = std::ffi::OsString::from("--receive-pack=");
        receive_pack.push(self.git.receive_pack_command());
        let out = self
            .git
            .command(&self.dir)
            .args(["push", "--porcelain", "--no-verify"])
            .arg(receive_pack)
            .arg("--")
            .arg(source.root())
            .arg(&refspec)
            .output()
            .await?;
        let report = String::from_utf8_lossy(&out.stdout);
        let line = report
            .lines()
            .find(|line| line.contains(&refspec))
            .unwrap_or("");
        if line.starts_with('!') {
            let refused = if line.contains("checked out") {
                ForgeError::BranchCheckedOut {
                    branch: self.branch.clone(),
                    repo: source.root().to_path_buf(),
                }
            } else {
                ForgeError::BranchDiverged {
                    branch: self.branch.clone(),
                    repo: source.root().to_path_buf(),
                }
            };
            return Err(refused);
        }
        if out.code != Some(0) {
            return Err(crate::git::failed(&format!("push {refspec}"), &out).into());
        }
        Ok(Pushed {
            remote: source.root().to_path_buf(),
            pushed_ref,
            sha,
            created: line.starts_with('*'),
        })
    }

    /// Deletes the workspace from disk.
    pub async fn remove(self) -> Result<(), ForgeError> {
        tokio::fs::remove_dir_all(&self.dir)
            .await
            .map_err(ForgeError::io(format!("removing {}", self.dir.display())))
    }

    fn git_dir(&self) -> PathBuf {
        self.dir.join(".git")
    }

    async fn run_git<const N: usize>(
        &self,
        args: [&str; N],
    ) -> Result<crate::git::GitOutput, ForgeError> {
        Ok(self.git.run(&self.dir, args).await?)
    }

    /// The tree the work tree would commit to right now, built in a scratch index so the
    /// workspace's own index is untouched. The real index seeds it, so unchanged files are not
    /// hashed again.
    async fn snapshot_tree(&self) -> Result<String, ForgeError> {
        let scratch = tempfile::Builder::new()
            .prefix("drydock-index-")
            .tempdir()
            .map_err(ForgeError::io("creating a scratch index directory"))?;
        let index = scratch.path().join("index");
        let real_index = self.git_dir().join("index");
        match tokio::fs::copy(&real_index, &index).await {
            Ok(_) => {}
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => {
                return Err(ForgeError::io(format!("copying {}", real_index.display()))(
                    err,
                ));
            }
        }
        self.git
            .command(&self.dir)
            .env("GIT_INDEX_FILE", &index)
            .args(["add", "--all"])
            .run()
            .await?;
        let tree = self
            .git
            .command(&self.dir)
            .env("GIT_INDEX_FILE", &index)
            .arg("write-tree")
            .run()
            .await?;
        Ok(tree.text())
    }
}

/// True when `dest` exists (as an empty directory); an error when it holds anything.
async fn check_destination(dest: &Path) -> Result<bool, ForgeError> {
    match tokio::fs::read_dir(dest).await {
        Ok(mut entries) => {
            let first = entries
                .next_entry()
                .await
                .map_err(ForgeError::io(format!("reading {}", dest.display())))?;
            if first.is_some() {
                return Err(ForgeError::DestinationNotEmpty {
                    path: dest.to_path_buf(),
                });
            }
            Ok(true)
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(err) if err.kind() == std::io::ErrorKind::NotADirectory => {
            Err(ForgeError::DestinationNotEmpty {
                path: dest.to_path_buf(),
            })
        }
        Err(err) => Err(ForgeError::io(format!("reading {}", dest.display()))(err)),
    }
}

async fn check_branch_name(git: &Git, dir: &Path, branch: &str) -> Result<(), ForgeError> {
    let invalid = || ForgeError::InvalidBranch {
        branch: branch.to_string(),
    };
    // Git accepts "@" and "HEAD" as branch names, but they read as HEAD in revision syntax.
    if branch.starts_with('-') || branch.trim() != branch || matches!(branch, "HEAD" | "@") {
        return Err(invalid());
    }
    let out = git
        .command(dir)
        .args(["check-ref-format", "--branch", branch])
        .output()
        .await?;
    if out.code != Some(0) || out.text() != branch {
        return Err(invalid());
    }
    Ok(())
}

/// Keys are tokens (letters, digits, `-`); values are one non-empty line.
fn check_trailer(key: &str, value: &str) -> Result<(), ForgeError> {
    let invalid = |reason| ForgeError::InvalidTrailer {
        key: key.to_string(),
        reason,
    };
    if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Err(invalid("keys are letters, digits and '-'"));
    }
    if key.starts_with('-') {
        return Err(invalid("keys start with a letter or digit"));
    }
    if value.trim().is_empty() {
        return Err(invalid("the value is empty"));
    }
    if value.contains(['\n', '\r']) {
        return Err(invalid("the value spans several lines"));
    }
    Ok(())
}
