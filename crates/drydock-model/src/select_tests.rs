use std::collections::BTreeMap;
use std::io::Write;

use pretty_assertions::assert_eq;

use super::*;
use crate::Price;

fn env_with(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let map: BTreeMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |name| map.get(name).cloned()
}

fn no_env(_: &str) -> Option<String> {
    None
}

fn error_of(spec: &str, config: &ModelConfig, env: &dyn Fn(&str) -> Option<String>) -> ModelError {
    match build_client(spec, config, env) {
        Ok(client) => panic!("{spec} built {client:?}"),
        Err(error) => error,
    }
}

#[test]
fn specs_parse_with_colons_in_model_names() {
    let spec: ModelSpec = "openai:qwen2.5-coder:7b".parse().unwrap();
    assert_eq!(
        spec,
        ModelSpec {
            provider: Provider::OpenAi,
            model: "qwen2.5-coder:7b".into()
        }
    );
    assert_eq!(spec.to_string(), "openai:qwen2.5-coder:7b");
    let scripted: ModelSpec = "scripted:tests/my trajectory.json".parse().unwrap();
    assert_eq!(scripted.model, "tests/my trajectory.json");
}

#[test]
fn bad_specs_say_what_is_wrong() {
    for (spec, expected) in [
        ("claude-sonnet-4-5", "expected provider:model"),
        ("gemini:pro", "unknown provider \"gemini\""),
        ("Anthropic:claude", "unknown provider"),
        ("anthropic:", "the model is empty"),
        ("scripted: ", "trajectory's path"),
        ("openai:gpt 4", "whitespace"),
        ("", "expected provider:model"),
    ] {
        let error = spec.parse::<ModelSpec>().unwrap_err();
        assert_eq!(error.code(), "model_config", "{spec}");
        assert!(error.to_string().contains(expected), "{spec}: {error}");
        if expected.contains("provider") {
            assert!(
                error.to_string().contains("anthropic, openai, scripted"),
                "{error}"
            );
        }
    }
}

#[test]
fn a_missing_key_names_the_variable() {
    let config = ModelConfig::default();
    let error = error_of("anthropic:claude-sonnet-4-5", &config, &no_env);
    assert_eq!(error.code(), "model_auth");
    assert!(error.to_string().contains("ANTHROPIC_API_KEY"), "{error}");
    let error = error_of(
        "openai:gpt-4.1",
        &config,
        &env_with(&[("OPENAI_API_KEY", "  ")]),
    );
    assert!(error.to_string().contains("OPENAI_API_KEY"), "{error}");
    assert!(error.remedy().contains("OPENAI_API_KEY"));
    let custom = ModelConfig {
        api_key_env: Some("VLLM_TOKEN".into()),
        base_url: Some("https://vllm.example.com/v1".into()),
        ..ModelConfig::default()
    };
    let error = error_of(
        "openai:llama",
        &custom,
        &env_with(&[("OPENAI_API_KEY", "sk-unused")]),
    );
    assert!(error.to_string().contains("VLLM_TOKEN"), "{error}");
}

#[test]
fn local_servers_need_no_key() {
    for base in [
        "http://127.0.0.1:11434/v1",
        "http://localhost:8080/v1",
        "http://ollama:11434/v1",
    ] {
        let config = ModelConfig {
            base_url: Some(base.into()),
            ..ModelConfig::default()
        };
        let client = build_client("openai:qwen2.5-coder", &config, &no_env).unwrap();
        assert_eq!(client.info().spec(), "openai:qwen2.5-coder");
        assert_eq!(client.info().price, None);
        assert_eq!(
            client.info().context_window,
            crate::catalog::DEFAULT_CONTEXT_WINDOW
        );
    }
}

#[test]
fn keys_never_travel_over_plain_http_to_public_hosts() {
    let config = ModelConfig {
        base_url: Some("http://llm.example.com/v1".into()),
        ..ModelConfig::default()
    };
    let error = error_of(
        "openai:gpt-4.1",
        &config,
        &env_with(&[("OPENAI_API_KEY", "sk-proj-abcdefghijklmnop")]),
    );
    assert_eq!(error.code(), "model_config");
    assert!(error.to_string().contains("plain http"), "{error}");
    assert!(!error.to_string().contains("abcdefghijklmnop"));
}

#[test]
fn clients_know_their_model_and_never_print_their_key() {
    let secret = "sk-ant-api03-THISMUSTNOTLEAK";
    let env = env_with(&[("ANTHROPIC_API_KEY", secret), ("OPENAI_API_KEY", secret)]);
    let client = build_client(
        "anthropic:claude-sonnet-4-5-20250929",
        &ModelConfig::default(),
        &env,
    )
    .unwrap();
    assert_eq!(client.info().provider, "anthropic");
    assert_eq!(client.info().context_window, 200_000);
    assert_eq!(client.info().price.map(|p| p.input), Some(3.0));
    let debug = format!("{client:?}");
    assert!(!debug.contains("THISMUSTNOTLEAK"), "{debug}");
    assert!(debug.contains("api.anthropic.com/v1/messages"), "{debug}");
    let client = build_client("openai:gpt-4.1", &ModelConfig::default(), &env).unwrap();
    let debug = format!("{client:?}");
    assert!(!debug.contains("THISMUSTNOTLEAK"), "{debug}");
    assert_eq!(client.info().context_window, 1_047_576);
}

#[test]
fn configured_prices_and_windows_win() {
    let mut config = ModelConfig {
        base_url: Some("http://127.0.0.1:1/v1".into()),
        context_window: Some(16_384),
        ..ModelConfig::default()
    };
    let free = Price {
        input: 0.0,
        output: 0.0,
        cache_write: None,
        cache_read: None,
    };
    config
        .pricing
        .insert("openai:qwen2.5-coder:7b".into(), free);
    let client = build_client("openai:qwen2.5-coder:7b", &config, &no_env).unwrap();
    assert_eq!(client.info().price, Some(free));
    assert_eq!(client.info().context_window, 16_384);
}

#[test]
fn scripted_specs_load_the_file_and_report_its_errors() {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(br#"{"price": {"input": 1.0, "output": 2.0}, "turns": [{"text": "hi"}]}"#)
        .unwrap();
    let path = file.path().display().to_string();
    let client = build_client(
        &format!("scripted:{path}"),
        &ModelConfig::default(),
        &no_env,
    )
    .unwrap();
    assert_eq!(client.info().spec(), format!("scripted:{path}"));
    assert_eq!(client.info().price.map(|p| p.output), Some(2.0));

    let error = error_of(
        "scripted:/nonexistent/trajectory.json",
        &ModelConfig::default(),
        &no_env,
    );
    assert_eq!(error.code(), "script");
    assert!(
        error.to_string().contains("/nonexistent/trajectory.json"),
        "{error}"
    );
}

#[test]
fn invalid_config_is_refused_before_anything_else() {
    let config = ModelConfig {
        base_url: Some("https://user:pw@api.openai.com/v1".into()),
        ..ModelConfig::default()
    };
    let error = error_of(
        "openai:gpt-4.1",
        &config,
        &env_with(&[("OPENAI_API_KEY", "k")]),
    );
    assert!(error.to_string().contains("credentials"), "{error}");
    assert!(!error.to_string().contains("pw@"), "{error}");
    let config = ModelConfig {
        stream_idle_timeout_secs: 0,
        ..ModelConfig::default()
    };
    let error = error_of(
        "openai:gpt-4.1",
        &config,
        &env_with(&[("OPENAI_API_KEY", "k")]),
    );
    assert!(
        error.to_string().contains("stream_idle_timeout_secs"),
        "{error}"
    );
}
