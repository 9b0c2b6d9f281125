use std::path::PathBuf;

/// Why a policy could not be loaded. Every variant names the file (or layer) and, where one is
/// involved, the rule, so a start-up failure points at the line to fix.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// A rule file could not be read.
    #[error("cannot read rule file {path}: {source}")]
    ReadRuleFile {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A rule file is not valid TOML or does not follow the rule-file format.
    #[error("rule file {source_name} is malformed: {message}")]
    MalformedRuleFile {
        /// The file or layer (`shipped defaults`, `repository .drydock.toml`, a path).
        source_name: String,
        /// What the TOML parser reported.
        message: String,
    },
    /// A rule is inconsistent (bad id, decision and effect disagree, missing examples, ...).
    #[error("{source_name}: rule `{rule}`: {problem}")]
    InvalidRule {
        /// The file or layer.
        source_name: String,
        /// The rule id.
        rule: String,
        /// What is wrong.
        problem: String,
    },
    /// A rule's Cedar text does not parse.
    #[error("{source_name}: rule `{rule}`: Cedar syntax error: {message}")]
    CedarSyntax {
        /// The file or layer.
        source_name: String,
        /// The rule id.
        rule: String,
        /// The parser's message.
        message: String,
    },
    /// A rule's Cedar policy does not validate against the drydock schema.
    #[error(
        "{source_name}: rule `{rule}`: does not validate against the drydock schema: {message}"
    )]
    CedarValidation {
        /// The file or layer.
        source_name: String,
        /// The rule id.
        rule: String,
        /// The validator's message.
        message: String,
    },
    /// An embedded example of a rule did not behave as declared.
    #[error(
        "{source_name}: rule `{rule}`: example {example} should {expectation} the rule but {outcome}"
    )]
    ExampleFailed {
        /// The file or layer.
        source_name: String,
        /// The rule id.
        rule: String,
        /// The example, as written.
        example: String,
        /// `match` or `not match`.
        expectation: &'static str,
        /// What happened instead.
        outcome: String,
    },
    /// A named list is invalid, defined twice, or used without being defined.
    #[error("{source_name}: list `{list}`: {problem}")]
    InvalidList {
        /// The file or layer.
        source_name: String,
        /// The list's name.
        list: String,
        /// What is wrong.
        problem: String,
    },
    /// Two rules share an id.
    #[error("rule id `{rule}` is defined twice: in {first} and in {second}")]
    DuplicateRule {
        /// The id.
        rule: String,
        /// Where it was first defined.
        first: String,
        /// Where it was defined again.
        second: String,
    },
    /// An allow rule tries to override a rule it may not loosen.
    #[error("{source_name}: rule `{rule}` may not override `{target}`: {why}")]
    ForbiddenOverride {
        /// The file or layer of the overriding rule.
        source_name: String,
        /// The overriding rule.
        rule: String,
        /// The rule it names.
        target: String,
        /// Why not (hard, unknown, not a restriction).
        why: String,
    },
    /// The Cedar schema (shipped plus declared tools) is invalid.
    #[error("the drydock Cedar schema is invalid: {message}")]
    Schema {
        /// What Cedar reported.
        message: String,
    },
    /// A value in the `[policy]` configuration is invalid.
    #[error("[policy] {field}: {problem}")]
    InvalidConfig {
        /// The key.
        field: String,
        /// What is wrong.
        problem: String,
    },
}
