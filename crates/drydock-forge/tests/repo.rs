//! Opening the user's repository and reading it without changing it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::os::unix::ffi::OsStrExt;
use std::time::{Duration, SystemTime};

use common::{git, non_utf8_name, repo_with, sample_repo, write_files};
use drydock_forge::{Change, ForgeError, LocalRepo, MAX_READ_BYTES, StatusEntry};
use pretty_assertions::assert_eq;

#[tokio::test]
async fn a_repository_opens_with_its_branch_and_head() {
    let dir = sample_repo();
    git(dir.path(), &["checkout", "-q", "-b", "feature/x"]);
    let repo = LocalRepo::open(dir.path()).await.unwrap();
    assert_eq!(repo.root(), dir.path().canonicalize().unwrap());
    assert_eq!(repo.branch(), "feature/x");
    assert_eq!(repo.current_branch().await.unwrap(), "feature/x");
    assert_eq!(
        repo.head_commit().await.unwrap(),
        git(dir.path(), &["rev-parse", "HEAD"])
    );
}

#[tokio::test]
async fn a_symlink_to_the_repository_opens_it() {
    let dir = sample_repo();
    let links = tempfile::tempdir().unwrap();
    let link = links.path().join("repo");
    std::os::unix::fs::symlink(dir.path(), &link).unwrap();
    let repo = LocalRepo::open(&link).await.unwrap();
    assert_eq!(repo.root(), dir.path().canonicalize().unwrap());
}

#[tokio::test]
async fn a_missing_path_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope");
    let err = LocalRepo::open(&missing).await.unwrap_err();
    assert!(matches!(err, ForgeError::Missing { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!("{}: no such file or directory", missing.display())
    );
}

#[tokio::test]
async fn a_file_is_not_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("file.txt");
    std::fs::write(&file, "x").unwrap();
    let err = LocalRepo::open(&file).await.unwrap_err();
    assert!(matches!(err, ForgeError::NotADirectory { .. }), "{err:?}");
}

#[tokio::test]
async fn a_plain_directory_is_not_a_repository() {
    let dir = tempfile::tempdir().unwrap();
    let err = LocalRepo::open(dir.path()).await.unwrap_err();
    assert!(matches!(err, ForgeError::NotARepository { .. }), "{err:?}");
    assert!(
        err.to_string().ends_with("is not a git repository"),
        "{err}"
    );
}

#[tokio::test]
async fn a_bare_repository_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    git(dir.path(), &["init", "-q", "--bare"]);
    let err = LocalRepo::open(dir.path()).await.unwrap_err();
    assert!(matches!(err, ForgeError::BareRepository { .. }), "{err:?}");
}

#[tokio::test]
async fn a_subdirectory_names_the_repository_root() {
    let dir = sample_repo();
    let err = LocalRepo::open(&dir.path().join("src")).await.unwrap_err();
    match err {
        ForgeError::NotRepoRoot { root, .. } => {
            assert_eq!(root, dir.path().canonicalize().unwrap());
        }
        other => panic!("expected NotRepoRoot, got {other:?}"),
    }
    let err = LocalRepo::open(&dir.path().join(".git")).await.unwrap_err();
    assert!(matches!(err, ForgeError::NotARepository { .. }), "{err:?}");
}

#[tokio::test]
async fn an_empty_repository_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    git(dir.path(), &["init", "-q"]);
    let err = LocalRepo::open(dir.path()).await.unwrap_err();
    assert!(matches!(err, ForgeError::EmptyRepository { .. }), "{err:?}");
    assert!(err.to_string().contains("commit something first"), "{err}");
}

#[tokio::test]
async fn a_detached_head_is_refused_with_its_commit() {
    let dir = sample_repo();
    let head = git(dir.path(), &["rev-parse", "HEAD"]);
    git(dir.path(), &["checkout", "-q", "--detach"]);
    match LocalRepo::open(dir.path()).await.unwrap_err() {
        ForgeError::DetachedHead { commit, .. } => assert_eq!(commit, head),
        other => panic!("expected DetachedHead, got {other:?}"),
    }
}

#[tokio::test]
async fn a_clean_repository_is_clean_and_ignored_files_do_not_count() {
    let dir = sample_repo();
    write_files(dir.path(), &[("target/debug/build.log", "ignored")]);
    let repo = LocalRepo::open(dir.path()).await.unwrap();
    assert!(repo.is_clean().await.unwrap());
    assert_eq!(repo.status().await.unwrap(), vec![]);
}

#[tokio::test]
async fn every_kind_of_dirtiness_is_listed() {
    let dir = sample_repo();
    let repo = LocalRepo::open(dir.path()).await.unwrap();
    write_files(
        dir.path(),
        &[
            ("src/lib.rs", "changed\n"),
            ("notes.txt", "untracked\n"),
            ("staged.rs", "new\n"),
        ],
    );
    git(dir.path(), &["add", "staged.rs"]);
    std::fs::remove_file(dir.path().join("src/old.rs")).unwrap();
    std::fs::write(dir.path().join(non_utf8_name()), "latin-1 name\n").unwrap();

    assert!(!repo.is_clean().await.unwrap());
    let mut status = repo.status().await.unwrap();
    status.sort_by(|a, b| a.path.cmp(&b.path));
    let entry = |path: &std::ffi::OsStr, change, staged| StatusEntry {
        path: path.into(),
        change,
        staged,
    };
    assert_eq!(
        status,
        vec![
            entry(non_utf8_name(), Change::Untracked, false),
            entry("notes.txt".as_ref(), Change::Untracked, false),
            entry("src/lib.rs".as_ref(), Change::Modified, false),
            entry("src/old.rs".as_ref(), Change::Deleted, false),
            entry("staged.rs".as_ref(), Change::Added, true),
        ]
    );
    assert_eq!(status[0].path.as_os_str().as_bytes(), b"caf\xe9.txt");
}

#[tokio::test]
async fn checking_status_never_rewrites_the_index() {
    let dir = sample_repo();
    let repo = LocalRepo::open(dir.path()).await.unwrap();
    // A stat change without a content change: a plain `git status` would refresh the index.
    let file = std::fs::File::options()
        .write(true)
        .open(dir.path().join("README.md"))
        .unwrap();
    file.set_modified(SystemTime::now() + Duration::from_secs(3600))
        .unwrap();
    let index_before = std::fs::read(dir.path().join(".git/index")).unwrap();
    assert!(repo.is_clean().await.unwrap());
    assert_eq!(
        std::fs::read(dir.path().join(".git/index")).unwrap(),
        index_before
    );
}

#[tokio::test]
async fn files_are_read_from_head_never_from_the_work_tree() {
    let dir = sample_repo();
    let repo = LocalRepo::open(dir.path()).await.unwrap();
    write_files(
        dir.path(),
        &[(".drydock.toml", "[test]\ncommand = \"rm -rf /\"\n")],
    );
    write_files(dir.path(), &[("uncommitted.toml", "x")]);
    assert_eq!(
        repo.read_file_at_head(".drydock.toml").await.unwrap(),
        Some(b"[test]\ncommand = \"cargo test\"\n".to_vec())
    );
    assert_eq!(
        repo.read_file_at_head("uncommitted.toml").await.unwrap(),
        None
    );
    assert_eq!(
        repo.read_file_at_head("nope/missing.toml").await.unwrap(),
        None
    );
    assert_eq!(
        repo.read_file_at_head("./src/lib.rs").await.unwrap(),
        Some(b"pub fn pages(n: usize, size: usize) -> usize {\n    n / size\n}\n".to_vec())
    );
}

#[tokio::test]
async fn paths_are_literal_not_patterns() {
    let dir = repo_with(&[("a.toml", "a"), ("config/x.toml", "x")]);
    let repo = LocalRepo::open(dir.path()).await.unwrap();
    for pattern in ["*.toml", "?.toml", "[a].toml", ":(glob)*.toml", "config/*"] {
        assert_eq!(
            repo.read_file_at_head(pattern).await.unwrap(),
            None,
            "{pattern}"
        );
    }
}

#[tokio::test]
async fn non_files_and_escaping_paths_are_refused() {
    let dir = repo_with(&[("dir/file.txt", "x"), ("big.bin", "")]);
    std::os::unix::fs::symlink("/etc/passwd", dir.path().join("link")).unwrap();
    let big = vec![b'x'; usize::try_from(MAX_READ_BYTES).unwrap() + 1];
    std::fs::write(dir.path().join("big.bin"), &big).unwrap();
    git(dir.path(), &["add", "--all"]);
    git(dir.path(), &["commit", "-q", "-m", "more"]);
    let repo = LocalRepo::open(dir.path()).await.unwrap();

    for (path, kind) in [("dir", "directory"), ("link", "symlink")] {
        match repo.read_file_at_head(path).await.unwrap_err() {
            ForgeError::NotAFile { kind: found, .. } => assert_eq!(found, kind, "{path}"),
            other => panic!("{path}: expected NotAFile, got {other:?}"),
        }
    }
    match repo.read_file_at_head("big.bin").await.unwrap_err() {
        ForgeError::FileTooLarge { size, limit, .. } => {
            assert_eq!((size, limit), (MAX_READ_BYTES + 1, MAX_READ_BYTES));
        }
        other => panic!("expected FileTooLarge, got {other:?}"),
    }
    for path in ["", ".", "/etc/passwd", "../outside.toml", "dir/../../x"] {
        assert!(
            matches!(
                repo.read_file_at_head(path).await,
                Err(ForgeError::InvalidPath { .. })
            ),
            "{path:?}"
        );
    }
}

#[tokio::test]
async fn a_file_can_be_read_at_an_older_commit() {
    let dir = sample_repo();
    let first = git(dir.path(), &["rev-parse", "HEAD"]);
    write_files(dir.path(), &[("README.md", "# pager v2\n")]);
    git(dir.path(), &["commit", "-qam", "v2"]);
    let repo = LocalRepo::open(dir.path()).await.unwrap();
    assert_eq!(
        repo.read_file_at(&first, "README.md").await.unwrap(),
        Some(b"# pager\n".to_vec())
    );
    assert_eq!(
        repo.read_file_at_head("README.md").await.unwrap(),
        Some(b"# pager v2\n".to_vec())
    );
    assert!(repo.read_file_at("no-such-rev", "README.md").await.is_err());
}
