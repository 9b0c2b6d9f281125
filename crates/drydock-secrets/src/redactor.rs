//! The redactor: known values and rules over text, bytes and streams.

use std::collections::BTreeMap;
use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::engine::{Analysis, Matcher, Plan, Scratch, Segment, Span, merge};
use crate::known::{validated_value, variants};
use crate::rule::{Rule, RuleSet};
use crate::stream::{Driver, Step, StreamRedactor};
use crate::{KnownSecret, SecretsError};

/// Where a finding's label comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// A secret drydock holds (the label is its name).
    KnownValue,
    /// A format rule (the label is the rule id).
    Rule,
}

/// One redacted secret. Never holds the secret itself.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct Finding {
    /// The rule id or the known secret's name (as in `[REDACTED:<rule>]`).
    pub rule: String,
    /// Whether `rule` names a known secret or a rule.
    pub kind: FindingKind,
    /// Byte offset of the secret in the input.
    pub start: usize,
    /// Byte offset just past the secret in the input.
    pub end: usize,
    /// 1-based line of `start` in the input.
    pub line: usize,
}

/// Text with its secrets replaced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redacted {
    /// The text, each secret replaced by `[REDACTED:<rule>]`.
    pub text: String,
    /// What was replaced, in input order (offsets into the input).
    pub findings: Vec<Finding>,
}

/// Bytes with their secrets replaced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedactedBytes {
    /// The bytes, each secret replaced by `[REDACTED:<rule>]`; other bytes untouched.
    pub bytes: Vec<u8>,
    /// What was replaced, in input order (offsets into the input).
    pub findings: Vec<Finding>,
}

impl Redacted {
    /// Whether anything was redacted.
    pub fn is_clean(&self) -> bool {
        self.findings.is_empty()
    }

    /// How many times each rule matched (what a `Redaction` audit event records).
    pub fn counts(&self) -> BTreeMap<&str, u32> {
        counts(&self.findings)
    }
}

/// How many findings each rule has.
pub fn counts(findings: &[Finding]) -> BTreeMap<&str, u32> {
    let mut counts = BTreeMap::new();
    for finding in findings {
        *counts.entry(finding.rule.as_str()).or_insert(0u32) += 1;
    }
    counts
}

/// Finds and replaces secrets: known values in every encoding, and rule matches.
///
/// Build it once per task and share it (`&Redactor` is `Sync`); building compiles automata.
/// `Debug` shows counts only.
pub struct Redactor {
    matcher: Matcher,
    labels: Vec<String>,
    path_rules: Vec<Rule>,
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Redactor")
            .field("known_secrets", &self.matcher.known_count())
            .field("rules", &self.matcher.rules().len())
            .finish_non_exhaustive()
    }
}

impl Redactor {
    /// A redactor for these rules and known secrets. Fails when a known secret is shorter than
    /// [`crate::MIN_KNOWN_SECRET_LEN`] or badly named.
    pub fn new(rules: RuleSet, known: Vec<KnownSecret>) -> Result<Redactor, SecretsError> {
        let mut labels = Vec::with_capacity(known.len() + rules.len());
        let mut forms = Vec::with_capacity(known.len());
        for secret in &known {
            let value = validated_value(secret)?;
            labels.push(secret.name.clone());
            forms.push(variants(value));
        }
        let (path_rules, content_rules): (Vec<Rule>, Vec<Rule>) =
            rules.rules.into_iter().partition(Rule::is_path_only);
        let rules = RuleSet {
            rules: content_rules,
            allowlists: rules.allowlists,
        };
        let matcher = Matcher::new(rules, forms)?;
        labels.extend(matcher.rules().iter().map(|rule| rule.id.clone()));
        Ok(Redactor {
            matcher,
            labels,
            path_rules,
        })
    }

    /// Redacts `text` in one go.
    pub fn redact(&self, text: &str) -> Redacted {
        let (bytes, findings) = self.redact_slice(text.as_bytes(), None, true);
        Redacted {
            text: into_string(bytes),
            findings,
        }
    }

    /// Redacts bytes that need not be UTF-8: matching is byte-level (rules match UTF-8 text
    /// inside; invalid bytes never match a letter class and are copied through unchanged).
    pub fn redact_bytes(&self, bytes: &[u8]) -> RedactedBytes {
        let (bytes, findings) = self.redact_slice(bytes, None, true);
        RedactedBytes { bytes, findings }
    }

    /// The secrets in `bytes` without building the redacted copy; `path` enables path-scoped
    /// rules and allowlists.
    pub fn find(&self, bytes: &[u8], path: Option<&str>) -> Vec<Finding> {
        self.redact_slice(bytes, path, false).1
    }

    /// A streaming redactor for output that arrives in chunks; its output is exactly
    /// [`Redactor::redact`] of the concatenated input.
    pub fn stream(&self) -> StreamRedactor<'_> {
        StreamRedactor::new(self, None, true)
    }

    /// The rules in force, in priority order.
    pub fn rules(&self) -> &[Rule] {
        self.matcher.rules()
    }

    /// Names of the known secrets.
    pub fn known_names(&self) -> impl Iterator<Item = &str> {
        self.labels[..self.matcher.known_count() as usize]
            .iter()
            .map(String::as_str)
    }

    /// Rules that match file paths only (no content regex).
    pub(crate) fn path_rules(&self) -> &[Rule] {
        &self.path_rules
    }

    /// Whether a global allowlist excludes this whole path (lock files and the like).
    pub fn path_is_allowlisted(&self, path: &str) -> bool {
        self.matcher.path_is_allowlisted(path)
    }

    /// A streaming redactor for content at `path` (path-scoped rules and allowlists apply);
    /// with `output` false it only collects findings.
    pub fn stream_for_path(&self, path: Option<&str>, output: bool) -> StreamRedactor<'_> {
        StreamRedactor::new(self, path.map(str::to_string), output)
    }

    pub(crate) fn matcher(&self) -> &Matcher {
        &self.matcher
    }

    /// Redacts a whole input segment by segment (the streaming driver over a slice: the same
    /// result as one big segment, but cache-friendly).
    fn redact_slice(
        &self,
        bytes: &[u8],
        path: Option<&str>,
        output: bool,
    ) -> (Vec<u8>, Vec<Finding>) {
        let mut driver = Driver::new(path.map(str::to_string));
        let mut out = Vec::with_capacity(if output { bytes.len() + 64 } else { 0 });
        let mut at = 0;
        while at < bytes.len() {
            match driver.step(self, &bytes[at..], true, output.then_some(&mut out)) {
                Step::Consumed(cut) => at += cut,
                // At the end of input a step always completes; stay safe anyway.
                Step::Done | Step::NeedMore { .. } => {
                    let (rest, findings) = self.redact_whole(&bytes[at..], path, output);
                    out.extend(rest);
                    let offset = driver.progress.base;
                    driver
                        .progress
                        .findings
                        .extend(findings.into_iter().map(|mut finding| {
                            finding.start += offset;
                            finding.end += offset;
                            finding
                        }));
                    break;
                }
            }
        }
        driver.progress.close();
        (out, driver.progress.findings)
    }

    /// Redacts `bytes` as a single segment: the reference the segmented paths must equal.
    pub(crate) fn redact_whole(
        &self,
        bytes: &[u8],
        path: Option<&str>,
        output: bool,
    ) -> (Vec<u8>, Vec<Finding>) {
        let segment = Segment {
            view: bytes,
            cut: bytes.len(),
            eof: true,
            known_from: 0,
            path,
        };
        let analysis = match self.matcher.analyze(&segment, &mut Scratch::default()) {
            Plan::Ready(analysis) => analysis,
            Plan::NeedMore(_) => Analysis {
                spans: Vec::new(),
                deferred: Vec::new(),
                known_resume: bytes.len(),
            },
        };
        let mut progress = Progress::default();
        let mut out = Vec::with_capacity(if output { bytes.len() } else { 0 });
        progress.emit(
            self,
            bytes,
            bytes.len(),
            analysis.spans,
            output.then_some(&mut out),
        );
        progress.close();
        (out, progress.findings)
    }

    fn label(&self, label: u32) -> &str {
        self.labels
            .get(label as usize)
            .map_or("unknown", String::as_str)
    }

    fn kind(&self, label: u32) -> FindingKind {
        if label < self.matcher.known_count() {
            FindingKind::KnownValue
        } else {
            FindingKind::Rule
        }
    }
}

/// A redacted span that runs past the end of the segment that found it.
#[derive(Debug)]
struct Carry {
    finding: Finding,
}

/// Position and pending state of a redaction across segments.
#[derive(Debug, Default)]
pub(crate) struct Progress {
    /// Absolute offset of the current segment's first byte.
    pub base: usize,
    /// Newlines before `base`.
    pub newlines: usize,
    carry: Option<Carry>,
    /// Finished findings.
    pub findings: Vec<Finding>,
}

impl Progress {
    /// Writes `view[..cut]` redacted by `spans` (raw, relative to `base`) to `out`, records
    /// findings, and moves `base` to the cut.
    pub fn emit(
        &mut self,
        redactor: &Redactor,
        view: &[u8],
        cut: usize,
        spans: Vec<Span>,
        mut out: Option<&mut Vec<u8>>,
    ) {
        let merged = merge(spans);
        let mut spans = merged.into_iter().peekable();
        let mut pos = 0;
        let mut counted = (0usize, self.newlines);
        if let Some(mut carry) = self.carry.take() {
            let mut end = carry.finding.end - self.base;
            while let Some(span) = spans.next_if(|span| span.start < end) {
                end = end.max(span.end);
            }
            carry.finding.end = self.base + end;
            if end > cut {
                self.carry = Some(carry);
                pos = cut;
            } else {
                self.findings.push(carry.finding);
                pos = end;
            }
        }
        for span in spans {
            if span.start >= cut || span.start < pos {
                continue;
            }
            if let Some(out) = out.as_deref_mut() {
                out.extend_from_slice(&view[pos..span.start]);
                out.extend_from_slice(b"[REDACTED:");
                out.extend_from_slice(redactor.label(span.label).as_bytes());
                out.push(b']');
            }
            counted.1 += memchr::memchr_iter(b'\n', &view[counted.0..span.start]).count();
            counted.0 = span.start;
            let finding = Finding {
                rule: redactor.label(span.label).to_string(),
                kind: redactor.kind(span.label),
                start: self.base + span.start,
                end: self.base + span.end,
                line: counted.1 + 1,
            };
            if span.end > cut {
                self.carry = Some(Carry { finding });
                pos = cut;
                break;
            }
            self.findings.push(finding);
            pos = span.end;
        }
        if let Some(out) = out
            && pos < cut
        {
            out.extend_from_slice(&view[pos..cut]);
        }
        counted.1 += memchr::memchr_iter(b'\n', &view[counted.0..cut]).count();
        self.newlines = counted.1;
        self.base += cut;
    }

    /// Finishes a span still open at the end of input.
    pub fn close(&mut self) {
        if let Some(carry) = self.carry.take() {
            self.findings.push(carry.finding);
        }
    }
}

/// UTF-8 output of UTF-8 input stays UTF-8 (spans and cuts fall on character boundaries); a
/// user regex that splits a character is repaired rather than trusted.
pub(crate) fn into_string(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes)
        .unwrap_or_else(|error| String::from_utf8_lossy(error.as_bytes()).into_owned())
}

#[cfg(test)]
#[path = "redactor_tests.rs"]
mod tests;
