//! The labelled corpus in `tests/corpus/`: loading and expansion (shared by the corpus test, the
//! benchmark and the comparison tool).

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use drydock_secrets::KnownSecret;
use drydock_secrets::fixtures::{FakeRng, expand};

/// What a case is labelled as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A format-rule true positive.
    Positive,
    /// A known value in some encoding.
    Known,
    /// A near miss that must stay clean.
    Negative,
}

/// One labelled string.
#[derive(Debug, Clone)]
pub struct Case {
    pub kind: Kind,
    /// Expected rule id or secret name (positives, known), category (negatives).
    pub label: String,
    pub text: String,
    /// Substrings that must not survive redaction.
    pub secret_parts: Vec<String>,
    /// Where the case is written (`file:line`).
    pub origin: String,
}

pub fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

/// The known secrets the corpus refers to, generated from `seed`.
pub fn known_secrets(seed: u64) -> Vec<KnownSecret> {
    let mut rng = FakeRng::new(seed);
    let mut fake = |template: &str| expand(template, &mut rng).text;
    vec![
        KnownSecret::new("ANTHROPIC_API_KEY", fake("sk-ant-api03-{{b64url:93}}AA")),
        KnownSecret::new("FORGE_TOKEN", fake("ghs_{{alnum:36}}")),
        KnownSecret::new("DB_PASSWORD", fake("p@ss w/rd:{{alnum:10}}!&=")),
        KnownSecret::new("WEBHOOK_SECRET", fake("{{hex:40}}")),
        KnownSecret::new(
            "MULTILINE_SECRET",
            fake("first-{{alnum:12}}\nsecond-{{alnum:12}}"),
        ),
    ]
}

fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some('\\') => out.push('\\'),
                Some(other) => {
                    out.push('\\');
                    out.push(other);
                }
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Loads every case, expanding templates with `seed`.
pub fn load(seed: u64) -> Vec<Case> {
    let secrets = known_secrets(seed);
    let mut rng = FakeRng::new(seed ^ 0x5eed);
    let mut cases = Vec::new();
    for (file, kind) in [
        ("positives.tsv", Kind::Positive),
        ("known.tsv", Kind::Known),
        ("negatives.tsv", Kind::Negative),
    ] {
        let text = std::fs::read_to_string(corpus_dir().join(file)).expect("corpus file");
        for (index, line) in text.lines().enumerate() {
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            let (label, template) = line.split_once('\t').expect("label<TAB>template");
            let template = unescape(template);
            let (template, known_parts) = insert_known(&template, &secrets, &mut rng);
            let expanded = expand(&template, &mut rng);
            let mut secret_parts: Vec<String> = match kind {
                Kind::Positive => expanded
                    .generated
                    .into_iter()
                    .filter(|p| p.len() >= 8)
                    .collect(),
                _ => Vec::new(),
            };
            secret_parts.extend(known_parts);
            cases.push(Case {
                kind,
                label: label.to_string(),
                text: expanded.text,
                secret_parts,
                origin: format!("{file}:{}", index + 1),
            });
        }
    }
    cases
}

/// Replaces `{{known:NAME:ENC}}` and returns the cores that must disappear.
fn insert_known(
    template: &str,
    secrets: &[KnownSecret],
    rng: &mut FakeRng,
) -> (String, Vec<String>) {
    let mut out = String::new();
    let mut parts = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{known:") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 8..];
        let end = after.find("}}").expect("closing }}");
        let (name, encoding) = after[..end].split_once(':').expect("NAME:ENC");
        let value = &secrets
            .iter()
            .find(|s| s.name == name)
            .expect("known name")
            .value;
        let (text, core) = encode(value, encoding, rng);
        out.push_str(&text);
        parts.push(core);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    (out, parts)
}

/// The value in `encoding`, and the part of it that must not survive.
fn encode(value: &str, encoding: &str, rng: &mut FakeRng) -> (String, String) {
    let percent = |keep: &[u8], lower: bool, plus: bool| -> String {
        value
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || keep.contains(&b) {
                    char::from(b).to_string()
                } else if plus && b == b' ' {
                    "+".to_string()
                } else if lower {
                    format!("%{b:02x}")
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect()
    };
    match encoding {
        "raw" => (value.to_string(), value.to_string()),
        "hex" => (hex::encode(value), hex::encode(value)),
        "HEX" => (hex::encode_upper(value), hex::encode_upper(value)),
        "url" => {
            let s = percent(b"-_.!~*'()", false, false);
            (s.clone(), s)
        }
        "urllower" => {
            let s = percent(b"-_.~", true, false);
            (s.clone(), s)
        }
        "form" => {
            let s = percent(b"-_.~", false, true);
            (s.clone(), s)
        }
        "pyquote" => {
            let s = percent(b"-_.~/", false, false);
            (s.clone(), s)
        }
        "json" => {
            let s = serde_json::to_string(value).expect("json");
            let inner = s[1..s.len() - 1].to_string();
            (inner.clone(), inner)
        }
        b64 if b64.starts_with("b64") => {
            let offset: usize = b64
                .rsplit('_')
                .next()
                .and_then(|d| d.parse().ok())
                .expect("b64_<offset>");
            // A prefix of offset (mod 3) bytes puts the value at that alignment.
            let prefix = offset + 3 * (1 + rng.below(3));
            let mut blob = rng.bytes(prefix);
            let p = blob.len();
            blob.extend_from_slice(value.as_bytes());
            let suffix = 1 + rng.below(5);
            blob.extend(rng.bytes(suffix));
            let engine = if b64.starts_with("b64url") {
                &URL_SAFE
            } else {
                &STANDARD
            };
            let encoded = engine.encode(&blob);
            // The characters made only of the value's bits.
            let first = (p * 4).div_ceil(3);
            let end = (p + value.len()) * 4 / 3;
            (encoded.clone(), encoded[first..end].to_string())
        }
        other => panic!("unknown encoding {other}"),
    }
}
