//! Test fixtures for drydock (dev-only): throwaway git repositories and scripted trajectories.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

/// A git repository in a temporary directory, removed on drop.
#[derive(Debug)]
pub struct FixtureRepo {
    dir: tempfile::TempDir,
}

impl FixtureRepo {
    /// A repository with `files` (path, content) committed on `main`.
    pub fn new(files: &[(&str, &str)]) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("fixture-repo-")
            .tempdir()
            .unwrap();
        let repo = Self { dir };
        repo.git(&["init", "-q", "-b", "main"]);
        repo.write(files);
        repo.commit("initial commit");
        repo
    }

    /// The working tree.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes files (creating directories) without committing.
    pub fn write(&self, files: &[(&str, &str)]) {
        for (path, content) in files {
            let file = self.path().join(path);
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(file, content).unwrap();
        }
    }

    /// Stages everything and commits.
    pub fn commit(&self, message: &str) {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "--allow-empty", "-m", message]);
    }

    /// Runs git in the repository with a fixed identity; panics on failure; returns stdout.
    pub fn git(&self, args: &[&str]) -> String {
        let output = Command::new("git")
            .args(args)
            .current_dir(self.path())
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_AUTHOR_NAME", "fixture")
            .env("GIT_AUTHOR_EMAIL", "fixture@example.invalid")
            .env("GIT_COMMITTER_NAME", "fixture")
            .env("GIT_COMMITTER_EMAIL", "fixture@example.invalid")
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "git {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Every ref with its commit, HEAD, and the status: to prove a task left the source alone.
    pub fn fingerprint(&self) -> String {
        format!(
            "{}\nHEAD {}\n{}",
            self.git(&["for-each-ref", "--format=%(refname) %(objectname)"]),
            self.git(&["rev-parse", "HEAD"]),
            self.git(&["status", "--porcelain", "--untracked-files=all"])
        )
    }

    /// The files at the tip of `branch`.
    pub fn show(&self, branch: &str, path: &str) -> String {
        self.git(&["show", &format!("{branch}:{path}")])
    }
}

/// A Python project with an off-by-one bug and a failing `unittest` test (no pytest needed).
pub fn buggy_python_repo() -> FixtureRepo {
    FixtureRepo::new(&[
        (".gitignore", "__pycache__/\n"),
        (
            ".drydock.toml",
            "[test]\ncommand = \"python3 -m unittest\"\n",
        ),
        ("calc/__init__.py", ""),
        (
            "calc/ops.py",
            "def last_index(items):\n    return len(items)\n",
        ),
        ("tests/__init__.py", ""),
        (
            "tests/test_ops.py",
            "import unittest\n\nfrom calc.ops import last_index\n\n\nclass T(unittest.TestCase):\n    def test_last_index(self):\n        self.assertEqual(last_index([1, 2, 3]), 2)\n",
        ),
    ])
}

/// One tool call for a trajectory.
pub fn call(name: &str, arguments: Value) -> Value {
    json!({ "name": name, "arguments": arguments })
}

/// A tool call whose arguments are not JSON.
pub fn malformed_call(name: &str, raw: &str) -> Value {
    json!({ "name": name, "raw_arguments": raw })
}

/// An assistant turn.
pub fn turn(text: &str, calls: Vec<Value>) -> Value {
    json!({ "text": text, "tool_calls": calls })
}

/// The fix of [`buggy_python_repo`] followed by `finish`, as trajectory turns.
pub fn fix_turns() -> Vec<Value> {
    vec![
        turn(
            "Reading the code.",
            vec![call("read_file", json!({"path": "calc/ops.py"}))],
        ),
        turn(
            "Off by one.",
            vec![call(
                "edit_file",
                json!({"path": "calc/ops.py", "old_text": "return len(items)", "new_text": "return len(items) - 1"}),
            )],
        ),
        turn(
            "Testing.",
            vec![call(
                "run_command",
                json!({"command": "python3 -m unittest"}),
            )],
        ),
        turn(
            "Done.",
            vec![call(
                "finish",
                json!({"summary": "Return the last index, not the length.", "title": "Fix last_index"}),
            )],
        ),
    ]
}

/// A trajectory file from turns, written into `dir`; returns its path.
pub fn write_trajectory(dir: &Path, name: &str, turns: Vec<Value>, extra: Value) -> PathBuf {
    let mut doc = json!({ "version": 1, "turns": turns });
    if let (Some(doc), Some(extra)) = (doc.as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            doc.insert(k.clone(), v.clone());
        }
    }
    let path = dir.join(format!("{name}.json"));
    std::fs::write(&path, serde_json::to_string_pretty(&doc).unwrap()).unwrap();
    path
}
