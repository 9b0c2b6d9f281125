use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use pretty_assertions::assert_eq;

use super::*;
use crate::fixtures::{FakeRng, expand};

const TOKEN: &str = "zQ7vX2pL9kR4mN8wT1yB6cF3";

fn redactor() -> Redactor {
    Redactor::new(
        RuleSet::builtin(),
        vec![
            KnownSecret::new("FORGE_TOKEN", TOKEN),
            KnownSecret::new("DB_PASSWORD", "p@ss w/rd:9Zx!"),
        ],
    )
    .unwrap()
}

#[test]
fn known_values_are_replaced_with_their_name_in_every_encoding() {
    let redactor = redactor();
    let encodings = [
        TOKEN.to_string(),
        STANDARD.encode(TOKEN),
        URL_SAFE_NO_PAD.encode(format!("x{TOKEN}")),
        STANDARD.encode(format!("ab{TOKEN}cd")),
        hex::encode(TOKEN),
        hex::encode_upper(TOKEN),
        "p%40ss%20w%2Frd%3A9Zx%21".to_string(),
        "p%40ss+w%2Frd%3A9Zx!".to_string(),
        "p%40ss%20w/rd%3A9Zx%21".to_string(),
        "p%40ss%20w%2frd%3a9Zx%21".to_string(),
    ];
    for encoded in encodings {
        let text = format!("before {encoded} after");
        let out = redactor.redact(&text);
        assert_eq!(out.findings.len(), 1, "{text} -> {}", out.text);
        let finding = &out.findings[0];
        assert_eq!(finding.kind, FindingKind::KnownValue);
        assert!(finding.rule == "FORGE_TOKEN" || finding.rule == "DB_PASSWORD");
        assert!(out.text.starts_with("before "), "{}", out.text);
        assert!(
            out.text.contains(&format!("[REDACTED:{}]", finding.rule)),
            "{}",
            out.text
        );
        // What is left of an encoded form is the encoding of the neighbouring bytes ("ab",
        // "cd"), the characters mixing them with the value, and padding.
        let leftover =
            out.text.len() - "before  after".len() - format!("[REDACTED:{}]", finding.rule).len();
        assert!(leftover <= 9, "{text} -> {}", out.text);
    }
}

#[test]
fn findings_carry_offsets_and_lines_but_never_the_value() {
    let redactor = redactor();
    let text = format!("line one\nline two {TOKEN}\nthird {TOKEN} and {TOKEN}");
    let out = redactor.redact(&text);
    let starts: Vec<usize> = text.match_indices(TOKEN).map(|(i, _)| i).collect();
    let expected: Vec<Finding> = starts
        .iter()
        .zip([2, 3, 3])
        .map(|(&start, line)| Finding {
            rule: "FORGE_TOKEN".into(),
            kind: FindingKind::KnownValue,
            start,
            end: start + TOKEN.len(),
            line,
        })
        .collect();
    assert_eq!(out.findings, expected);
    assert_eq!(
        out.text,
        "line one\nline two [REDACTED:FORGE_TOKEN]\nthird [REDACTED:FORGE_TOKEN] and [REDACTED:FORGE_TOKEN]"
    );
    let json = serde_json::to_string(&out.findings).unwrap();
    let debug = format!("{out:?} {redactor:?}");
    assert!(
        !json.contains(TOKEN) && !debug.contains(TOKEN) && !debug.contains("9Zx"),
        "{debug}"
    );
    assert_eq!(out.counts(), [("FORGE_TOKEN", 3)].into_iter().collect());
}

#[test]
fn overlapping_known_and_rule_spans_merge_under_the_leftmost_label() {
    let key = expand("sk-ant-api03-{{b64url:93}}AA", &mut FakeRng::new(1)).text;
    let redactor = Redactor::new(
        RuleSet::builtin(),
        vec![KnownSecret::new("ANTHROPIC_API_KEY", &key)],
    )
    .unwrap();
    let out = redactor.redact(&format!("ANTHROPIC_API_KEY={key}\n"));
    assert_eq!(out.text, "ANTHROPIC_API_KEY=[REDACTED:ANTHROPIC_API_KEY]\n");
    // Without the known value the format rule still catches it.
    let out = Redactor::new(RuleSet::builtin(), Vec::new())
        .unwrap()
        .redact(&format!("key={key}"));
    assert_eq!(out.text, "key=[REDACTED:anthropic-api-key]");
}

#[test]
fn a_known_value_inside_another_is_covered_by_the_longer_one() {
    let redactor = Redactor::new(
        RuleSet::empty(),
        vec![
            KnownSecret::new("INNER", "inner-secret-1"),
            KnownSecret::new("OUTER", "outer-inner-secret-1-x"),
        ],
    )
    .unwrap();
    let out = redactor.redact("a outer-inner-secret-1-x b inner-secret-1 c");
    assert_eq!(out.text, "a [REDACTED:OUTER] b [REDACTED:INNER] c");
}

#[test]
fn bytes_that_are_not_utf8_are_scanned_and_kept() {
    let redactor = redactor();
    let mut input = vec![0xff, 0xfe, b' '];
    input.extend_from_slice(TOKEN.as_bytes());
    input.extend_from_slice(&[b' ', 0xc3, b'\n', 0x80]);
    input.extend_from_slice(b"GITHUB_TOKEN=ghp_");
    input.extend_from_slice(expand("{{alnum:36}}", &mut FakeRng::new(2)).text.as_bytes());
    input.extend_from_slice(&[b' ', 0xff]);
    let out = redactor.redact_bytes(&input);
    let mut expected = vec![0xff, 0xfe, b' '];
    expected.extend_from_slice(b"[REDACTED:FORGE_TOKEN] ");
    expected.extend_from_slice(&[0xc3, b'\n', 0x80]);
    expected.extend_from_slice(b"GITHUB_TOKEN=[REDACTED:github-pat]");
    expected.extend_from_slice(&[b' ', 0xff]);
    assert_eq!(out.bytes, expected);
    assert_eq!(out.findings.len(), 2);
    assert_eq!(out.findings[1].line, 2);
}

#[test]
fn edge_inputs() {
    let redactor = redactor();
    for text in ["", "\n", "\n\n\n", "a", "\r\n", "é", &"x".repeat(100_000)] {
        let out = redactor.redact(text);
        assert_eq!(out.text, text);
        assert!(out.is_clean());
    }
    let glued = format!("{TOKEN}{TOKEN}");
    assert_eq!(
        redactor.redact(&glued).text,
        "[REDACTED:FORGE_TOKEN][REDACTED:FORGE_TOKEN]"
    );
}

#[test]
fn a_redactor_with_no_rules_and_no_secrets_copies_text() {
    let redactor = Redactor::new(RuleSet::empty(), Vec::new()).unwrap();
    let text = "password = \"hT8kZ2pQ9wXv3LmN\"";
    assert_eq!(redactor.redact(text).text, text);
    assert_eq!(redactor.known_names().count(), 0);
}

#[test]
fn find_reports_what_redact_replaces() {
    let redactor = redactor();
    let text = format!("x {TOKEN}\npassword = \"hT8kZ2pQ9wXv3LmN\"\n");
    let found = redactor.find(text.as_bytes(), Some("app/.env"));
    assert_eq!(found, redactor.redact(&text).findings);
    assert_eq!(
        found.iter().map(|f| f.rule.as_str()).collect::<Vec<_>>(),
        ["FORGE_TOKEN", "generic-secret"]
    );
}

#[test]
fn a_redactor_is_shared_across_threads() {
    fn assert_shareable<T: Send + Sync>() {}
    assert_shareable::<Redactor>();
    let redactor = redactor();
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| assert_eq!(redactor.redact(TOKEN).text, "[REDACTED:FORGE_TOKEN]"));
        }
    });
}

#[test]
fn segmented_one_shot_equals_the_single_segment_reference_on_large_inputs() {
    let redactor = redactor();
    let mut rng = FakeRng::new(11);
    let mut text = String::new();
    while text.len() < 200_000 {
        let piece = match rng.below(5) {
            0 => "GITHUB_TOKEN=ghp_{{alnum:36}}\n",
            1 => {
                "-----BEGIN RSA PRIVATE KEY-----\n{{b64:64}}\n{{b64:64}}\n-----END RSA PRIVATE KEY-----\n"
            }
            2 => "a fairly ordinary line of log output with id {{hex:32}}\n",
            3 => "password: \"{{alnum:18}}\" zQ7vX2pL9kR4mN8wT1yB6cF3\n",
            _ => "{{b64:2000}}",
        };
        text.push_str(&expand(piece, &mut rng).text);
    }
    let (whole, whole_findings) = redactor.redact_whole(text.as_bytes(), None, true);
    let out = redactor.redact(&text);
    assert_eq!(out.text.as_bytes(), &whole[..]);
    assert_eq!(out.findings, whole_findings);
    assert!(out.findings.len() > 100);
}
