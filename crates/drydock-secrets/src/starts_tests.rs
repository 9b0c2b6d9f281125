use pretty_assertions::assert_eq;

use super::*;
use crate::builtin::{SPECS, to_rule};
use crate::fixtures::{FakeRng, expand};
use crate::{Redactor, RuleSet};

fn literals(pattern: &str) -> Option<Vec<String>> {
    start_literals(pattern).map(|literals| {
        literals
            .into_iter()
            .map(|l| String::from_utf8_lossy(&l).into_owned())
            .collect()
    })
}

fn starts_with_a_literal(literals: &[Vec<u8>], text: &[u8]) -> bool {
    literals.iter().any(|literal| {
        text.get(..literal.len())
            .is_some_and(|prefix| prefix.eq_ignore_ascii_case(literal))
    })
}

#[test]
fn case_insensitive_words_give_one_literal_each() {
    assert_eq!(
        literals(r"(?-u)(?i)(?:password|\bpass|[_.-]pass).*=").unwrap(),
        ["-pass", ".pass", "_pass", "pass"]
    );
    // Followed by a small class, the literals grow by a byte of it.
    assert_eq!(
        literals(r"(?-u)\bghp_[0-3]x").unwrap(),
        ["ghp_0x", "ghp_1x", "ghp_2x", "ghp_3x"]
    );
}

#[test]
fn too_many_literals_are_cut_shorter_until_few_enough() {
    // 4 x 4 x 4 endings after `ghp_`: cut back to two of them.
    let found = literals(r"(?-u)\bghp_[0-3]{36}").unwrap();
    assert_eq!(found.len(), 16, "{found:?}");
    assert!(
        found.iter().all(|l| l.starts_with("ghp_") && l.len() == 6),
        "{found:?}"
    );
}

#[test]
fn patterns_without_a_short_list_of_useful_literals_have_no_start_search() {
    for pattern in [
        r"\b[0-9]{8,10}:AA[A-Za-z0-9_-]{33}", // starts with any digit
        r".*token",                           // starts anywhere
        r"(?:token)?",                        // matches the empty string
        r"(?:^|[ \t])--?[a-z]*password",      // "-" is too short
        r"ab",                                // too short
        r"[a-z]{3}[0-9]{3}",                  // far too many literals
    ] {
        assert_eq!(literals(pattern), None, "{pattern}");
    }
}

#[test]
fn unicode_case_folding_keeps_non_ascii_variants() {
    // In Unicode mode `(?i)k` also matches the Kelvin sign, which ASCII folding cannot reach:
    // it must stay a literal of its own.
    let found = start_literals(r"(?i)kilo").unwrap();
    assert!(found.contains(&b"kilo".to_vec()), "{found:?}");
    assert!(
        found.contains(&"\u{212A}ilo".as_bytes().to_vec()),
        "{found:?}"
    );
    let search = StartSearch::new(r"(?i)kilo").unwrap();
    assert!(starts_with_a_literal(
        search.literals(),
        "\u{212A}ILO".as_bytes()
    ));
}

fn matches(search: &StartSearch, haystack: &[u8], at: usize) -> Option<bool> {
    search.matches_at(haystack, at, &mut 0)
}

#[test]
fn anchored_attempts_see_the_bytes_before_them() {
    let search = StartSearch::new(r"(?-u)(?i)\bpass[a-z]*=[a-z]+").unwrap();
    assert_eq!(matches(&search, b"x pass=abc", 2), Some(true));
    assert_eq!(matches(&search, b"PASSWORD=abc", 0), Some(true));
    // `\b` fails inside a word even though the attempt starts at the literal.
    assert_eq!(matches(&search, b"bypass=abc", 2), Some(false));
    // Anchored: a match further on does not count.
    assert_eq!(matches(&search, b"x pass=abc", 0), Some(false));
    // `$` and `\b` at the end of the haystack see the end of input.
    let search = StartSearch::new(r"(?-u)token=[a-z]+\b$").unwrap();
    assert_eq!(matches(&search, b"token=abc", 0), Some(true));
    assert_eq!(matches(&search, b"token=abc ", 0), Some(false));
}

#[test]
fn attempts_count_what_they_read() {
    let search = StartSearch::new(r"(?-u)pass=[a-z=]{8,}[ ;]").unwrap();
    let line = b"pass=pass=pass=pass=pass=pass=(";
    let mut read = 0;
    assert_eq!(search.matches_at(line, 0, &mut read), Some(false));
    // The attempt had to read up to the `(` to know.
    assert_eq!(read, line.len());
    let mut read = 0;
    assert_eq!(
        search.matches_at(b"pass=abcdefgh; more", 0, &mut read),
        Some(true)
    );
    assert!(read <= 15, "{read}");
}

#[test]
fn a_unicode_word_boundary_next_to_non_ascii_is_left_to_the_line_scan() {
    let search = StartSearch::new(r"(?i)\bkilo\b").unwrap();
    assert_eq!(matches(&search, "kilo x".as_bytes(), 0), Some(true));
    assert_eq!(matches(&search, "kiloé".as_bytes(), 0), None);
    // Before the literal too: the look-behind byte is part of a Unicode word character.
    assert_eq!(matches(&search, "ékilo x".as_bytes(), 2), None);
}

#[test]
fn word_boundaries_next_to_non_ascii_match_like_the_line_scan() {
    let gitleaks = r#"
[[rules]]
id = "unicode-boundary"
regex = '''(?i)\bkilo=([a-z0-9]{8,})\b'''
keywords = ["kilo"]
"#;
    let rules = RuleSet::from_gitleaks_toml(gitleaks, std::path::Path::new("rules.toml")).unwrap();
    assert!(rules.rules().iter().all(|rule| rule.starts.is_some()));
    let fast = Redactor::new(rules.clone(), Vec::new()).unwrap();
    let plain = Redactor::new(without_starts(rules), Vec::new()).unwrap();
    // A gitleaks `\b` is RE2's, ASCII-only: é and ß are not word characters to it, so all six
    // match (the unit tests above cover a Unicode `\b`, which the attempts leave to the scan).
    let input = "kilo=abcd1234\nékilo=abcd1234\nkilo=abcd1234é\n\
                 é kilo=abcd1234 x\nßkilo=abcd1234 KILO=abcd12345\n";
    let expected = plain.redact(input);
    let got = fast.redact(input);
    assert_eq!(got.findings, expected.findings);
    assert_eq!(got.text, expected.text);
    assert_eq!(got.findings.len(), 6, "{}", got.text);
}

/// Every match of every built-in rule that has a start search, in its examples and their
/// case-swapped and shifted variants, starts with one of its literals.
#[test]
fn every_builtin_match_starts_with_one_of_its_literals() {
    let mut checked = 0;
    let mut attempted = 0;
    for spec in SPECS {
        let rule = to_rule(spec).unwrap();
        let (Some(regex), Some(starts)) = (&rule.regex, &rule.starts) else {
            continue;
        };
        for template in spec.examples.iter().chain(spec.counter_examples) {
            for seed in 0..5 {
                let text = expand(template, &mut FakeRng::new(seed)).text;
                let variants = [
                    text.clone(),
                    text.to_ascii_uppercase(),
                    text.to_ascii_lowercase(),
                    format!("x{text} {text}"),
                ];
                for variant in &variants {
                    for found in regex.find_iter(variant.as_bytes()) {
                        checked += 1;
                        assert!(
                            starts_with_a_literal(
                                starts.literals(),
                                &variant.as_bytes()[found.start()..]
                            ),
                            "{}: match {:?} starts with none of {:?}",
                            spec.id,
                            found.as_bytes(),
                            starts.literals()
                        );
                        // `None` (the DFA would be too large, as for `twilio-auth-token`)
                        // sends the line to the scan, which is safe; `Some(false)` would lose
                        // the match.
                        let attempt = matches(starts, variant.as_bytes(), found.start());
                        assert_ne!(attempt, Some(false), "{}", spec.id);
                        attempted += usize::from(attempt.is_some());
                    }
                }
            }
        }
    }
    assert!(checked > 500, "only {checked} matches checked");
    // Nearly every rule's DFA fits.
    assert!(
        attempted * 10 > checked * 9,
        "{attempted} of {checked} decided"
    );
}

#[test]
fn the_generic_rules_and_the_token_formats_use_start_searches() {
    let with_starts: Vec<String> = RuleSet::builtin()
        .rules()
        .iter()
        .filter(|rule| rule.starts.is_some())
        .map(|rule| rule.id().to_string())
        .collect();
    for id in [
        "generic-secret",
        "bearer-token",
        "basic-auth-url",
        "connection-string-password",
        "github-pat",
        "jwt",
    ] {
        assert!(with_starts.iter().any(|r| r == id), "{id}: {with_starts:?}");
    }
    // Multi-line rules never do.
    assert!(!with_starts.iter().any(|r| r == "private-key"));
}

fn without_starts(rules: RuleSet) -> RuleSet {
    let mut rules = rules;
    for rule in &mut rules.rules {
        rule.starts = None;
    }
    rules
}

/// Text where matches start away from keywords, overlap, repeat on a line, and sit next to
/// word characters that a `\b` must see.
fn tricky_input(seed: u64) -> Vec<u8> {
    let mut rng = FakeRng::new(seed);
    let pieces = [
        "token = \"{{alnum:20}}{{digits:2}}\" ",
        "access.key = {{alnum:16}}{{digits:2}}; ",
        "bypass={{alnum:12}}{{digits:2}} ",
        "x_pass: '{{alnum:14}}{{digits:3}}' ",
        "PASSWORD={{alnum:10}}{{digits:4}} password={{alnum:10}}{{digits:4}} ",
        "Authorization: Bearer {{alnum:40}} ",
        "https://deploy:{{alnum:20}}@pypi.acme.dev/simple ",
        "postgres://app:{{alnum:20}}@db:5432/app ",
        "ghp_{{alnum:36}}ghp_{{alnum:36}} ",
        "api_key=api_key={{alnum:20}}1 ",
        "SECRET_KEY:={{b64:30}}9\r\n",
        "pass pass pass ",
        "\n",
        "\n",
        "{{lower:5}} ",
        "é\u{fffd}",
        // Lines full of candidates where attempts read far and fail: scanned whole instead.
        "pass=pass=pass=pass=pass=pass=pass=pass=pass=pass=pass=pass=pass=pass=pass=(",
        "https://https://https://https://https://https://https://https://",
    ];
    let mut out = String::new();
    while out.len() < 60_000 {
        out.push_str(&expand(pieces[rng.below(pieces.len())], &mut rng).text);
    }
    out.into_bytes()
}

#[test]
fn anchored_attempts_find_exactly_what_line_scans_find() {
    let gitleaks = r#"
[extend]
useDefault = true

[[rules]]
id = "no-keywords"
regex = '''secret_[a-z0-9]{10}'''

[[rules]]
id = "keyword-elsewhere"
regex = '''(?i)(?:access|auth)[._-]key\s*=\s*([a-z0-9]{12,})'''
keywords = ["token"]
"#;
    let rules = RuleSet::from_gitleaks_toml(gitleaks, std::path::Path::new("rules.toml")).unwrap();
    let fast = Redactor::new(rules.clone(), Vec::new()).unwrap();
    let plain = Redactor::new(without_starts(rules), Vec::new()).unwrap();
    let mut total = 0;
    for seed in 0..6 {
        let input = tricky_input(seed);
        let expected = plain.redact_bytes(&input);
        let got = fast.redact_bytes(&input);
        assert_eq!(got.findings, expected.findings, "seed {seed}");
        assert!(got.bytes == expected.bytes, "seed {seed}");
        total += got.findings.len();
    }
    assert!(total > 1000, "only {total} findings");
}

#[test]
fn a_rule_whose_dfa_would_be_too_large_defers_every_attempt_to_the_line_scan() {
    // An `a` twenty bytes from the end of a run of a/b: the DFA must remember the last twenty
    // bytes (a million states), far over the size limit.
    let pattern = r"(?-u)tok_[ab]*a[ab]{20}";
    let search = StartSearch::new(pattern).unwrap();
    assert_eq!(matches(&search, b"tok_abababababababababababab", 0), None);

    let gitleaks =
        format!("[[rules]]\nid = \"huge-dfa\"\nregex = '''{pattern}'''\nkeywords = [\"tok_\"]\n");
    let rules = RuleSet::from_gitleaks_toml(&gitleaks, std::path::Path::new("rules.toml")).unwrap();
    let fast = Redactor::new(rules.clone(), Vec::new()).unwrap();
    let plain = Redactor::new(without_starts(rules), Vec::new()).unwrap();
    let input = "x tok_abababababababababababab y\ntok_bbbb tok_aaaaaaaaaaaaaaaaaaaaaaaaaa\n";
    let expected = plain.redact(input);
    let got = fast.redact(input);
    assert_eq!(got.findings, expected.findings);
    assert_eq!(got.text, expected.text);
    assert_eq!(got.findings.len(), 2, "{}", got.text);
}
