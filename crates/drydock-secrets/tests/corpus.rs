#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The labelled corpus: recall must be 100% on known values and on the format rules' labelled
//! true positives; the labelled near misses must stay clean. Prints precision, recall and the
//! false-positive rate.

#[path = "support/corpus.rs"]
mod corpus;

use corpus::{Case, Kind, known_secrets, load};
use drydock_secrets::fixtures::FakeRng;
use drydock_secrets::{Redacted, Redactor, RuleSet};

fn redactor(seed: u64) -> Redactor {
    Redactor::new(RuleSet::builtin(), known_secrets(seed)).unwrap()
}

/// Redacts through a stream in random chunks, checking it equals the one-shot redaction.
fn redact_both_ways(redactor: &Redactor, text: &str, rng: &mut FakeRng) -> Redacted {
    let one_shot = redactor.redact(text);
    let mut stream = redactor.stream();
    let mut out = String::new();
    let bytes = text.as_bytes();
    let mut at = 0;
    while at < bytes.len() {
        let mut end = (at + 1 + rng.below(48)).min(bytes.len());
        while !text.is_char_boundary(end) {
            end += 1;
        }
        out.push_str(&stream.push(&text[at..end]));
        at = end;
    }
    out.push_str(&stream.finish());
    assert_eq!(
        out, one_shot.text,
        "stream differs from one-shot for {text:?}"
    );
    assert_eq!(stream.take_findings(), one_shot.findings);
    one_shot
}

fn verdict(case: &Case, out: &Redacted) -> Result<(), String> {
    match case.kind {
        Kind::Negative => {
            if out.findings.is_empty() {
                Ok(())
            } else {
                Err(format!(
                    "false positive {:?} -> {}",
                    out.findings.iter().map(|f| &f.rule).collect::<Vec<_>>(),
                    out.text
                ))
            }
        }
        Kind::Positive | Kind::Known => {
            if !out.findings.iter().any(|f| f.rule == case.label) {
                return Err(format!(
                    "missed (found {:?}) -> {}",
                    out.findings.iter().map(|f| &f.rule).collect::<Vec<_>>(),
                    out.text
                ));
            }
            if let Some(part) = case
                .secret_parts
                .iter()
                .find(|part| out.text.contains(part.as_str()))
            {
                return Err(format!("leaked {part:?} -> {}", out.text));
            }
            Ok(())
        }
    }
}

#[test]
fn corpus_recall_precision_and_false_positive_rate() {
    let mut failures = Vec::new();
    let mut total = [0usize; 3];
    let mut passed = [0usize; 3];
    let mut extra_findings_on_positives = 0;
    for seed in [1u64, 2, 3] {
        let redactor = redactor(seed);
        let mut rng = FakeRng::new(seed * 31);
        for case in load(seed) {
            let out = redact_both_ways(&redactor, &case.text, &mut rng);
            let slot = match case.kind {
                Kind::Positive => 0,
                Kind::Known => 1,
                Kind::Negative => 2,
            };
            total[slot] += 1;
            if case.kind != Kind::Negative {
                extra_findings_on_positives +=
                    out.findings.iter().filter(|f| f.rule != case.label).count();
            }
            match verdict(&case, &out) {
                Ok(()) => passed[slot] += 1,
                Err(why) => failures.push(format!(
                    "seed {seed} {} [{}]: {why}",
                    case.origin, case.label
                )),
            }
        }
    }
    let true_positives = passed[0] + passed[1];
    let false_positives = total[2] - passed[2];
    let precision = true_positives as f64 / (true_positives + false_positives).max(1) as f64;
    println!(
        "corpus (3 seeds): {} format positives, {} known-value cases, {} near misses",
        total[0], total[1], total[2]
    );
    println!(
        "  recall, format rules:  {:.2}% ({}/{})",
        100.0 * passed[0] as f64 / total[0] as f64,
        passed[0],
        total[0]
    );
    println!(
        "  recall, known values:  {:.2}% ({}/{})",
        100.0 * passed[1] as f64 / total[1] as f64,
        passed[1],
        total[1]
    );
    println!(
        "  false-positive rate:   {:.2}% ({}/{})",
        100.0 * false_positives as f64 / total[2] as f64,
        false_positives,
        total[2]
    );
    println!("  precision:             {:.2}%", 100.0 * precision);
    println!(
        "  other findings on positive cases (context also redacted): {extra_findings_on_positives}"
    );
    assert!(
        total.iter().sum::<usize>() / 3 >= 200,
        "the corpus must hold at least 200 strings"
    );
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn the_whole_corpus_as_one_document_gives_the_same_findings() {
    let redactor = redactor(7);
    let cases = load(7);
    let mut document = String::new();
    let mut expected = Vec::new();
    for case in &cases {
        let offset = document.len();
        for finding in redactor.redact(&case.text).findings {
            expected.push((finding.rule, finding.start + offset, finding.end + offset));
        }
        document.push_str(&case.text);
        // A separator no rule reaches across (a truncated private key's body runs on until a
        // character base64 and PEM headers never use).
        document.push_str("\n#\n");
    }
    let out = redact_both_ways(&redactor, &document, &mut FakeRng::new(99));
    let found: Vec<(String, usize, usize)> = out
        .findings
        .into_iter()
        .map(|f| (f.rule, f.start, f.end))
        .collect();
    let starts = |list: &[(String, usize, usize)]| {
        list.iter()
            .map(|(rule, start, _)| (rule.clone(), *start))
            .collect::<Vec<_>>()
    };
    assert_eq!(starts(&found), starts(&expected));
    for ((rule, _, end), (_, _, alone_end)) in found.iter().zip(&expected) {
        // A truncated key's body may take the line feed that follows it in the document.
        let (low, high) = (*end.min(alone_end), *end.max(alone_end));
        assert!(
            document[low..high].trim().is_empty(),
            "{rule}: {:?}",
            &document[low..high]
        );
    }
}
