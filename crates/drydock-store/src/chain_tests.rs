use chrono::{SecondsFormat, Utc};
use drydock_core::{Event, EventKind};
use pretty_assertions::assert_eq;

use super::*;
use crate::canonical::to_canonical_json;

/// A valid chain of `n` notes for `task`, as the store would write it.
fn chain(task: TaskId, n: u64) -> Vec<StoredLink> {
    let mut prev = GENESIS_HASH.to_string();
    (1..=n)
        .map(|seq| {
            let event = Event {
                task_id: task,
                seq,
                at: Utc::now(),
                kind: EventKind::Note {
                    text: format!("note {seq}"),
                },
            };
            let payload = to_canonical_json(&event).unwrap();
            let hash = link_hash(&prev, &payload);
            let link = StoredLink {
                seq,
                at: event.at.to_rfc3339_opts(SecondsFormat::Nanos, true),
                event_type: "note".into(),
                payload,
                prev_hash: prev.clone(),
                hash: hash.clone(),
            };
            prev = hash;
            link
        })
        .collect()
}

fn verify(task: TaskId, links: &[StoredLink], head_seq: u64, head_hash: &str) -> ChainReport {
    let mut verifier = ChainVerifier::new(task, head_seq, head_hash.to_string());
    for link in links {
        verifier.push(link);
    }
    verifier.finish()
}

fn verify_with_true_head(
    task: TaskId,
    links: &[StoredLink],
    original: &[StoredLink],
) -> ChainReport {
    let head = original.last().unwrap();
    verify(task, links, head.seq, &head.hash)
}

fn first_break(report: &ChainReport) -> (u64, &str) {
    let found = report.first_break.as_ref().expect("a break");
    (found.seq, found.problem.as_str())
}

#[test]
fn an_intact_chain_verifies() {
    let task = TaskId::new();
    let links = chain(task, 5);
    let report = verify_with_true_head(task, &links, &links);
    assert_eq!(
        report,
        ChainReport {
            task_id: task,
            events: 5,
            first_break: None,
            head_hash: links[4].hash.clone(),
        }
    );
}

#[test]
fn an_empty_chain_with_an_empty_head_verifies() {
    let task = TaskId::new();
    let report = verify(task, &[], 0, GENESIS_HASH);
    assert_eq!(report.first_break, None);
    assert_eq!(report.events, 0);
}

#[test]
fn an_edited_payload_is_named_as_such() {
    let task = TaskId::new();
    let original = chain(task, 4);
    let mut links = original.clone();
    links[1].payload = links[1].payload.replace("note 2", "note two");
    let report = verify_with_true_head(task, &links, &original);
    let (seq, problem) = first_break(&report);
    assert_eq!(seq, 2);
    assert!(problem.starts_with("payload edited"), "{problem}");
}

#[test]
fn an_edited_payload_of_the_last_event_is_caught_by_the_head() {
    let task = TaskId::new();
    let original = chain(task, 3);
    let mut links = original.clone();
    links[2].payload = links[2].payload.replace("note 3", "note 4");
    let report = verify_with_true_head(task, &links, &original);
    let (seq, problem) = first_break(&report);
    assert_eq!(seq, 3);
    assert!(problem.starts_with("payload edited"), "{problem}");
}

#[test]
fn an_edited_hash_is_named_as_such() {
    let task = TaskId::new();
    let original = chain(task, 4);
    let mut links = original.clone();
    links[1].hash = "f".repeat(64);
    let report = verify_with_true_head(task, &links, &original);
    let (seq, problem) = first_break(&report);
    assert_eq!(seq, 2);
    assert!(problem.starts_with("hash edited"), "{problem}");
}

#[test]
fn a_payload_rehashed_by_the_forger_breaks_the_next_link() {
    let task = TaskId::new();
    let original = chain(task, 4);
    let mut links = original.clone();
    links[1].payload = links[1].payload.replace("note 2", "forged");
    links[1].hash = link_hash(&links[1].prev_hash, &links[1].payload);
    let report = verify_with_true_head(task, &links, &original);
    let (seq, problem) = first_break(&report);
    assert_eq!(seq, 3);
    assert!(
        problem.contains("prev_hash is not the hash of event 2"),
        "{problem}"
    );
}

#[test]
fn a_missing_middle_event_is_named() {
    let task = TaskId::new();
    let original = chain(task, 5);
    let mut links = original.clone();
    links.remove(2);
    let report = verify_with_true_head(task, &links, &original);
    let (seq, problem) = first_break(&report);
    assert_eq!(seq, 3);
    assert!(problem.starts_with("event missing: event 3"), "{problem}");
}

#[test]
fn a_missing_first_event_is_named() {
    let task = TaskId::new();
    let original = chain(task, 3);
    let links = original[1..].to_vec();
    let report = verify_with_true_head(task, &links, &original);
    let (seq, problem) = first_break(&report);
    assert_eq!(seq, 1);
    assert!(problem.starts_with("event missing: event 1"), "{problem}");
}

#[test]
fn a_deleted_last_event_is_a_truncated_chain() {
    let task = TaskId::new();
    let original = chain(task, 4);
    let links = original[..3].to_vec();
    let report = verify_with_true_head(task, &links, &original);
    let (seq, problem) = first_break(&report);
    assert_eq!(seq, 4);
    assert!(problem.starts_with("chain truncated"), "{problem}");
}

#[test]
fn a_fully_deleted_log_is_a_truncated_chain() {
    let task = TaskId::new();
    let original = chain(task, 2);
    let report = verify_with_true_head(task, &[], &original);
    let (seq, problem) = first_break(&report);
    assert_eq!(seq, 1);
    assert!(problem.contains("the log is empty"), "{problem}");
}

#[test]
fn swapped_rows_are_reordered() {
    let task = TaskId::new();
    let original = chain(task, 4);
    let mut links = original.clone();
    // Swap the seq columns of events 2 and 3: rows stream in seq order, so their contents swap.
    links.swap(1, 2);
    links[1].seq = 2;
    links[2].seq = 3;
    let report = verify_with_true_head(task, &links, &original);
    let (seq, problem) = first_break(&report);
    assert_eq!(seq, 2);
    assert!(problem.starts_with("reordered"), "{problem}");
}

#[test]
fn a_payload_naming_another_task_is_caught() {
    let task = TaskId::new();
    let other = TaskId::new();
    let original = chain(task, 3);
    let mut links = original.clone();
    links[0].payload = links[0]
        .payload
        .replace(&task.to_string(), &other.to_string());
    let report = verify_with_true_head(task, &links, &original);
    let (seq, problem) = first_break(&report);
    assert_eq!(seq, 1);
    assert!(problem.contains(&other.to_string()), "{problem}");
}

#[test]
fn rows_copied_from_another_task_are_caught() {
    let task = TaskId::new();
    let other = TaskId::new();
    let theirs = chain(other, 3);
    let report = verify_with_true_head(task, &theirs, &theirs);
    let (seq, problem) = first_break(&report);
    assert_eq!(seq, 1);
    assert!(problem.contains("task does not match"), "{problem}");
}

#[test]
fn a_type_column_that_disagrees_with_the_payload_is_caught() {
    let task = TaskId::new();
    let original = chain(task, 2);
    let mut links = original.clone();
    links[1].event_type = "state_changed".into();
    let report = verify_with_true_head(task, &links, &original);
    let (seq, problem) = first_break(&report);
    assert_eq!(seq, 2);
    assert!(problem.starts_with("type column"), "{problem}");
}

#[test]
fn an_at_column_that_disagrees_with_the_payload_is_caught() {
    let task = TaskId::new();
    let original = chain(task, 2);
    let mut links = original.clone();
    links[0].at = "1999-01-01T00:00:00.000000000Z".into();
    let report = verify_with_true_head(task, &links, &original);
    let (seq, problem) = first_break(&report);
    assert_eq!(seq, 1);
    assert!(problem.starts_with("at column"), "{problem}");
}

#[test]
fn a_payload_that_is_not_json_is_caught() {
    let task = TaskId::new();
    let original = chain(task, 2);
    let mut links = original.clone();
    links[1].payload = "not json".into();
    let report = verify_with_true_head(task, &links, &original);
    let (seq, problem) = first_break(&report);
    assert_eq!(seq, 2);
    assert!(problem.contains("not valid JSON"), "{problem}");
}

#[test]
fn an_edited_head_hash_is_caught() {
    let task = TaskId::new();
    let links = chain(task, 3);
    let report = verify(task, &links, 3, &"a".repeat(64));
    let (seq, problem) = first_break(&report);
    assert_eq!(seq, 3);
    assert!(problem.starts_with("head edited"), "{problem}");
}

#[test]
fn events_beyond_the_head_are_caught() {
    let task = TaskId::new();
    let links = chain(task, 3);
    let report = verify(task, &links, 2, &links[1].hash);
    let (seq, problem) = first_break(&report);
    assert_eq!(seq, 3);
    assert!(
        problem.contains("beyond the task's recorded head"),
        "{problem}"
    );
}

#[test]
fn a_forged_first_link_must_start_from_the_genesis_hash() {
    let task = TaskId::new();
    let original = chain(task, 2);
    let mut links = original.clone();
    links[0].prev_hash = "1".repeat(64);
    links[0].hash = link_hash(&links[0].prev_hash, &links[0].payload);
    let report = verify_with_true_head(task, &links, &original);
    let (seq, problem) = first_break(&report);
    assert_eq!(seq, 1);
    assert!(problem.contains("genesis"), "{problem}");
}

#[test]
fn only_the_first_break_is_reported() {
    let task = TaskId::new();
    let original = chain(task, 6);
    let mut links = original.clone();
    links[4].payload = links[4].payload.replace("note 5", "x");
    links.remove(1);
    let report = verify_with_true_head(task, &links, &original);
    assert_eq!(first_break(&report).0, 2);
}
