//! End to end: the real `drydock` binary on fixture repositories with scripted trajectories, the
//! real local sandbox, SQLite store, policy engine and redactor.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use drydock_testkit::{FixtureRepo, buggy_python_repo, call, fix_turns, malformed_call, turn};
use serde_json::json;
use support::{Drydock, event_types};

#[test]
fn a_successful_fix_is_committed_pushed_and_recorded() {
    let repo = buggy_python_repo();
    let before = repo.fingerprint();
    let dd = Drydock::new();
    let trajectory = dd.trajectory("fix", fix_turns(), json!({}));
    let run = dd.run_task(&repo, "last_index returns the length", &trajectory, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let task = &run.json["task"];
    assert_eq!(task["state"], "completed");
    let branch = task["branch"].as_str().unwrap();
    assert!(branch.starts_with("drydock/"), "{branch}");

    // The branch is in the source repository, with the fix and the trailers.
    assert_eq!(
        repo.show(branch, "calc/ops.py"),
        "def last_index(items):\n    return len(items) - 1\n"
    );
    let trailers = repo.git(&["log", "-1", "--format=%(trailers:only)", branch]);
    assert!(
        trailers.contains(&format!("Drydock-Task: {}", task["id"].as_str().unwrap())),
        "{trailers}"
    );
    let prompt_hash = task["prompt_hash"].as_str().unwrap();
    assert!(
        trailers.contains(&format!("Drydock-Prompt: {prompt_hash}")),
        "{trailers}"
    );

    // Nothing else in the source changed: same refs (plus the branch), HEAD, index and tree.
    let after = repo.fingerprint();
    let new_ref = format!("refs/heads/{branch} ");
    let after_without_branch: String = after
        .lines()
        .filter(|l| !l.starts_with(&new_ref))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(after_without_branch.trim_end(), before.trim_end());

    // The pull-request record.
    let pr = dd.json(&["pr", "show", task["id"].as_str().unwrap()]);
    assert_eq!(pr.code, 0, "{}", pr.stderr);
    assert_eq!(pr.json["title"], "Fix last_index");
    assert_eq!(pr.json["head_branch"], branch);
    let body = pr.json["body"].as_str().unwrap();
    assert!(
        body.contains("Return the last index, not the length."),
        "{body}"
    );
    assert!(
        body.contains("`python3 -m unittest` after the agent finished: **passed**"),
        "{body}"
    );
    assert!(body.contains("4 turns"), "{body}");
    assert_eq!(pr.json["diff_stat"]["files"][0]["path"], "calc/ops.py");

    // The trajectory is in the audit log, in order, and the chain verifies.
    let shown = dd.json(&["show", task["id"].as_str().unwrap()]);
    let types: Vec<String> = event_types(&shown.json)
        .into_iter()
        .filter(|t| t != "note")
        .collect();
    let expected_order = [
        "task_created",
        "state_changed",
        "workspace_prepared",
        "sandbox_started",
        "state_changed",
        "prompt_rendered",
        "model_turn",
        "tool_call",
        "policy_decision",
        "tool_result",
    ];
    assert_eq!(&types[..expected_order.len()], &expected_order);
    for kind in ["tests_run", "committed", "pushed", "pull_request_opened"] {
        assert!(
            types.contains(&kind.to_string()),
            "{kind} missing from {types:?}"
        );
    }
    let verify = dd.json(&["audit", "verify"]);
    assert_eq!(verify.code, 0, "{}", verify.stdout);
    assert_eq!(verify.json["intact"], true);

    // `tasks` lists it.
    let tasks = dd.json(&["tasks"]);
    assert_eq!(tasks.json[0]["id"], task["id"]);
}

#[test]
fn a_fix_whose_tests_fail_ends_failed_without_a_pull_request() {
    let repo = buggy_python_repo();
    let before = repo.fingerprint();
    let dd = Drydock::new();
    let turns = vec![
        turn(
            "Wrong fix.",
            vec![call(
                "edit_file",
                json!({"path": "calc/ops.py", "old_text": "return len(items)", "new_text": "return len(items) + 1"}),
            )],
        ),
        turn(
            "Done.",
            vec![call("finish", json!({"summary": "Changed it."}))],
        ),
    ];
    let trajectory = dd.trajectory("wrong", turns, json!({}));
    let run = dd.run_task(&repo, "last_index returns the length", &trajectory, &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let task = &run.json["task"];
    assert_eq!(task["state"], "failed");
    assert_eq!(task["failure"]["class"], "verification");
    assert_eq!(task["failure"]["code"], "tests_failed");
    assert!(run.json["pull_request"].is_null());
    assert_eq!(
        repo.fingerprint(),
        before,
        "the source repository must be untouched"
    );
    // The attempt is kept on the branch in the workspace.
    let workspace = run.json["workspace"].as_str().unwrap();
    let ws = std::path::Path::new(workspace);
    let log = std::process::Command::new("git")
        .args(["-C", workspace, "log", "-1", "--format=%s"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&log.stdout).starts_with("WIP (tests failed)"));
    assert!(
        std::fs::read_to_string(ws.join("calc/ops.py"))
            .unwrap()
            .contains("+ 1")
    );
    let pr = dd.json(&["pr", "show", task["id"].as_str().unwrap()]);
    assert_eq!(pr.code, 1);
}

#[test]
fn a_task_that_changes_nothing_fails_with_that_reason() {
    let repo = buggy_python_repo();
    let dd = Drydock::new();
    let trajectory = dd.trajectory(
        "noop",
        vec![turn(
            "Nothing to do.",
            vec![call("finish", json!({"summary": "none"}))],
        )],
        json!({}),
    );
    let run = dd.run_task(&repo, "do nothing", &trajectory, &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(run.json["task"]["failure"]["code"], "no_changes");
}

#[test]
fn a_loop_is_steered_then_stopped() {
    let repo = buggy_python_repo();
    let dd = Drydock::new();
    let same = turn(
        "Again.",
        vec![call(
            "run_command",
            json!({"command": "python3 -m unittest"}),
        )],
    );
    let mut turns = vec![same.clone(), same.clone(), same.clone()];
    // The steer reaches the model with the third result.
    let mut steered = same.clone();
    steered["expect"] = json!({"last_user_text_contains": ["same arguments 3 times"]});
    turns.push(steered);
    turns.push(same.clone());
    turns.push(same);
    turns.push(turn("never reached", vec![]));
    let trajectory = dd.trajectory("loop", turns, json!({}));
    let run = dd.run_task(&repo, "loop forever", &trajectory, &[]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert_eq!(run.json["task"]["failure"]["class"], "budget");
    assert_eq!(run.json["task"]["failure"]["code"], "stuck");
    let shown = dd.json(&["show", run.json["task"]["id"].as_str().unwrap()]);
    let loops: Vec<String> = shown.json["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"]["type"] == "loop_detected")
        .map(|e| e["kind"]["action"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(loops, vec!["steer", "stop"]);
}

#[test]
fn turn_and_cost_budgets_stop_the_task_before_the_call() {
    let repo = buggy_python_repo();
    let dd = Drydock::new();
    let trajectory = dd.trajectory("fix", fix_turns(), json!({}));
    let run = dd.run_task(&repo, "fix", &trajectory, &["--max-turns", "2"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert_eq!(run.json["task"]["failure"]["code"], "max_turns");
    assert_eq!(run.json["task"]["stats"]["turns"], 2);

    // $15 per million output tokens: the first call's worst case (8192 reply tokens) alone is
    // $0.12, over a $0.05 budget once the prompt is priced in, so no call is ever made.
    let priced = dd.trajectory(
        "priced",
        fix_turns(),
        json!({"price": {"input": 3.0, "output": 15.0}}),
    );
    let run = dd.run_task(&repo, "fix", &priced, &["--max-cost", "0.01"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert_eq!(run.json["task"]["failure"]["code"], "max_cost");
    assert_eq!(
        run.json["task"]["stats"]["turns"], 0,
        "no call may start that the budget cannot pay for"
    );
    let shown = dd.json(&["show", run.json["task"]["id"].as_str().unwrap()]);
    let budget = shown.json["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"]["type"] == "budget")
        .expect("a budget event")
        .clone();
    assert_eq!(budget["kind"]["budget"], "cost");
    assert_eq!(budget["kind"]["exhausted"], true);
}

#[test]
fn malformed_model_output_is_returned_to_the_model_which_recovers() {
    let repo = buggy_python_repo();
    let dd = Drydock::new();
    let mut turns = vec![
        turn(
            "Broken JSON.",
            vec![malformed_call("read_file", "{\"path\": \"calc/ops.py\"")],
        ),
        turn(
            "A tool that does not exist.",
            vec![call("delete_everything", json!({}))],
        ),
        turn(
            "Wrong argument names.",
            vec![call("read_file", json!({"file": "calc/ops.py"}))],
        ),
    ];
    turns[1]["expect"] =
        json!({"last_tool_result_is_error": true, "last_tool_result_contains": ["not valid JSON"]});
    turns[2]["expect"] = json!({"last_tool_result_is_error": true, "last_tool_result_contains": ["no tool named \"delete_everything\""]});
    let mut rest = fix_turns();
    rest[0]["expect"] = json!({"last_tool_result_is_error": true, "last_tool_result_contains": ["unknown field `file`"]});
    turns.extend(rest);
    let trajectory = dd.trajectory("malformed", turns, json!({}));
    let run = dd.run_task(&repo, "fix", &trajectory, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.json["task"]["state"], "completed");
}

#[test]
fn path_escapes_are_refused_and_recorded_and_the_task_goes_on() {
    let repo = buggy_python_repo();
    let outside = tempfile::tempdir().unwrap();
    let target = outside.path().join("planted.txt");
    std::fs::write(&target, "host secret").unwrap();
    let dd = Drydock::new();
    let refused = |path: &str, expect: &str| {
        let mut t = turn("Trying.", vec![call("read_file", json!({"path": path}))]);
        t["expect"] = json!({});
        (t, expect.to_string())
    };
    let attempts = [
        refused("../../../../etc/passwd", "'..'"),
        refused(target.to_str().unwrap(), "absolute path"),
    ];
    let mut turns = Vec::new();
    let mut expectations = Vec::new();
    for (t, expect) in attempts {
        turns.push(t);
        expectations.push(expect);
    }
    turns.push(turn(
        "Hook.",
        vec![call(
            "write_file",
            json!({"path": ".git/hooks/pre-commit", "content": "#!/bin/sh\ntouch /tmp/pwned\n"}),
        )],
    ));
    expectations.push("inside .git".into());
    turns.push(turn(
        "Symlink.",
        vec![call(
            "run_command",
            json!({"command": format!("ln -s {} link", target.display())}),
        )],
    ));
    expectations.push(String::new());
    turns.push(turn(
        "Through the link.",
        vec![call("read_file", json!({"path": "link"}))],
    ));
    expectations.push("symlink that leads outside".into());
    let mut rest = fix_turns();
    // Each turn checks the result of the one before it.
    for (i, expect) in expectations.iter().enumerate() {
        if expect.is_empty() {
            continue;
        }
        let next = if i + 1 < turns.len() {
            &mut turns[i + 1]
        } else {
            &mut rest[0]
        };
        next["expect"] = json!({"last_tool_result_is_error": true, "last_tool_result_contains": [expect], "request_not_contains": ["host secret"]});
    }
    turns.extend(rest);
    // The symlink must not survive into the commit: remove it before finishing.
    let last = turns.len() - 1;
    turns.insert(
        last,
        turn(
            "Clean up.",
            vec![call("run_command", json!({"command": "rm link"}))],
        ),
    );
    let trajectory = dd.trajectory("escape", turns, json!({}));
    let run = dd.run_task(&repo, "fix", &trajectory, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "host secret");
    assert!(
        !std::path::Path::new(&format!(
            "{}/.git/hooks/pre-commit",
            run.json["workspace"].as_str().unwrap()
        ))
        .exists()
    );
    let shown = dd.json(&["show", run.json["task"]["id"].as_str().unwrap()]);
    let confinement_denials = shown.json["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            e["kind"]["type"] == "policy_decision"
                && e["kind"]["decision"] == "deny"
                && e["kind"]["rules"][0]["rule"] == "workspace_confinement"
        })
        .count();
    assert_eq!(confinement_denials, 4);
    assert_eq!(run.json["task"]["stats"]["denials"], 4);
}

#[test]
fn audit_verify_names_the_first_event_edited_in_the_database() {
    let repo = buggy_python_repo();
    let dd = Drydock::new();
    let trajectory = dd.trajectory("fix", fix_turns(), json!({}));
    let run = dd.run_task(&repo, "fix", &trajectory, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let id = run.json["task"]["id"].as_str().unwrap().to_string();
    assert_eq!(dd.json(&["audit", "verify", &id]).code, 0);

    // Someone with write access to the file rewrites what a tool returned.
    dd.sql(&format!(
        "UPDATE events SET payload = replace(payload, 'def last_index', 'def innocent') \
         WHERE task_id = '{id}' AND type = 'tool_result' AND seq = (SELECT MIN(seq) FROM events WHERE task_id = '{id}' AND type = 'tool_result')"
    ));
    let verify = dd.json(&["audit", "verify", &id]);
    assert_eq!(verify.code, 1, "{}", verify.stdout);
    assert_eq!(verify.json["intact"], false);
    let first_break = &verify.json["tasks"][0]["first_break"];
    let edited_seq = dd.sql(&format!(
        "SELECT MIN(seq) FROM events WHERE task_id = '{id}' AND type = 'tool_result'"
    ));
    assert_eq!(first_break["seq"].to_string(), edited_seq.trim());
    let text = dd.text(&["audit", "verify"]);
    assert_eq!(text.code, 1);
    assert!(
        text.stdout
            .contains(&format!("first broken event: seq {}", edited_seq.trim())),
        "{}",
        text.stdout
    );
}

#[test]
fn bad_input_is_refused_before_a_task_exists() {
    let dd = Drydock::new();
    let not_git = tempfile::tempdir().unwrap();
    let repo = FixtureRepo::new(&[("README.md", "no tests here\n")]);
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec![
                "--repo".into(),
                "/nonexistent/repo".into(),
                "--issue-text".into(),
                "x".into(),
            ],
            "no such directory",
        ),
        (
            vec![
                "--repo".into(),
                not_git.path().display().to_string(),
                "--issue-text".into(),
                "x".into(),
            ],
            "not a git repository",
        ),
        (
            vec![
                "--repo".into(),
                repo.path().display().to_string(),
                "--issue-text".into(),
                "  ".into(),
            ],
            "the issue is empty",
        ),
        (
            vec![
                "--repo".into(),
                repo.path().display().to_string(),
                "--issue-text".into(),
                "x".into(),
                "--model".into(),
                "nosuch:model".into(),
            ],
            "unknown provider",
        ),
        (
            vec![
                "--repo".into(),
                repo.path().display().to_string(),
                "--issue-text".into(),
                "x".into(),
                "--model".into(),
                "scripted:/nonexistent.json".into(),
            ],
            "nonexistent.json",
        ),
        (
            vec![
                "--repo".into(),
                repo.path().display().to_string(),
                "--issue-text".into(),
                "x".into(),
                "--model".into(),
                "anthropic:claude-sonnet-4-5".into(),
            ],
            "ANTHROPIC_API_KEY",
        ),
    ];
    for (args, expected) in cases {
        let mut full = vec!["run".to_string()];
        full.extend(args);
        let refs: Vec<&str> = full.iter().map(String::as_str).collect();
        let out = dd.text(&refs);
        assert_eq!(out.code, 2, "{refs:?}: {}", out.stderr);
        assert!(out.stderr.contains(expected), "{refs:?}: {}", out.stderr);
    }
    // A repository without a test command needs --allow-untested.
    let trajectory = dd.trajectory("t", vec![turn("x", vec![])], json!({}));
    let out = dd.text(&[
        "run",
        "--repo",
        repo.path().to_str().unwrap(),
        "--issue-text",
        "x",
        "--model",
        &format!("scripted:{}", trajectory.display()),
    ]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("no test command"), "{}", out.stderr);
    // A dirty repository is refused, naming the dirty path.
    repo.write(&[("scratch.txt", "wip")]);
    let out = dd.text(&[
        "run",
        "--repo",
        repo.path().to_str().unwrap(),
        "--issue-text",
        "x",
        "--allow-untested",
        "--model",
        &format!("scripted:{}", trajectory.display()),
    ]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("uncommitted changes") && out.stderr.contains("scratch.txt"),
        "{}",
        out.stderr
    );
    // No task was created by any of these.
    assert_eq!(dd.json(&["tasks"]).json, json!([]));
}

#[test]
fn the_wall_clock_limit_times_the_task_out() {
    let repo = buggy_python_repo();
    let dd = Drydock::new();
    let mut turns = fix_turns();
    turns[1]["delay_ms"] = json!(30_000);
    let trajectory = dd.trajectory("slow", turns, json!({}));
    let started = std::time::Instant::now();
    let run = dd.run_task(&repo, "fix", &trajectory, &["--timeout", "2"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert_eq!(run.json["task"]["state"], "timed_out");
    assert_eq!(run.json["task"]["failure"]["code"], "wall_clock");
    // The slow model call was abandoned, not waited for.
    assert!(started.elapsed() < std::time::Duration::from_secs(25));
}

#[test]
fn drydock_cancel_from_another_process_stops_the_task() {
    let repo = buggy_python_repo();
    let dd = Drydock::new();
    let mut turns = fix_turns();
    turns[1]["delay_ms"] = json!(60_000);
    let trajectory = dd.trajectory("slow", turns, json!({}));
    let model = format!("scripted:{}", trajectory.display());
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_drydock"))
        .args(["--json", "--data-dir"])
        .arg(dd.data_dir())
        .args([
            "run",
            "--repo",
            repo.path().to_str().unwrap(),
            "--issue-text",
            "fix",
            "--model",
            &model,
        ])
        .env("XDG_CONFIG_HOME", dd.data_dir().join("no-config"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let id = loop {
        assert!(
            std::time::Instant::now() < deadline,
            "the task never started running"
        );
        let tasks = dd.json(&["tasks"]).json;
        if let Some(task) = tasks.as_array().and_then(|t| t.first())
            && task["stats"]["turns"].as_u64() >= Some(1)
        {
            break task["id"].as_str().unwrap().to_string();
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert_eq!(dd.json(&["cancel", &id]).code, 0);
    let output = child.wait_with_output().unwrap();
    assert_eq!(
        output.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let run: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(run["task"]["state"], "cancelled");
    // Cancelling an ended task is refused.
    assert_eq!(dd.json(&["cancel", &id]).code, 2);
}

#[test]
fn old_tool_output_is_elided_when_the_window_fills_and_the_task_completes() {
    let repo = buggy_python_repo();
    let files: Vec<(String, String)> = (0..8)
        .map(|i| {
            (
                format!("data/big{i}.txt"),
                format!("{i}123456789abcdef\n").repeat(1500),
            )
        })
        .collect();
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_str()))
        .collect();
    repo.write(&refs);
    repo.commit("add data");
    let dd = Drydock::new();
    let mut turns: Vec<serde_json::Value> = (0..8)
        .map(|i| {
            turn(
                "Look at the data.",
                vec![call(
                    "read_file",
                    json!({"path": format!("data/big{i}.txt")}),
                )],
            )
        })
        .collect();
    turns.extend(fix_turns());
    // Each read returns ~36 KB (~9k tokens); a 60k window holds only a few of them.
    let trajectory = dd.trajectory("window", turns, json!({"context_window": 60000}));
    let run = dd.run_task(&repo, "fix", &trajectory, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let shown = dd.json(&["show", run.json["task"]["id"].as_str().unwrap()]);
    let notes: Vec<&str> = shown.json["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"]["type"] == "note")
        .filter_map(|e| e["kind"]["text"].as_str())
        .filter(|t| t.starts_with("context: elided"))
        .collect();
    assert!(!notes.is_empty(), "no elision happened");
}
