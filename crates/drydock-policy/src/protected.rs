//! Protected paths: CI and agent configuration whose change needs a human.

use globset::{GlobBuilder, GlobMatcher, GlobSet, GlobSetBuilder};

use crate::paths::bash_class_negation;

/// Matches workspace-relative paths against the protected-path globs (case-insensitively, since
/// the host's file system may be).
#[derive(Debug, Clone)]
pub struct ProtectedPaths {
    patterns: Vec<String>,
    /// All the globs at once: one match instead of one per glob.
    matchers: GlobSet,
    /// A concrete path each glob matches (`.github/workflows/**` → `.github/workflows/x.yml`),
    /// to test shell patterns against.
    samples: Vec<String>,
}

/// A shell pattern (workspace-relative) as a case-insensitive matcher, `None` if it has parts
/// that cannot be matched (`<found>`).
fn shell_pattern(path: &str) -> Option<GlobMatcher> {
    if path.contains('<') {
        return None;
    }
    GlobBuilder::new(&bash_class_negation(path))
        .literal_separator(true)
        .backslash_escape(true)
        .case_insensitive(true)
        .build()
        .ok()
        .map(|g| g.compile_matcher())
}

impl ProtectedPaths {
    /// Compiles the globs; a bad glob is an error naming it.
    pub fn new(patterns: &[String]) -> Result<Self, (String, String)> {
        let mut matchers = GlobSetBuilder::new();
        let mut samples = Vec::new();
        for pattern in patterns {
            let trimmed = pattern.trim_start_matches("./");
            let glob = GlobBuilder::new(trimmed)
                .literal_separator(true)
                .case_insensitive(true)
                .build()
                .map_err(|e| (pattern.clone(), e.to_string()))?;
            matchers.add(glob);
            let sample = trimmed
                .split('/')
                .filter(|c| *c != "**")
                .map(|c| c.replace(['*', '?'], "x"))
                .collect::<Vec<_>>()
                .join("/");
            let sample = if trimmed.ends_with("/**") {
                format!("{sample}/x.yml")
            } else {
                sample
            };
            samples.push(sample.to_ascii_lowercase());
        }
        let matchers = matchers
            .build()
            .map_err(|e| (patterns.join(", "), e.to_string()))?;
        Ok(Self {
            patterns: patterns.to_vec(),
            matchers,
            samples,
        })
    }

    /// True when the workspace-relative `path` is protected; a `glob` path when it may match a
    /// protected path.
    pub fn is_protected(&self, path: &str, glob: bool) -> bool {
        let path = path.trim_start_matches("./");
        // What a filtered `find` visits is judged by the diff at push time instead.
        if path.contains("<matching>") {
            return false;
        }
        if !glob {
            return self.matchers.is_match(path);
        }
        let Some(pattern) = shell_pattern(path) else {
            return true;
        };
        self.samples.iter().any(|s| pattern.is_match(s))
    }

    /// True when `path` is a directory that holds protected paths (`.github` holds
    /// `.github/workflows/**`, `.` holds everything): deleting it deletes them.
    pub fn holds_protected(&self, path: &str, glob: bool) -> bool {
        let path = path.trim_start_matches("./");
        if path.contains("<matching>") {
            return false;
        }
        if path.is_empty() || path == "." || path.starts_with("<found>") {
            return true;
        }
        let pattern = if glob { shell_pattern(path) } else { None };
        if glob && pattern.is_none() {
            return true;
        }
        let lower = path.trim_end_matches('/').to_ascii_lowercase();
        self.samples.iter().any(|sample| {
            // Every proper ancestor directory of the sample.
            let parts: Vec<&str> = sample.split('/').collect();
            (1..parts.len()).any(|n| {
                let ancestor = parts[..n].join("/");
                match &pattern {
                    Some(p) => p.is_match(&ancestor),
                    None => ancestor == lower,
                }
            })
        })
    }

    /// The globs, as configured.
    pub fn patterns(&self) -> &[String] {
        &self.patterns
    }
}
