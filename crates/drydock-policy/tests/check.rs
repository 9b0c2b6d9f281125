#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `drydock policy check` reports, configuration parsing and the published JSON Schema.

use drydock_core::{AuthorAssociation, Decision, Principal, TaskKind};
use drydock_policy::{
    PolicyConfig, PolicyEngine, PolicyError, RepoPolicy, check_command, check_exit_code,
};

fn principal() -> Principal {
    Principal {
        task_kind: TaskKind::NewTask,
        author_association: AuthorAssociation::Member,
        repo: "r".to_string(),
        branch: "drydock/x".to_string(),
    }
}

#[test]
fn check_reports_decision_rules_and_parsed_commands() {
    let engine = PolicyEngine::new(&PolicyConfig::default(), None).unwrap();
    let report = check_command(&engine, &principal(), "sudo rm -r -f -- / && echo done");
    assert_eq!(report.decision, Decision::Deny);
    assert_eq!(report.exit_code, 1);
    assert!(
        report
            .hits
            .iter()
            .any(|h| h.rule == "destructive_outside_workspace")
    );
    let analysis = report.analysis.as_ref().unwrap();
    let rm = analysis
        .commands
        .iter()
        .find(|c| c.program == "rm")
        .unwrap();
    assert_eq!(rm.wrappers, vec!["sudo"]);
    assert!(rm.flags.contains("-r") && rm.flags.contains("-f"));
    let text = report.to_text();
    assert!(text.starts_with("deny\n"), "{text}");
    assert!(
        text.contains("destructive_outside_workspace (deny)"),
        "{text}"
    );
    assert!(text.contains("under sudo"), "{text}");
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["decision"], "deny");
    assert_eq!(json["exit_code"], 1);

    let ok = check_command(&engine, &principal(), "cargo test");
    assert_eq!((ok.decision, ok.exit_code), (Decision::Allow, 0));
    let approval = check_command(&engine, &principal(), "echo x >> AGENTS.md");
    assert_eq!(
        (approval.decision, approval.exit_code),
        (Decision::RequireApproval, 3)
    );
    let broken = check_command(&engine, &principal(), "echo 'unterminated");
    assert_eq!(broken.exit_code, 1);
    assert!(broken.analysis_error.is_some());
    assert!(
        broken.to_text().contains("analysis: cannot parse"),
        "{}",
        broken.to_text()
    );
}

#[test]
fn exit_codes_are_stable() {
    assert_eq!(check_exit_code(Decision::Allow), 0);
    assert_eq!(check_exit_code(Decision::Deny), 1);
    assert_eq!(check_exit_code(Decision::RequireApproval), 3);
}

#[test]
fn the_policy_section_parses_with_defaults_and_rejects_unknown_keys() {
    let config: PolicyConfig =
        toml::from_str("max_diff_lines = 200\n[approval]\nchannel = \"server\"\n").unwrap();
    assert_eq!(config.max_diff_lines, 200);
    assert!(config.protected_paths.iter().any(|p| p == "AGENTS.md"));
    assert!(config.approval.available(false));
    assert!(toml::from_str::<PolicyConfig>("max_diff_line = 200\n").is_err());
    assert!(toml::from_str::<PolicyConfig>("[approval]\nchanel = \"server\"\n").is_err());
    assert!(toml::from_str::<PolicyConfig>("max_diff_lines = -1\n").is_err());
    assert_eq!(
        toml::from_str::<PolicyConfig>("").unwrap(),
        PolicyConfig::default()
    );
}

#[test]
fn the_repository_policy_is_read_from_a_whole_drydock_toml() {
    let text = r#"
[network]
allow = ["example.com"]

[policy]
max_diff_lines = 50
protected_paths = ["schema/*.sql"]

[[policy.rules]]
id = "repo_rule"
decision = "deny"
reason = "No shell scripts."
policy = 'forbid (principal, action == Action::"exec", resource) when { context.program like "*.sh" };'
match = ["./deploy.sh"]
not_match = ["cargo test"]
"#;
    let repo = RepoPolicy::from_drydock_toml(text).unwrap();
    assert_eq!(repo.max_diff_lines, Some(50));
    assert_eq!(repo.rules.len(), 1);
    let engine = PolicyEngine::new(&PolicyConfig::default(), Some(&repo)).unwrap();
    assert_eq!(engine.max_diff_lines(), 50);
    assert_eq!(
        RepoPolicy::from_drydock_toml("[network]\nallow = []\n").unwrap(),
        RepoPolicy::default()
    );
    for bad in [
        "[policy]\nrule_files = [\"x\"]\n",
        "[policy\n",
        "policy = 3\n",
        "[policy]\napproval = {}\n",
    ] {
        assert!(
            matches!(
                RepoPolicy::from_drydock_toml(bad),
                Err(PolicyError::MalformedRuleFile { .. })
            ),
            "{bad:?}"
        );
    }
}

#[test]
fn a_json_schema_is_published_for_the_policy_section() {
    let schema = schemars::schema_for!(PolicyConfig);
    let json = serde_json::to_value(&schema).unwrap();
    let properties = json["properties"].as_object().unwrap();
    for key in [
        "rule_files",
        "rules",
        "lists",
        "max_diff_lines",
        "protected_paths",
        "tools",
        "approval",
    ] {
        assert!(properties.contains_key(key), "{key}");
    }
    assert_eq!(json["additionalProperties"], false);
    let cedar = drydock_policy::SCHEMA;
    assert!(cedar.contains("entity Agent") && cedar.contains("action \"exec\""));
}
