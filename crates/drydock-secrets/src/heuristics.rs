//! Judgements on a candidate secret: entropy, placeholders, values that are code, and the
//! structural checks some built-in rules need (a JWT header that decodes, a basic-auth pair).

use base64::Engine as _;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::{DecodePaddingMode, general_purpose};

/// Shannon entropy of `bytes` in bits per byte (0 for empty input).
pub fn shannon_entropy(bytes: &[u8]) -> f64 {
    if bytes.is_empty() {
        return 0.0;
    }
    let mut counts = [0u32; 256];
    for &b in bytes {
        counts[usize::from(b)] += 1;
    }
    let len = bytes.len() as f64;
    counts
        .iter()
        .filter(|&&count| count > 0)
        .map(|&count| {
            let p = f64::from(count) / len;
            -p * p.log2()
        })
        .sum()
}

/// Words that mark a documentation or test value rather than a real credential. Long enough that
/// a random token body contains one with negligible probability.
const PLACEHOLDER_WORDS: &[&str] = &[
    "example",
    "placeholder",
    "changeme",
    "change_me",
    "change-me",
    "redacted",
    "dummy",
    "sample",
    "your_",
    "your-",
    "yourkey",
    "yourtoken",
    "yoursecret",
    "xxxxx",
    "*****",
    "<",
    ">",
    "${",
    "{{",
    "}}",
    "0123456789",
    "123456789",
    "abcdefgh",
];

/// True when a matched secret is a placeholder: a documentation word, a template variable, a long
/// run of one character.
pub fn is_placeholder(secret: &[u8]) -> bool {
    let lower = secret.to_ascii_lowercase();
    if PLACEHOLDER_WORDS
        .iter()
        .any(|word| memchr::memmem::find(&lower, word.as_bytes()).is_some())
    {
        return true;
    }
    longest_run(&lower) >= 8
}

fn longest_run(bytes: &[u8]) -> usize {
    let mut best = 0;
    let mut run = 0;
    let mut previous = None;
    for &b in bytes {
        run = if Some(b) == previous { run + 1 } else { 1 };
        previous = Some(b);
        best = best.max(run);
    }
    best
}

/// Values of a `password = ...` style assignment that are words people write in examples and
/// tests, compared whole and case-insensitively.
const PLACEHOLDER_VALUES: &[&str] = &[
    "password",
    "passw0rd",
    "password1",
    "password123",
    "secret",
    "changeme",
    "changeit",
    "letmein",
    "notasecret",
    "undefined",
    "required",
    "optional",
    "none",
    "null",
    "true",
    "false",
    "hidden",
    "masked",
    "removed",
    "default",
    "development",
    "production",
];

/// Substrings that mark a generic assignment's value as a test, mock or example value.
const PLACEHOLDER_VALUE_WORDS: &[&str] = &[
    "test",
    "fake",
    "mock",
    "dummy",
    "example",
    "sample",
    "placeholder",
    "changeme",
    "your",
    "xxxx",
    "***",
    "...",
    "redacted",
    "insert",
    "replace",
];

/// Whether the value of a generic `key = value` assignment could be a real secret: not a
/// placeholder, not a reference to something else (`${VAR}`, `process.env.X`, `getToken()`), not
/// a plain identifier, with letters and digits, and at least `min_entropy` bits per byte.
pub fn plausible_generic_value(value: &[u8], quoted: bool, min_entropy: f64) -> bool {
    if value.len() < 8 {
        return false;
    }
    let has_digit = value.iter().any(u8::is_ascii_digit);
    if !value.iter().any(u8::is_ascii_alphabetic) || (!quoted && !has_digit) {
        return false;
    }
    // Cheap checks first: most candidates in code fail here.
    if shannon_entropy(value) < min_entropy || is_reference(value) {
        return false;
    }
    let lower = value.to_ascii_lowercase();
    if PLACEHOLDER_VALUES
        .iter()
        .any(|word| lower == word.as_bytes())
        || PLACEHOLDER_VALUE_WORDS
            .iter()
            .any(|word| memchr::memmem::find(&lower, word.as_bytes()).is_some())
        || is_placeholder(value)
    {
        return false;
    }
    !(!quoted && is_identifier_path(value) && !has_digit)
}

/// `$VAR`, `${VAR}`, `%(x)s`, `{{ x }}`, `<x>`, `@Value(...)`, `env(...)`, `os.environ[...]`,
/// `process.env.X`, `getX()`, `!Ref`, `&anchor`, `*alias`.
fn is_reference(value: &[u8]) -> bool {
    let first = value[0];
    if matches!(
        first,
        b'$' | b'%' | b'<' | b'{' | b'@' | b'!' | b'&' | b'*' | b'[' | b'('
    ) {
        return true;
    }
    if value.iter().any(|b| {
        matches!(
            b,
            b'(' | b')' | b'[' | b']' | b'{' | b'}' | b'<' | b'>' | b' '
        )
    }) {
        return true;
    }
    if !value.iter().any(|&b| matches!(b, b'.' | b':' | b'+')) {
        return false;
    }
    let lower = value.to_ascii_lowercase();
    [
        "process.env",
        "os.environ",
        "getenv",
        "env.",
        "secrets.",
        "vault:",
        "ref+",
        "arn:aws",
    ]
    .iter()
    .any(|p| memchr::memmem::find(&lower, p.as_bytes()).is_some())
}

/// `name`, `this.field`, `config.db.password`, `SOME_CONSTANT`: an expression, not a literal.
fn is_identifier_path(value: &[u8]) -> bool {
    value.split(|&b| b == b'.' || b == b'-').all(|part| {
        !part.is_empty()
            && (part[0].is_ascii_alphabetic() || part[0] == b'_')
            && part.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'_')
    })
}

/// Passwords in URLs that are well-known defaults or words from documentation.
const DEFAULT_URL_PASSWORDS: &[&str] = &[
    "pass", "passwd", "password", "pwd", "secret", "changeme", "postgres", "mysql", "root",
    "admin", "guest", "user", "username", "test", "example", "demo", "foo", "bar", "x",
];

/// The password of `scheme://user:password@host` could be real: not empty, not a well-known
/// default or the user name again, not masked (`***`), not a variable (`${PASS}`, `$PASS`,
/// `%(pass)s`, `<password>`, `{{ pass }}`).
pub fn plausible_url_password(user: &[u8], password: &[u8]) -> bool {
    if password.len() < 3 || password == user {
        return false;
    }
    let lower = password.to_ascii_lowercase();
    if DEFAULT_URL_PASSWORDS
        .iter()
        .any(|word| lower == word.as_bytes())
    {
        return false;
    }
    if lower.iter().all(|&b| b == b'*' || b == b'x' || b == b'.') {
        return false;
    }
    if matches!(password[0], b'$' | b'%' | b'<' | b'{' | b'[') {
        return false;
    }
    !is_placeholder(password)
}

const LENIENT: GeneralPurposeConfig = GeneralPurposeConfig::new()
    .with_decode_padding_mode(DecodePaddingMode::Indifferent)
    .with_decode_allow_trailing_bits(true);
const STANDARD_LENIENT: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::STANDARD, LENIENT);
const URL_SAFE_LENIENT: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::URL_SAFE, LENIENT);

/// A JWT: three base64url parts, the first a JSON header naming an algorithm.
pub fn is_jwt(token: &[u8]) -> bool {
    let mut parts = token.split(|&b| b == b'.');
    let Some(header) = parts.next() else {
        return false;
    };
    let Ok(decoded) = URL_SAFE_LENIENT.decode(header) else {
        return false;
    };
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(&decoded) else {
        return false;
    };
    json.get("alg").is_some_and(|alg| alg.is_string())
}

/// The base64 of a `user:password` pair whose password is not empty.
pub fn is_basic_auth_pair(encoded: &[u8]) -> bool {
    let Ok(decoded) = STANDARD_LENIENT
        .decode(encoded)
        .or_else(|_| general_purpose::URL_SAFE.decode(encoded))
    else {
        return false;
    };
    let Ok(text) = std::str::from_utf8(&decoded) else {
        return false;
    };
    match text.split_once(':') {
        Some((user, password)) => {
            !user.is_empty()
                && !password.is_empty()
                && !text.chars().any(char::is_control)
                && !is_placeholder(password.as_bytes())
        }
        None => false,
    }
}

/// A token that looks random enough to be a credential: at least two of lower-case letters,
/// upper-case letters and digits, and at least 3 bits per byte. (Requiring digits would miss a
/// few percent of real base62 tokens.)
pub fn looks_random(token: &[u8]) -> bool {
    let lower = token.iter().any(u8::is_ascii_lowercase);
    let upper = token.iter().any(u8::is_ascii_uppercase);
    let digit = token.iter().any(u8::is_ascii_digit);
    u8::from(lower) + u8::from(upper) + u8::from(digit) >= 2 && shannon_entropy(token) >= 3.0
}

#[cfg(test)]
#[path = "heuristics_tests.rs"]
mod tests;
