//! drydock's built-in rules: how a table entry becomes a [`Rule`].

use crate::rule::{
    Check, Keyword, Rule, RuleSet, SecretGroup, can_match_newline, compile, start_search,
};

#[path = "builtin_rules.rs"]
mod table;

pub(crate) use table::SPECS;

/// Default minimum entropy (bits per byte) of a generic `secret = value` assignment.
pub const DEFAULT_GENERIC_ENTROPY: f64 = 3.0;

/// One built-in rule as written in the table.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Spec {
    /// Rule id (`[REDACTED:<id>]`).
    pub id: &'static str,
    /// What it detects.
    pub description: &'static str,
    /// Case-insensitive keywords.
    pub keywords: &'static [&'static str],
    /// Keywords that must match case exactly (short prefixes like `SK`, `AKIA`).
    pub exact_keywords: &'static [&'static str],
    /// The regex, matched byte-wise with ASCII classes (compiled under `(?-u)`).
    pub regex: &'static str,
    /// Capture group holding the secret (0: the whole match).
    pub group: usize,
    /// Capture group holding the secret, by name (wins over `group`).
    pub group_name: Option<&'static str>,
    /// Minimum entropy of the secret.
    pub entropy: Option<f64>,
    /// Structural check.
    pub check: Check,
    /// Whether the configurable generic entropy threshold applies.
    pub generic: bool,
    /// Whether matches span lines (searched in a window from the keyword's line).
    pub multiline: bool,
    #[cfg_attr(not(test), allow(dead_code))]
    /// Templates (see [`crate::fixtures`]) this rule must find, with every generated piece
    /// redacted.
    pub examples: &'static [&'static str],
    #[cfg_attr(not(test), allow(dead_code))]
    /// Templates this rule must not find.
    pub counter_examples: &'static [&'static str],
}

impl Spec {
    pub(crate) const DEFAULT: Spec = Spec {
        id: "",
        description: "",
        keywords: &[],
        exact_keywords: &[],
        regex: "",
        group: 0,
        group_name: None,
        entropy: None,
        check: Check::None,
        generic: false,
        multiline: false,
        examples: &[],
        counter_examples: &[],
    };
}

/// Builds the built-in rule set. A broken table entry is a bug caught by the tests; at run time
/// it is skipped rather than taking the redactor down.
pub(crate) fn rule_set() -> RuleSet {
    let rules = SPECS.iter().filter_map(|spec| to_rule(spec).ok()).collect();
    RuleSet {
        rules,
        allowlists: Vec::new(),
    }
}

/// Turns a table entry into a rule.
pub(crate) fn to_rule(spec: &Spec) -> Result<Rule, String> {
    // Byte-oriented and ASCII-only (`\b`, `(?i)`, negated classes): smaller automata, and the
    // lazy DFA never gives up on non-ASCII input.
    let pattern = format!("(?-u){}", spec.regex);
    let regex = compile(&pattern)?;
    let crosses_lines = can_match_newline(&pattern)?;
    let secret_group = match spec.group_name {
        Some(name) => {
            let index = regex
                .capture_names()
                .position(|n| n == Some(name))
                .ok_or_else(|| format!("{}: no capture group named {name}", spec.id))?;
            SecretGroup::Index(index)
        }
        None if spec.group == 0 => SecretGroup::Whole,
        None => SecretGroup::Index(spec.group),
    };
    let mut keywords: Vec<Keyword> = spec
        .keywords
        .iter()
        .map(|k| Keyword {
            text: k.to_ascii_lowercase(),
            case_sensitive: false,
        })
        .collect();
    keywords.extend(spec.exact_keywords.iter().map(|k| Keyword {
        text: (*k).to_string(),
        case_sensitive: true,
    }));
    if keywords.is_empty() {
        return Err(format!("{}: built-in rules need keywords", spec.id));
    }
    Ok(Rule {
        id: spec.id.to_string(),
        description: spec.description.to_string(),
        regex: Some(regex),
        multiline: spec.multiline,
        crosses_lines,
        starts: start_search(&pattern, crosses_lines),
        keywords,
        secret_group,
        entropy: if spec.generic {
            Some(DEFAULT_GENERIC_ENTROPY)
        } else {
            spec.entropy
        },
        path: None,
        allowlists: Vec::new(),
        check: spec.check,
        placeholder_filter: true,
        generic: spec.generic,
        source: None,
    })
}

#[cfg(test)]
#[path = "builtin_tests.rs"]
mod tests;
