use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};

use super::*;
use crate::fixtures::FakeRng;

const VALUE: &str = "sk-ant-api03-Zq8/x+Yy==w?&k p@ss";

fn contains_variant(haystack: &str, forms: &[Vec<u8>]) -> bool {
    forms
        .iter()
        .any(|form| memchr::memmem::find(haystack.as_bytes(), form).is_some())
}

#[test]
fn base64_forms_are_found_at_every_alignment_inside_longer_blobs() {
    let forms = variants(VALUE);
    let mut rng = FakeRng::new(3);
    for prefix_len in 0..7 {
        for suffix_len in 0..4 {
            let mut blob = rng.bytes(prefix_len);
            blob.extend_from_slice(VALUE.as_bytes());
            blob.extend(rng.bytes(suffix_len));
            for encoded in [
                STANDARD.encode(&blob),
                URL_SAFE.encode(&blob),
                URL_SAFE_NO_PAD.encode(&blob),
            ] {
                assert!(
                    contains_variant(&encoded, &forms),
                    "prefix {prefix_len} suffix {suffix_len}: {encoded}"
                );
            }
        }
    }
}

#[test]
fn hex_percent_and_json_forms_are_present() {
    let forms = variants(VALUE);
    let has = |text: &str| forms.iter().any(|form| form == text.as_bytes());
    assert!(has(VALUE));
    assert!(has(&hex::encode(VALUE)));
    assert!(has(&hex::encode_upper(VALUE)));
    // encodeURIComponent, Python quote(), form encoding, lower-case escapes.
    assert!(has("sk-ant-api03-Zq8%2Fx%2BYy%3D%3Dw%3F%26k%20p%40ss"));
    assert!(has("sk-ant-api03-Zq8/x%2BYy%3D%3Dw%3F%26k%20p%40ss"));
    assert!(has("sk-ant-api03-Zq8%2Fx%2BYy%3D%3Dw%3F%26k+p%40ss"));
    assert!(has("sk-ant-api03-Zq8%2fx%2bYy%3d%3dw%3f%26k%20p%40ss"));
    let json = variants("a\"quoted\\value\n");
    assert!(json.iter().any(|form| form == br#"a\"quoted\\value\n"#));
}

#[test]
fn forms_are_unique_and_never_shorter_than_the_minimum() {
    let forms = variants("abcdefgh");
    let mut sorted = forms.clone();
    sorted.dedup();
    assert_eq!(sorted.len(), forms.len());
    assert!(forms.iter().all(|form| form.len() >= MIN_KNOWN_SECRET_LEN));
    // An all-unreserved value has one verbatim form, not one per percent-encoding flavour.
    assert_eq!(
        forms
            .iter()
            .filter(|form| form.as_slice() == b"abcdefgh")
            .count(),
        1
    );
}

#[test]
fn short_values_and_bad_names_are_refused() {
    let short = KnownSecret::new("API_KEY", "  tiny1  ");
    match validated_value(&short) {
        Err(SecretsError::KnownSecretTooShort { name, min }) => {
            assert_eq!((name.as_str(), min), ("API_KEY", 8));
        }
        other => panic!("{other:?}"),
    }
    let message = validated_value(&short).unwrap_err().to_string();
    assert!(
        message.contains("API_KEY") && !message.contains("tiny1"),
        "{message}"
    );
    for name in ["", "has space", "bracket]", &"x".repeat(65)] {
        assert!(matches!(
            validated_value(&KnownSecret::new(name, "long enough value")),
            Err(SecretsError::InvalidSecretName { .. })
        ));
    }
    assert_eq!(
        validated_value(&KnownSecret::new("OK", " padded-value \n")).unwrap(),
        "padded-value"
    );
}

#[test]
fn debug_never_shows_the_value() {
    let secret = KnownSecret::new("FORGE_TOKEN", "very-secret-value-123");
    let debug = format!("{secret:?} {:?}", vec![secret.clone()]);
    assert!(debug.contains("FORGE_TOKEN"));
    assert!(!debug.contains("very-secret"), "{debug}");
}

#[test]
fn env_lookup_skips_unset_and_empty_variables() {
    let names = vec!["SET".to_string(), "EMPTY".to_string(), "UNSET".to_string()];
    let found = KnownSecret::from_env_with(&names, |name| match name {
        "SET" => Some("value-of-set".to_string()),
        "EMPTY" => Some("  ".to_string()),
        _ => None,
    });
    assert_eq!(found, vec![KnownSecret::new("SET", "value-of-set")]);
}
