//! Rules (a regex with keywords, a secret group, an entropy floor, allowlists) and rule sets.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use regex::bytes::{Regex, RegexBuilder};
use regex_syntax::hir::{Class, Hir, HirKind};

use crate::SecretsError;
use crate::builtin;
use crate::heuristics::{self, shannon_entropy};
use crate::starts::StartSearch;

/// Compiled rule regexes may not grow past this (a pathological user regex fails to load
/// instead of eating memory).
const REGEX_SIZE_LIMIT: usize = 16 << 20;

/// One detection rule.
#[derive(Debug, Clone)]
pub struct Rule {
    pub(crate) id: String,
    pub(crate) description: String,
    pub(crate) regex: Option<Regex>,
    /// Searched in windows spanning lines (private key blocks).
    pub(crate) multiline: bool,
    /// The regex can match a line feed (then it is searched one line at a time unless
    /// `multiline`).
    pub(crate) crosses_lines: bool,
    /// Where matches can start, when the regex says (see [`crate::starts`]).
    pub(crate) starts: Option<StartSearch>,
    pub(crate) keywords: Vec<Keyword>,
    pub(crate) secret_group: SecretGroup,
    pub(crate) entropy: Option<f64>,
    pub(crate) path: Option<regex::Regex>,
    pub(crate) allowlists: Vec<Allowlist>,
    pub(crate) check: Check,
    pub(crate) placeholder_filter: bool,
    pub(crate) generic: bool,
    pub(crate) source: Option<PathBuf>,
}

/// A literal that must occur near a match before the rule's regex runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Keyword {
    /// The text, lower-cased unless `case_sensitive`.
    pub text: String,
    /// Whether the hit must match case exactly (short upper-case prefixes like `SK`).
    pub case_sensitive: bool,
}

/// Which part of a match is the secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SecretGroup {
    /// The whole match.
    Whole,
    /// This capture group.
    Index(usize),
    /// The first capture group that matched something (gitleaks' default when groups exist).
    FirstNonEmpty,
}

/// Structural checks a built-in rule applies to its candidate secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Check {
    /// None beyond regex and entropy.
    None,
    /// Letters and digits, at least 3 bits per byte.
    Random,
    /// A JWT whose header decodes.
    Jwt,
    /// base64 of `user:password`.
    BasicAuth,
    /// A generic assignment value (see [`heuristics::plausible_generic_value`]); quoted when
    /// the match has a non-empty `q` group.
    GenericValue,
    /// A generic value known to be a literal (XML element text).
    GenericQuotedValue,
    /// The password part of a URL's userinfo.
    UrlPassword,
}

/// What an allowlist regex is matched against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RegexTarget {
    Secret,
    Match,
    Line,
}

/// Findings an allowlist lets through (suppresses), gitleaks-style.
#[derive(Debug, Clone)]
pub struct Allowlist {
    pub(crate) description: String,
    pub(crate) require_all: bool,
    pub(crate) regex_target: RegexTarget,
    pub(crate) regexes: Vec<Regex>,
    pub(crate) stopwords: Vec<String>,
    pub(crate) paths: Vec<regex::Regex>,
    pub(crate) path_globs: Option<globset::GlobSet>,
    pub(crate) has_commits: bool,
    pub(crate) target_rules: Vec<String>,
}

/// What an allowlist looks at for one candidate.
pub(crate) struct Candidate<'a> {
    pub secret: &'a [u8],
    pub whole: &'a [u8],
    pub line: &'a [u8],
    pub path: Option<&'a str>,
}

impl Allowlist {
    /// An allowlist matching secrets by regex (Rust syntax) and paths by glob: the shape of the
    /// `[secrets.allowlist]` config section.
    pub fn from_config(
        description: &str,
        secret_regexes: &[String],
        path_globs: &[String],
        stopwords: &[String],
    ) -> Result<Allowlist, SecretsError> {
        let regexes = secret_regexes
            .iter()
            .map(|pattern| {
                compile(pattern).map_err(|message| SecretsError::Config {
                    message: format!("allowlist regex {pattern:?}: {message}"),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut globs = globset::GlobSetBuilder::new();
        for glob in path_globs {
            let glob = globset::GlobBuilder::new(glob)
                .literal_separator(false)
                .build()
                .map_err(|error| SecretsError::Config {
                    message: format!("allowlist path glob {glob:?}: {error}"),
                })?;
            globs.add(glob);
        }
        let path_globs = if path_globs.is_empty() {
            None
        } else {
            Some(globs.build().map_err(|error| SecretsError::Config {
                message: format!("allowlist path globs: {error}"),
            })?)
        };
        Ok(Allowlist {
            description: description.to_string(),
            require_all: false,
            regex_target: RegexTarget::Secret,
            regexes,
            stopwords: stopwords.iter().map(|w| w.to_lowercase()).collect(),
            paths: Vec::new(),
            path_globs,
            has_commits: false,
            target_rules: Vec::new(),
        })
    }

    /// What the allowlist is for.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// Whether this allowlist applies to findings of `rule_id`.
    pub(crate) fn targets(&self, rule_id: &str) -> bool {
        self.target_rules.is_empty() || self.target_rules.iter().any(|id| id == rule_id)
    }

    /// Whether it applies to every rule.
    pub(crate) fn targets_all_rules(&self) -> bool {
        self.target_rules.is_empty()
    }

    /// Whether a path alone is allowlisted (a whole file can be skipped).
    pub(crate) fn allows_path(&self, path: &str) -> bool {
        if self.require_all {
            // Under AND, the path is only one of the conditions; only a path-only list decides.
            let only_paths =
                self.regexes.is_empty() && self.stopwords.is_empty() && !self.has_commits;
            return only_paths && self.path_matches(Some(path));
        }
        self.path_matches(Some(path))
    }

    fn path_matches(&self, path: Option<&str>) -> bool {
        let Some(path) = path else {
            return false;
        };
        self.paths.iter().any(|re| re.is_match(path))
            || self
                .path_globs
                .as_ref()
                .is_some_and(|globs| globs.is_match(path))
    }

    fn has_paths(&self) -> bool {
        !self.paths.is_empty() || self.path_globs.is_some()
    }

    /// Whether this allowlist suppresses the candidate.
    pub(crate) fn allows(&self, candidate: &Candidate<'_>) -> bool {
        let target = match self.regex_target {
            RegexTarget::Secret => candidate.secret,
            RegexTarget::Match => candidate.whole,
            RegexTarget::Line => candidate.line,
        };
        let regex_hit = || self.regexes.iter().any(|re| re.is_match(target));
        let stopword_hit = || {
            let lower = candidate.secret.to_ascii_lowercase();
            self.stopwords
                .iter()
                .any(|word| memchr::memmem::find(&lower, word.as_bytes()).is_some())
        };
        let path_hit = || self.path_matches(candidate.path);
        if self.require_all {
            // Commits are never known here, so an AND list that names commits never applies.
            if self.has_commits {
                return false;
            }
            let mut any_condition = false;
            if self.has_paths() {
                any_condition = true;
                if !path_hit() {
                    return false;
                }
            }
            if !self.regexes.is_empty() || !self.stopwords.is_empty() {
                any_condition = true;
                let content = (!self.regexes.is_empty() && regex_hit())
                    || (!self.stopwords.is_empty() && stopword_hit());
                if !content {
                    return false;
                }
            }
            any_condition
        } else {
            path_hit() || regex_hit() || stopword_hit()
        }
    }
}

impl Rule {
    /// The rule's id, used in `[REDACTED:<id>]`.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// What it detects.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// The keywords that trigger it (lower-case unless case-sensitive).
    pub fn keywords(&self) -> impl Iterator<Item = &str> {
        self.keywords.iter().map(|k| k.text.as_str())
    }

    /// Whether it is one of drydock's built-in rules.
    pub fn is_builtin(&self) -> bool {
        self.source.is_none()
    }

    /// Whether it only matches file paths (no content regex).
    pub fn is_path_only(&self) -> bool {
        self.regex.is_none()
    }

    /// Whether the rule applies to content at `path` (unknown paths: always).
    pub(crate) fn applies_to(&self, path: Option<&str>) -> bool {
        match (&self.path, path) {
            (Some(re), Some(path)) => re.is_match(path),
            _ => true,
        }
    }

    /// The secret's range inside the match, or `None` when the rule's group did not take part.
    pub(crate) fn secret_range(
        &self,
        captures: &regex::bytes::Captures<'_>,
    ) -> Option<std::ops::Range<usize>> {
        let found = match self.secret_group {
            SecretGroup::Whole => captures.get(0),
            SecretGroup::Index(index) => captures.get(index),
            SecretGroup::FirstNonEmpty => captures
                .iter()
                .skip(1)
                .flatten()
                .find(|m| !m.is_empty())
                .or_else(|| captures.get(0)),
        }?;
        (!found.is_empty()).then(|| found.range())
    }

    /// Entropy, placeholder and structural checks on a candidate (allowlists are separate).
    pub(crate) fn accepts(&self, secret: &[u8], captures: &regex::bytes::Captures<'_>) -> bool {
        if let Some(min) = self.entropy
            && !self.generic
            && shannon_entropy(secret) < min
        {
            return false;
        }
        if self.placeholder_filter && heuristics::is_placeholder(secret) {
            return false;
        }
        match self.check {
            Check::None => true,
            Check::Random => heuristics::looks_random(secret),
            Check::Jwt => heuristics::is_jwt(secret),
            Check::BasicAuth => heuristics::is_basic_auth_pair(secret),
            Check::GenericValue => {
                let quoted = captures.name("q").is_some_and(|q| !q.is_empty());
                heuristics::plausible_generic_value(secret, quoted, self.entropy.unwrap_or(0.0))
            }
            Check::GenericQuotedValue => {
                heuristics::plausible_generic_value(secret, true, self.entropy.unwrap_or(0.0))
            }
            Check::UrlPassword => {
                let user = captures
                    .name("user")
                    .map(|m| m.as_bytes())
                    .unwrap_or_default();
                heuristics::plausible_url_password(user, secret)
            }
        }
    }
}

/// A set of rules and the allowlists that apply across them.
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    pub(crate) rules: Vec<Rule>,
    pub(crate) allowlists: Vec<Allowlist>,
}

impl RuleSet {
    /// No rules (known values only).
    pub fn empty() -> RuleSet {
        RuleSet::default()
    }

    /// drydock's built-in rules (see `docs/secrets.md` for the list).
    pub fn builtin() -> RuleSet {
        static BUILTIN: OnceLock<RuleSet> = OnceLock::new();
        BUILTIN.get_or_init(builtin::rule_set).clone()
    }

    /// Loads a gitleaks-format TOML rule file; `path` names it in errors and anchors `[extend]
    /// path`.
    pub fn from_gitleaks_toml(text: &str, path: &Path) -> Result<RuleSet, SecretsError> {
        crate::gitleaks::parse(text, path, 0)
    }

    /// Reads and loads a gitleaks-format TOML rule file.
    pub fn load_gitleaks_file(path: &Path) -> Result<RuleSet, SecretsError> {
        crate::gitleaks::load(path, 0)
    }

    /// This set plus `other`: a rule of `other` replaces the rule with the same id here (in
    /// place, keeping its priority); allowlists add up.
    pub fn merge(mut self, other: RuleSet) -> RuleSet {
        for rule in other.rules {
            match self
                .rules
                .iter_mut()
                .find(|existing| existing.id == rule.id)
            {
                Some(existing) => *existing = rule,
                None => self.rules.push(rule),
            }
        }
        self.allowlists.extend(other.allowlists);
        self
    }

    /// This set without the named rules; an unknown id is an error (a typo would otherwise
    /// silently keep the rule).
    pub fn without(mut self, ids: &[String]) -> Result<RuleSet, SecretsError> {
        for id in ids {
            if !self.rules.iter().any(|rule| &rule.id == id) {
                return Err(SecretsError::Config {
                    message: format!("cannot disable rule {id:?}: no such rule"),
                });
            }
        }
        self.rules.retain(|rule| !ids.contains(&rule.id));
        Ok(self)
    }

    /// Sets the minimum entropy (bits per byte) of the generic assignment rules' values.
    pub fn with_generic_entropy(mut self, bits: f64) -> RuleSet {
        for rule in self.rules.iter_mut().filter(|rule| rule.generic) {
            rule.entropy = Some(bits);
        }
        self
    }

    /// Adds an allowlist that applies to every rule.
    pub fn with_allowlist(mut self, allowlist: Allowlist) -> RuleSet {
        self.allowlists.push(allowlist);
        self
    }

    /// The rules, in priority order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Number of rules.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Whether there are no rules.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Whether a path is allowlisted as a whole by a global allowlist that targets every rule.
    pub fn path_is_allowlisted(&self, path: &str) -> bool {
        self.allowlists
            .iter()
            .any(|list| list.targets_all_rules() && list.allows_path(path))
    }
}

/// Compiles a rule regex the way every rule is matched: bytes, `^`/`$` at line boundaries
/// (also before `\r\n`).
pub(crate) fn compile(pattern: &str) -> Result<Regex, String> {
    RegexBuilder::new(pattern)
        .multi_line(true)
        .crlf(true)
        .size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|error| error.to_string())
}

/// The start search of a rule regex compiled from `pattern`; only for regexes that stay on one
/// line (those are searched line by line, which anchored attempts reproduce).
pub(crate) fn start_search(pattern: &str, crosses_lines: bool) -> Option<StartSearch> {
    if crosses_lines {
        return None;
    }
    StartSearch::new(pattern)
}

/// Whether a (Rust-syntax) regex can match a string containing a line feed.
pub(crate) fn can_match_newline(pattern: &str) -> Result<bool, String> {
    let hir = regex_syntax::ParserBuilder::new()
        .multi_line(true)
        .crlf(true)
        .utf8(false)
        .build()
        .parse(pattern)
        .map_err(|error| error.to_string())?;
    Ok(hir_matches_newline(&hir))
}

/// Whether a rule's author meant it to span lines: the pattern names a line feed (`\n`, a
/// literal one), turns on `(?s)`, or uses an everything class like `[\s\S]`. Classes that only
/// happen to include a line feed (`\s`, `[^"]`) do not count: such rules are matched within a
/// line, as their authors almost always intend.
pub(crate) fn explicitly_multiline(pattern: &str) -> bool {
    if pattern.contains("\\n") || pattern.contains('\n') {
        return true;
    }
    let everything = ["\\s\\S", "\\S\\s", "\\w\\W", "\\W\\w", "\\d\\D", "\\D\\d"];
    if everything.iter().any(|class| pattern.contains(class)) {
        return true;
    }
    // `(?s)`, `(?is)`, `(?s:...)`, but not `(?-s)`.
    pattern.match_indices("(?").any(|(at, _)| {
        let flags: String = pattern[at + 2..]
            .chars()
            .take_while(|c| c.is_ascii_alphabetic() || *c == '-')
            .collect();
        let enabled = flags.split('-').next().unwrap_or_default();
        enabled.contains('s')
    })
}

fn hir_matches_newline(hir: &Hir) -> bool {
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => false,
        HirKind::Literal(literal) => literal.0.contains(&b'\n'),
        HirKind::Class(Class::Unicode(class)) => class
            .ranges()
            .iter()
            .any(|range| range.start() <= '\n' && '\n' <= range.end()),
        HirKind::Class(Class::Bytes(class)) => class
            .ranges()
            .iter()
            .any(|range| range.start() <= b'\n' && b'\n' <= range.end()),
        HirKind::Repetition(repetition) => {
            repetition.max != Some(0) && hir_matches_newline(&repetition.sub)
        }
        HirKind::Capture(capture) => hir_matches_newline(&capture.sub),
        HirKind::Concat(parts) | HirKind::Alternation(parts) => {
            parts.iter().any(hir_matches_newline)
        }
    }
}

#[cfg(test)]
#[path = "rule_tests.rs"]
mod tests;
