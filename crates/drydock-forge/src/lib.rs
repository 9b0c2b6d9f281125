//! Git and forges for drydock: a git CLI wrapper that runs with a clean environment and no
//! hooks, the user's local repository, the task workspace (a hard-linked clone on a new branch:
//! diff, commit, push back), test command detection, and the [`Forge`] trait.

mod detect;
mod diff;
mod error;
mod forge;
mod git;
mod repo;
mod status;
mod workspace;

pub use detect::{MAX_MANIFEST_BYTES, detect_test_command};
pub use error::{ForgeError, GitError};
pub use forge::{Forge, LocalForge, Published};
pub use git::{DEFAULT_TIMEOUT, Git, GitCommand, GitOutput, Identity};
pub use repo::{LocalRepo, MAX_READ_BYTES};
pub use status::{Change, StatusEntry};
pub use workspace::{Pushed, Workspace};
