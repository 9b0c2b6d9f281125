use super::*;

#[test]
fn empty_file_is_the_defaults() {
    assert_eq!(
        Config::parse("", "drydock.toml").unwrap(),
        Config::default()
    );
    assert_eq!(Config::default().agent.model, DEFAULT_MODEL);
}

#[test]
fn unknown_keys_are_errors_naming_the_key_and_file() {
    let err = Config::parse("[limits]\nmax_turn = 3\n", "/etc/drydock.toml").unwrap_err();
    let message = err.to_string();
    assert!(message.contains("/etc/drydock.toml"), "{message}");
    assert!(message.contains("max_turn"), "{message}");

    let err = Config::parse("[sandboxx]\n", "d.toml").unwrap_err();
    assert!(err.to_string().contains("sandboxx"), "{err}");
}

#[test]
fn nonsense_values_are_refused() {
    for text in [
        "[limits]\nmax_turns = 0\n",
        "[limits]\nmax_cost_usd = -1.0\n",
        "[limits]\ncommand_timeout_secs = 0\n",
        "[limits]\nmax_turns = \"ten\"\n",
        "[sandbox]\nbackend = \"vm\"\n",
    ] {
        assert!(Config::parse(text, "d.toml").is_err(), "{text}");
    }
}

#[test]
fn repo_limits_only_lower_and_flags_override() {
    let config = Config::parse("[limits]\nmax_turns = 30\nmax_cost_usd = 2.0\n", "d").unwrap();
    let repo = RepoConfig::parse("[limits]\nmax_turns = 100\nmax_cost_usd = 0.5\n", "r").unwrap();
    let limits = config.task_limits(&repo, &LimitFlags::default());
    assert_eq!(limits.max_turns, 30, "a repository cannot raise a limit");
    assert_eq!(limits.max_cost_usd, 0.5, "a repository can lower one");
    let flags = LimitFlags {
        max_turns: Some(5),
        ..LimitFlags::default()
    };
    assert_eq!(config.task_limits(&repo, &flags).max_turns, 5);
}

#[test]
fn repo_network_replaces_the_allowlist_and_adds_denials() {
    let config = Config::parse("[network]\ndeny = [\"evil.example\"]\n", "d").unwrap();
    let repo = RepoConfig::parse(
        "[network]\nallow = [\"@registries\", \"api.example.com\"]\ndeny = [\"*.bad\"]\n",
        "r",
    )
    .unwrap();
    let network = config.task_network(&repo);
    assert!(network.allow.contains(&"crates.io".to_string()));
    assert!(network.allow.contains(&"api.example.com".to_string()));
    assert!(!network.allow.contains(&REGISTRIES_TOKEN.to_string()));
    assert_eq!(
        network.deny,
        vec!["evil.example".to_string(), "*.bad".to_string()]
    );

    let offline = RepoConfig::parse("[network]\nallow = []\n", "r").unwrap();
    assert!(config.task_network(&offline).allow.is_empty());
    let silent = RepoConfig::default();
    assert_eq!(config.task_network(&silent).allow, config.network.allow);
}

#[test]
fn repo_config_knows_its_sections_and_refuses_others() {
    let repo = RepoConfig::parse(
        "[test]\ncommand = \"make check\"\n[sandbox]\nbackend = \"docker\"\nimage = \"python:3.12\"\n",
        ".drydock.toml at abc123",
    )
    .unwrap();
    assert_eq!(repo.test.command.as_deref(), Some("make check"));
    let config = Config::default();
    assert_eq!(config.task_sandbox(&repo).backend, BackendKind::Docker);
    // The operator's model keys are not the repository's business.
    let err = RepoConfig::parse(
        "[model]\nbase_url = \"http://evil\"\n",
        ".drydock.toml at abc123",
    )
    .unwrap_err();
    assert!(err.to_string().contains(".drydock.toml at abc123"), "{err}");
}

#[test]
fn schemas_describe_every_section() {
    let schema = config_schema();
    let properties = schema["properties"].as_object().unwrap();
    for section in [
        "agent", "limits", "model", "sandbox", "network", "policy", "secrets", "test", "commit",
    ] {
        assert!(properties.contains_key(section), "{section}");
    }
    let repo = repo_config_schema();
    assert!(
        repo["properties"]
            .as_object()
            .unwrap()
            .contains_key("policy")
    );
}
