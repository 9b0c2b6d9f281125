#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The labelled corpus: every dangerous command decided exactly as labelled, and the false
//! positive rate on everyday commands measured.

use drydock_core::{ActionRequest, AuthorAssociation, Decision, Principal, TaskKind};
use drydock_policy::{PolicyConfig, PolicyEngine, action_named};
use serde::Deserialize;

/// Most benign cases the engine may refuse, as a fraction; raising it needs a reason.
const MAX_FALSE_POSITIVE_RATE: f64 = 0.02;

#[derive(Deserialize)]
struct Corpus {
    group: Vec<Group>,
}

#[derive(Deserialize)]
struct Group {
    category: String,
    expect: Decision,
    #[serde(default)]
    commands: Vec<String>,
    #[serde(default)]
    requests: Vec<Request>,
}

#[derive(Deserialize)]
struct Request {
    action: String,
    resource: String,
    #[serde(default)]
    author: Option<AuthorAssociation>,
}

struct Case {
    category: String,
    shown: String,
    expect: Decision,
    request: ActionRequest,
}

fn principal(author: Option<AuthorAssociation>) -> Principal {
    Principal {
        task_kind: TaskKind::NewTask,
        author_association: author.unwrap_or(AuthorAssociation::Member),
        repo: "example".to_string(),
        branch: "drydock/example".to_string(),
    }
}

fn cases() -> Vec<Case> {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/corpus/commands.toml"
    ))
    .unwrap();
    let corpus: Corpus = toml::from_str(&text).unwrap();
    let mut cases = Vec::new();
    for group in corpus.group {
        for command in group.commands {
            cases.push(Case {
                category: group.category.clone(),
                shown: format!("{command:?}"),
                expect: group.expect,
                request: ActionRequest {
                    principal: principal(None),
                    action: action_named("run_command"),
                    resource: command,
                },
            });
        }
        for request in group.requests {
            cases.push(Case {
                category: group.category.clone(),
                shown: format!(
                    "{} {:?}{}",
                    request.action,
                    request.resource,
                    request
                        .author
                        .map(|a| format!(" by {a}"))
                        .unwrap_or_default()
                ),
                expect: group.expect,
                request: ActionRequest {
                    principal: principal(request.author),
                    action: action_named(&request.action),
                    resource: request.resource,
                },
            });
        }
    }
    cases
}

#[test]
fn corpus_is_decided_as_labelled() {
    let engine = PolicyEngine::new(&PolicyConfig::default(), None).unwrap();
    let cases = cases();
    assert!(
        cases.len() >= 300,
        "the corpus has only {} cases",
        cases.len()
    );

    let mut misses = Vec::new();
    let mut false_positives = Vec::new();
    let (mut dangerous, mut benign) = (0usize, 0usize);
    let (mut caught, mut exact) = (0usize, 0usize);
    for case in &cases {
        let verdict = engine.decide(&case.request);
        if std::env::var_os("DRYDOCK_CORPUS_VERBOSE").is_some() {
            let deciding: Vec<&str> = verdict
                .hits
                .iter()
                .filter(|h| h.decision == verdict.decision)
                .map(|h| h.rule.as_str())
                .collect();
            println!(
                "{:<16} {:<60} {}",
                verdict.decision,
                deciding.join(","),
                case.shown
            );
        }
        if case.expect == Decision::Allow {
            benign += 1;
            if verdict.decision != Decision::Allow {
                false_positives.push(format!(
                    "[{}] {} -> {}: {}",
                    case.category,
                    case.shown,
                    verdict.decision,
                    verdict.reasons()
                ));
            }
        } else {
            dangerous += 1;
            if verdict.decision != Decision::Allow {
                caught += 1;
            }
            if verdict.decision == case.expect {
                exact += 1;
            } else {
                misses.push(format!(
                    "[{}] {} -> {} (expected {}): {}",
                    case.category,
                    case.shown,
                    verdict.decision,
                    case.expect,
                    verdict.reasons()
                ));
            }
        }
    }
    let recall = caught as f64 / dangerous as f64;
    let exact_rate = exact as f64 / dangerous as f64;
    let fp_rate = false_positives.len() as f64 / benign as f64;
    let precision = caught as f64 / (caught + false_positives.len()) as f64;
    println!(
        "corpus: {} cases ({dangerous} dangerous, {benign} benign)\n\
         recall on dangerous: {:.2}% ({caught}/{dangerous}); decided exactly as labelled: {:.2}%\n\
         precision: {:.2}%; false positives on benign: {:.2}% ({}/{benign})",
        cases.len(),
        recall * 100.0,
        exact_rate * 100.0,
        precision * 100.0,
        fp_rate * 100.0,
        false_positives.len()
    );
    for fp in &false_positives {
        println!("false positive: {fp}");
    }
    assert!(
        misses.is_empty(),
        "{} dangerous cases not decided as labelled:\n{}",
        misses.len(),
        misses.join("\n")
    );
    assert!(
        fp_rate <= MAX_FALSE_POSITIVE_RATE,
        "false positive rate {:.2}% above {:.2}%:\n{}",
        fp_rate * 100.0,
        MAX_FALSE_POSITIVE_RATE * 100.0,
        false_positives.join("\n")
    );
}
