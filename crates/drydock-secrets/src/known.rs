//! Secrets drydock itself holds, and every encoding of them it redacts.

use std::fmt;

use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::SecretsError;

/// Values shorter than this are refused: they would match ordinary text.
pub const MIN_KNOWN_SECRET_LEN: usize = 8;

/// A secret value drydock holds (a model key, a forge token, a configured secret), redacted
/// wherever it appears as `[REDACTED:<name>]`.
///
/// `Debug` shows the name only; the type is deliberately not `Serialize`.
#[derive(Clone, PartialEq, Eq)]
pub struct KnownSecret {
    /// What it is, e.g. `ANTHROPIC_API_KEY`; shown in the redaction marker.
    pub name: String,
    /// The value. Surrounding whitespace is ignored.
    pub value: String,
}

impl KnownSecret {
    /// A known secret with this name and value.
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        KnownSecret {
            name: name.into(),
            value: value.into(),
        }
    }

    /// Reads each named environment variable through `lookup`; unset or empty variables are
    /// skipped, the rest must be long enough (checked when the redactor is built).
    pub fn from_env_with<F>(names: &[String], lookup: F) -> Vec<KnownSecret>
    where
        F: Fn(&str) -> Option<String>,
    {
        names
            .iter()
            .filter_map(|name| {
                let value = lookup(name)?;
                (!value.trim().is_empty()).then(|| KnownSecret::new(name.clone(), value))
            })
            .collect()
    }

    /// [`KnownSecret::from_env_with`] over the process environment (non-UTF-8 values skipped).
    pub fn from_env(names: &[String]) -> Vec<KnownSecret> {
        Self::from_env_with(names, |name| std::env::var(name).ok())
    }
}

impl fmt::Debug for KnownSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KnownSecret")
            .field("name", &self.name)
            .field("value", &"<hidden>")
            .finish()
    }
}

/// Checks a secret and returns its trimmed value.
pub(crate) fn validated_value(secret: &KnownSecret) -> Result<&str, SecretsError> {
    let name_ok = !secret.name.is_empty()
        && secret.name.len() <= 64
        && secret
            .name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if !name_ok {
        return Err(SecretsError::InvalidSecretName {
            name: secret.name.clone(),
        });
    }
    let value = secret.value.trim();
    if value.chars().count() < MIN_KNOWN_SECRET_LEN {
        return Err(SecretsError::KnownSecretTooShort {
            name: secret.name.clone(),
            min: MIN_KNOWN_SECRET_LEN,
        });
    }
    Ok(value)
}

/// RFC 3986 unreserved characters stay literal; everything else is escaped.
const URI_COMPONENT_STRICT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');
/// JavaScript's `encodeURIComponent` also keeps `!'()*`.
const URI_COMPONENT_JS: &AsciiSet = &URI_COMPONENT_STRICT
    .remove(b'!')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')')
    .remove(b'*');
/// Python's `urllib.parse.quote` keeps `/` by default.
const URI_PATH: &AsciiSet = &URI_COMPONENT_STRICT.remove(b'/');

/// Every form of `value` that the redactor looks for: verbatim, JSON-escaped, percent-encoded
/// (the common encoder flavours, upper- and lower-case escapes), hex (lower and upper case), and
/// base64 standard and URL-safe at the three byte alignments a value can have inside a longer
/// encoded blob.
///
/// Each encoded form is the part fully determined by the value's own bytes, so it is found inside
/// any longer encoding; at most a few bits at either end stay unredacted.
pub(crate) fn variants(value: &str) -> Vec<Vec<u8>> {
    let mut out = vec![value.as_bytes().to_vec()];
    if let Ok(json) = serde_json::to_string(value) {
        let inner = &json[1..json.len() - 1];
        out.push(inner.as_bytes().to_vec());
    }
    for set in [URI_COMPONENT_STRICT, URI_COMPONENT_JS, URI_PATH] {
        let upper = utf8_percent_encode(value, set).to_string();
        let lower = lowercase_percent_escapes(&upper);
        out.push(upper.replace("%20", "+").into_bytes());
        out.push(upper.into_bytes());
        out.push(lower.into_bytes());
    }
    out.push(hex::encode(value.as_bytes()).into_bytes());
    out.push(hex::encode_upper(value.as_bytes()).into_bytes());
    for engine in [&STANDARD_NO_PAD, &URL_SAFE_NO_PAD] {
        for offset in 0..3 {
            out.push(base64_core(engine, value.as_bytes(), offset));
        }
    }
    out.retain(|variant| variant.len() >= MIN_KNOWN_SECRET_LEN);
    out.sort();
    out.dedup();
    out
}

fn lowercase_percent_escapes(encoded: &str) -> String {
    let mut out = String::with_capacity(encoded.len());
    let mut escape_left = 0;
    for c in encoded.chars() {
        if c == '%' {
            escape_left = 2;
            out.push(c);
        } else if escape_left > 0 {
            escape_left -= 1;
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// The base64 characters of `value` that do not depend on the bytes around it, when `value`
/// starts `offset` bytes (mod 3) into the encoded data.
fn base64_core(engine: &impl base64::Engine, value: &[u8], offset: usize) -> Vec<u8> {
    let mut padded = vec![0u8; offset];
    padded.extend_from_slice(value);
    let encoded = engine.encode(&padded);
    // Characters mixing unknown leading bytes with the value's first bits.
    let skip = [0, 2, 3][offset];
    let whole_groups = padded.len() / 3 * 4;
    // In a trailing partial group only the characters made of the value's bits are fixed.
    let end = whole_groups + [0, 1, 2][padded.len() % 3];
    encoded.as_bytes()[skip..end.min(encoded.len())].to_vec()
}

#[cfg(test)]
#[path = "known_tests.rs"]
mod tests;
