//! Real git repositories in temp dirs for the forge's tests.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

/// Runs the host's git as a user would, but without their config; panics on failure.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = git_raw(dir, args);
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim_end().to_string()
}

/// The same, returning the output whatever happened.
pub fn git_raw(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new("git")
        .args([
            "-c",
            "user.name=Test User",
            "-c",
            "user.email=test@example.com",
        ])
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .unwrap()
}

/// Writes files (creating directories), paths relative to `dir`.
pub fn write_files(dir: &Path, files: &[(&str, &str)]) {
    for (path, content) in files {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }
}

/// A repository on branch `main` with one commit of `files`.
pub fn repo_with(files: &[(&str, &str)]) -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    git(dir.path(), &["init", "-q", "-b", "main"]);
    write_files(dir.path(), files);
    git(dir.path(), &["add", "--all"]);
    git(dir.path(), &["commit", "-q", "-m", "initial"]);
    dir
}

/// A small project repository.
pub fn sample_repo() -> TempDir {
    repo_with(&[
        ("README.md", "# pager\n"),
        (
            "src/lib.rs",
            "pub fn pages(n: usize, size: usize) -> usize {\n    n / size\n}\n",
        ),
        ("src/old.rs", "// to be deleted\n"),
        (".gitignore", "target/\n"),
        (".drydock.toml", "[test]\ncommand = \"cargo test\"\n"),
    ])
}

/// Everything in the work tree (outside `.git`), path → content.
pub fn work_tree(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            if path.file_name() == Some(OsStr::new(".git")) {
                continue;
            }
            let kind = entry.file_type().unwrap();
            if kind.is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path.strip_prefix(root).unwrap().to_path_buf();
                out.insert(rel, std::fs::read(&path).unwrap_or_default());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// A snapshot of what a user sees of a repository: refs, HEAD, index bytes, work tree.
#[derive(Debug, PartialEq, Eq)]
pub struct RepoSnapshot {
    pub refs: BTreeMap<String, String>,
    pub head: String,
    pub head_commit: String,
    pub index: Vec<u8>,
    pub work_tree: BTreeMap<PathBuf, Vec<u8>>,
}

pub fn snapshot(dir: &Path) -> RepoSnapshot {
    let refs = git(dir, &["for-each-ref", "--format=%(refname) %(objectname)"])
        .lines()
        .filter_map(|line| line.split_once(' '))
        .map(|(name, oid)| (name.to_string(), oid.to_string()))
        .collect();
    RepoSnapshot {
        refs,
        head: std::fs::read_to_string(dir.join(".git/HEAD")).unwrap(),
        head_commit: git(dir, &["rev-parse", "HEAD"]),
        index: std::fs::read(dir.join(".git/index")).unwrap(),
        work_tree: work_tree(dir),
    }
}

/// A file name that is not UTF-8 (Latin-1 "café.txt").
pub fn non_utf8_name() -> &'static OsStr {
    OsStr::from_bytes(b"caf\xe9.txt")
}

/// Installs an executable hook script that records its name in `marker` when it runs.
pub fn plant_hook(hooks_dir: &Path, name: &str, marker: &Path) {
    std::fs::create_dir_all(hooks_dir).unwrap();
    let hook = hooks_dir.join(name);
    std::fs::write(
        &hook,
        format!("#!/bin/sh\necho {name} >> '{}'\nexit 0\n", marker.display()),
    )
    .unwrap();
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// Every client- and server-side hook git may run while drydock clones, commits and pushes.
pub const HOOKS: &[&str] = &[
    "pre-commit",
    "prepare-commit-msg",
    "commit-msg",
    "post-commit",
    "post-checkout",
    "post-index-change",
    "reference-transaction",
    "pre-push",
    "pre-receive",
    "update",
    "proc-receive",
    "post-receive",
    "post-update",
    "push-to-checkout",
    "pre-auto-gc",
];
