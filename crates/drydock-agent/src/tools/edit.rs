//! `edit_file` and `write_file`. Files are replaced through a temporary file and a rename, so a
//! hard link in the workspace never carries an edit to another name, and a failed write leaves the
//! old content intact.

use std::io::Write;
use std::path::Path;

use schemars::JsonSchema;
use serde::Deserialize;

use super::ToolOutput;
use crate::confine::{Access, ConfinedPath, WorkspaceRoot};

/// Largest file `write_file` writes or `edit_file` edits.
const MAX_FILE_BYTES: usize = 4 * 1024 * 1024;
/// Lines of context shown around an edit.
const CONTEXT_LINES: usize = 3;

/// Arguments of `edit_file`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EditFileArgs {
    /// Path relative to the workspace root.
    pub path: String,
    /// The exact text to replace; it must occur exactly once in the file.
    pub old_text: String,
    /// The text to put in its place.
    pub new_text: String,
}

/// Arguments of `write_file`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WriteFileArgs {
    /// Path relative to the workspace root; parent directories are created.
    pub path: String,
    /// The whole content of the file.
    pub content: String,
}

pub(super) fn write_file(root: &WorkspaceRoot, args: &WriteFileArgs) -> ToolOutput {
    let path = match root.resolve(&args.path, Access::Write) {
        Ok(path) if path.rel.as_os_str().is_empty() => {
            return ToolOutput::error("write_file needs a file path, not the workspace root");
        }
        Ok(path) => path,
        Err(err) => return ToolOutput::error(err.to_string()),
    };
    if args.content.len() > MAX_FILE_BYTES {
        return ToolOutput::error(format!(
            "content is {} bytes; write_file takes at most {MAX_FILE_BYTES}. Generate large files with a command instead.",
            args.content.len()
        ));
    }
    let existed = match std::fs::symlink_metadata(&path.abs) {
        Ok(meta) if meta.is_dir() => {
            return ToolOutput::error(format!("{path} is a directory"));
        }
        Ok(_) => true,
        Err(_) => false,
    };
    if let Some(parent) = path.abs.parent()
        && let Err(err) = std::fs::create_dir_all(parent)
    {
        return ToolOutput::error(format!("cannot create the directories of {path}: {err}"));
    }
    // A parent created just now may sit under a symlink made by the sandbox; check again.
    if let Err(err) = root.resolve(&args.path, Access::Write) {
        return ToolOutput::error(err.to_string());
    }
    if let Err(err) = replace_file(&path, args.content.as_bytes()) {
        return ToolOutput::error(format!("cannot write {path}: {err}"));
    }
    let lines = args.content.lines().count();
    ToolOutput::ok(format!(
        "{} {path}: {} bytes, {lines} lines",
        if existed { "replaced" } else { "created" },
        args.content.len()
    ))
}

pub(super) fn edit_file(root: &WorkspaceRoot, args: &EditFileArgs) -> ToolOutput {
    let path = match root.resolve(&args.path, Access::Write) {
        Ok(path) => path,
        Err(err) => return ToolOutput::error(err.to_string()),
    };
    if args.old_text.is_empty() {
        return ToolOutput::error(
            "old_text is empty; give the exact passage to replace, or use write_file to create a file",
        );
    }
    if args.old_text == args.new_text {
        return ToolOutput::error("old_text and new_text are the same; nothing would change");
    }
    let bytes = match std::fs::read(&path.abs) {
        Ok(bytes) => bytes,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            return ToolOutput::error(format!("{path}: no such file; use write_file to create it"));
        }
        Err(err) => return ToolOutput::error(format!("{path}: {err}")),
    };
    if bytes.len() > MAX_FILE_BYTES {
        return ToolOutput::error(format!(
            "{path} is {} bytes; edit_file works on files up to {MAX_FILE_BYTES} bytes",
            bytes.len()
        ));
    }
    let Ok(text) = String::from_utf8(bytes) else {
        return ToolOutput::error(format!(
            "{path} is not UTF-8 text; edit_file only edits text files"
        ));
    };
    let starts: Vec<usize> = text.match_indices(&args.old_text).map(|(i, _)| i).collect();
    match starts.as_slice() {
        [] => ToolOutput::error(explain_no_match(&text, &args.old_text, &path)),
        [start] => {
            let mut edited = String::with_capacity(text.len() + args.new_text.len());
            edited.push_str(&text[..*start]);
            edited.push_str(&args.new_text);
            edited.push_str(&text[start + args.old_text.len()..]);
            if let Err(err) = replace_file(&path, edited.as_bytes()) {
                return ToolOutput::error(format!("cannot write {path}: {err}"));
            }
            let first_line = line_of(&text, *start);
            let new_lines = args.new_text.lines().count().max(1);
            ToolOutput::ok(format!(
                "edited {path}: replaced lines {first_line}-{} with {new_lines} line(s). Now:\n{}",
                first_line + args.old_text.lines().count().max(1) - 1,
                excerpt(&edited, first_line, first_line + new_lines - 1)
            ))
        }
        many => {
            let lines: Vec<String> = many
                .iter()
                .take(10)
                .map(|&i| line_of(&text, i).to_string())
                .collect();
            ToolOutput::error(format!(
                "old_text occurs {} times in {path} (at lines {}); include more surrounding lines so it matches exactly once",
                many.len(),
                lines.join(", ")
            ))
        }
    }
}

/// Why `old_text` didn't match, with the most useful hint we can find.
fn explain_no_match(text: &str, old_text: &str, path: &ConfinedPath) -> String {
    let numbered = old_text.lines().next().is_some_and(|first| {
        first
            .trim_start()
            .split('\t')
            .next()
            .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
            && first.contains('\t')
    });
    if numbered {
        return format!(
            "old_text was not found in {path}; it seems to include line numbers from read_file. Copy the file's text without the numbers and the tab after them."
        );
    }
    let squash = |s: &str| {
        s.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join("\n")
    };
    let wanted = squash(old_text);
    if !wanted.is_empty() {
        let lines: Vec<&str> = text.lines().collect();
        let span = old_text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .count()
            .max(1);
        for start in 0..lines.len() {
            let mut taken = Vec::new();
            let mut end = start;
            while end < lines.len() && taken.len() < span {
                if !lines[end].trim().is_empty() {
                    taken.push(lines[end].trim());
                }
                end += 1;
            }
            if taken.join("\n") == wanted {
                return format!(
                    "old_text was not found exactly in {path}, but lines {}-{end} match it except for whitespace or indentation. Copy them exactly:\n{}",
                    start + 1,
                    excerpt(text, start + 1, end)
                );
            }
        }
    }
    format!(
        "old_text was not found in {path}. The file may differ from what you remember: read it again (read_file) and copy the passage exactly."
    )
}

fn line_of(text: &str, byte: usize) -> usize {
    text[..byte].matches('\n').count() + 1
}

/// Lines `first..=last` (1-based) with `CONTEXT_LINES` around, numbered like read_file.
fn excerpt(text: &str, first: usize, last: usize) -> String {
    let from = first.saturating_sub(CONTEXT_LINES).max(1);
    let to = last + CONTEXT_LINES;
    text.lines()
        .enumerate()
        .map(|(i, line)| (i + 1, line))
        .filter(|(n, _)| *n >= from && *n <= to)
        .map(|(n, line)| format!("{n:>6}\t{line}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Writes `content` to a temporary file beside `path` and renames it into place, keeping the
/// permissions of the file it replaces.
fn replace_file(path: &ConfinedPath, content: &[u8]) -> std::io::Result<()> {
    // A symlink (checked to stay inside the workspace) is written through, not replaced.
    let target = match std::fs::symlink_metadata(&path.abs) {
        Ok(meta) if meta.file_type().is_symlink() => path.abs.canonicalize()?,
        _ => path.abs.clone(),
    };
    let dir = target.parent().unwrap_or(Path::new("."));
    let mut temp = tempfile::Builder::new()
        .prefix(".drydock-write-")
        .tempfile_in(dir)?;
    temp.write_all(content)?;
    temp.as_file().sync_all()?;
    if let Ok(meta) = std::fs::metadata(&target) {
        temp.as_file().set_permissions(meta.permissions())?;
    }
    temp.persist(&target).map_err(|err| err.error)?;
    Ok(())
}
