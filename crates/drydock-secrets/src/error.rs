use std::path::PathBuf;

/// Why a rule set, a redactor or a scan could not be built or run.
///
/// No variant ever carries a secret value: known secrets are named, never shown.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    /// A known secret is too short to redact safely (it would match ordinary text).
    #[error(
        "known secret {name}: value is shorter than {min} characters; refusing to redact it \
         (it would match ordinary text). Use a longer secret or drop it from the secret list"
    )]
    KnownSecretTooShort {
        /// The secret's name.
        name: String,
        /// The minimum length.
        min: usize,
    },
    /// A known secret's name cannot be used in a `[REDACTED:<name>]` marker.
    #[error("known secret name {name:?} is invalid: use 1 to 64 characters from A-Z a-z 0-9 _ . -")]
    InvalidSecretName {
        /// The offending name.
        name: String,
    },
    /// A rule is malformed: bad regex, bad field, unsupported construct.
    #[error("rule {rule:?}{}: {message}", source_suffix(.source_file))]
    InvalidRule {
        /// The rule id (or a position like `rules[3]` when it has none).
        rule: String,
        /// The file it came from, if any.
        source_file: Option<PathBuf>,
        /// What is wrong.
        message: String,
    },
    /// A rule file is not valid TOML or not a gitleaks configuration.
    #[error("rule file {}: {message}", path.display())]
    RuleFile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A configuration value is invalid.
    #[error("[secrets] config: {message}")]
    Config {
        /// What is wrong.
        message: String,
    },
    /// Reading or writing failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done (which file, which stream).
        context: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

fn source_suffix(file: &Option<PathBuf>) -> String {
    file.as_ref()
        .map(|path| format!(" in {}", path.display()))
        .unwrap_or_default()
}

impl SecretsError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        SecretsError::Io {
            context: context.into(),
            source,
        }
    }
}
