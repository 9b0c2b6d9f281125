//! The pre-push scan: secrets on the added lines of a unified diff.

use std::borrow::Cow;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::redactor::{FindingKind, Redactor};

/// A secret on an added line of a diff.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct DiffFinding {
    /// Path of the file in the new tree.
    pub path: String,
    /// 1-based line in the new file; `None` when a path rule matched the file itself.
    pub line: Option<usize>,
    /// The rule id or known secret name.
    pub rule: String,
    /// Whether `rule` names a known secret or a rule.
    pub kind: FindingKind,
}

/// Added lines of one file.
#[derive(Debug, Default)]
struct FileAdditions {
    path: String,
    text: Vec<u8>,
    /// New-file line number of each line of `text`.
    lines: Vec<usize>,
    binary: bool,
}

impl Redactor {
    /// Scans a unified diff (as `git diff A..B` prints it: `diff --git` headers, `a/` and `b/`
    /// prefixes) and reports secrets on **added** lines only, with the file's path and the
    /// line number in the new file. Removed and context lines never count. Binary files are
    /// checked against path rules only.
    pub fn scan_diff(&self, diff: &str) -> Vec<DiffFinding> {
        self.scan_diff_bytes(diff.as_bytes())
    }

    /// [`Redactor::scan_diff`] for a diff that need not be UTF-8.
    pub fn scan_diff_bytes(&self, diff: &[u8]) -> Vec<DiffFinding> {
        let mut findings = Vec::new();
        for file in parse(diff) {
            for rule in self.path_rules() {
                if rule.path.as_ref().is_some_and(|re| re.is_match(&file.path)) {
                    findings.push(DiffFinding {
                        path: file.path.clone(),
                        line: None,
                        rule: rule.id.clone(),
                        kind: FindingKind::Rule,
                    });
                }
            }
            if file.text.is_empty() {
                continue;
            }
            for finding in self.find(&file.text, Some(&file.path)) {
                let line = file.lines.get(finding.line - 1).copied();
                findings.push(DiffFinding {
                    path: file.path.clone(),
                    line,
                    rule: finding.rule,
                    kind: finding.kind,
                });
            }
        }
        findings
    }
}

/// Splits a diff into per-file additions.
fn parse(diff: &[u8]) -> Vec<FileAdditions> {
    let mut files: Vec<FileAdditions> = Vec::new();
    let mut current: Option<FileAdditions> = None;
    let mut old_left = 0usize;
    let mut new_left = 0usize;
    let mut new_line = 0usize;
    let mut pending_binary_path: Option<String> = None;

    let finish = |current: &mut Option<FileAdditions>, files: &mut Vec<FileAdditions>| {
        if let Some(file) = current.take()
            && (!file.text.is_empty() || file.binary || !file.path.is_empty())
        {
            files.push(file);
        }
    };

    for raw in diff.split(|&b| b == b'\n') {
        if old_left > 0 || new_left > 0 {
            match raw.first() {
                Some(b'+') => {
                    if let Some(file) = current.as_mut() {
                        if !file.text.is_empty() {
                            file.text.push(b'\n');
                        }
                        file.text.extend_from_slice(&raw[1..]);
                        file.lines.push(new_line);
                    }
                    new_line += 1;
                    new_left = new_left.saturating_sub(1);
                    continue;
                }
                Some(b'-') => {
                    old_left = old_left.saturating_sub(1);
                    continue;
                }
                Some(b' ') | None => {
                    old_left = old_left.saturating_sub(1);
                    new_left = new_left.saturating_sub(1);
                    new_line += 1;
                    continue;
                }
                Some(b'\\') => continue,
                // Anything else ends the hunk early (a truncated or hand-edited diff).
                _ => {
                    old_left = 0;
                    new_left = 0;
                }
            }
        }
        if raw.first() == Some(&b'\\') {
            continue;
        }
        if raw.starts_with(b"diff --git ") || raw.starts_with(b"diff --cc ") {
            finish(&mut current, &mut files);
            pending_binary_path = git_header_new_path(&raw[11..]);
            current = Some(FileAdditions::default());
        } else if let Some(rest) = raw.strip_prefix(b"+++ ") {
            let path = parse_path(rest);
            match current.as_mut() {
                Some(file) if file.text.is_empty() && file.path.is_empty() => {
                    file.path = path.unwrap_or_default();
                }
                _ => {
                    // A plain `diff -u` without `diff --git` headers.
                    finish(&mut current, &mut files);
                    current = Some(FileAdditions {
                        path: path.unwrap_or_default(),
                        ..FileAdditions::default()
                    });
                }
            }
        } else if raw.starts_with(b"@@ ") {
            if let Some((old, new, start)) = parse_hunk_header(raw) {
                old_left = old;
                new_left = new;
                new_line = start;
            }
        } else if raw.starts_with(b"Binary files ") || raw.starts_with(b"GIT binary patch") {
            if let Some(file) = current.as_mut() {
                file.binary = true;
                if file.path.is_empty() {
                    file.path = binary_line_path(raw)
                        .or_else(|| pending_binary_path.clone())
                        .unwrap_or_default();
                }
            }
        } else if raw.starts_with(b"deleted file mode") {
            if let Some(file) = current.as_mut() {
                // Nothing of a deleted file reaches the remote.
                file.path.clear();
                file.binary = false;
            }
            pending_binary_path = None;
        }
    }
    finish(&mut current, &mut files);
    files.retain(|file| !file.path.is_empty());
    files
}

/// `@@ -a,b +c,d @@` → (b, d, c); a missing count means 1.
fn parse_hunk_header(line: &[u8]) -> Option<(usize, usize, usize)> {
    let text = std::str::from_utf8(line).ok()?;
    let mut parts = text.split(' ');
    parts.next()?;
    let old = parts.next()?.strip_prefix('-')?;
    let new = parts.next()?.strip_prefix('+')?;
    let range = |spec: &str| -> Option<(usize, usize)> {
        match spec.split_once(',') {
            Some((start, count)) => Some((start.parse().ok()?, count.parse().ok()?)),
            None => Some((spec.parse().ok()?, 1)),
        }
    };
    let (_, old_count) = range(old)?;
    let (new_start, new_count) = range(new)?;
    Some((old_count, new_count, new_start))
}

/// The path of a `+++` line; `None` for `/dev/null` (a deletion).
fn parse_path(rest: &[u8]) -> Option<String> {
    let path = if rest.first() == Some(&b'"') {
        unquote(rest)?
    } else {
        // `diff -u` appends a tab and a timestamp.
        let end = memchr::memchr(b'\t', rest).unwrap_or(rest.len());
        Cow::Borrowed(&rest[..end])
    };
    let path = String::from_utf8_lossy(&path)
        .trim_end_matches('\r')
        .to_string();
    if path == "/dev/null" {
        return None;
    }
    Some(strip_prefix(&path).to_string())
}

fn strip_prefix(path: &str) -> &str {
    ["b/", "w/", "i/", "c/", "o/"]
        .iter()
        .find_map(|prefix| path.strip_prefix(prefix))
        .unwrap_or(path)
}

/// The new path from `diff --git a/x b/x` when both sides are the same (the only case where the
/// split is unambiguous without quoting).
fn git_header_new_path(rest: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(rest);
    if let Some(quoted) = text.strip_prefix('"') {
        let close = quoted.find("\" ")? + 1;
        let second = text[close + 2..].as_bytes();
        return parse_path(second);
    }
    let half = text.len().checked_sub(1)? / 2;
    let (a, b) = (text.get(..half)?, text.get(half + 1..)?);
    (a.get(2..) == b.get(2..)).then(|| strip_prefix(b).to_string())
}

/// `Binary files a/x and b/y differ` → `y`.
fn binary_line_path(line: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(line);
    let rest = text
        .strip_prefix("Binary files ")?
        .strip_suffix(" differ")?;
    let (_, new) = rest.rsplit_once(" and ")?;
    parse_path(new.as_bytes())
}

/// Undoes git's C-style quoting of a path (`"a\tb\303\244"`).
fn unquote(quoted: &[u8]) -> Option<Cow<'_, [u8]>> {
    let inner = quoted.strip_prefix(b"\"")?;
    let mut out = Vec::with_capacity(inner.len());
    let mut i = 0;
    while i < inner.len() {
        match inner[i] {
            b'"' => return Some(Cow::Owned(out)),
            b'\\' => {
                let escaped = *inner.get(i + 1)?;
                i += 2;
                match escaped {
                    b'n' => out.push(b'\n'),
                    b't' => out.push(b'\t'),
                    b'r' => out.push(b'\r'),
                    b'a' => out.push(0x07),
                    b'b' => out.push(0x08),
                    b'f' => out.push(0x0C),
                    b'v' => out.push(0x0B),
                    b'0'..=b'7' => {
                        let digits = inner.get(i - 1..i + 2)?;
                        let text = std::str::from_utf8(digits).ok()?;
                        out.push(u8::from_str_radix(text, 8).ok()?);
                        i += 2;
                    }
                    other => out.push(other),
                }
            }
            byte => {
                out.push(byte);
                i += 1;
            }
        }
    }
    None
}

#[cfg(test)]
#[path = "diff_tests.rs"]
mod tests;
