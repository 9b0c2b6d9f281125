use pretty_assertions::assert_eq;

use super::*;
use crate::fixtures::{FakeRng, expand};
use crate::{KnownSecret, RuleSet};

const TOKEN: &str = "zQ7vX2pL9kR4mN8wT1yB6cF3";

fn redactor() -> Redactor {
    Redactor::new(
        RuleSet::builtin(),
        vec![KnownSecret::new("FORGE_TOKEN", TOKEN)],
    )
    .unwrap()
}

fn chunked(redactor: &Redactor, input: &[u8], cuts: &[usize]) -> (Vec<u8>, Vec<Finding>) {
    let mut stream = redactor.stream();
    let mut out = Vec::new();
    let mut findings = Vec::new();
    let mut previous = 0;
    for &cut in cuts.iter().chain([input.len()].iter()) {
        out.extend(stream.push_bytes(&input[previous..cut]));
        findings.extend(stream.take_findings());
        previous = cut;
    }
    out.extend(stream.finish_bytes());
    findings.extend(stream.take_findings());
    (out, findings)
}

fn assert_same_as_one_shot(redactor: &Redactor, input: &[u8], cuts: &[usize]) {
    let expected = redactor.redact_bytes(input);
    let (out, findings) = chunked(redactor, input, cuts);
    assert_eq!(
        String::from_utf8_lossy(&out),
        String::from_utf8_lossy(&expected.bytes),
        "cuts {cuts:?}"
    );
    assert_eq!(findings, expected.findings, "cuts {cuts:?}");
}

#[test]
fn a_secret_split_at_every_position_is_redacted_like_the_one_shot() {
    let redactor = redactor();
    let inputs = [
        format!("token: {TOKEN} end"),
        expand("key = ghp_{{alnum:36}}\n", &mut FakeRng::new(1)).text,
        expand(
            "x\n-----BEGIN RSA PRIVATE KEY-----\n{{b64:64}}\n{{b64:64}}\n-----END RSA PRIVATE KEY-----\ny",
            &mut FakeRng::new(2),
        )
        .text,
        expand("password = \"{{alnum:18}}\"", &mut FakeRng::new(3)).text,
        expand("Authorization: Bearer {{jwt}}", &mut FakeRng::new(4)).text,
        format!("b64 {} hex {}", base64_of(TOKEN), hex::encode(TOKEN)),
    ];
    for input in &inputs {
        let one_shot = redactor.redact(input);
        assert!(!one_shot.is_clean(), "{input}");
        for cut in 0..=input.len() {
            assert_same_as_one_shot(&redactor, input.as_bytes(), &[cut]);
        }
        // Byte-by-byte.
        let every: Vec<usize> = (1..input.len()).collect();
        assert_same_as_one_shot(&redactor, input.as_bytes(), &every);
    }
}

fn base64_of(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// A few hundred KiB of mixed text with secrets everywhere, including across segment ends.
fn big_mixed_input(seed: u64) -> Vec<u8> {
    let mut rng = FakeRng::new(seed);
    let pieces = [
        "fn main() { let x = compute(42); println!(\"{}\", x); }\n",
        "2024-05-01T12:00:00Z INFO request id={{hex:32}} took 12ms\n",
        "checksum = \"{{hex:64}}\"\n",
        "GITHUB_TOKEN=ghp_{{alnum:36}}\n",
        "password: '{{alnum:20}}'\n",
        "-----BEGIN OPENSSH PRIVATE KEY-----\n{{b64:70}}\n{{b64:70}}\n{{b64:70}}\n-----END OPENSSH PRIVATE KEY-----\n",
        "forge token zQ7vX2pL9kR4mN8wT1yB6cF3 in a log line\n",
        "long {{b64:3000}} line\n",
        "\"integrity\": \"sha512-{{b64:86}}==\",\n",
    ];
    let mut out = String::new();
    while out.len() < 300_000 {
        let piece = pieces[rng.below(pieces.len())];
        out.push_str(&expand(piece, &mut rng).text);
    }
    out.into_bytes()
}

#[test]
fn random_chunkings_of_a_large_input_match_the_one_shot() {
    let redactor = redactor();
    for seed in 0..4 {
        let input = big_mixed_input(seed);
        let mut rng = FakeRng::new(seed + 100);
        let max_chunk = [7, 300, 5000, 70_000][seed as usize];
        let mut cuts = Vec::new();
        let mut at = 0;
        while at < input.len() {
            at += 1 + rng.below(max_chunk);
            if at < input.len() {
                cuts.push(at);
            }
        }
        assert_same_as_one_shot(&redactor, &input, &cuts);
    }
}

#[test]
fn secrets_around_every_segment_boundary_are_redacted() {
    let redactor = redactor();
    // Put a known value and a private key so that they straddle the first segment's end.
    for shift in [0usize, 1, 10, 30, 200, 2000] {
        let mut text = "a".repeat(TARGET_SEGMENT - 10 - shift);
        text.push(' ');
        text.push_str(TOKEN);
        text.push('\n');
        text.push_str(&"b".repeat(shift));
        text.push_str(&expand(
            "\n-----BEGIN EC PRIVATE KEY-----\n{{b64:64}}\n{{b64:64}}\n-----END EC PRIVATE KEY-----\n",
            &mut FakeRng::new(shift as u64),
        ).text);
        let out = redactor.redact(&text);
        assert_eq!(out.findings.len(), 2, "shift {shift}");
        assert_same_as_one_shot(&redactor, text.as_bytes(), &[]);
        assert_same_as_one_shot(
            &redactor,
            text.as_bytes(),
            &[TARGET_SEGMENT - 3, TARGET_SEGMENT + 40],
        );
    }
}

#[test]
fn over_long_lines_are_cut_without_losing_secrets() {
    let redactor = redactor();
    let mut rng = FakeRng::new(9);
    let mut line = String::new();
    while line.len() < 2 * crate::lines::LINE_MAX + 5000 {
        line.push_str(&rng.string(b"abcdefghijklmnopqrstuvwxyz0123456789", 5000));
        line.push_str(&format!(" {TOKEN} "));
        line.push_str(&expand("ghp_{{alnum:36}},", &mut rng).text);
    }
    let one_shot = redactor.redact(&line);
    assert!(!one_shot.text.contains(TOKEN));
    assert!(!one_shot.text.contains("ghp_"));
    let cuts: Vec<usize> = (1..line.len() / 65_536).map(|i| i * 65_536 + i).collect();
    assert_same_as_one_shot(&redactor, line.as_bytes(), &cuts);
}

#[test]
fn memory_stays_bounded_on_a_long_stream() {
    let redactor = redactor();
    let mut stream = redactor.stream();
    let line = format!("INFO some log line with the token {TOKEN} and more text\n");
    let chunk = line.repeat(1000);
    let mut largest = 0;
    let mut redactions = 0;
    for _ in 0..200 {
        let out = stream.push(&chunk);
        assert!(!out.contains(TOKEN));
        largest = largest.max(stream.buf.len());
        redactions += stream.take_findings().len();
    }
    stream.finish();
    redactions += stream.take_findings().len();
    assert_eq!(redactions, 200 * 1000);
    assert!(
        largest < chunk.len() + 2 * TARGET_SEGMENT,
        "buffered {largest}"
    );

    // One endless line, no line feeds: bounded by the logical line limit.
    let mut stream = redactor.stream();
    let blob = "x".repeat(64 * 1024);
    let mut largest = 0;
    for _ in 0..64 {
        stream.push(&blob);
        largest = largest.max(stream.buf.len());
    }
    assert!(
        largest <= 2 * crate::lines::LINE_MAX + 2 * blob.len(),
        "buffered {largest}"
    );
    assert_eq!(stream.consumed(), 64 * blob.len());
}

#[test]
fn a_private_key_printed_line_by_line_is_redacted() {
    let redactor = redactor();
    let key = expand(
        "-----BEGIN RSA PRIVATE KEY-----\n{{b64:64}}\n{{b64:64}}\n{{b64:64}}\n-----END RSA PRIVATE KEY-----\n",
        &mut FakeRng::new(5),
    );
    let mut stream = redactor.stream();
    let mut out = String::new();
    for line in key.text.split_inclusive('\n') {
        out.push_str(&stream.push(line));
    }
    out.push_str(&stream.finish());
    assert_eq!(
        out,
        "-----BEGIN RSA PRIVATE KEY-----[REDACTED:private-key]-----END RSA PRIVATE KEY-----\n"
    );
}
