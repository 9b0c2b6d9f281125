//! Compiled conditions against Cedar's own authorizer: for every facet of the corpus and of the
//! rule examples, under several principals, the policies found satisfied (and whether any
//! failed) must be exactly those Cedar's authorizer finds with the full, schema-validated
//! request.

use cedar_policy::{Policy, PolicyId};
use drydock_core::{Action, ActionRequest, AuthorAssociation, Principal, TaskKind};

use crate::PolicyEngine;
use std::sync::Arc;

use crate::cedar::Evaluator;
use crate::cedar_store::DecisionStore;
use crate::config::PolicyConfig;
use crate::facets::facets_for;

pub(crate) fn principals() -> Vec<Principal> {
    let mut all = Vec::new();
    for (task_kind, author) in [
        (TaskKind::NewTask, AuthorAssociation::Member),
        (TaskKind::NewTask, AuthorAssociation::None),
        (TaskKind::PrIteration, AuthorAssociation::Contributor),
        (TaskKind::PrReview, AuthorAssociation::Owner),
    ] {
        all.push(Principal {
            task_kind,
            author_association: author,
            repo: "example".to_string(),
            branch: "drydock/example".to_string(),
        });
    }
    all
}

/// Every request of the labelled corpus, plus calls of every action.
pub(crate) fn requests() -> Vec<ActionRequest> {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/corpus/commands.toml"
    ))
    .unwrap();
    let corpus: toml::Value = toml::from_str(&text).unwrap();
    let principal = principals().remove(0);
    let mut requests = Vec::new();
    for group in corpus["group"].as_array().unwrap() {
        for command in group
            .get("commands")
            .and_then(|c| c.as_array())
            .into_iter()
            .flatten()
        {
            requests.push(ActionRequest {
                principal: principal.clone(),
                action: Action::RunCommand,
                resource: command.as_str().unwrap().to_string(),
            });
        }
        for request in group
            .get("requests")
            .and_then(|c| c.as_array())
            .into_iter()
            .flatten()
        {
            requests.push(ActionRequest {
                principal: principal.clone(),
                action: crate::action_named(request["action"].as_str().unwrap()),
                resource: request["resource"].as_str().unwrap().to_string(),
            });
        }
    }
    for (action, resource) in [
        (Action::ReadFile, "src/lib.rs"),
        (Action::WriteFile, ".github/workflows/ci.yml"),
        (Action::NetConnect, "[::1]:8080"),
        (Action::GitPush, "+main"),
        (Action::OpenPr, "drydock/t1"),
    ] {
        requests.push(ActionRequest {
            principal: principal.clone(),
            action,
            resource: resource.to_string(),
        });
    }
    assert!(requests.len() > 900, "the corpus went missing");
    requests
}

/// Compares `evaluator` with Cedar's authorizer on every facet of `requests`; returns how many
/// facet/principal pairs were compared.
fn compare(engine: &PolicyEngine, evaluator: &Evaluator, requests: &[ActionRequest]) -> usize {
    let principals = principals();
    let sets = evaluator.reference_sets().unwrap();
    let mut compared = 0;
    // One store per principal shared by every facet of every request, as decisions share one
    // (see `cedar_store`), holding resources of thousands of earlier facets.
    let mut shared: Vec<Option<DecisionStore>> = principals.iter().map(|_| None).collect();
    for request in requests {
        let (facets, _) = facets_for(request, engine.protected_paths(), |a| {
            evaluator.knows_action(a)
        });
        let Ok(facets) = facets else { continue };
        for (principal, shared) in principals.iter().zip(shared.iter_mut()) {
            let entity = evaluator.principal(principal).unwrap();
            let shared = shared.get_or_insert_with(|| DecisionStore::new(Arc::clone(&entity)));
            for facet in &facets {
                let ours = evaluator
                    .evaluate_afresh(&mut DecisionStore::alone(Arc::clone(&entity)), facet);
                let (restrictions, permissions, errored) =
                    evaluator.reference(principal, facet, &sets).unwrap();
                let context = || format!("{} as {principal:?}: {facet:?}", request.resource);
                assert_eq!(ours.restrictions, restrictions, "{}", context());
                assert_eq!(ours.permissions, permissions, "{}", context());
                assert_eq!(
                    !ours.errors.is_empty(),
                    errored,
                    "{}: {:?}",
                    context(),
                    ours.errors
                );
                let in_shared = evaluator.evaluate_afresh(shared, facet);
                assert_eq!(
                    in_shared.restrictions,
                    restrictions,
                    "shared: {}",
                    context()
                );
                assert_eq!(in_shared.permissions, permissions, "shared: {}", context());
                assert_eq!(in_shared.errors, ours.errors, "shared: {}", context());
                compared += 1;
            }
        }
    }
    compared
}

#[test]
fn the_shipped_rules_satisfy_what_cedar_satisfies_over_the_corpus() {
    let engine = PolicyEngine::new(&PolicyConfig::default(), None).unwrap();
    assert!(engine.evaluator().shares_store());
    let compared = compare(&engine, engine.evaluator(), &requests());
    assert!(compared > 3_000, "only {compared} facets compared");
}

/// Policies whose scopes or conditions the compiler treats specially: constrained principals
/// and resources, action sets, the whole context used as a value, literal sets, records, entity
/// lists, and conditions that fail at run time.
const TRICKY: &[&str] = &[
    r#"forbid (principal == Agent::"example#drydock/example", action, resource);"#,
    r#"permit (principal is Agent, action in [Action::"exec", Action::"write_file"], resource);"#,
    r#"forbid (principal, action == Action::"exec", resource is Program) when { ["rm", "git", "curl"].contains(context.program) };"#,
    r#"forbid (principal, action, resource) when { context == {} };"#,
    r#"permit (principal, action, resource) when { [1, 2, 3].containsAll([1, 2]) && {"a": [true]}.a.contains(true) };"#,
    r#"forbid (principal, action == Action::"exec", resource) when { context.depth + 9223372036854775807 > 0 };"#,
    r#"forbid (principal, action == Action::"write_file", resource) unless { resource.path like "src/*" };"#,
    r#"permit (principal, action, resource) when { principal.trusted && ["new_task", "pr_iteration"].contains(principal.task_kind) };"#,
    r#"forbid (principal, action == Action::"run_command", resource) when { context has program && List::"interpreters".items.contains(context.program) };"#,
    r#"permit (principal, action, resource is Path);"#,
    r#"forbid (principal, action, resource) when { if principal.trusted then false else [] == [] };"#,
];

#[test]
fn tricky_policies_satisfy_what_cedar_satisfies() {
    let engine = PolicyEngine::new(&PolicyConfig::default(), None).unwrap();
    let policies: Vec<Policy> = TRICKY
        .iter()
        .enumerate()
        .filter_map(|(n, text)| {
            // A policy this schema cannot hold (a missing attribute, list) is skipped; those
            // that parse and evaluate are what the comparison needs.
            Policy::parse(Some(PolicyId::new(format!("tricky{n}"))), *text).ok()
        })
        .collect();
    assert_eq!(
        policies.len(),
        TRICKY.len(),
        "a tricky policy does not parse"
    );
    let evaluator = engine.evaluator().with_policies(&policies).unwrap();
    let compared = compare(&engine, &evaluator, &requests());
    assert!(compared > 3_000, "only {compared} facets compared");
}

/// A policy that reads a resource by name sees it only while that resource is the facet's own:
/// with it, facets do not share a store, and the answers stay Cedar's.
#[test]
fn entity_literals_of_resources_see_only_the_facets_own_resource() {
    let engine = PolicyEngine::new(&PolicyConfig::default(), None).unwrap();
    let text = r#"forbid (principal, action, resource) when { Program::"rm".name == "rm" };"#;
    let policy = Policy::parse(Some(PolicyId::new("literal")), text).unwrap();
    let evaluator = engine.evaluator().with_policies(&[policy]).unwrap();
    assert!(!evaluator.shares_store());
    let compared = compare(&engine, &evaluator, &requests());
    assert!(compared > 3_000, "only {compared} facets compared");
}

/// Conditions the guards decide in part or not at all (`cedar_guard`): tests of context
/// attributes of every type, reversed comparisons, a missing attribute, an unknown list, a wrong
/// type where Cedar fails, and short-circuits on either side.
const GUARDED: &[&str] = &[
    r#"forbid (principal, action == Action::"exec", resource) when { "git" == context.family && context.subcommand == "push" };"#,
    r#"forbid (principal, action == Action::"exec", resource) when { context.simple_commands == "x" || context.program == "rm" };"#,
    r#"forbid (principal, action, resource) when { context.nonexistent || context.program == "rm" };"#,
    r#"forbid (principal, action == Action::"exec", resource) when { context.program == "nothing" && context.nonexistent };"#,
    r#"forbid (principal, action == Action::"exec", resource) when { List::"no_such_list".items.contains(context.program) };"#,
    r#"forbid (principal, action == Action::"exec", resource) when { context.program.isEmpty() || context.flags.isEmpty() };"#,
    r#"forbid (principal, action == Action::"exec", resource) when { !context.stdin_programs.isEmpty() || (context.opaque_code && true) };"#,
    r#"forbid (principal, action == Action::"exec", resource) when { !context.dynamic_program && ["cat", "ls"].contains(context.program) && context.depth > 0 };"#,
    r#"permit (principal, action == Action::"exec", resource) when { List::"interpreters".items.contains(context.family) || context.program like "c*" };"#,
    r#"forbid (principal, action, resource) when { context.via == "command" && !(context.operation != "delete") };"#,
    r#"forbid (principal, action, resource) when { context.program like "*a*" || context.depth like "1" || context.via like "comm*nd" };"#,
    r#"forbid (principal, action == Action::"exec", resource) when { [1, "rm"].contains(context.program) || context.flags.contains("-r") };"#,
];

#[test]
fn guarded_policies_satisfy_what_cedar_satisfies() {
    let engine = PolicyEngine::new(&PolicyConfig::default(), None).unwrap();
    let policies: Vec<Policy> = GUARDED
        .iter()
        .enumerate()
        .map(|(n, text)| Policy::parse(Some(PolicyId::new(format!("guarded{n}"))), *text).unwrap())
        .collect();
    let evaluator = engine.evaluator().with_policies(&policies).unwrap();
    let compared = compare(&engine, &evaluator, &requests());
    assert!(compared > 3_000, "only {compared} facets compared");
}
