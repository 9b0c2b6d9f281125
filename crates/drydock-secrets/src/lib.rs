//! Secret redaction for drydock (see DESIGN.md §2 and `docs/secrets.md`).
//!
//! Every tool result, model text, PR title/body and log line goes through a [`Redactor`] before
//! anyone sees it, and the diff of every push goes through [`Redactor::scan_diff`]. A redactor
//! finds:
//!
//! - **known values**: secrets drydock holds ([`KnownSecret`]), verbatim and base64 (standard
//!   and URL-safe, at every byte alignment), percent-, hex- and JSON-encoded;
//! - **format rules**: the built-in rules ([`RuleSet::builtin`]) for common credential formats and
//!   high-entropy `secret = value` assignments, plus a team's gitleaks rule file
//!   ([`RuleSet::from_gitleaks_toml`]).
//!
//! Each secret becomes `[REDACTED:<rule-id>]` (or `[REDACTED:<NAME>]` for a known value) and a
//! [`Finding`] that says which rule matched and where, never what. Output arriving in chunks
//! goes through a [`StreamRedactor`], whose output equals the one-shot redaction.
//!
//! ```
//! use drydock_secrets::{KnownSecret, Redactor, RuleSet};
//!
//! let redactor = Redactor::new(
//!     RuleSet::builtin(),
//!     vec![KnownSecret::new("FORGE_TOKEN", "s3cr3t-forge-token-value")],
//! )?;
//! let out = redactor.redact("auth: czNjcjN0LWZvcmdlLXRva2VuLXZhbHVl (base64)");
//! assert_eq!(out.text, "auth: [REDACTED:FORGE_TOKEN] (base64)");
//! assert_eq!(out.findings[0].rule, "FORGE_TOKEN");
//! # Ok::<(), drydock_secrets::SecretsError>(())
//! ```

mod builtin;
mod config;
mod diff;
mod engine;
mod error;
pub mod fixtures;
mod gitleaks;
mod heuristics;
mod keywords;
mod known;
mod lines;
mod re2;
mod redactor;
mod rule;
mod scan;
mod starts;
mod stream;

pub use builtin::DEFAULT_GENERIC_ENTROPY;
pub use config::{AllowlistConfig, SecretsConfig};
pub use diff::DiffFinding;
pub use error::SecretsError;
pub use heuristics::shannon_entropy;
pub use known::{KnownSecret, MIN_KNOWN_SECRET_LEN};
pub use redactor::{Finding, FindingKind, Redacted, RedactedBytes, Redactor, counts};
pub use rule::{Allowlist, Rule, RuleSet};
pub use scan::{FileFinding, RedactionSummary, ScanReport, SkippedFile};
pub use stream::StreamRedactor;

/// Environment variables that hold secrets drydock itself may use (model provider keys, forge
/// tokens, cloud credentials). `drydock redact` treats the set ones as known secrets.
pub const WELL_KNOWN_SECRET_ENV: &[&str] = &[
    "ANTHROPIC_API_KEY",
    "OPENAI_API_KEY",
    "GITHUB_TOKEN",
    "GH_TOKEN",
    "GITLAB_TOKEN",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
];
