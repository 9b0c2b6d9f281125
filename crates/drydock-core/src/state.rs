use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Where a task is in its life.
///
/// ```text
/// queued → preparing → running ⇄ awaiting_approval → finalizing → completed
///                                                   (any live state → failed | cancelled | timed_out)
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    /// Created, waiting for a worker.
    Queued,
    /// Cloning the workspace and starting the sandbox.
    Preparing,
    /// The agent loop is running.
    Running,
    /// Paused until a human approves or denies an action.
    AwaitingApproval,
    /// Tests, gates, commit, push and pull request.
    Finalizing,
    /// Ended with a pull request.
    Completed,
    /// Ended without a pull request; the task carries a classified reason.
    Failed,
    /// Stopped by a user or the kill switch.
    Cancelled,
    /// Ran out of wall-clock time.
    TimedOut,
}

/// A state change the state machine does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("illegal task state transition {from} → {to}")]
pub struct IllegalTransition {
    /// The state the task was in.
    pub from: TaskState,
    /// The state that was asked for.
    pub to: TaskState,
}

impl TaskState {
    /// Every state, in life order.
    pub const ALL: [TaskState; 9] = [
        TaskState::Queued,
        TaskState::Preparing,
        TaskState::Running,
        TaskState::AwaitingApproval,
        TaskState::Finalizing,
        TaskState::Completed,
        TaskState::Failed,
        TaskState::Cancelled,
        TaskState::TimedOut,
    ];

    /// True once the task has ended; a terminal state has no way out.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            TaskState::Completed | TaskState::Failed | TaskState::Cancelled | TaskState::TimedOut
        )
    }

    /// Whether the state machine allows moving from `self` to `next`.
    pub fn can_transition_to(self, next: TaskState) -> bool {
        use TaskState::*;
        match (self, next) {
            (Queued, Preparing | Cancelled) => true,
            // A queued task can't fail or time out: nothing has run yet.
            (Queued, _) => false,
            (Preparing, Running) => true,
            (Running, AwaitingApproval | Finalizing) => true,
            (AwaitingApproval, Running | Finalizing) => true,
            // A finalize gate (diff size, protected path) may ask a human before the push.
            (Finalizing, AwaitingApproval | Completed) => true,
            (from, Failed | Cancelled | TimedOut) => !from.is_terminal(),
            _ => false,
        }
    }

    /// Checks a transition, naming both ends when it is illegal.
    pub fn transition(self, next: TaskState) -> Result<TaskState, IllegalTransition> {
        if self.can_transition_to(next) {
            Ok(next)
        } else {
            Err(IllegalTransition {
                from: self,
                to: next,
            })
        }
    }

    /// The snake_case name used in JSON, the store and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Queued => "queued",
            TaskState::Preparing => "preparing",
            TaskState::Running => "running",
            TaskState::AwaitingApproval => "awaiting_approval",
            TaskState::Finalizing => "finalizing",
            TaskState::Completed => "completed",
            TaskState::Failed => "failed",
            TaskState::Cancelled => "cancelled",
            TaskState::TimedOut => "timed_out",
        }
    }
}

impl fmt::Display for TaskState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for TaskState {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TaskState::ALL
            .into_iter()
            .find(|state| state.as_str() == s)
            .ok_or_else(|| format!("unknown task state {s:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::TaskState::{self, *};

    #[test]
    fn the_happy_path_is_legal() {
        let path = [
            Queued,
            Preparing,
            Running,
            AwaitingApproval,
            Running,
            Finalizing,
            Completed,
        ];
        for pair in path.windows(2) {
            assert_eq!(pair[0].transition(pair[1]), Ok(pair[1]), "{pair:?}");
        }
    }

    #[test]
    fn exactly_the_documented_transitions_are_legal() {
        let legal: Vec<(TaskState, TaskState)> = TaskState::ALL
            .into_iter()
            .flat_map(|from| TaskState::ALL.into_iter().map(move |to| (from, to)))
            .filter(|(from, to)| from.can_transition_to(*to))
            .collect();
        let expected = vec![
            (Queued, Preparing),
            (Queued, Cancelled),
            (Preparing, Running),
            (Preparing, Failed),
            (Preparing, Cancelled),
            (Preparing, TimedOut),
            (Running, AwaitingApproval),
            (Running, Finalizing),
            (Running, Failed),
            (Running, Cancelled),
            (Running, TimedOut),
            (AwaitingApproval, Running),
            (AwaitingApproval, Finalizing),
            (AwaitingApproval, Failed),
            (AwaitingApproval, Cancelled),
            (AwaitingApproval, TimedOut),
            (Finalizing, AwaitingApproval),
            (Finalizing, Completed),
            (Finalizing, Failed),
            (Finalizing, Cancelled),
            (Finalizing, TimedOut),
        ];
        assert_eq!(legal, expected);
    }

    #[test]
    fn terminal_states_have_no_way_out() {
        for from in TaskState::ALL.into_iter().filter(|s| s.is_terminal()) {
            for to in TaskState::ALL {
                assert!(
                    from.transition(to).is_err(),
                    "{from} → {to} must be illegal"
                );
            }
        }
    }

    #[test]
    fn names_round_trip() {
        for state in TaskState::ALL {
            assert_eq!(state.as_str().parse::<TaskState>(), Ok(state));
            let json = serde_json::to_string(&state).unwrap();
            assert_eq!(json, format!("\"{}\"", state.as_str()));
        }
        assert!("done".parse::<TaskState>().is_err());
    }

    #[test]
    fn illegal_transition_names_both_states() {
        let err = Completed.transition(Running).unwrap_err();
        assert_eq!(
            err.to_string(),
            "illegal task state transition completed → running"
        );
    }
}
