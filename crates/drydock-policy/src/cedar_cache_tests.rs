//! The cache of facet results never changes an answer: decisions and reports with the cache,
//! cold and warm, in any order of principals, equal those of an engine that evaluates every
//! facet afresh.

use drydock_core::ActionRequest;

use std::sync::Arc;

use crate::PolicyEngine;
use crate::cedar_compile::tests::{principals, requests};
use crate::cedar_store::DecisionStore;
use crate::config::PolicyConfig;
use crate::facets::facets_for;

fn as_principal(request: &ActionRequest, principal: &drydock_core::Principal) -> ActionRequest {
    ActionRequest {
        principal: principal.clone(),
        ..request.clone()
    }
}

#[test]
fn cached_decisions_equal_fresh_ones_over_the_corpus() {
    let cached = PolicyEngine::new(&PolicyConfig::default(), None).unwrap();
    let fresh = PolicyEngine::new(&PolicyConfig::default(), None).unwrap();
    fresh.evaluator().set_caching(false);
    // Loading runs the rule examples, which fill the cache before it is turned off.
    let fresh_cached = fresh.evaluator().cached();
    let requests = requests();
    let principals = principals();
    // Principals interleaved per request, then the corpus again with the cache warm and the
    // principals in the other order: a key missing a principal attribute would show up here.
    for pass in 0..2 {
        for request in &requests {
            let mut order: Vec<_> = principals.iter().collect();
            if pass == 1 {
                order.reverse();
            }
            for principal in order {
                let request = as_principal(request, principal);
                assert_eq!(
                    cached.decide(&request),
                    fresh.decide(&request),
                    "pass {pass}: {request:?}"
                );
            }
        }
    }
    assert!(
        cached.evaluator().cached() > fresh_cached + 100,
        "the cache was not used"
    );
    assert_eq!(fresh.evaluator().cached(), fresh_cached);
}

#[test]
fn cached_facet_results_equal_fresh_ones_with_reports() {
    let engine = PolicyEngine::new(&PolicyConfig::default(), None).unwrap();
    let evaluator = engine.evaluator();
    for request in requests() {
        let (facets, _) = facets_for(&request, engine.protected_paths(), |a| {
            evaluator.knows_action(a)
        });
        let Ok(facets) = facets else { continue };
        for principal in principals() {
            let entity = evaluator.principal(&principal).unwrap();
            let mut store = DecisionStore::new(Arc::clone(&entity));
            for facet in &facets {
                let fresh = evaluator
                    .evaluate_afresh(&mut DecisionStore::alone(Arc::clone(&entity)), facet);
                for _ in 0..2 {
                    let cached = evaluator.evaluate(&mut store, facet, true);
                    assert_eq!(cached.restrictions, fresh.restrictions, "{facet:?}");
                    assert_eq!(cached.permissions, fresh.permissions, "{facet:?}");
                    assert_eq!(cached.errors, fresh.errors, "{facet:?}");
                }
            }
        }
    }
}

#[test]
fn failed_evaluations_are_never_remembered() {
    let engine = PolicyEngine::new(&PolicyConfig::default(), None).unwrap();
    let evaluator = engine.evaluator();
    let request = crate::engine::example_principal();
    let entity = evaluator.principal(&request).unwrap();
    let facet = crate::cedar::Facet {
        action: "no_such_action".to_string(),
        resource_type: "ToolInput",
        resource_id: "x".to_string(),
        resource_attrs: Vec::new(),
        context: Vec::new(),
        describe: "an action the schema lacks".to_string(),
    };
    let before = evaluator.cached();
    for _ in 0..2 {
        let mut store = DecisionStore::new(Arc::clone(&entity));
        assert!(
            !evaluator
                .evaluate(&mut store, &facet, true)
                .errors
                .is_empty()
        );
    }
    assert_eq!(evaluator.cached(), before);
}

#[test]
fn large_facets_are_evaluated_but_not_kept() {
    let engine = PolicyEngine::new(&PolicyConfig::default(), None).unwrap();
    let mut principal = crate::engine::example_principal();
    principal.branch = "drydock/large".to_string();
    let long = format!("echo {}", "x".repeat(4096));
    let request = ActionRequest {
        principal: principal.clone(),
        action: drydock_core::Action::RunCommand,
        resource: long,
    };
    let before = engine.evaluator().cached();
    let first = engine.decide(&request);
    assert_eq!(first, engine.decide(&request));
    // `echo`'s own facet is small and kept; the line's facet holds the whole line and is not.
    let kept = engine.evaluator().cached() - before;
    let (facets, _) = facets_for(&request, engine.protected_paths(), |a| {
        engine.evaluator().knows_action(a)
    });
    let facets = facets.unwrap();
    assert!(
        kept < facets.len(),
        "kept {kept} of {} facets",
        facets.len()
    );
}
