//! Loop detection: the same tool call with the same result three times, or five failures in the
//! last six calls. The first time, the model is steered with a note; if it happens again, the task
//! stops as stuck.

use std::sync::LazyLock;

use regex::Regex;
use sha2::{Digest, Sha256};

/// Durations (`0.1s`, `12ms`, `1.5 s`) vary between identical runs; they are not progress.
static DURATION: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"\b\d+(?:\.\d+)?\s?(?:ns|µs|us|ms|s|sec|secs|seconds)\b").ok());

/// The part of a result that tells whether anything changed: the text without its durations.
fn result_fingerprint(result: &str) -> String {
    match DURATION.as_ref() {
        Some(re) => re.replace_all(result, "<duration>").into_owned(),
        None => result.to_string(),
    }
}

/// Identical call-and-result pairs that count as a loop.
const REPEATS: usize = 3;
/// Failures within [`FAILURE_WINDOW`] calls that count as a loop.
const FAILURES: usize = 5;
/// The window for [`FAILURES`].
const FAILURE_WINDOW: usize = 6;
/// Calls without a detection after a steer that earn the model a clean slate.
const FORGIVE_AFTER: usize = 12;

/// What to do after a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoopVerdict {
    /// Nothing to do.
    Fine,
    /// Tell the model (the text goes with the tool results) and go on.
    Steer {
        /// The pattern, in words.
        pattern: String,
        /// The note for the model.
        note: String,
    },
    /// Stop the task as stuck.
    Stop {
        /// The pattern, in words.
        pattern: String,
    },
}

#[derive(Debug, Clone)]
struct Observed {
    call: [u8; 32],
    result: [u8; 32],
    failed: bool,
}

/// Watches a task's tool calls.
#[derive(Debug, Default)]
pub struct LoopDetector {
    history: Vec<Observed>,
    /// Index in `history` from which patterns are counted (advanced after each steer).
    window_start: usize,
    steered_at: Option<usize>,
}

impl LoopDetector {
    /// A detector with no history.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records one call (`tool`, its canonical arguments, its result text) and judges the pattern.
    pub fn observe(
        &mut self,
        tool: &str,
        arguments: &str,
        result: &str,
        failed: bool,
    ) -> LoopVerdict {
        let entry = Observed {
            call: digest(&[tool, "\0", arguments]),
            result: digest(&[&result_fingerprint(result)]),
            failed,
        };
        self.history.push(entry.clone());
        if let Some(at) = self.steered_at
            && self.history.len() - at >= FORGIVE_AFTER
        {
            self.steered_at = None;
        }
        let window = &self.history[self.window_start..];
        let repeats = window
            .iter()
            .filter(|o| o.call == entry.call && o.result == entry.result)
            .count();
        let recent = &window[window.len().saturating_sub(FAILURE_WINDOW)..];
        let failures = recent.iter().filter(|o| o.failed).count();
        let (pattern, note) = if repeats >= REPEATS {
            (
                format!(
                    "{tool} called {repeats} times with the same arguments and the same result"
                ),
                format!(
                    "[drydock] You have called {tool} with the same arguments {repeats} times and got the same \
                     result each time. Repeating it will not change the outcome. Step back: re-read the error \
                     and the code, and try a different approach. If you cannot make progress, call finish and \
                     explain what blocks you."
                ),
            )
        } else if recent.len() >= FAILURE_WINDOW && failures >= FAILURES {
            (
                format!("{failures} of the last {FAILURE_WINDOW} tool calls failed"),
                format!(
                    "[drydock] {failures} of your last {FAILURE_WINDOW} tool calls failed. Stop and reconsider: \
                     read the error messages carefully, check paths with list_dir, and change your approach. \
                     If you cannot make progress, call finish and explain what blocks you."
                ),
            )
        } else {
            return LoopVerdict::Fine;
        };
        if self.steered_at.is_some() {
            return LoopVerdict::Stop { pattern };
        }
        self.steered_at = Some(self.history.len());
        self.window_start = self.history.len();
        LoopVerdict::Steer { pattern, note }
    }
}

fn digest(parts: &[&str]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
    }
    hasher.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn third_identical_call_and_result_steers_then_a_repeat_stops() {
        let mut detector = LoopDetector::new();
        let mut make =
            || detector.observe("run_command", "{\"command\":\"make\"}", "error 2", true);
        assert_eq!(make(), LoopVerdict::Fine);
        assert_eq!(make(), LoopVerdict::Fine);
        let verdict = make();
        assert!(
            matches!(verdict, LoopVerdict::Steer { ref pattern, .. } if pattern.contains("3 times")),
            "{verdict:?}"
        );
        // Counting restarts after the steer: two more repeats are tolerated, the third stops.
        assert_eq!(make(), LoopVerdict::Fine);
        assert_eq!(make(), LoopVerdict::Fine);
        let verdict = make();
        assert!(matches!(verdict, LoopVerdict::Stop { .. }), "{verdict:?}");
    }

    #[test]
    fn durations_do_not_make_identical_results_different() {
        let mut detector = LoopDetector::new();
        let runs = [
            "exit code 1 (0.1s)\nRan 1 test in 0.001s",
            "exit code 1 (0.3s)\nRan 1 test in 0.012s",
            "exit code 1 (2ms)\nRan 1 test in 1.5 s",
        ];
        assert_eq!(
            detector.observe("run_command", "t", runs[0], true),
            LoopVerdict::Fine
        );
        assert_eq!(
            detector.observe("run_command", "t", runs[1], true),
            LoopVerdict::Fine
        );
        assert!(matches!(
            detector.observe("run_command", "t", runs[2], true),
            LoopVerdict::Steer { .. }
        ));
        // Counts are not durations: a different number of failures is a different result.
        assert_ne!(
            result_fingerprint("2 failed in 0.1s"),
            result_fingerprint("3 failed in 0.1s")
        );
    }

    #[test]
    fn same_call_with_different_results_is_progress() {
        let mut detector = LoopDetector::new();
        for i in 0..10 {
            let verdict = detector.observe(
                "run_command",
                "{\"command\":\"pytest\"}",
                &format!("{i} failed"),
                false,
            );
            assert_eq!(verdict, LoopVerdict::Fine);
        }
    }

    #[test]
    fn five_failures_in_six_calls_steer() {
        let mut detector = LoopDetector::new();
        let calls = [
            ("a", true),
            ("b", true),
            ("c", false),
            ("d", true),
            ("e", true),
        ];
        for (arg, failed) in calls {
            assert_eq!(
                detector.observe("read_file", arg, arg, failed),
                LoopVerdict::Fine
            );
        }
        let verdict = detector.observe("read_file", "f", "f", true);
        assert!(
            matches!(verdict, LoopVerdict::Steer { ref pattern, .. } if pattern.contains("5 of the last 6")),
            "{verdict:?}"
        );
    }

    #[test]
    fn four_failures_in_six_calls_are_fine() {
        let mut detector = LoopDetector::new();
        for (i, failed) in [true, false, true, false, true, true]
            .into_iter()
            .enumerate()
        {
            assert_eq!(
                detector.observe("search", &i.to_string(), "x", failed),
                LoopVerdict::Fine
            );
        }
    }

    #[test]
    fn a_long_stretch_of_good_work_after_a_steer_earns_a_fresh_warning() {
        let mut detector = LoopDetector::new();
        for _ in 0..2 {
            detector.observe("run_command", "same", "same", true);
        }
        assert!(matches!(
            detector.observe("run_command", "same", "same", true),
            LoopVerdict::Steer { .. }
        ));
        for i in 0..FORGIVE_AFTER {
            assert_eq!(
                detector.observe("read_file", &i.to_string(), "ok", false),
                LoopVerdict::Fine
            );
        }
        for _ in 0..2 {
            detector.observe("run_command", "other", "same", true);
        }
        assert!(matches!(
            detector.observe("run_command", "other", "same", true),
            LoopVerdict::Steer { .. }
        ));
    }
}
