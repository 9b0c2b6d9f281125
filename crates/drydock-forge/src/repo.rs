//! The user's repository that tasks start from: checked on open, read without touching it.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use crate::git::{Git, path_from_bytes};
use crate::status::{StatusEntry, status};
use crate::{ForgeError, GitError};

/// The largest file [`LocalRepo::read_file_at`] reads into memory.
pub const MAX_READ_BYTES: u64 = 1024 * 1024;

/// A local git repository with a work tree, a commit at HEAD and a branch checked out.
#[derive(Debug, Clone)]
pub struct LocalRepo {
    root: PathBuf,
    branch: String,
    git: Git,
}

impl LocalRepo {
    /// Opens the repository whose top directory is `path`, with a default [`Git`].
    pub async fn open(path: &Path) -> Result<LocalRepo, ForgeError> {
        LocalRepo::open_with(path, Git::new()?).await
    }

    /// Opens the repository whose top directory is `path`, running `git`.
    ///
    /// Refuses a missing path, a file, a directory outside any repository, a bare repository,
    /// a subdirectory of a repository, a repository without commits and a detached HEAD, each
    /// with its own error.
    pub async fn open_with(path: &Path, git: Git) -> Result<LocalRepo, ForgeError> {
        let meta = tokio::fs::metadata(path).await.map_err(|err| {
            if err.kind() == std::io::ErrorKind::NotFound {
                ForgeError::Missing {
                    path: path.to_path_buf(),
                }
            } else {
                ForgeError::io(format!("reading {}", path.display()))(err)
            }
        })?;
        if !meta.is_dir() {
            return Err(ForgeError::NotADirectory {
                path: path.to_path_buf(),
            });
        }
        let canonical = tokio::fs::canonicalize(path)
            .await
            .map_err(ForgeError::io(format!("resolving {}", path.display())))?;
        let not_a_repo = || ForgeError::NotARepository {
            path: path.to_path_buf(),
        };

        let bare = git
            .command(&canonical)
            .args(["rev-parse", "--is-bare-repository"])
            .output()
            .await?;
        if bare.code != Some(0) {
            return Err(not_a_repo());
        }
        if bare.text() == "true" {
            return Err(ForgeError::BareRepository {
                path: path.to_path_buf(),
            });
        }
        let toplevel = git
            .command(&canonical)
            .args(["rev-parse", "--show-toplevel"])
            .output()
            .await?;
        if toplevel.code != Some(0) {
            return Err(not_a_repo());
        }
        let root = path_from_bytes(trim_newline(&toplevel.stdout));
        if root != canonical {
            return Err(ForgeError::NotRepoRoot {
                path: path.to_path_buf(),
                root,
            });
        }
        if resolve_commit(&git, &root, "HEAD").await?.is_none() {
            return Err(ForgeError::EmptyRepository { path: root });
        }
        let branch = current_branch(&git, &root).await?;
        Ok(LocalRepo { root, branch, git })
    }

    /// The repository's top directory (canonical).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The branch checked out when the repository was opened.
    pub fn branch(&self) -> &str {
        &self.branch
    }

    /// The git runner used for this repository.
    pub fn git(&self) -> &Git {
        &self.git
    }

    /// The commit HEAD points at now.
    pub async fn head_commit(&self) -> Result<String, ForgeError> {
        resolve_commit(&self.git, &self.root, "HEAD")
            .await?
            .ok_or_else(|| ForgeError::EmptyRepository {
                path: self.root.clone(),
            })
    }

    /// The branch checked out now; a detached HEAD is an error.
    pub async fn current_branch(&self) -> Result<String, ForgeError> {
        current_branch(&self.git, &self.root).await
    }

    /// True when no tracked file is modified, staged or deleted and no untracked (not ignored)
    /// file exists: the work tree is exactly HEAD, which is what a task starts from.
    pub async fn is_clean(&self) -> Result<bool, ForgeError> {
        Ok(self.status().await?.is_empty())
    }

    /// Every path that differs from HEAD, untracked files included, ignored files not.
    pub async fn status(&self) -> Result<Vec<StatusEntry>, ForgeError> {
        status(&self.git, &self.root).await
    }

    /// The file at `path` (relative to the root) in HEAD, never from the work tree;
    /// `None` when HEAD has no such path.
    pub async fn read_file_at_head(&self, path: &str) -> Result<Option<Vec<u8>>, ForgeError> {
        self.read_file_at("HEAD", path).await
    }

    /// The file at `path` in commit `rev`; `None` when it has no such path. Symlinks,
    /// directories and submodules are errors, and so is a file over [`MAX_READ_BYTES`].
    pub async fn read_file_at(&self, rev: &str, path: &str) -> Result<Option<Vec<u8>>, ForgeError> {
        check_relative(path)?;
        let treeish = format!("{rev}^{{tree}}");
        let listing = self
            .git
            .command(&self.root)
            .env("GIT_LITERAL_PATHSPECS", "1")
            .args(["ls-tree", "-z", "-l", &treeish, "--", path])
            .run()
            .await?;
        let Some(entry) = listing.stdout.split(|b| *b == 0).find(|r| !r.is_empty()) else {
            return Ok(None);
        };
        let entry = parse_ls_tree(entry).ok_or_else(|| {
            ForgeError::Git(GitError::Unexpected {
                command: format!("ls-tree -z -l {treeish} -- {path}"),
                message: format!("bad entry {:?}", String::from_utf8_lossy(entry)),
            })
        })?;
        let kind = match entry.mode {
            "100644" | "100755" => None,
            "120000" => Some("symlink"),
            "040000" => Some("directory"),
            "160000" => Some("submodule"),
            _ => Some("special entry"),
        };
        if let Some(kind) = kind {
            return Err(ForgeError::NotAFile {
                path: path.to_string(),
                rev: rev.to_string(),
                kind,
            });
        }
        if entry.size > MAX_READ_BYTES {
            return Err(ForgeError::FileTooLarge {
                path: path.to_string(),
                rev: rev.to_string(),
                size: entry.size,
                limit: MAX_READ_BYTES,
            });
        }
        let blob = self
            .git
            .run(&self.root, ["cat-file", "blob", entry.object])
            .await?;
        Ok(Some(blob.stdout))
    }
}

struct TreeEntry<'a> {
    mode: &'a str,
    object: &'a str,
    size: u64,
}

/// Parses `<mode> SP <type> SP <object> SP+ <size> TAB <path>`.
fn parse_ls_tree(record: &[u8]) -> Option<TreeEntry<'_>> {
    let tab = record.iter().position(|b| *b == b'\t')?;
    let meta = std::str::from_utf8(&record[..tab]).ok()?;
    let mut fields = meta.split_whitespace();
    let mode = fields.next()?;
    let _kind = fields.next()?;
    let object = fields.next()?;
    let size = fields.next()?.parse().unwrap_or(0);
    Some(TreeEntry { mode, object, size })
}

/// Refuses absolute paths and `..`, which `ls-tree` would resolve outside the tree.
fn check_relative(path: &str) -> Result<(), ForgeError> {
    let as_path = Path::new(path);
    let escapes = as_path.components().any(|c| {
        !matches!(
            c,
            std::path::Component::Normal(_) | std::path::Component::CurDir
        )
    });
    if path.is_empty() || escapes || as_path.as_os_str() == OsStr::new(".") {
        return Err(ForgeError::InvalidPath {
            path: path.to_string(),
        });
    }
    Ok(())
}

/// The commit `rev` names, or `None` when it names none.
pub(crate) async fn resolve_commit(
    git: &Git,
    dir: &Path,
    rev: &str,
) -> Result<Option<String>, ForgeError> {
    let spec = format!("{rev}^{{commit}}");
    let out = git
        .command(dir)
        .args(["rev-parse", "--verify", "-q", "--end-of-options", &spec])
        .output()
        .await?;
    Ok((out.code == Some(0)).then(|| out.text()))
}

async fn current_branch(git: &Git, root: &Path) -> Result<String, ForgeError> {
    let out = git
        .command(root)
        .args(["symbolic-ref", "-q", "--short", "HEAD"])
        .output()
        .await?;
    if out.code == Some(0) {
        return Ok(out.text());
    }
    let commit = resolve_commit(git, root, "HEAD").await?.unwrap_or_default();
    Err(ForgeError::DetachedHead {
        path: root.to_path_buf(),
        commit,
    })
}

fn trim_newline(bytes: &[u8]) -> &[u8] {
    bytes.strip_suffix(b"\n").unwrap_or(bytes)
}
