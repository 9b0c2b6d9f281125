//! drydock-policy decides every tool call of the agent before it runs, deterministically and
//! fail-closed (DESIGN.md §2).
//!
//! - [`PolicyEngine`] authorizes each call with Cedar: the shipped rules
//!   (`policy/defaults.toml`), the operator's rule files and the repository's `[policy]`
//!   rules, all validated against `policy/drydock.cedarschema` and self-tested with their
//!   embedded examples when they load. [`PolicyEngine::decide`] never fails: any internal error
//!   is a denial by `policy_error`.
//! - [`shell::analyze`] parses a command line as bash would (tree-sitter-bash) and extracts
//!   every program it may run, its normalised flags, the files it writes, reads or deletes and
//!   the refs it pushes; rules match that, not the raw text.
//! - [`sanitize_untrusted`] strips what a human does not see from issue and comment text.
//! - [`PolicyEngine::finalize_gate`] decides whether a change may be pushed.
//! - [`check_command`] and [`test_rules`] back `drydock policy check` and `drydock policy test`.

mod cedar;
mod cedar_cache;
mod cedar_compile;
mod cedar_guard;
mod cedar_index;
mod cedar_store;
mod config;
mod engine;
mod error;
mod facets;
mod finalize;
pub mod paths;
mod protected;
mod report;
mod rules;
mod sanitize;
pub mod shell;

pub use cedar::SCHEMA;
pub use config::{
    ApprovalChannel, ApprovalConfig, DEFAULT_MAX_DIFF_LINES, DEFAULT_PROTECTED_PATHS,
    NO_APPROVAL_CHANNEL_RULE, PolicyConfig, RepoPolicy, resolve_approval,
};
pub use engine::{
    Evaluation, ExampleOutcome, FacetReport, POLICY_ERROR_RULE, PolicyEngine, RuleSummary,
    action_named,
};
pub use error::PolicyError;
pub use finalize::DIFF_TOO_LARGE_RULE;
pub use report::{CheckReport, RuleTestReport, check_command, check_exit_code, test_rules};
pub use rules::{
    DEFAULT_RULES, Example, ExampleRequest, Layer, RESERVED_RULE_IDS, RuleDef, RuleFile,
    parse_rule_file,
};
pub use sanitize::{Removal, RemovalKind, Sanitized, invisible_kind, sanitize_untrusted};
