//! Running the `drydock` binary in tests, each with its own data directory.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use drydock_testkit::{FixtureRepo, write_trajectory};
use serde_json::Value;

/// A `drydock` with its own data directory (removed on drop).
pub struct Drydock {
    data: tempfile::TempDir,
}

/// What one invocation printed and returned.
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub json: Value,
}

impl Drydock {
    pub fn new() -> Self {
        Self {
            data: tempfile::Builder::new()
                .prefix("drydock-e2e-")
                .tempdir()
                .unwrap(),
        }
    }

    pub fn data_dir(&self) -> &Path {
        self.data.path()
    }

    /// Runs `drydock --data-dir D ARGS` without provider keys in its environment.
    pub fn text(&self, args: &[&str]) -> Output {
        let output = Command::new(env!("CARGO_BIN_EXE_drydock"))
            .arg("--data-dir")
            .arg(self.data.path())
            .args(args)
            .env_remove("ANTHROPIC_API_KEY")
            .env_remove("OPENAI_API_KEY")
            .env_remove("DRYDOCK_CONFIG")
            .env("XDG_CONFIG_HOME", self.data.path().join("no-config"))
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        Output {
            code: output.status.code().unwrap_or(-1),
            json: serde_json::from_str(&stdout).unwrap_or(Value::Null),
            stdout,
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Runs with `--json`.
    pub fn json(&self, args: &[&str]) -> Output {
        let mut full = vec!["--json"];
        full.extend_from_slice(args);
        self.text(&full)
    }

    /// Writes a trajectory file into the data directory.
    pub fn trajectory(&self, name: &str, turns: Vec<Value>, extra: Value) -> PathBuf {
        write_trajectory(self.data.path(), name, turns, extra)
    }

    /// `drydock --json run --repo R --issue-text ISSUE --model scripted:T EXTRA...`
    pub fn run_task(
        &self,
        repo: &FixtureRepo,
        issue: &str,
        trajectory: &Path,
        extra: &[&str],
    ) -> Output {
        let model = format!("scripted:{}", trajectory.display());
        let repo_path = repo.path().display().to_string();
        let mut args = vec![
            "run",
            "--repo",
            &repo_path,
            "--issue-text",
            issue,
            "--model",
            &model,
        ];
        args.extend_from_slice(extra);
        self.json(&args)
    }

    /// Runs SQL on the store's file (as an attacker with file access would: the triggers that
    /// refuse edits are dropped first); returns what the statement printed.
    pub fn sql(&self, statement: &str) -> String {
        let db = self.data.path().join("drydock.db");
        let script = "import sqlite3, sys\n\
            con = sqlite3.connect(sys.argv[1])\n\
            for (name,) in con.execute(\"SELECT name FROM sqlite_master WHERE type = 'trigger'\").fetchall():\n\
            \x20   con.execute('DROP TRIGGER ' + name)\n\
            rows = con.execute(sys.argv[2]).fetchall()\n\
            con.commit()\n\
            print('\\n'.join('|'.join(str(c) for c in r) for r in rows))\n";
        let output = Command::new("python3")
            .args(["-c", script])
            .arg(&db)
            .arg(statement)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }
}

/// The `type` of every event of a `show --json` document, in order.
pub fn event_types(shown: &Value) -> Vec<String> {
    shown["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"]["type"].as_str().unwrap().to_string())
        .collect()
}
