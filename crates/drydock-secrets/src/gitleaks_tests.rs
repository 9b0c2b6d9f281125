use std::path::Path;

use super::*;
use crate::Redactor;

const FILE: &str = r#"
title = "team rules"

[extend]
useDefault = true
disabledRules = ["jwt"]

[[rules]]
id = "acme-api-key"
description = "Acme API key"
regex = '''(?i)\b(acme_[a-z0-9]{24})\b'''
keywords = ["acme_"]
entropy = 3.0
tags = ["acme"]

[rules.allowlist]
regexes = ['''acme_0{24}''']

[[rules]]
id = "acme-password"
regex = '''(?i)acme[_-]?password\s*[:=]\s*["']?(\S{8,})["']?'''
secretGroup = 1
keywords = ["acme"]
path = '''\.env$'''

[[rules.allowlists]]
condition = "AND"
paths = ['''^test/''']
stopwords = ["sandbox"]

[[rules]]
id = "acme-key-file"
path = '''(?i)\.acmekey$'''

[[rules]]
id = "acme-block"
regex = '''ACME BEGIN\n([A-Z0-9\n]{20,})\nACME END'''
keywords = ["acme begin"]

[allowlist]
description = "global"
paths = ['''vendor/''']
regexes = ['''EXAMPLE''']

[[allowlists]]
targetRules = ["acme-api-key"]
stopwords = ["fixture"]
"#;

fn load() -> RuleSet {
    RuleSet::from_gitleaks_toml(FILE, Path::new("team.toml")).unwrap()
}

#[test]
fn a_typical_file_loads_with_extend_and_allowlists() {
    let rules = load();
    let ids: Vec<&str> = rules.rules().iter().map(Rule::id).collect();
    assert!(ids.contains(&"github-pat"));
    assert!(!ids.contains(&"jwt"));
    for id in [
        "acme-api-key",
        "acme-password",
        "acme-key-file",
        "acme-block",
    ] {
        assert!(ids.contains(&id), "{id}");
    }
    let redactor = Redactor::new(rules, Vec::new()).unwrap();

    let key = "acme_k3j4h5g6f7d8s9a0p1o2i3u4";
    assert_eq!(
        redactor.redact(&format!("key: {key}")).text,
        "key: [REDACTED:acme-api-key]"
    );
    assert!(
        redactor
            .redact("key: acme_000000000000000000000000")
            .is_clean()
    );
    assert!(
        redactor
            .redact("key: acme_fixture8s9a0p1o2i3u4z9x")
            .is_clean()
    );
    assert!(
        redactor
            .find(key.as_bytes(), Some("vendor/lib/x.txt"))
            .is_empty()
    );

    // Path-scoped: applies in .env files and to text without a path, not elsewhere.
    let line = "ACME_PASSWORD=Zq8xYyw3kLp0";
    assert_eq!(
        redactor.redact(line).text,
        "ACME_PASSWORD=[REDACTED:acme-password]"
    );
    let acme = |text: &str, path: &str| {
        redactor
            .find(text.as_bytes(), Some(path))
            .iter()
            .filter(|finding| finding.rule == "acme-password")
            .count()
    };
    assert_eq!(acme(line, "deploy/.env"), 1);
    assert_eq!(acme(line, "src/main.rs"), 0);
    // AND allowlist: both the path and the stopword must match.
    let sandboxed = "ACME_PASSWORD=sandbox-Zq8xYyw3";
    assert_eq!(acme(sandboxed, "test/.env"), 0);
    assert_eq!(acme(sandboxed, "prod/.env"), 1);
    assert_eq!(acme("ACME_PASSWORD=Zq8xYyw3kLp0", "test/.env"), 1);

    // Explicitly multi-line.
    let block = "x\nACME BEGIN\nABCDEFGHIJ\n0123456789\nACME END\ny";
    assert_eq!(
        redactor.redact(block).text,
        "x\nACME BEGIN\n[REDACTED:acme-block]\nACME END\ny"
    );

    // Global regex allowlist.
    assert!(
        redactor
            .redact("key: acme_EXAMPLEk3j4h5g6f7d8s9a0")
            .is_clean()
    );
}

#[test]
fn path_only_rules_flag_files_in_diffs() {
    let redactor = Redactor::new(load(), Vec::new()).unwrap();
    let diff = "diff --git a/keys/prod.acmekey b/keys/prod.acmekey\nnew file mode 100644\nindex 0000000..1111111\nBinary files /dev/null and b/keys/prod.acmekey differ\n";
    let findings = redactor.scan_diff(diff);
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0].path, "keys/prod.acmekey");
    assert_eq!(findings[0].line, None);
    assert_eq!(findings[0].rule, "acme-key-file");
}

fn error_of(text: &str) -> String {
    RuleSet::from_gitleaks_toml(text, Path::new("bad.toml"))
        .unwrap_err()
        .to_string()
}

#[test]
fn unsupported_or_broken_constructs_are_rejected_naming_the_rule() {
    let cases = [
        ("[[rules]]\nid = \"r1\"\nregex = '''a\\C'''", "r1"),
        ("[[rules]]\nid = \"r2\"\nregex = '''(a'''", "r2"),
        (
            "[[rules]]\nid = \"r3\"\nregex = '''(a)\\1'''",
            "backreference",
        ),
        (
            "[[rules]]\nid = \"r4\"\nregex = '''a'''\n[[rules.required]]\nid = \"x\"",
            "composite",
        ),
        (
            "[[rules]]\nid = \"r5\"\nregex = '''a'''\nunknownKey = 1",
            "unknownKey",
        ),
        (
            "[[rules]]\nid = \"r6\"\nregex = '''(a)'''\nsecretGroup = 3",
            "secretGroup",
        ),
        ("[[rules]]\nid = \"r7\"", "needs a regex"),
        (
            "[[rules]]\nid = \"r8\"\nregex = '''a'''\nentropy = 12.0",
            "entropy",
        ),
        (
            "[[rules]]\nid = \"r9\"\nregex = '''a'''\n[rules.allowlist]\ncondition = \"XOR\"\nregexes = ['''x''']",
            "condition",
        ),
        (
            "[[rules]]\nid = \"r10\"\nregex = '''a'''\n[rules.allowlist]\ndescription = \"empty\"",
            "empty",
        ),
        ("[[rules]]\nid = \"bad id!\"\nregex = '''a'''", "id must"),
        (
            "[[rules]]\nid = \"r11\"\nregex = '''a'''\n[[rules]]\nid = \"r11\"\nregex = '''b'''",
            "duplicate",
        ),
        ("[[rules]]\nregex = '''a'''", "rules[0]"),
        (
            "[extend]\nurl = \"https://example.com/gitleaks.toml\"",
            "url",
        ),
        (
            "[[allowlists]]\ntargetRules = [\"nope\"]\nregexes = ['''x''']",
            "nope",
        ),
        (
            "[[rules]]\nid = \"r12\"\nregex = '''a'''\nkeywords = [\"\"]",
            "keyword",
        ),
        ("not toml at all [", "bad.toml"),
        (
            "[[rules]]\nid = \"r13\"\nregex = '''a'''\n[rules.allowlist]\ntargetRules = [\"r13\"]\nregexes = ['''x''']",
            "targetRules",
        ),
    ];
    for (text, expected) in cases {
        let error = error_of(text);
        assert!(error.contains(expected), "{text:?}: {error}");
        assert!(error.contains("bad.toml"), "{error}");
    }
}

#[test]
fn extend_path_loads_a_parent_file_relative_to_this_one() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("base.toml"),
        "[[rules]]\nid = \"base-rule\"\nregex = '''base_[0-9]{10}'''\nkeywords = [\"base_\"]\n",
    )
    .unwrap();
    let child = dir.path().join("child.toml");
    std::fs::write(&child, "[extend]\npath = \"base.toml\"\n[[rules]]\nid = \"child-rule\"\nregex = '''child_[0-9]{10}'''\n").unwrap();
    let rules = RuleSet::load_gitleaks_file(&child).unwrap();
    let ids: Vec<&str> = rules.rules().iter().map(Rule::id).collect();
    assert_eq!(ids, ["base-rule", "child-rule"]);
    let redactor = Redactor::new(rules, Vec::new()).unwrap();
    assert_eq!(
        redactor.redact("base_0123456789 child_0123456789").text,
        "[REDACTED:base-rule] [REDACTED:child-rule]"
    );

    // A cycle stops at the depth limit with an error instead of looping.
    std::fs::write(
        dir.path().join("loop.toml"),
        "[extend]\npath = \"loop.toml\"\n",
    )
    .unwrap();
    let error = RuleSet::load_gitleaks_file(&dir.path().join("loop.toml"))
        .unwrap_err()
        .to_string();
    assert!(error.contains("deeper"), "{error}");
}

#[test]
fn keywordless_rules_run_on_every_line_and_commit_allowlists_never_apply() {
    let text = "[[rules]]\nid = \"digits\"\nregex = '''\\b\\d{12}\\b'''\n[rules.allowlist]\ncommits = [\"abc123\"]\n";
    let redactor = Redactor::new(
        RuleSet::from_gitleaks_toml(text, Path::new("x.toml")).unwrap(),
        Vec::new(),
    )
    .unwrap();
    assert_eq!(
        redactor.redact("a\nid 123456789012\nb 210987654321").text,
        "a\nid [REDACTED:digits]\nb [REDACTED:digits]"
    );
    // Go's \d is ASCII: Arabic-Indic digits do not match.
    assert!(redactor.redact("٠١٢٣٤٥٦٧٨٩٠١").is_clean());
}

#[test]
fn go_style_whitespace_classes_stay_within_a_line() {
    let text = "[[rules]]\nid = \"kv\"\nregex = '''secret\\s*=\\s*(\\w{10,})'''\nkeywords = [\"secret\"]\n";
    let redactor = Redactor::new(
        RuleSet::from_gitleaks_toml(text, Path::new("x.toml")).unwrap(),
        Vec::new(),
    )
    .unwrap();
    assert!(redactor.redact("secret =\nabcdefghijkl").is_clean());
    assert_eq!(
        redactor.redact("secret = abcdefghijkl").text,
        "secret = [REDACTED:kv]"
    );
}
