//! Guessing a repository's test command from the files at its root.
//!
//! The repository is untrusted: only regular files are read (a symlink to `/dev/zero` or a FIFO
//! named `package.json` must not hang or flood the host), and at most [`MAX_MANIFEST_BYTES`].

use std::io::Read;
use std::path::Path;

/// The largest manifest read while detecting.
pub const MAX_MANIFEST_BYTES: u64 = 1024 * 1024;

/// npm's placeholder `scripts.test`, written by `npm init`.
const NPM_PLACEHOLDER: &str = "no test specified";

/// The test command of the project in `dir`, by the first ecosystem found, in this order:
/// Cargo (`Cargo.toml` → `cargo test`), Python (`pyproject.toml`, `pytest.ini`, `setup.cfg`,
/// `tox.ini`, or a `tests`/`test` directory with a `test_*.py` → `python3 -m pytest -q`), npm
/// (`package.json` with a real `scripts.test` → `npm test`), Go (`go.mod` → `go test ./...`).
///
/// A `[test] command` in the repository's `.drydock.toml` takes precedence; the orchestrator
/// applies it before calling this.
pub fn detect_test_command(dir: &Path) -> Option<String> {
    if is_regular_file(&dir.join("Cargo.toml")) {
        return Some("cargo test".into());
    }
    if is_python_project(dir) {
        return Some("python3 -m pytest -q".into());
    }
    if has_npm_test_script(dir) {
        return Some("npm test".into());
    }
    if is_regular_file(&dir.join("go.mod")) {
        return Some("go test ./...".into());
    }
    None
}

fn is_python_project(dir: &Path) -> bool {
    let marker = ["pyproject.toml", "pytest.ini", "setup.cfg", "tox.ini"]
        .iter()
        .any(|name| is_regular_file(&dir.join(name)));
    marker
        || ["tests", "test"]
            .iter()
            .any(|name| has_pytest_file(&dir.join(name)))
}

fn has_pytest_file(tests_dir: &Path) -> bool {
    let Ok(meta) = std::fs::symlink_metadata(tests_dir) else {
        return false;
    };
    if !meta.is_dir() {
        return false;
    }
    let Ok(entries) = std::fs::read_dir(tests_dir) else {
        return false;
    };
    entries.filter_map(Result::ok).any(|entry| {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        name.starts_with("test_")
            && name.ends_with(".py")
            && entry.file_type().is_ok_and(|t| t.is_file())
    })
}

fn has_npm_test_script(dir: &Path) -> bool {
    let Some(text) = read_small_regular_file(&dir.join("package.json")) else {
        return false;
    };
    let Ok(manifest) = serde_json::from_slice::<serde_json::Value>(&text) else {
        return false;
    };
    manifest
        .get("scripts")
        .and_then(|scripts| scripts.get("test"))
        .and_then(serde_json::Value::as_str)
        .is_some_and(|script| !script.trim().is_empty() && !script.contains(NPM_PLACEHOLDER))
}

fn is_regular_file(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|meta| meta.is_file())
}

fn read_small_regular_file(path: &Path) -> Option<Vec<u8>> {
    if !is_regular_file(path) {
        return None;
    }
    let file = std::fs::File::open(path).ok()?;
    let mut bytes = Vec::new();
    file.take(MAX_MANIFEST_BYTES + 1)
        .read_to_end(&mut bytes)
        .ok()?;
    (bytes.len() as u64 <= MAX_MANIFEST_BYTES).then_some(bytes)
}

#[cfg(test)]
#[path = "detect_tests.rs"]
mod tests;
