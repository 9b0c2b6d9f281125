//! What drydock knows about well-known models: list prices and context windows.

use crate::{ModelConfig, Price};

/// Context window assumed for a model drydock does not know and the user did not configure.
pub const DEFAULT_CONTEXT_WINDOW: u64 = 32_768;

/// A model in the built-in table.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KnownModel {
    /// Provider name.
    pub provider: &'static str,
    /// Model name (the undated alias).
    pub model: &'static str,
    /// List price, US dollars per million tokens.
    pub price: Price,
    /// Tokens per request, prompt plus reply.
    pub context_window: u64,
}

const fn price(input: f64, output: f64, cache_write: Option<f64>, cache_read: f64) -> Price {
    Price {
        input,
        output,
        cache_write,
        cache_read: Some(cache_read),
    }
}

/// Anthropic bills 5-minute cache writes at 1.25x and cache reads at 0.1x the input rate; the
/// rates are spelled out so that the table reads like the vendor's.
const fn anthropic(
    model: &'static str,
    input: f64,
    output: f64,
    cache_write: f64,
    cache_read: f64,
) -> KnownModel {
    KnownModel {
        provider: "anthropic",
        model,
        price: price(input, output, Some(cache_write), cache_read),
        context_window: 200_000,
    }
}

const fn openai(
    model: &'static str,
    input: f64,
    output: f64,
    cached: f64,
    window: u64,
) -> KnownModel {
    // OpenAI does not bill cache writes separately: they are ordinary input tokens.
    KnownModel {
        provider: "openai",
        model,
        price: price(input, output, None, cached),
        context_window: window,
    }
}

/// List prices as published by the vendors (standard tier, US$ per million tokens).
const KNOWN_MODELS: &[KnownModel] = &[
    anthropic("claude-opus-4-5", 5.0, 25.0, 6.25, 0.5),
    anthropic("claude-opus-4-1", 15.0, 75.0, 18.75, 1.5),
    anthropic("claude-opus-4-0", 15.0, 75.0, 18.75, 1.5),
    anthropic("claude-opus-4", 15.0, 75.0, 18.75, 1.5),
    anthropic("claude-sonnet-4-5", 3.0, 15.0, 3.75, 0.3),
    anthropic("claude-sonnet-4-0", 3.0, 15.0, 3.75, 0.3),
    anthropic("claude-sonnet-4", 3.0, 15.0, 3.75, 0.3),
    anthropic("claude-3-7-sonnet", 3.0, 15.0, 3.75, 0.3),
    anthropic("claude-3-5-sonnet", 3.0, 15.0, 3.75, 0.3),
    anthropic("claude-haiku-4-5", 1.0, 5.0, 1.25, 0.1),
    anthropic("claude-3-5-haiku", 0.8, 4.0, 1.0, 0.08),
    anthropic("claude-3-haiku", 0.25, 1.25, 0.3, 0.03),
    openai("gpt-5", 1.25, 10.0, 0.125, 400_000),
    openai("gpt-5.1", 1.25, 10.0, 0.125, 400_000),
    openai("gpt-5-mini", 0.25, 2.0, 0.025, 400_000),
    openai("gpt-5-nano", 0.05, 0.4, 0.005, 400_000),
    openai("gpt-4.1", 2.0, 8.0, 0.5, 1_047_576),
    openai("gpt-4.1-mini", 0.4, 1.6, 0.1, 1_047_576),
    openai("gpt-4.1-nano", 0.1, 0.4, 0.025, 1_047_576),
    openai("gpt-4o", 2.5, 10.0, 1.25, 128_000),
    // The first gpt-4o snapshot kept its launch price and had no cache discount.
    openai("gpt-4o-2024-05-13", 5.0, 15.0, 5.0, 128_000),
    openai("gpt-4o-mini", 0.15, 0.6, 0.075, 128_000),
    openai("o3", 2.0, 8.0, 0.5, 200_000),
    openai("o3-mini", 1.1, 4.4, 0.55, 200_000),
    openai("o4-mini", 1.1, 4.4, 0.275, 200_000),
    openai("o1", 15.0, 60.0, 7.5, 200_000),
];

/// Every model of the built-in table.
pub fn known_models() -> &'static [KnownModel] {
    KNOWN_MODELS
}

/// The built-in entry for `provider:model`, accepting dated snapshots (`claude-sonnet-4-5-20250929`,
/// `gpt-4.1-2025-04-14`) and `-latest` aliases of a known model.
pub fn lookup(provider: &str, model: &str) -> Option<&'static KnownModel> {
    let find = |name: &str| {
        KNOWN_MODELS
            .iter()
            .find(|known| known.provider == provider && known.model == name)
    };
    find(model).or_else(|| find(undated(model)?))
}

/// The model name without a trailing `-YYYYMMDD`, `-YYYY-MM-DD` or `-latest`.
fn undated(model: &str) -> Option<&str> {
    if let Some(base) = model.strip_suffix("-latest") {
        return Some(base);
    }
    if let Some((base, suffix)) = model.rsplit_once('-')
        && suffix.len() == 8
        && suffix.bytes().all(|b| b.is_ascii_digit())
    {
        return Some(base);
    }
    let (base, tail) = model.split_at_checked(model.len().checked_sub(11)?)?;
    let dated = tail.bytes().enumerate().all(|(i, b)| match i {
        0 | 5 | 8 => b == b'-',
        _ => b.is_ascii_digit(),
    });
    (dated && !base.is_empty()).then_some(base)
}

/// The price of `provider:model`: the user's table first, then the built-in one; `None` when
/// neither knows it (cost is then reported as unknown, never as zero).
pub fn resolve_price(provider: &str, model: &str, config: &ModelConfig) -> Option<Price> {
    config
        .pricing
        .get(&format!("{provider}:{model}"))
        .copied()
        .or_else(|| lookup(provider, model).map(|known| known.price))
}

/// The context window of `provider:model`: the configured one, else the built-in one, else
/// [`DEFAULT_CONTEXT_WINDOW`].
pub fn resolve_context_window(provider: &str, model: &str, config: &ModelConfig) -> u64 {
    config
        .context_window
        .or_else(|| lookup(provider, model).map(|known| known.context_window))
        .unwrap_or(DEFAULT_CONTEXT_WINDOW)
}

#[cfg(test)]
#[path = "catalog_tests.rs"]
mod tests;
