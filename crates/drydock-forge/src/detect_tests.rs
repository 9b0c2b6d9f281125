use std::fs;
use std::os::unix::fs::symlink;

use super::*;

fn project(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (path, content) in files {
        let path = dir.path().join(path);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, content).unwrap();
    }
    dir
}

fn detect(files: &[(&str, &str)]) -> Option<String> {
    detect_test_command(project(files).path())
}

#[test]
fn each_ecosystem_is_detected() {
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[("Cargo.toml", "[package]\nname = \"x\"\n")], "cargo test"),
        (
            &[("pyproject.toml", "[project]\nname = \"x\"\n")],
            "python3 -m pytest -q",
        ),
        (&[("pytest.ini", "[pytest]\n")], "python3 -m pytest -q"),
        (&[("setup.cfg", "[metadata]\n")], "python3 -m pytest -q"),
        (&[("tox.ini", "[tox]\n")], "python3 -m pytest -q"),
        (
            &[("tests/test_pager.py", "def test_x(): pass\n")],
            "python3 -m pytest -q",
        ),
        (
            &[("test/test_pager.py", "def test_x(): pass\n")],
            "python3 -m pytest -q",
        ),
        (
            &[("package.json", r#"{"scripts": {"test": "vitest run"}}"#)],
            "npm test",
        ),
        (&[("go.mod", "module example.com/x\n")], "go test ./..."),
    ];
    for (files, expected) in cases {
        assert_eq!(detect(files).as_deref(), Some(*expected), "{files:?}");
    }
}

#[test]
fn nothing_recognisable_is_none() {
    assert_eq!(detect(&[]), None);
    assert_eq!(detect(&[("README.md", "# hi")]), None);
    assert_eq!(detect(&[("tests/helpers.py", "")]), None);
    assert_eq!(detect(&[("tests/pager_test.py", "")]), None);
    assert_eq!(detect(&[("src/test_x.py", "")]), None);
}

#[test]
fn npm_placeholder_and_missing_scripts_are_not_a_test_command() {
    let placeholder = r#"{"scripts": {"test": "echo \"Error: no test specified\" && exit 1"}}"#;
    assert_eq!(detect(&[("package.json", placeholder)]), None);
    assert_eq!(detect(&[("package.json", r#"{"name": "x"}"#)]), None);
    assert_eq!(
        detect(&[("package.json", r#"{"scripts": {"test": "  "}}"#)]),
        None
    );
    assert_eq!(
        detect(&[("package.json", r#"{"scripts": {"test": 42}}"#)]),
        None
    );
    assert_eq!(detect(&[("package.json", "{ not json")]), None);
    assert_eq!(detect(&[("package.json", "\u{feff}\0\u{1}")]), None);
}

#[test]
fn the_documented_order_decides_between_ecosystems() {
    let npm = r#"{"scripts": {"test": "jest"}}"#;
    assert_eq!(
        detect(&[("Cargo.toml", ""), ("package.json", npm), ("go.mod", "")]).as_deref(),
        Some("cargo test")
    );
    assert_eq!(
        detect(&[("pyproject.toml", ""), ("package.json", npm)]).as_deref(),
        Some("python3 -m pytest -q")
    );
    assert_eq!(
        detect(&[("package.json", npm), ("go.mod", "")]).as_deref(),
        Some("npm test")
    );
}

#[test]
fn markers_that_are_directories_do_not_count() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir(dir.path().join("Cargo.toml")).unwrap();
    fs::create_dir(dir.path().join("go.mod")).unwrap();
    assert_eq!(detect_test_command(dir.path()), None);
}

#[test]
fn symlinks_and_special_files_are_never_read() {
    let dir = tempfile::tempdir().unwrap();
    // A manifest that would block or never end if it were opened.
    symlink("/dev/zero", dir.path().join("package.json")).unwrap();
    symlink("/etc", dir.path().join("tests")).unwrap();
    nix::unistd::mkfifo(
        &dir.path().join("Cargo.toml"),
        nix::sys::stat::Mode::from_bits_truncate(0o600),
    )
    .unwrap();
    assert_eq!(detect_test_command(dir.path()), None);

    let outside = project(&[("package.json", r#"{"scripts": {"test": "jest"}}"#)]);
    let linked = tempfile::tempdir().unwrap();
    symlink(
        outside.path().join("package.json"),
        linked.path().join("package.json"),
    )
    .unwrap();
    assert_eq!(detect_test_command(linked.path()), None);
}

#[test]
fn an_oversized_manifest_is_ignored() {
    let huge = format!(
        r#"{{"scripts": {{"test": "jest"}}, "pad": "{}"}}"#,
        "x".repeat(MAX_MANIFEST_BYTES as usize)
    );
    assert_eq!(detect(&[("package.json", &huge)]), None);
}
