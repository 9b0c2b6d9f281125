//! The store: tasks, their append-only hash-chained event log, pull-request records, approvals
//! and a task queue with leases, behind the [`Store`] trait. SQLite is the embedded default.
//!
//! The audit-log scheme (canonical JSON, link hashes, how to verify by hand) is described in
//! `docs/audit-log.md`; [`canonical`] holds the two functions it rests on.

mod api;
pub mod canonical;
mod chain;
mod sqlite;

pub use api::{
    Approval, ApprovalRequest, ChainBreak, ChainReport, Store, StoreError, TaskProgress, TaskQuery,
};
pub use sqlite::SqliteStore;
