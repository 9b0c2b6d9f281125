//! `read_file` and `list_dir`.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};

use schemars::JsonSchema;
use serde::Deserialize;

use super::ToolOutput;
use crate::confine::{Access, WorkspaceRoot};

/// Bytes of file text one `read_file` returns at most.
const READ_MAX_BYTES: usize = 64 * 1024;
/// Lines one `read_file` returns at most.
const READ_MAX_LINES: u64 = 2000;
/// Bytes looked at to decide whether a file is binary.
const BINARY_SNIFF_BYTES: usize = 8 * 1024;
/// Entries one `list_dir` returns at most.
const LIST_MAX_ENTRIES: usize = 500;

/// Arguments of `read_file`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadFileArgs {
    /// Path relative to the workspace root.
    pub path: String,
    /// First line to show (1-based, inclusive); default 1.
    #[serde(default)]
    pub start_line: Option<u64>,
    /// Last line to show (inclusive); default: as many as fit.
    #[serde(default)]
    pub end_line: Option<u64>,
}

/// Arguments of `list_dir`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListDirArgs {
    /// Directory relative to the workspace root; default: the root.
    #[serde(default)]
    pub path: Option<String>,
    /// How deep to list (1 to 4); default 1.
    #[serde(default)]
    pub depth: Option<u8>,
}

pub(super) fn read_file(root: &WorkspaceRoot, args: &ReadFileArgs) -> ToolOutput {
    let path = match root.resolve(&args.path, Access::Read) {
        Ok(path) => path,
        Err(err) => return ToolOutput::error(err.to_string()),
    };
    let meta = match std::fs::metadata(&path.abs) {
        Ok(meta) => meta,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            return ToolOutput::error(format!(
                "{path}: no such file; use list_dir or search to find the right path"
            ));
        }
        Err(err) => return ToolOutput::error(format!("{path}: {err}")),
    };
    if meta.is_dir() {
        return ToolOutput::error(format!("{path} is a directory; use list_dir"));
    }
    if !meta.is_file() {
        return ToolOutput::error(format!("{path} is not a regular file"));
    }
    let start = args.start_line.unwrap_or(1).max(1);
    let end = args.end_line.unwrap_or(u64::MAX);
    if end < start {
        return ToolOutput::error(format!("end_line ({end}) is before start_line ({start})"));
    }
    let file = match File::open(&path.abs) {
        Ok(file) => file,
        Err(err) => return ToolOutput::error(format!("{path}: {err}")),
    };
    let mut reader = BufReader::new(file);
    match sniff_binary(&mut reader) {
        Ok(true) => {
            return ToolOutput::error(format!(
                "{path} is a binary file ({} bytes); it is not shown. Inspect it with run_command (e.g. `file`, `xxd | head`) if you must.",
                meta.len()
            ));
        }
        Ok(false) => {}
        Err(err) => return ToolOutput::error(format!("{path}: {err}")),
    }
    match number_lines(reader, start, end) {
        Ok(listing) => ToolOutput::ok(listing.render(&path.display_rel(), start)),
        Err(err) => ToolOutput::error(format!("{path}: {err}")),
    }
}

fn sniff_binary(reader: &mut BufReader<File>) -> std::io::Result<bool> {
    let buffer = reader.fill_buf()?;
    let sniff = &buffer[..buffer.len().min(BINARY_SNIFF_BYTES)];
    Ok(sniff.contains(&0))
}

struct Listing {
    text: String,
    shown_until: u64,
    total_lines: u64,
    cut: bool,
    lossy: bool,
}

impl Listing {
    fn render(self, path: &str, start: u64) -> String {
        let mut out = self.text;
        if self.total_lines == 0 {
            return format!("{path} is empty");
        }
        if start > self.total_lines {
            return format!(
                "{path} has {} lines; start_line {start} is past the end",
                self.total_lines
            );
        }
        if self.lossy {
            out.push_str(
                "[note: the file is not valid UTF-8; invalid bytes are shown as \u{fffd}]\n",
            );
        }
        if self.cut {
            out.push_str(&format!(
                "[shown lines {start}-{} of {}; read on with start_line={}]\n",
                self.shown_until,
                self.total_lines,
                self.shown_until + 1
            ));
        }
        out
    }
}

/// Numbers the lines `start..=end`, within the size caps, and counts the rest.
fn number_lines(mut reader: impl BufRead, start: u64, end: u64) -> std::io::Result<Listing> {
    let mut listing = Listing {
        text: String::new(),
        shown_until: start.saturating_sub(1),
        total_lines: 0,
        cut: false,
        lossy: false,
    };
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        listing.total_lines += 1;
        let number = listing.total_lines;
        if number < start || number > end || listing.cut {
            continue;
        }
        let body = line.strip_suffix(b"\n").unwrap_or(&line);
        let body = body.strip_suffix(b"\r").unwrap_or(body);
        let text = String::from_utf8_lossy(body);
        listing.lossy |= matches!(text, std::borrow::Cow::Owned(_));
        let rendered = format!("{number:>6}\t{text}\n");
        let shown = number - start + 1;
        if listing.text.len() + rendered.len() > READ_MAX_BYTES || shown > READ_MAX_LINES {
            listing.cut = true;
            continue;
        }
        listing.text.push_str(&rendered);
        listing.shown_until = number;
    }
    Ok(listing)
}

pub(super) fn list_dir(root: &WorkspaceRoot, args: &ListDirArgs) -> ToolOutput {
    let dir = match root.resolve(args.path.as_deref().unwrap_or("."), Access::Read) {
        Ok(path) => path,
        Err(err) => return ToolOutput::error(err.to_string()),
    };
    match std::fs::metadata(&dir.abs) {
        Ok(meta) if meta.is_dir() => {}
        Ok(_) => return ToolOutput::error(format!("{dir} is a file; use read_file")),
        Err(err) => return ToolOutput::error(format!("{dir}: {err}")),
    }
    let depth = usize::from(args.depth.unwrap_or(1).clamp(1, 4));
    let walker = ignore::WalkBuilder::new(&dir.abs)
        .hidden(false)
        .git_ignore(true)
        .git_global(false)
        .git_exclude(false)
        .require_git(false)
        .follow_links(false)
        .max_depth(Some(depth))
        .filter_entry(|entry| entry.file_name() != ".git" || entry.depth() == 0)
        .sort_by_file_name(|a, b| a.cmp(b))
        .build();
    let mut lines = Vec::new();
    let mut omitted = 0usize;
    let mut lossy = false;
    for entry in walker.flatten() {
        if entry.depth() == 0 {
            continue;
        }
        if lines.len() >= LIST_MAX_ENTRIES {
            omitted += 1;
            continue;
        }
        let rel = entry.path().strip_prefix(&dir.abs).unwrap_or(entry.path());
        let name = rel.to_string_lossy();
        lossy |= rel.to_str().is_none();
        let indent = "  ".repeat(entry.depth() - 1);
        let file_type = entry.file_type();
        let line = match file_type {
            Some(t) if t.is_dir() => format!("{indent}{name}/"),
            Some(t) if t.is_symlink() => {
                let target = std::fs::read_link(entry.path())
                    .map(|t| t.to_string_lossy().into_owned())
                    .unwrap_or_default();
                format!("{indent}{name} -> {target}")
            }
            _ => {
                let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
                format!("{indent}{name} ({size} bytes)")
            }
        };
        lines.push(line);
    }
    if lines.is_empty() {
        return ToolOutput::ok(format!(
            "{dir} is empty (or everything in it is gitignored)"
        ));
    }
    let mut out = lines.join("\n");
    if omitted > 0 {
        out.push_str(&format!(
            "\n[{omitted} more entries not shown; list a subdirectory or use search]"
        ));
    }
    if lossy {
        out.push_str("\n[note: some names are not valid UTF-8 and are shown approximately]");
    }
    ToolOutput::ok(out)
}

/// Reads at most `limit` bytes of a file, for the repo instruction files.
pub(crate) fn read_capped(path: &std::path::Path, limit: u64) -> std::io::Result<(String, bool)> {
    let file = File::open(path)?;
    let size = file.metadata()?.len();
    let mut bytes = Vec::new();
    file.take(limit).read_to_end(&mut bytes)?;
    Ok((String::from_utf8_lossy(&bytes).into_owned(), size > limit))
}
