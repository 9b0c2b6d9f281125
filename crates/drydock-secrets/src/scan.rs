//! Library side of `drydock scan` (files and directories) and `drydock redact` (stdin to stdout).

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::SecretsError;
use crate::redactor::{FindingKind, Redactor};

/// Read size for files and streams.
const CHUNK: usize = 64 * 1024;
/// A file whose first bytes contain a NUL is treated as binary.
const BINARY_SNIFF: usize = 8 * 1024;

/// A secret found in a file.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct FileFinding {
    /// The file, as walked (relative when the scan root was relative).
    pub path: String,
    /// 1-based line; `None` when a path rule matched the file itself.
    pub line: Option<usize>,
    /// The rule id or known secret name.
    pub rule: String,
    /// Whether `rule` names a known secret or a rule.
    pub kind: FindingKind,
}

/// A file that was not scanned, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SkippedFile {
    /// The file.
    pub path: String,
    /// Why (`binary`, `allowlisted`, an I/O error).
    pub reason: String,
}

/// What `drydock scan` reports.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ScanReport {
    /// Secrets found, by file then line.
    pub findings: Vec<FileFinding>,
    /// Files not scanned.
    pub skipped: Vec<SkippedFile>,
    /// Files scanned.
    pub files_scanned: u64,
    /// Bytes scanned.
    pub bytes_scanned: u64,
}

impl ScanReport {
    /// Whether any secret was found (`drydock scan` then exits 1).
    pub fn found_any(&self) -> bool {
        !self.findings.is_empty()
    }
}

/// What `drydock redact` did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RedactionSummary {
    /// Bytes read.
    pub bytes_in: u64,
    /// Bytes written.
    pub bytes_out: u64,
    /// Redactions per rule id or known secret name.
    pub counts: BTreeMap<String, u64>,
}

impl Redactor {
    /// Scans files and directories (walked recursively, honouring `.gitignore`, `.ignore` and
    /// `.git/info/exclude`; hidden files such as `.env` are included, `.git/` is not). Binary
    /// files are skipped with a note (path rules still apply to them); files under a global
    /// path allowlist are skipped. A path that does not exist is an error.
    pub fn scan_paths(&self, paths: &[PathBuf]) -> Result<ScanReport, SecretsError> {
        let mut report = ScanReport::default();
        let Some((first, rest)) = paths.split_first() else {
            return Ok(report);
        };
        for path in paths {
            if std::fs::symlink_metadata(path).is_err() {
                return Err(SecretsError::io(
                    format!("scanning {}", path.display()),
                    std::io::Error::new(std::io::ErrorKind::NotFound, "no such file or directory"),
                ));
            }
        }
        let mut walker = ignore::WalkBuilder::new(first);
        for path in rest {
            walker.add(path);
        }
        walker
            .hidden(false)
            .parents(true)
            .git_ignore(true)
            .git_global(false)
            .git_exclude(true)
            .require_git(false)
            .filter_entry(|entry| entry.file_name() != ".git");
        for entry in walker.build() {
            let entry = match entry {
                Ok(entry) => entry,
                Err(error) => {
                    report.skipped.push(SkippedFile {
                        path: String::new(),
                        reason: error.to_string(),
                    });
                    continue;
                }
            };
            if entry.file_type().is_some_and(|kind| kind.is_file()) {
                self.scan_one(entry.path(), &mut report);
            }
        }
        report.findings.sort_by(|a, b| {
            a.path
                .cmp(&b.path)
                .then(a.line.cmp(&b.line))
                .then(a.rule.cmp(&b.rule))
        });
        Ok(report)
    }

    fn scan_one(&self, path: &Path, report: &mut ScanReport) {
        let display = path.to_string_lossy().replace('\\', "/");
        if self.path_is_allowlisted(&display) {
            report.skipped.push(SkippedFile {
                path: display,
                reason: "allowlisted".to_string(),
            });
            return;
        }
        for rule in self.path_rules() {
            if rule.path.as_ref().is_some_and(|re| re.is_match(&display)) {
                report.findings.push(FileFinding {
                    path: display.clone(),
                    line: None,
                    rule: rule.id.clone(),
                    kind: FindingKind::Rule,
                });
            }
        }
        match self.scan_file(path, &display) {
            Ok(Some((findings, bytes))) => {
                report.files_scanned += 1;
                report.bytes_scanned += bytes;
                report.findings.extend(findings);
            }
            Ok(None) => report.skipped.push(SkippedFile {
                path: display,
                reason: "binary".to_string(),
            }),
            Err(error) => report.skipped.push(SkippedFile {
                path: display,
                reason: error.to_string(),
            }),
        }
    }

    /// Findings of one file in bounded memory; `None` when it is binary.
    fn scan_file(
        &self,
        path: &Path,
        display: &str,
    ) -> std::io::Result<Option<(Vec<FileFinding>, u64)>> {
        let mut file = std::fs::File::open(path)?;
        let mut stream = self.stream_for_path(Some(display), false);
        let mut chunk = vec![0u8; CHUNK];
        let mut total = 0u64;
        let mut findings = Vec::new();
        loop {
            let read = match file.read(&mut chunk) {
                Ok(0) => break,
                Ok(read) => read,
                Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(error) => return Err(error),
            };
            if total < BINARY_SNIFF as u64 {
                let sniff_end = read.min(BINARY_SNIFF - total as usize);
                if memchr::memchr(0, &chunk[..sniff_end]).is_some() {
                    return Ok(None);
                }
            }
            total += read as u64;
            stream.push_bytes(&chunk[..read]);
            findings.extend(stream.take_findings());
        }
        stream.finish_bytes();
        findings.extend(stream.take_findings());
        let findings = findings
            .into_iter()
            .map(|finding| FileFinding {
                path: display.to_string(),
                line: Some(finding.line),
                rule: finding.rule,
                kind: finding.kind,
            })
            .collect();
        Ok(Some((findings, total)))
    }

    /// Copies `reader` to `writer` with secrets redacted, in bounded memory (what `drydock
    /// redact` does with stdin and stdout). Bytes that are not UTF-8 pass through unchanged.
    pub fn copy_redacted(
        &self,
        mut reader: impl Read,
        mut writer: impl Write,
    ) -> Result<RedactionSummary, SecretsError> {
        let mut stream = self.stream();
        let mut summary = RedactionSummary::default();
        let mut chunk = vec![0u8; CHUNK];
        let write_error = |error| SecretsError::io("writing redacted output", error);
        loop {
            let read = match reader.read(&mut chunk) {
                Ok(0) => break,
                Ok(read) => read,
                Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(error) => return Err(SecretsError::io("reading input", error)),
            };
            summary.bytes_in += read as u64;
            let out = stream.push_bytes(&chunk[..read]);
            writer.write_all(&out).map_err(write_error)?;
            summary.bytes_out += out.len() as u64;
            count(&mut summary, stream.take_findings());
        }
        let out = stream.finish_bytes();
        writer.write_all(&out).map_err(write_error)?;
        writer.flush().map_err(write_error)?;
        summary.bytes_out += out.len() as u64;
        count(&mut summary, stream.take_findings());
        Ok(summary)
    }
}

fn count(summary: &mut RedactionSummary, findings: Vec<crate::Finding>) {
    for finding in findings {
        *summary.counts.entry(finding.rule).or_insert(0) += 1;
    }
}

#[cfg(test)]
#[path = "scan_tests.rs"]
mod tests;
