#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Rule files on disk: loading, start-up errors that name the file and rule, and the
//! `drydock policy test` report.

use std::path::PathBuf;

use drydock_core::{Action, ActionRequest, AuthorAssociation, Decision, Principal, TaskKind};
use drydock_policy::{PolicyConfig, PolicyEngine, PolicyError, test_rules};

const GOOD: &str = r#"
version = 1

[lists]
schedulers = ["crontab", "at", "batch"]

[[rule]]
id = "no_scheduling"
decision = "deny"
reason = "Jobs scheduled in the sandbox outlive the task."
policy = '''
forbid (principal, action == Action::"exec", resource)
when { List::"schedulers".items.contains(context.program) };
'''
match = ["crontab -l", "echo x | at now"]
not_match = ["cargo test"]

[[rule]]
id = "lockfile_changes"
decision = "require_approval"
reason = "Dependency changes are reviewed by a human."
policy = '''
forbid (principal, action == Action::"write_file", resource)
when { resource.path == "Cargo.lock" || resource.path like "*/Cargo.lock" };
'''
match = [{ action = "write_file", resource = "Cargo.lock" }, "cargo update > Cargo.lock"]
not_match = [{ action = "write_file", resource = "Cargo.toml" }]
"#;

const FAILING_EXAMPLE: &str = r#"
[[rule]]
id = "no_make"
decision = "deny"
reason = "Make is banned here."
policy = 'forbid (principal, action == Action::"exec", resource) when { context.program == "make" };'
match = ["make", "gmake all"]
not_match = ["cmake ."]
"#;

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn config(files: Vec<PathBuf>) -> PolicyConfig {
    PolicyConfig {
        rule_files: files,
        ..PolicyConfig::default()
    }
}

fn run(engine: &PolicyEngine, command: &str) -> Decision {
    engine
        .decide(&ActionRequest {
            principal: Principal {
                task_kind: TaskKind::NewTask,
                author_association: AuthorAssociation::Owner,
                repo: "r".to_string(),
                branch: "drydock/x".to_string(),
            },
            action: Action::RunCommand,
            resource: command.to_string(),
        })
        .decision
}

#[test]
fn rule_files_add_rules_and_lists() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(&dir, "extra.toml", GOOD);
    let engine = PolicyEngine::new(&config(vec![file.clone()]), None).unwrap();
    assert_eq!(run(&engine, "crontab -e"), Decision::Deny);
    assert_eq!(
        run(&engine, "echo x >> Cargo.lock"),
        Decision::RequireApproval
    );
    assert_eq!(run(&engine, "cargo build"), Decision::Allow);
    let summary = engine
        .rules()
        .into_iter()
        .find(|r| r.id == "no_scheduling")
        .unwrap();
    assert_eq!(summary.source, file.display().to_string());
}

#[test]
fn a_failing_example_stops_the_engine_and_names_file_and_rule() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(&dir, "bad.toml", FAILING_EXAMPLE);
    let error = PolicyEngine::new(&config(vec![file.clone()]), None).unwrap_err();
    match &error {
        PolicyError::ExampleFailed {
            source_name,
            rule,
            example,
            ..
        } => {
            assert_eq!(source_name, &file.display().to_string());
            assert_eq!(rule, "no_make");
            assert_eq!(example, "`gmake all`");
        }
        other => panic!("{other}"),
    }
    let message = error.to_string();
    assert!(
        message.contains("bad.toml") && message.contains("no_make"),
        "{message}"
    );
}

#[test]
fn malformed_files_are_errors_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in [
        ("syntax.toml", "[[rule]\nid = 1"),
        (
            "unknown_field.toml",
            "[[rule]]\nid = \"x\"\ndecision = \"deny\"\nreason = \"r\"\npolicy = \"\"\nmatch = []\nnot_match = []\ncolour = \"red\"\n",
        ),
        (
            "bad_decision.toml",
            "[[rule]]\nid = \"x\"\ndecision = \"maybe\"\nreason = \"r\"\npolicy = \"\"\nmatch = []\nnot_match = []\n",
        ),
        ("version.toml", "version = 2\n"),
        ("binary.toml", "\u{0}\u{1}\u{2}garbage"),
    ] {
        let file = write(&dir, name, text);
        match PolicyEngine::new(&config(vec![file.clone()]), None) {
            Err(PolicyError::MalformedRuleFile { source_name, .. }) => {
                assert_eq!(source_name, file.display().to_string(), "{name}");
            }
            other => panic!("{name}: {other:?}"),
        }
    }
    let not_utf8 = dir.path().join("latin1.toml");
    std::fs::write(&not_utf8, [0xff_u8, 0xfe, b'x']).unwrap();
    assert!(matches!(
        PolicyEngine::new(&config(vec![not_utf8]), None),
        Err(PolicyError::ReadRuleFile { .. })
    ));
}

#[test]
fn the_same_rule_id_in_two_files_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let a = write(&dir, "a.toml", GOOD);
    let b = write(&dir, "b.toml", GOOD);
    let error = PolicyEngine::new(&config(vec![a, b]), None).unwrap_err();
    assert!(
        matches!(
            error,
            PolicyError::InvalidList { .. } | PolicyError::DuplicateRule { .. }
        ),
        "{error}"
    );
}

#[test]
fn policy_test_reports_every_example() {
    let dir = tempfile::tempdir().unwrap();
    let good = write(&dir, "good.toml", GOOD);
    let report = test_rules(&PolicyConfig::default(), None, &[good]);
    assert!(report.passed, "{}", report.to_text());
    assert!(report.error.is_none());
    assert!(
        report
            .examples
            .iter()
            .any(|e| e.rule == "no_scheduling" && e.should_match && e.matched)
    );
    assert!(report.to_text().ends_with(&format!(
        "{} rules, {} examples, 0 failed\n",
        report.rules,
        report.examples.len()
    )));

    let bad = write(&dir, "bad.toml", FAILING_EXAMPLE);
    let report = test_rules(&PolicyConfig::default(), None, &[bad]);
    assert!(!report.passed);
    let failures: Vec<_> = report.failures().collect();
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0].example, "`gmake all`");
    assert!(
        report.to_text().contains("FAIL no_make"),
        "{}",
        report.to_text()
    );
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["passed"], false);

    let broken = write(&dir, "broken.toml", "[[rule]]\nid = \"x\"\n");
    let report = test_rules(&PolicyConfig::default(), None, &[broken]);
    assert!(!report.passed);
    assert!(report.error.unwrap().contains("broken.toml"));
}

#[test]
fn the_shipped_rules_pass_their_own_examples() {
    let report = test_rules(&PolicyConfig::default(), None, &[]);
    assert!(report.passed, "{}", report.to_text());
    assert!(report.rules >= 25);
    assert!(report.examples.len() >= 150);
}
