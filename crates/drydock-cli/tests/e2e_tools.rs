//! End to end: `drydock sandbox`, `policy`, `scan` and `redact` as a user runs them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::Write;
use std::process::{Command, Stdio};

use drydock_testkit::FixtureRepo;
use support::Drydock;

#[test]
fn sandbox_exec_passes_output_and_status_through_and_reports_denied_connections() {
    let dd = Drydock::new();
    let workspace = tempfile::tempdir().unwrap();
    let out = dd.text(&[
        "sandbox",
        "exec",
        "--workspace",
        workspace.path().to_str().unwrap(),
        "--",
        "sh",
        "-c",
        "echo out; echo err >&2; echo made > /workspace/f; exit 7",
    ]);
    assert_eq!(out.code, 7, "{}", out.stderr);
    assert_eq!(out.stdout, "out\n");
    assert!(out.stderr.contains("err"), "{}", out.stderr);
    assert_eq!(
        std::fs::read_to_string(workspace.path().join("f")).unwrap(),
        "made\n"
    );

    let fetch = "import urllib.request\ntry:\n    urllib.request.urlopen('http://blocked.example.invalid/', timeout=20)\nexcept Exception as e:\n    print('refused:', type(e).__name__)\n";
    let out = dd.text(&[
        "sandbox",
        "exec",
        "--workspace",
        workspace.path().to_str().unwrap(),
        "--",
        "python3",
        "-c",
        fetch,
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.starts_with("refused:"), "{}", out.stdout);
    assert!(
        out.stderr
            .contains("denied connection to blocked.example.invalid:80"),
        "{}",
        out.stderr
    );

    let out = dd.json(&[
        "sandbox",
        "exec",
        "--workspace",
        workspace.path().to_str().unwrap(),
        "--timeout",
        "1",
        "--",
        "sleep",
        "30",
    ]);
    assert_eq!(out.code, 124, "{}", out.stderr);
    assert_eq!(out.json["timed_out"], true);
}

#[test]
fn sandbox_exec_does_not_leak_the_callers_environment() {
    let dd = Drydock::new();
    let workspace = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_drydock"))
        .arg("--data-dir")
        .arg(dd.data_dir())
        .args([
            "sandbox",
            "exec",
            "--workspace",
            workspace.path().to_str().unwrap(),
            "--",
            "env",
        ])
        .env("DRYDOCK_TEST_CANARY", "canary-value-1234")
        .env("ANTHROPIC_API_KEY", "sk-ant-canary-value-5678")
        .output()
        .unwrap();
    assert!(output.status.success());
    let env = String::from_utf8_lossy(&output.stdout);
    assert!(!env.contains("canary-value"), "{env}");
    assert!(env.contains("HOME="), "{env}");
}

#[test]
fn sandbox_check_reports_this_machine() {
    let dd = Drydock::new();
    let out = dd.json(&["sandbox", "check"]);
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert_eq!(out.json["local_ready"], true);
    let names: Vec<&str> = out.json["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    for expected in ["bubblewrap", "seccomp", "landlock"] {
        assert!(
            names.iter().any(|n| n.contains(expected)),
            "{expected} not in {names:?}"
        );
    }
    let text = dd.text(&["sandbox", "check"]);
    assert!(
        text.stdout.to_lowercase().contains("landlock"),
        "{}",
        text.stdout
    );
}

#[test]
fn policy_check_exit_codes_follow_the_decision() {
    let dd = Drydock::new();
    let allow = dd.text(&["policy", "check", "--", "cargo", "test", "--workspace"]);
    assert_eq!(allow.code, 0, "{}", allow.stdout);
    let deny = dd.json(&["policy", "check", "--", "rm -r -f /"]);
    assert_eq!(deny.code, 1, "{}", deny.stdout);
    assert_eq!(deny.json["decision"], "deny");
    assert!(!deny.json["hits"].as_array().unwrap().is_empty());
    // Outside contributors may test but not push without approval.
    let push = dd.text(&[
        "policy",
        "check",
        "--author",
        "none",
        "--",
        "git push origin HEAD:drydock/check",
    ]);
    assert_eq!(push.code, 3, "{}", push.stdout);
    let bad = dd.text(&["policy", "check", "--author", "stranger", "--", "ls"]);
    assert_eq!(bad.code, 2);
}

/// `drydock policy check --repo REPO -- COMMAND`.
fn check_in_repo(dd: &Drydock, repo: &FixtureRepo, command: &str) -> support::Output {
    dd.text(&[
        "policy",
        "check",
        "--repo",
        repo.path().to_str().unwrap(),
        "--",
        command,
    ])
}

#[test]
fn policy_check_takes_the_repositorys_rules_from_head() {
    let repo = FixtureRepo::new(&[(
        ".drydock.toml",
        r#"[[policy.rules]]
id = "no_make_deploy"
decision = "deny"
reason = "Deploys are done by the release pipeline."
policy = '''
forbid (principal, action == Action::"exec", resource)
when { context.program == "make" && context.positionals.contains("deploy") };
'''
match = ["make deploy", "cd x && make -j4 deploy"]
not_match = ["make test"]
"#,
    )]);
    let dd = Drydock::new();
    let out = check_in_repo(&dd, &repo, "make deploy");
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(out.stdout.contains("no_make_deploy"), "{}", out.stdout);
    let fine = check_in_repo(&dd, &repo, "make test");
    assert_eq!(fine.code, 0, "{}", fine.stdout);
}

#[test]
fn policy_test_runs_the_shipped_examples_and_rejects_a_rule_whose_example_fails() {
    let dd = Drydock::new();
    let ok = dd.text(&["policy", "test"]);
    assert_eq!(ok.code, 0, "{}", ok.stdout);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("broken.toml");
    std::fs::write(
        &file,
        r#"version = 1

[[rule]]
id = "wrong_example"
decision = "deny"
reason = "Claims to match ls but does not."
policy = '''
forbid (principal, action == Action::"exec", resource)
when { context.program == "rm" };
'''
match = ["ls -la"]
not_match = ["cargo test"]
"#,
    )
    .unwrap();
    let broken = dd.text(&["policy", "test", file.to_str().unwrap()]);
    assert_eq!(broken.code, 1, "{}", broken.stdout);
    assert!(broken.stdout.contains("wrong_example"), "{}", broken.stdout);
}

#[test]
fn scan_finds_secrets_in_files_and_in_a_diff_range() {
    let repo = FixtureRepo::new(&[("app.py", "print('hello')\n")]);
    let token = format!(
        "ghp_{}",
        "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5"
            .chars()
            .rev()
            .collect::<String>()
    );
    repo.write(&[("deploy.py", &format!("TOKEN = \"{token}\"\n"))]);
    repo.commit("add deploy");
    let dd = Drydock::new();
    let out = dd.json(&["scan", repo.path().to_str().unwrap()]);
    assert_eq!(out.code, 1, "{}", out.stdout);
    let finding = &out.json["findings"][0];
    assert!(
        finding["path"].as_str().unwrap().ends_with("deploy.py"),
        "{finding}"
    );
    assert_eq!(finding["line"], 1);
    assert!(!out.stdout.contains(&token));

    let diff = dd.json(&[
        "scan",
        "--repo",
        repo.path().to_str().unwrap(),
        "--diff",
        "HEAD~1..HEAD",
    ]);
    assert_eq!(diff.code, 1, "{}", diff.stdout);
    assert_eq!(diff.json["findings"][0]["path"], "deploy.py");
    let clean = dd.json(&[
        "scan",
        "--repo",
        repo.path().to_str().unwrap(),
        "--diff",
        "HEAD~1..HEAD~1",
    ]);
    assert_eq!(clean.code, 0, "{}", clean.stdout);
    let bad = dd.text(&["scan", "--diff", "--output=/tmp/x"]);
    assert_eq!(bad.code, 2);
}

#[test]
fn redact_replaces_known_values_and_formats_in_a_stream() {
    let dd = Drydock::new();
    // A value with characters URL encoders escape (`/`, `+`, `=`).
    let key = format!(
        "sk-ant-api03-{}/{}+{}=",
        "q".repeat(20),
        "r".repeat(10),
        "s".repeat(10)
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_drydock"))
        .arg("--data-dir")
        .arg(dd.data_dir())
        .arg("redact")
        .env("ANTHROPIC_API_KEY", &key)
        .env("XDG_CONFIG_HOME", dd.data_dir().join("no-config"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let url_encoded: String = key
        .replace('/', "%2F")
        .replace('+', "%2B")
        .replace('=', "%3D");
    let input = format!("plain {key}\nurl {url_encoded}\nnothing here\n");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    assert_eq!(
        text,
        "plain [REDACTED:ANTHROPIC_API_KEY]\nurl [REDACTED:ANTHROPIC_API_KEY]\nnothing here\n"
    );
    assert!(String::from_utf8_lossy(&output.stderr).contains("2 secrets replaced"));
}

#[test]
fn config_schema_and_show_describe_the_configuration() {
    let dd = Drydock::new();
    let schema = dd.json(&["config", "schema"]);
    assert_eq!(schema.code, 0);
    assert!(schema.json["drydock.toml"]["properties"]["sandbox"].is_object());
    let committed: serde_json::Value =
        serde_json::from_str(include_str!("../../../docs/config.schema.json")).unwrap();
    assert_eq!(
        schema.json, committed,
        "docs/config.schema.json is stale: regenerate with `drydock config schema`"
    );
    let shown = dd.text(&["config", "show"]);
    assert!(shown.stdout.contains("[limits]"), "{}", shown.stdout);
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("drydock.toml");
    std::fs::write(&bad, "[limits]\nmax_turnz = 3\n").unwrap();
    let out = dd.text(&["--config", bad.to_str().unwrap(), "config", "show"]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("max_turnz"), "{}", out.stderr);
}
