use super::*;

#[test]
fn defaults_and_strict_parsing() {
    let config: SecretsConfig = toml::from_str("").unwrap();
    assert_eq!(config, SecretsConfig::default());
    assert!(config.builtin_rules);
    assert_eq!(config.entropy_threshold, DEFAULT_GENERIC_ENTROPY);

    let config: SecretsConfig = toml::from_str(
        "env = [\"DB_URL\"]\nentropy_threshold = 3.5\ndisabled_rules = [\"jwt\"]\n[allowlist]\npaths = [\"**/testdata/**\"]\n",
    )
    .unwrap();
    assert_eq!(config.env, ["DB_URL"]);
    assert_eq!(config.allowlist.paths, ["**/testdata/**"]);

    let error = toml::from_str::<SecretsConfig>("rules = \"x\"")
        .unwrap_err()
        .to_string();
    assert!(error.contains("unknown field"), "{error}");
    let error = toml::from_str::<SecretsConfig>("[allowlist]\npath = []")
        .unwrap_err()
        .to_string();
    assert!(error.contains("unknown field"), "{error}");
}

#[test]
fn validation_catches_what_serde_cannot() {
    let config = SecretsConfig {
        entropy_threshold: 9.0,
        ..SecretsConfig::default()
    };
    assert!(
        config
            .validate()
            .unwrap_err()
            .to_string()
            .contains("entropy_threshold")
    );
    let config = SecretsConfig {
        env: vec!["A=B".into()],
        ..SecretsConfig::default()
    };
    assert!(config.validate().is_err());
    let config = SecretsConfig {
        disabled_rules: vec!["nope".into()],
        ..SecretsConfig::default()
    };
    assert!(
        config
            .rule_set(Path::new("."))
            .unwrap_err()
            .to_string()
            .contains("nope")
    );
}

#[test]
fn rule_file_is_resolved_against_the_config_directory_and_merged() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("team.toml"),
        "[[rules]]\nid = \"team-token\"\nregex = '''team_[a-z0-9]{16}'''\nkeywords = [\"team_\"]\n",
    )
    .unwrap();
    let config: SecretsConfig = toml::from_str(
        "rules_file = \"team.toml\"\nenv = [\"SECRETS_TEST_ENV_VALUE\", \"SECRETS_TEST_UNSET\"]",
    )
    .unwrap();
    let rules = config.rule_set(dir.path()).unwrap();
    assert!(rules.rules().iter().any(|rule| rule.id() == "team-token"));
    assert!(rules.rules().iter().any(|rule| rule.id() == "github-pat"));

    let lookup =
        |name: &str| (name == "SECRETS_TEST_ENV_VALUE").then(|| "env-secret-value-1".to_string());
    let secrets = config.env_secrets_with(lookup);
    assert_eq!(
        secrets,
        vec![KnownSecret::new(
            "SECRETS_TEST_ENV_VALUE",
            "env-secret-value-1"
        )]
    );
    assert_eq!(config.missing_env_with(lookup), ["SECRETS_TEST_UNSET"]);

    let redactor = Redactor::new(rules, secrets).unwrap();
    let out = redactor.redact("a team_0123456789abcdef b env-secret-value-1");
    assert_eq!(
        out.text,
        "a [REDACTED:team-token] b [REDACTED:SECRETS_TEST_ENV_VALUE]"
    );

    let missing = SecretsConfig {
        rules_file: Some("missing.toml".into()),
        ..SecretsConfig::default()
    };
    let error = missing.rule_set(dir.path()).unwrap_err().to_string();
    assert!(error.contains("missing.toml"), "{error}");
}

#[test]
fn builtin_rules_can_be_turned_off() {
    let config = SecretsConfig {
        builtin_rules: false,
        ..SecretsConfig::default()
    };
    assert!(config.rule_set(Path::new(".")).unwrap().is_empty());
}

#[test]
fn the_schema_describes_the_section() {
    let schema = serde_json::to_value(schemars::schema_for!(SecretsConfig)).unwrap();
    let properties = schema["properties"].as_object().unwrap();
    for key in [
        "rules_file",
        "env",
        "entropy_threshold",
        "allowlist",
        "disabled_rules",
        "builtin_rules",
    ] {
        assert!(properties.contains_key(key), "{key}");
    }
    assert_eq!(schema["additionalProperties"], serde_json::json!(false));
}
