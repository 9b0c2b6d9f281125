use super::*;
use crate::fixtures::{FakeRng, expand};
use crate::{Redactor, RuleSet};

fn redactor() -> Redactor {
    Redactor::new(RuleSet::builtin(), Vec::new()).unwrap()
}

#[test]
fn every_table_entry_compiles_and_has_examples() {
    for spec in SPECS {
        let rule = to_rule(spec).unwrap_or_else(|e| panic!("{}: {e}", spec.id));
        assert_eq!(rule.id(), spec.id);
        assert!(!spec.examples.is_empty(), "{} has no examples", spec.id);
        assert!(
            !spec.counter_examples.is_empty(),
            "{} has no counter-examples",
            spec.id
        );
        assert!(
            !spec.description.is_empty(),
            "{} has no description",
            spec.id
        );
    }
    assert_eq!(RuleSet::builtin().len(), SPECS.len());
    let mut ids: Vec<&str> = SPECS.iter().map(|spec| spec.id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), SPECS.len(), "duplicate rule ids");
}

#[test]
fn every_rule_finds_its_examples_and_redacts_every_generated_piece() {
    let redactor = redactor();
    let mut failures = Vec::new();
    for spec in SPECS {
        for (n, template) in spec.examples.iter().enumerate() {
            for seed in 0..20u64 {
                let example = expand(template, &mut FakeRng::new(seed * 7919 + n as u64));
                let out = redactor.redact(&example.text);
                let found = out.findings.iter().any(|f| f.rule == spec.id);
                let leaked: Vec<&String> = example
                    .generated
                    .iter()
                    .filter(|piece| piece.len() >= 8 && out.text.contains(piece.as_str()))
                    .collect();
                if !found || !leaked.is_empty() {
                    failures.push(format!(
                        "{} example {n} seed {seed}: found={found} leaked={leaked:?}\n  in:  {}\n  out: {}",
                        spec.id, example.text, out.text
                    ));
                    break;
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn no_rule_fires_on_its_counter_examples() {
    let redactor = redactor();
    let mut failures = Vec::new();
    for spec in SPECS {
        for (n, template) in spec.counter_examples.iter().enumerate() {
            for seed in 0..5u64 {
                let example = expand(template, &mut FakeRng::new(seed));
                let out = redactor.redact(&example.text);
                if out.findings.iter().any(|f| f.rule == spec.id) {
                    failures.push(format!(
                        "{} counter-example {n}: {:?} -> {}",
                        spec.id, example.text, out.text
                    ));
                    break;
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
