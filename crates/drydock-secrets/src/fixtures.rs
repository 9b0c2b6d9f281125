//! Deterministic fake secrets for tests, corpora and benchmarks.
//!
//! Fixtures are written as templates so that no realistic-looking credential is stored in the
//! repository (push protection scanners flag those): `ghp_{{alnum:36}}` expands to `ghp_` and 36
//! pseudo-random letters and digits. The generator is seeded, so a corpus is the same on every
//! run and every machine.
//!
//! Generators: `alnum`, `alpha`, `upper`, `lower`, `digits`, `hex`, `HEX`, `b64`, `b64url`,
//! `base32`, `bech32` (upper case) (each `{{name:LEN}}`), `{{jwt}}` (a signed-looking JWT with a real header) and
//! `{{basic}}` (base64 of `user:password`). Anything else between braces is kept literally.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

/// A small, fast, seeded pseudo-random generator (SplitMix64); not for cryptography.
#[derive(Debug, Clone)]
pub struct FakeRng {
    state: u64,
}

impl FakeRng {
    /// A generator with this seed.
    pub fn new(seed: u64) -> Self {
        FakeRng { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..bound` (`bound` > 0).
    pub fn below(&mut self, bound: usize) -> usize {
        (self.next_u64() % bound.max(1) as u64) as usize
    }

    /// `len` characters drawn from `alphabet`.
    pub fn string(&mut self, alphabet: &[u8], len: usize) -> String {
        (0..len)
            .map(|_| char::from(alphabet[self.below(alphabet.len())]))
            .collect()
    }

    /// `len` random bytes.
    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| (self.next_u64() >> 24) as u8).collect()
    }
}

const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const ALPHA: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const UPPER: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const LOWER: &[u8] = b"abcdefghijklmnopqrstuvwxyz";
const DIGITS: &[u8] = b"0123456789";
const HEX_LOWER: &[u8] = b"0123456789abcdef";
const HEX_UPPER: &[u8] = b"0123456789ABCDEF";
const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const B64URL: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const BASE32: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const BECH32_UPPER: &[u8] = b"QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L";

/// A template expanded: the text and the random pieces in it (what must not survive redaction).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expanded {
    /// The text.
    pub text: String,
    /// Each generated piece, in order.
    pub generated: Vec<String>,
}

/// Expands `{{generator:len}}` placeholders with `rng`.
pub fn expand(template: &str, rng: &mut FakeRng) -> Expanded {
    let mut text = String::with_capacity(template.len() + 64);
    let mut generated = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find("{{") {
        text.push_str(&rest[..open]);
        let after = &rest[open + 2..];
        let Some(close) = after.find("}}") else {
            text.push_str(&rest[open..]);
            rest = "";
            break;
        };
        match generate(&after[..close], rng) {
            Some(piece) => {
                text.push_str(&piece);
                generated.push(piece);
            }
            None => {
                text.push_str("{{");
                text.push_str(&after[..close]);
                text.push_str("}}");
            }
        }
        rest = &after[close + 2..];
    }
    text.push_str(rest);
    Expanded { text, generated }
}

fn generate(spec: &str, rng: &mut FakeRng) -> Option<String> {
    match spec {
        "jwt" => return Some(fake_jwt(rng)),
        "basic" => {
            let user = rng.string(LOWER, 6);
            let password = rng.string(ALNUM, 16);
            return Some(STANDARD.encode(format!("{user}:{password}")));
        }
        _ => {}
    }
    let (name, len) = spec.split_once(':')?;
    let len: usize = len.parse().ok()?;
    let alphabet = match name {
        "alnum" => ALNUM,
        "alpha" => ALPHA,
        "upper" => UPPER,
        "lower" => LOWER,
        "digits" => DIGITS,
        "hex" => HEX_LOWER,
        "HEX" => HEX_UPPER,
        "b64" => B64,
        "b64url" => B64URL,
        "base32" => BASE32,
        "bech32" => BECH32_UPPER,
        _ => return None,
    };
    Some(rng.string(alphabet, len))
}

fn fake_jwt(rng: &mut FakeRng) -> String {
    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(format!(
        r#"{{"sub":"{}","iat":{},"scope":"repo"}}"#,
        rng.string(ALNUM, 12),
        1_700_000_000 + rng.below(10_000_000)
    ));
    let signature = URL_SAFE_NO_PAD.encode(rng.bytes(32));
    format!("{header}.{payload}.{signature}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expansion_is_deterministic_and_reports_the_generated_pieces() {
        let a = expand(
            "key={{alnum:12}} id={{hex:4}} {{not a generator}}",
            &mut FakeRng::new(7),
        );
        let b = expand(
            "key={{alnum:12}} id={{hex:4}} {{not a generator}}",
            &mut FakeRng::new(7),
        );
        assert_eq!(a, b);
        assert_eq!(a.generated.len(), 2);
        assert_eq!(a.generated[0].len(), 12);
        assert!(a.text.starts_with(&format!("key={} id=", a.generated[0])));
        assert!(a.text.ends_with(" {{not a generator}}"));
        let c = expand("key={{alnum:12}}", &mut FakeRng::new(8));
        assert_ne!(a.generated[0], c.generated[0]);
    }

    #[test]
    fn jwt_fixture_has_a_decodable_header() {
        let jwt = expand("{{jwt}}", &mut FakeRng::new(1)).text;
        assert!(crate::heuristics::is_jwt(jwt.as_bytes()), "{jwt}");
        assert_eq!(jwt.matches('.').count(), 2);
    }
}
