//! Parsing `git status --porcelain=v1 -z` into entries with raw (possibly non-UTF-8) paths.

use std::path::{Path, PathBuf};

use crate::git::{Git, path_from_bytes};
use crate::{ForgeError, GitError};

/// How a path differs from HEAD.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Change {
    /// New and tracked (staged).
    Added,
    /// Content or mode changed.
    Modified,
    /// Removed.
    Deleted,
    /// Changed kind (file, symlink, submodule).
    TypeChanged,
    /// New and not tracked, not ignored.
    Untracked,
    /// Unmerged: a merge or rebase stopped on it.
    Conflicted,
}

/// One path that differs from HEAD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusEntry {
    /// Path relative to the repository root, as raw bytes.
    pub path: PathBuf,
    /// What changed.
    pub change: Change,
    /// True when (some of) the change is in the index.
    pub staged: bool,
}

/// Every changed, staged or untracked (not ignored) path of the work tree at `root`.
/// Runs without taking the index lock, so it never rewrites the index of a repository it reads.
pub(crate) async fn status(git: &Git, root: &Path) -> Result<Vec<StatusEntry>, ForgeError> {
    let out = git
        .run(
            root,
            [
                "status",
                "--porcelain=v1",
                "-z",
                "--untracked-files=all",
                "--no-renames",
                "--ignore-submodules=none",
            ],
        )
        .await?;
    parse_porcelain(&out.stdout).map_err(|message| {
        ForgeError::Git(GitError::Unexpected {
            command: "status --porcelain=v1 -z".into(),
            message,
        })
    })
}

/// Parses `XY <path>\0` records (renames are off, so there is never a second path).
pub(crate) fn parse_porcelain(raw: &[u8]) -> Result<Vec<StatusEntry>, String> {
    raw.split(|b| *b == 0)
        .filter(|record| !record.is_empty())
        .map(|record| {
            if record.len() < 4 || record[2] != b' ' {
                return Err(format!(
                    "bad status record {:?}",
                    String::from_utf8_lossy(record)
                ));
            }
            let (x, y) = (record[0], record[1]);
            let change = match (x, y) {
                (b'?', b'?') => Change::Untracked,
                (b'U', _) | (_, b'U') | (b'A', b'A') | (b'D', b'D') => Change::Conflicted,
                (b'D', _) | (_, b'D') => Change::Deleted,
                (b'A', _) => Change::Added,
                (b'T', _) | (_, b'T') => Change::TypeChanged,
                _ => Change::Modified,
            };
            Ok(StatusEntry {
                path: path_from_bytes(&record[3..]),
                change,
                staged: !matches!(x, b' ' | b'?'),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_parse_into_changes() {
        let raw = b" M src/lib.rs\0A  new.rs\0D  gone.rs\0 D also-gone.rs\0?? caf\xe9.txt\0UU both.rs\0MM half.rs\0 T link\0";
        let entries = parse_porcelain(raw).unwrap();
        let summary: Vec<(Vec<u8>, Change, bool)> = entries
            .iter()
            .map(|e| {
                use std::os::unix::ffi::OsStrExt;
                (e.path.as_os_str().as_bytes().to_vec(), e.change, e.staged)
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                (b"src/lib.rs".to_vec(), Change::Modified, false),
                (b"new.rs".to_vec(), Change::Added, true),
                (b"gone.rs".to_vec(), Change::Deleted, true),
                (b"also-gone.rs".to_vec(), Change::Deleted, false),
                (b"caf\xe9.txt".to_vec(), Change::Untracked, false),
                (b"both.rs".to_vec(), Change::Conflicted, true),
                (b"half.rs".to_vec(), Change::Modified, true),
                (b"link".to_vec(), Change::TypeChanged, false),
            ]
        );
    }

    #[test]
    fn empty_output_is_a_clean_tree_and_garbage_is_an_error() {
        assert_eq!(parse_porcelain(b"").unwrap(), vec![]);
        assert!(parse_porcelain(b"XYZ\0").is_err());
        assert!(parse_porcelain(b"M\0").is_err());
    }
}
