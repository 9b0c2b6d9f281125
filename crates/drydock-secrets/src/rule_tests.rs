use super::*;
use crate::{KnownSecret, Redactor};

#[test]
fn only_the_private_key_rule_spans_lines_and_single_line_rules_cannot_match_a_line_feed() {
    for rule in RuleSet::builtin().rules() {
        assert_eq!(rule.multiline, rule.id == "private-key", "{}", rule.id);
        if !rule.multiline {
            assert!(!rule.crosses_lines, "{} can match a line feed", rule.id);
        }
    }
}

#[test]
fn explicit_multiline_detection() {
    for pattern in [
        r"a\nb",
        "a[\\s\\S]*b",
        r"(?s)a.b",
        r"(?is:a.b)",
        r"BEGIN[\s\S-]{64,}?END",
        "a\nb",
    ] {
        assert!(explicitly_multiline(pattern), "{pattern}");
    }
    for pattern in [
        r"key\s*=\s*(\w+)",
        r#""[^"]+""#,
        r"(?i)token",
        r"(?-s:a.b)",
        r"(?P<s>x)",
    ] {
        assert!(!explicitly_multiline(pattern), "{pattern}");
    }
}

#[test]
fn newline_capability_is_read_from_the_regex() {
    assert!(can_match_newline(r"a\s+b").unwrap());
    assert!(can_match_newline(r#"[^"]+"#).unwrap());
    assert!(!can_match_newline(r"[ \t]*[A-Za-z0-9]{20}").unwrap());
    assert!(!can_match_newline(r"(?-u)[^\s]+").unwrap());
    assert!(!can_match_newline(r"^abc$").unwrap());
}

#[test]
fn merge_replaces_rules_by_id_in_place_and_without_rejects_unknown_ids() {
    let builtin = RuleSet::builtin();
    let position = builtin
        .rules()
        .iter()
        .position(|rule| rule.id() == "github-pat")
        .unwrap();
    let file = RuleSet::from_gitleaks_toml(
        "[[rules]]\nid = \"github-pat\"\nregex = '''ghp_[0-9]{4}'''\n[[rules]]\nid = \"team-token\"\nregex = '''team_[a-z]{8}'''\nkeywords = [\"team_\"]\n",
        std::path::Path::new("team.toml"),
    )
    .unwrap();
    let merged = builtin.clone().merge(file);
    assert_eq!(merged.len(), builtin.len() + 1);
    assert_eq!(merged.rules()[position].id(), "github-pat");
    assert!(!merged.rules()[position].is_builtin());
    assert_eq!(merged.rules().last().unwrap().id(), "team-token");

    let error = builtin
        .clone()
        .without(&["no-such-rule".to_string()])
        .unwrap_err();
    assert!(error.to_string().contains("no-such-rule"), "{error}");
    let fewer = builtin.clone().without(&["jwt".to_string()]).unwrap();
    assert_eq!(fewer.len(), builtin.len() - 1);
}

#[test]
fn config_allowlists_apply_to_rules_but_never_to_known_values() {
    let allow = Allowlist::from_config(
        "test",
        &["^sk_test_".to_string()],
        &["fixtures/**".to_string()],
        &["sandbox".to_string()],
    )
    .unwrap();
    let rules = RuleSet::builtin().with_allowlist(allow);
    let known_value = "sk_test_known0value1that2is3long";
    let redactor = Redactor::new(rules, vec![KnownSecret::new("STRIPE_KEY", known_value)]).unwrap();
    let test_key = "sk_test_Zq8xYyw3kLp0Tr0ub4dor3x";
    assert!(redactor.redact(&format!("key={test_key}")).is_clean());
    assert_eq!(
        redactor.redact(&format!("key={known_value}")).text,
        "key=[REDACTED:STRIPE_KEY]"
    );
    let live = "sk_live_Zq8xYyw3kLp0Tr0ub4dor3x";
    assert!(!redactor.find(live.as_bytes(), None).is_empty());
    assert!(
        redactor
            .find(live.as_bytes(), Some("fixtures/stripe.json"))
            .is_empty()
    );
    assert!(redactor.path_is_allowlisted("fixtures/a/b.txt"));
    assert!(!redactor.path_is_allowlisted("src/main.rs"));
    let stop = "sk_live_sandboxZq8xYyw3kLp0Tr0ub";
    assert!(redactor.find(stop.as_bytes(), None).is_empty());
}

#[test]
fn bad_config_allowlists_are_errors() {
    assert!(Allowlist::from_config("x", &["(".to_string()], &[], &[]).is_err());
    assert!(Allowlist::from_config("x", &[], &["a{".to_string()], &[]).is_err());
}

#[test]
fn generic_entropy_threshold_is_adjustable() {
    let text = "password = \"Xk4mQ9pLw2\"";
    let strict = Redactor::new(RuleSet::builtin().with_generic_entropy(4.5), Vec::new()).unwrap();
    let lax = Redactor::new(RuleSet::builtin().with_generic_entropy(1.0), Vec::new()).unwrap();
    assert!(strict.redact(text).is_clean());
    assert_eq!(
        lax.redact(text).text,
        "password = \"[REDACTED:generic-secret]\""
    );
}
