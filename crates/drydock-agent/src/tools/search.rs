//! `search`: a regular expression over the workspace, honouring .gitignore (the ripgrep crates).

use grep_regex::RegexMatcherBuilder;
use grep_searcher::sinks::Lossy;
use grep_searcher::{BinaryDetection, SearcherBuilder};
use ignore::overrides::OverrideBuilder;
use schemars::JsonSchema;
use serde::Deserialize;

use super::{ToolOutput, shorten};
use crate::confine::{Access, WorkspaceRoot};

/// Matches returned when the model doesn't say.
const DEFAULT_MAX_RESULTS: u32 = 100;
/// Matches returned at most.
const MAX_RESULTS: u32 = 500;
/// Characters of a matching line shown.
const LINE_CHARS: usize = 300;
/// Files larger than this are skipped (generated or data files).
const MAX_FILE_BYTES: u64 = 8 * 1024 * 1024;

/// Arguments of `search`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchArgs {
    /// Regular expression (Rust regex syntax), matched per line.
    pub pattern: String,
    /// Directory or file to search, relative to the workspace root; default: the root.
    #[serde(default)]
    pub path: Option<String>,
    /// Only files whose path matches this glob, e.g. `*.rs` or `src/**/*.py`.
    #[serde(default)]
    pub glob: Option<String>,
    /// Ignore case.
    #[serde(default)]
    pub case_insensitive: bool,
    /// Matches to return (default 100, at most 500).
    #[serde(default)]
    pub max_results: Option<u32>,
}

pub(super) fn search(root: &WorkspaceRoot, args: &SearchArgs) -> ToolOutput {
    let base = match root.resolve(args.path.as_deref().unwrap_or("."), Access::Read) {
        Ok(path) => path,
        Err(err) => return ToolOutput::error(err.to_string()),
    };
    if !base.abs.exists() {
        return ToolOutput::error(format!("{base}: no such file or directory"));
    }
    let matcher = match RegexMatcherBuilder::new()
        .case_insensitive(args.case_insensitive)
        .build(&args.pattern)
    {
        Ok(matcher) => matcher,
        Err(err) => return ToolOutput::error(format!("invalid regular expression: {err}")),
    };
    let mut walk = ignore::WalkBuilder::new(&base.abs);
    walk.hidden(false)
        .git_ignore(true)
        .git_global(false)
        .git_exclude(false)
        .require_git(false)
        .follow_links(false)
        .max_filesize(Some(MAX_FILE_BYTES))
        .filter_entry(|entry| entry.file_name() != ".git")
        .sort_by_file_name(|a, b| a.cmp(b));
    if let Some(glob) = &args.glob {
        let mut overrides = OverrideBuilder::new(&base.abs);
        if let Err(err) = overrides.add(glob) {
            return ToolOutput::error(format!("invalid glob {glob:?}: {err}"));
        }
        match overrides.build() {
            Ok(built) => {
                walk.overrides(built);
            }
            Err(err) => return ToolOutput::error(format!("invalid glob {glob:?}: {err}")),
        }
    }
    let limit = args
        .max_results
        .unwrap_or(DEFAULT_MAX_RESULTS)
        .clamp(1, MAX_RESULTS) as usize;
    let mut searcher = SearcherBuilder::new()
        .binary_detection(BinaryDetection::quit(0))
        .line_number(true)
        .build();
    let mut hits: Vec<String> = Vec::new();
    let mut more = false;
    for entry in walk.build().flatten() {
        if !entry.file_type().is_some_and(|t| t.is_file()) {
            continue;
        }
        let rel = entry
            .path()
            .strip_prefix(root.path())
            .unwrap_or(entry.path())
            .to_string_lossy()
            .into_owned();
        let result = searcher.search_path(
            &matcher,
            entry.path(),
            Lossy(|line_number, line| {
                if hits.len() >= limit {
                    more = true;
                    return Ok(false);
                }
                let text = shorten(line.trim_end_matches(['\n', '\r']), LINE_CHARS);
                hits.push(format!("{rel}:{line_number}: {text}"));
                Ok(true)
            }),
        );
        // An unreadable file is skipped, as ripgrep does; the search as a whole goes on.
        drop(result);
        if more {
            break;
        }
    }
    if hits.is_empty() {
        return ToolOutput::ok(format!("no matches for /{}/ in {base}", args.pattern));
    }
    let mut out = hits.join("\n");
    if more {
        out.push_str(&format!(
            "\n[stopped at {limit} matches; narrow the pattern, path or glob]"
        ));
    }
    ToolOutput::ok(out)
}
