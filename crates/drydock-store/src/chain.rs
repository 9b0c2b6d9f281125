//! Verification of one task's event chain, independent of the backend: the backend streams the
//! stored rows in `seq` order and the verifier names the first link that does not hold.

use chrono::DateTime;
use drydock_core::TaskId;
use serde_json::Value;

use crate::canonical::{GENESIS_HASH, link_hash};
use crate::{ChainBreak, ChainReport};

/// One stored event row, as read back from the database.
#[derive(Debug, Clone)]
pub(crate) struct StoredLink {
    /// The row's `seq` column.
    pub seq: u64,
    /// The row's `at` column.
    pub at: String,
    /// The row's `type` column.
    pub event_type: String,
    /// The canonical JSON of the event.
    pub payload: String,
    /// The row's `prev_hash` column.
    pub prev_hash: String,
    /// The row's `hash` column.
    pub hash: String,
}

/// A row whose stored hash is not the hash of its content; what was edited is decided by the link
/// that follows it (the next row's `prev_hash`, or the task's head for the last row).
#[derive(Debug)]
struct Unmatched {
    seq: u64,
    stored: String,
    computed: String,
}

/// Checks the rows of one chain as they stream in; stops at the first break.
#[derive(Debug)]
pub(crate) struct ChainVerifier {
    task: TaskId,
    task_id: String,
    head_seq: u64,
    head_hash: String,
    next_seq: u64,
    prev_hash: String,
    unmatched: Option<Unmatched>,
    first_break: Option<ChainBreak>,
    events: u64,
}

impl ChainVerifier {
    /// A verifier for `task_id`, whose row records `head_seq` and `head_hash` as the chain head.
    pub fn new(task_id: TaskId, head_seq: u64, head_hash: String) -> Self {
        Self {
            task: task_id,
            task_id: task_id.to_string(),
            head_seq,
            head_hash,
            next_seq: 1,
            prev_hash: GENESIS_HASH.to_string(),
            unmatched: None,
            first_break: None,
            events: 0,
        }
    }

    /// True once a break was found; later rows cannot change the report.
    pub fn is_broken(&self) -> bool {
        self.first_break.is_some()
    }

    /// Checks the next stored row.
    pub fn push(&mut self, link: &StoredLink) {
        if self.is_broken() {
            return;
        }
        self.events += 1;
        self.settle_unmatched(Some(&link.prev_hash));
        if self.is_broken() {
            return;
        }
        if let Some(problem) = self.problem_with(link) {
            let seq = if link.seq > self.next_seq {
                self.next_seq
            } else {
                link.seq
            };
            self.first_break = Some(ChainBreak { seq, problem });
            return;
        }
        let computed = link_hash(&link.prev_hash, &link.payload);
        if computed != link.hash {
            self.unmatched = Some(Unmatched {
                seq: link.seq,
                stored: link.hash.clone(),
                computed,
            });
        }
        self.prev_hash.clone_from(&link.hash);
        self.next_seq = link.seq + 1;
    }

    /// Records a row that could not even be read (a column of the wrong type) as the break.
    pub fn unreadable(&mut self, problem: &str) {
        if self.is_broken() {
            return;
        }
        self.events += 1;
        self.settle_unmatched(None);
        if self.is_broken() {
            return;
        }
        self.first_break = Some(ChainBreak {
            seq: self.next_seq,
            problem: format!("row edited: it cannot be read ({problem})"),
        });
    }

    /// The report once every row was pushed.
    pub fn finish(mut self) -> ChainReport {
        let last = self.next_seq - 1;
        let head_link = (self.head_seq == last).then(|| self.head_hash.clone());
        self.settle_unmatched(head_link.as_deref());
        if self.first_break.is_none() {
            self.first_break = self.head_problem(last);
        }
        ChainReport {
            task_id: self.task,
            events: self.events,
            first_break: self.first_break,
            head_hash: self.head_hash,
        }
    }

    /// Decides what was edited in a row whose hash did not match, from the link after it.
    fn settle_unmatched(&mut self, next_link: Option<&str>) {
        let Some(unmatched) = self.unmatched.take() else {
            return;
        };
        let problem = if next_link == Some(unmatched.stored.as_str()) {
            "payload edited: its hash no longer matches the stored hash, which the next link still \
             confirms"
        } else if next_link == Some(unmatched.computed.as_str()) {
            "hash edited: the stored hash is not the hash of the payload, which the next link \
             confirms"
        } else {
            "payload or hash edited: the stored hash is not the hash of the payload"
        };
        self.first_break = Some(ChainBreak {
            seq: unmatched.seq,
            problem: problem.to_string(),
        });
    }

    /// What is wrong with a row, apart from its own hash.
    fn problem_with(&self, link: &StoredLink) -> Option<String> {
        let expected = self.next_seq;
        if link.seq > expected {
            return Some(format!(
                "event missing: event {expected} is not in the log (the next stored event is {})",
                link.seq
            ));
        }
        if link.seq < expected {
            return Some(format!("event {} is stored out of order", link.seq));
        }
        let payload: Value = match serde_json::from_str(&link.payload) {
            Ok(value) => value,
            Err(err) => return Some(format!("payload edited: it is not valid JSON ({err})")),
        };
        match payload.get("task_id").and_then(Value::as_str) {
            Some(task) if task == self.task_id => {}
            Some(task) => {
                return Some(format!(
                    "payload's task does not match the row: it names task {task}"
                ));
            }
            None => return Some("payload edited: it names no task".to_string()),
        }
        match payload.get("seq").and_then(Value::as_u64) {
            Some(seq) if seq == link.seq => {}
            Some(seq) => {
                return Some(format!(
                    "reordered: the row at seq {} holds the payload of event {seq}",
                    link.seq
                ));
            }
            None => return Some("payload edited: it has no sequence number".to_string()),
        }
        let payload_type = payload
            .get("kind")
            .and_then(|kind| kind.get("type"))
            .and_then(Value::as_str);
        if payload_type != Some(link.event_type.as_str()) {
            return Some(format!(
                "type column {:?} does not match the payload's type {:?}",
                link.event_type,
                payload_type.unwrap_or("(none)")
            ));
        }
        let payload_at = payload.get("at").and_then(Value::as_str).unwrap_or("");
        if !same_instant(payload_at, &link.at) {
            return Some(format!(
                "at column {:?} does not match the payload's time {payload_at:?}",
                link.at
            ));
        }
        if link.prev_hash != self.prev_hash {
            let what = if expected == 1 {
                "the genesis hash".to_string()
            } else {
                format!("the hash of event {}", expected - 1)
            };
            return Some(format!("reordered or edited: prev_hash is not {what}"));
        }
        None
    }

    /// What is wrong with the task's record of its chain head, once the rows are checked.
    fn head_problem(&self, last: u64) -> Option<ChainBreak> {
        if self.head_seq > last {
            let problem = if last == 0 {
                format!(
                    "chain truncated: the task's head is event {} but the log is empty",
                    self.head_seq
                )
            } else {
                format!(
                    "chain truncated: the task's head is event {} but the log ends at event {last}",
                    self.head_seq
                )
            };
            return Some(ChainBreak {
                seq: last + 1,
                problem,
            });
        }
        if self.head_seq < last {
            return Some(ChainBreak {
                seq: self.head_seq + 1,
                problem: format!(
                    "event {} is beyond the task's recorded head (event {}): appended outside the \
                     store",
                    self.head_seq + 1,
                    self.head_seq
                ),
            });
        }
        if self.head_hash != self.prev_hash {
            return Some(ChainBreak {
                seq: last.max(1),
                problem: format!(
                    "head edited: the task's head hash is not the hash of event {last}"
                ),
            });
        }
        None
    }
}

fn same_instant(a: &str, b: &str) -> bool {
    match (
        DateTime::parse_from_rfc3339(a),
        DateTime::parse_from_rfc3339(b),
    ) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

#[cfg(test)]
#[path = "chain_tests.rs"]
mod tests;
