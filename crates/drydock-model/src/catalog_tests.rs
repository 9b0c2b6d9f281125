use drydock_core::Usage;
use pretty_assertions::assert_eq;

use super::*;

#[test]
fn dated_snapshots_and_latest_aliases_find_their_model() {
    for (provider, model, expected) in [
        ("anthropic", "claude-sonnet-4-5", "claude-sonnet-4-5"),
        (
            "anthropic",
            "claude-sonnet-4-5-20250929",
            "claude-sonnet-4-5",
        ),
        ("anthropic", "claude-3-5-haiku-latest", "claude-3-5-haiku"),
        ("anthropic", "claude-3-5-haiku-20241022", "claude-3-5-haiku"),
        ("openai", "gpt-4.1-2025-04-14", "gpt-4.1"),
        ("openai", "gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
        ("openai", "o3", "o3"),
    ] {
        let known = lookup(provider, model).unwrap_or_else(|| panic!("{model} unknown"));
        assert_eq!(known.model, expected, "{model}");
    }
}

#[test]
fn an_exact_snapshot_entry_wins_over_its_alias() {
    assert_eq!(
        lookup("openai", "gpt-4o-2024-05-13").unwrap().price.input,
        5.0
    );
    assert_eq!(
        lookup("openai", "gpt-4o-2024-08-06").unwrap().price.input,
        2.5
    );
}

#[test]
fn unknown_models_have_no_price_and_a_conservative_window() {
    let config = ModelConfig::default();
    assert_eq!(resolve_price("openai", "qwen2.5-coder", &config), None);
    assert_eq!(resolve_price("anthropic", "gpt-4.1", &config), None);
    assert_eq!(resolve_price("openai", "gpt-4.1-preview", &config), None);
    assert_eq!(resolve_price("openai", "-2025-04-14", &config), None);
    assert_eq!(
        resolve_context_window("openai", "qwen2.5-coder", &config),
        DEFAULT_CONTEXT_WINDOW
    );
}

#[test]
fn user_prices_and_windows_override_the_table() {
    let mut config = ModelConfig {
        context_window: Some(8_192),
        ..ModelConfig::default()
    };
    let free = Price {
        input: 0.0,
        output: 0.0,
        cache_write: None,
        cache_read: None,
    };
    config.pricing.insert("openai:qwen2.5-coder".into(), free);
    let discounted = Price {
        input: 1.0,
        output: 4.0,
        cache_write: None,
        cache_read: Some(0.1),
    };
    config.pricing.insert("openai:gpt-4.1".into(), discounted);
    assert_eq!(
        resolve_price("openai", "qwen2.5-coder", &config),
        Some(free)
    );
    assert_eq!(
        resolve_price("openai", "gpt-4.1", &config),
        Some(discounted)
    );
    assert_eq!(resolve_context_window("openai", "gpt-4.1", &config), 8_192);
}

#[test]
fn sonnet_cost_bills_each_kind_of_token_at_its_rate() {
    let price = resolve_price("anthropic", "claude-sonnet-4-5", &ModelConfig::default()).unwrap();
    assert_eq!(
        price,
        Price {
            input: 3.0,
            output: 15.0,
            cache_write: Some(3.75),
            cache_read: Some(0.3),
        }
    );
    let usage = Usage {
        input_tokens: 1_000_000,
        output_tokens: 100_000,
        cache_write_tokens: 200_000,
        cache_read_tokens: 2_000_000,
    };
    // 3.00 + 1.50 + 0.75 + 0.60
    assert!(
        (price.cost(&usage) - 5.85).abs() < 1e-9,
        "{}",
        price.cost(&usage)
    );
}

#[test]
fn openai_cached_tokens_are_billed_at_the_cached_rate() {
    let price = lookup("openai", "gpt-4.1").unwrap().price;
    let usage = Usage {
        input_tokens: 500_000,
        output_tokens: 10_000,
        cache_write_tokens: 0,
        cache_read_tokens: 1_500_000,
    };
    // 1.00 + 0.08 + 0.75
    assert!(
        (price.cost(&usage) - 1.83).abs() < 1e-9,
        "{}",
        price.cost(&usage)
    );
}

#[test]
fn the_table_is_well_formed() {
    let mut seen = std::collections::BTreeSet::new();
    for known in known_models() {
        assert!(
            seen.insert((known.provider, known.model)),
            "duplicate {}",
            known.model
        );
        assert!(known.price.input > 0.0 && known.price.output >= known.price.input);
        assert!(known.price.cache_read.unwrap_or(0.0) <= known.price.input);
        assert!(known.context_window >= 128_000);
    }
    for required in [
        "claude-sonnet-4-5",
        "claude-opus-4-1",
        "claude-haiku-4-5",
        "claude-3-5-haiku",
    ] {
        assert!(lookup("anthropic", required).is_some(), "{required}");
    }
    for required in [
        "gpt-4.1",
        "gpt-4.1-mini",
        "gpt-4o",
        "gpt-4o-mini",
        "gpt-5",
        "gpt-5-mini",
        "o3",
        "o4-mini",
    ] {
        assert!(lookup("openai", required).is_some(), "{required}");
    }
}
