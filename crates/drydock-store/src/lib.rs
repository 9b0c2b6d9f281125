//! The store: tasks, their append-only hash-chained event log, pull-request records, approvals
//! and a task queue with leases, behind the [`Store`] trait. SQLite is the embedded default.

mod api;

pub use api::{
    Approval, ApprovalRequest, ChainBreak, ChainReport, Store, StoreError, TaskProgress, TaskQuery,
};
