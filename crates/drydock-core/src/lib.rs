//! Domain types of drydock: tasks and their state machine, the events of the audit log, limits,
//! policy decisions and failure classes. Plain data with serde; no I/O.

mod decision;
mod event;
mod failure;
mod ids;
mod limits;
mod pull_request;
mod state;
mod task;
mod usage;

pub use decision::{Action, ActionRequest, Decision, Principal, RuleHit, Verdict};
pub use event::{BudgetKind, Event, EventKind, LoopAction, NetworkEvent};
pub use failure::{Failure, FailureClass};
pub use ids::{ParseTaskIdError, TaskId};
pub use limits::Limits;
pub use pull_request::{DiffStat, FileChange, PullRequest};
pub use state::{IllegalTransition, TaskState};
pub use task::{
    Author, AuthorAssociation, Issue, IssueSource, RepoRef, Task, TaskKind, TaskSpec, TaskStats,
};
pub use usage::Usage;
