use pretty_assertions::assert_eq;
use serde_json::json;

use super::*;

#[test]
fn keys_are_sorted_at_every_depth_and_whitespace_is_dropped() {
    let value: Value = serde_json::from_str(
        r#"{ "b": 1, "a": { "z": [ {"y": 2, "x": 1} ], "m": null }, "A": true }"#,
    )
    .unwrap();
    assert_eq!(
        canonicalize(&value),
        r#"{"A":true,"a":{"m":null,"z":[{"x":1,"y":2}]},"b":1}"#
    );
}

#[test]
fn key_order_does_not_depend_on_insertion_order() {
    let mut first = serde_json::Map::new();
    first.insert("zeta".into(), json!(1));
    first.insert("alpha".into(), json!(2));
    let mut second = serde_json::Map::new();
    second.insert("alpha".into(), json!(2));
    second.insert("zeta".into(), json!(1));
    assert_eq!(
        canonicalize(&Value::Object(first)),
        canonicalize(&Value::Object(second))
    );
}

#[test]
fn keys_sort_by_utf8_bytes_not_by_locale() {
    let value = json!({"é": 1, "z": 2, "Z": 3, "_": 4, "ä": 5});
    // Byte order: 'Z' (0x5a) < '_' (0x5f) < 'z' (0x7a) < 'ä' (0xc3 0xa4) < 'é' (0xc3 0xa9).
    assert_eq!(canonicalize(&value), r#"{"Z":3,"_":4,"z":2,"ä":5,"é":1}"#);
}

#[test]
fn strings_escape_only_what_json_requires() {
    let value = json!(
        "quote \" backslash \\ nl \n cr \r tab \t bell \u{7} nul \u{0} del \u{7f} é 🚢 \u{2028}"
    );
    assert_eq!(
        canonicalize(&value),
        "\"quote \\\" backslash \\\\ nl \\n cr \\r tab \\t bell \\u0007 nul \\u0000 del \u{7f} é 🚢 \u{2028}\""
    );
}

#[test]
fn canonical_text_has_no_raw_newline_so_one_event_is_one_line() {
    let value = json!({"text": "line one\nline two\r\n", "key\nwith newline": 1});
    let text = canonicalize(&value);
    assert!(!text.contains('\n') && !text.contains('\r'), "{text}");
}

#[test]
fn canonical_text_parses_back_to_the_same_value() {
    let value = json!({
        "int": -42, "big": u64::MAX, "float": 1.5, "tiny": 1e-7, "huge": 1e300,
        "s": "\u{1}\u{1f}\"\\", "nested": [[], {}, [null, false]]
    });
    let text = canonicalize(&value);
    let back: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(back, value);
    assert_eq!(canonicalize(&back), text);
}

#[test]
fn serialisable_values_go_through_the_same_path() {
    #[derive(Serialize)]
    struct Sample {
        zulu: u8,
        alpha: &'static str,
    }
    let text = to_canonical_json(&Sample {
        zulu: 1,
        alpha: "a",
    })
    .unwrap();
    assert_eq!(text, r#"{"alpha":"a","zulu":1}"#);
}

#[test]
fn link_hash_is_sha256_of_prev_newline_payload() {
    // printf '%s\n%s' "$(printf '0%.0s' $(seq 64))" '{}' | sha256sum
    assert_eq!(
        link_hash(GENESIS_HASH, "{}"),
        "5649d09ed68c17156095d175eef152856c5b1a81c117c409c1e00f096aa6838e"
    );
    assert_ne!(
        link_hash(GENESIS_HASH, "{}"),
        link_hash(GENESIS_HASH, "{} ")
    );
    assert_eq!(link_hash("a", "b").len(), 64);
}
