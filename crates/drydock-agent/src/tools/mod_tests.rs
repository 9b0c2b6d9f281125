use std::os::unix::fs::symlink;

use drydock_model::ToolInput;
use serde_json::json;

use super::*;

fn workspace() -> (tempfile::TempDir, WorkspaceRoot) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("src")).unwrap();
    std::fs::create_dir_all(dir.path().join(".git")).unwrap();
    std::fs::write(
        dir.path().join("src/pager.py"),
        "def pages(n, size):\n    return n // size\n\n\ndef last(n, size):\n    return pages(n, size) - 1\n",
    )
    .unwrap();
    std::fs::write(dir.path().join(".gitignore"), "build/\n").unwrap();
    std::fs::create_dir_all(dir.path().join("build")).unwrap();
    std::fs::write(dir.path().join("build/out.txt"), "pages generated\n").unwrap();
    let root = WorkspaceRoot::new(dir.path()).unwrap();
    (dir, root)
}

fn call(name: &str, value: serde_json::Value) -> ToolCall {
    parse_call(name, &ToolInput::Json { value }).unwrap()
}

fn run_sync(root: &WorkspaceRoot, call: &ToolCall) -> ToolOutput {
    match call {
        ToolCall::ReadFile(a) => read::read_file(root, a),
        ToolCall::ListDir(a) => read::list_dir(root, a),
        ToolCall::Search(a) => search::search(root, a),
        ToolCall::EditFile(a) => edit::edit_file(root, a),
        ToolCall::WriteFile(a) => edit::write_file(root, a),
        other => panic!("not a file tool: {other:?}"),
    }
}

#[test]
fn every_tool_has_an_object_schema() {
    let specs = tool_specs();
    let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, TOOL_NAMES.to_vec());
    for spec in specs {
        assert_eq!(spec.input_schema["type"], "object", "{}", spec.name);
        assert!(spec.input_schema.get("$schema").is_none());
        assert!(!spec.description.is_empty());
    }
    let read = &tool_specs()[0].input_schema;
    assert_eq!(read["required"], json!(["path"]));
}

#[test]
fn unknown_tools_and_bad_arguments_are_messages_for_the_model() {
    let err = parse_call("delete_repo", &ToolInput::Json { value: json!({}) }).unwrap_err();
    assert!(err.contains("no tool named \"delete_repo\""), "{err}");
    assert!(err.contains("read_file, list_dir"), "{err}");

    let err = parse_call(
        "read_file",
        &ToolInput::Json {
            value: json!({"file": "x"}),
        },
    )
    .unwrap_err();
    assert!(err.contains("invalid arguments for read_file"), "{err}");

    let err = parse_call(
        "edit_file",
        &ToolInput::Malformed {
            raw: "{\"path\": \"a\", ".into(),
            error: "EOF while parsing".into(),
        },
    )
    .unwrap_err();
    assert!(err.contains("not valid JSON (EOF while parsing)"), "{err}");

    // `null` arguments are treated as an empty object.
    assert_eq!(
        parse_call("list_dir", &ToolInput::Json { value: json!(null) }).unwrap(),
        ToolCall::ListDir(ListDirArgs {
            path: None,
            depth: None
        })
    );
}

#[test]
fn read_file_numbers_lines_and_honours_ranges() {
    let (_dir, root) = workspace();
    let out = run_sync(&root, &call("read_file", json!({"path": "src/pager.py"})));
    assert!(out.ok);
    assert!(
        out.text.starts_with("     1\tdef pages(n, size):\n"),
        "{}",
        out.text
    );
    let out = run_sync(
        &root,
        &call(
            "read_file",
            json!({"path": "src/pager.py", "start_line": 5, "end_line": 6}),
        ),
    );
    assert_eq!(
        out.text,
        "     5\tdef last(n, size):\n     6\t    return pages(n, size) - 1\n"
    );
    let out = run_sync(
        &root,
        &call(
            "read_file",
            json!({"path": "src/pager.py", "start_line": 50}),
        ),
    );
    assert!(
        out.text
            .contains("has 6 lines; start_line 50 is past the end"),
        "{}",
        out.text
    );
}

#[test]
fn read_file_caps_huge_files_and_says_how_to_go_on() {
    let (dir, root) = workspace();
    let big: String = (1..=100_000).map(|i| format!("line {i}\n")).collect();
    std::fs::write(dir.path().join("big.txt"), big).unwrap();
    let out = run_sync(&root, &call("read_file", json!({"path": "big.txt"})));
    assert!(out.ok);
    assert!(out.text.len() < 80 * 1024, "{}", out.text.len());
    assert!(
        out.text.contains("of 100000; read on with start_line="),
        "{}",
        &out.text[out.text.len() - 200..]
    );
    let out = run_sync(
        &root,
        &call("read_file", json!({"path": "big.txt", "start_line": 99999})),
    );
    assert_eq!(out.text, " 99999\tline 99999\n100000\tline 100000\n");
}

#[test]
fn read_file_refuses_binary_and_marks_invalid_utf8() {
    let (dir, root) = workspace();
    std::fs::write(
        dir.path().join("image.png"),
        [0x89, b'P', b'N', b'G', 0, 0, 1, 2],
    )
    .unwrap();
    let out = run_sync(&root, &call("read_file", json!({"path": "image.png"})));
    assert!(!out.ok);
    assert!(out.text.contains("binary file (8 bytes)"), "{}", out.text);

    std::fs::write(dir.path().join("latin1.txt"), b"caf\xe9\n").unwrap();
    let out = run_sync(&root, &call("read_file", json!({"path": "latin1.txt"})));
    assert!(out.ok);
    assert!(out.text.contains("caf\u{fffd}"), "{}", out.text);
    assert!(out.text.contains("not valid UTF-8"), "{}", out.text);
}

#[test]
fn read_file_errors_are_actionable() {
    let (_dir, root) = workspace();
    let out = run_sync(&root, &call("read_file", json!({"path": "src/nope.py"})));
    assert!(!out.ok && out.text.contains("no such file"), "{}", out.text);
    let out = run_sync(&root, &call("read_file", json!({"path": "src"})));
    assert!(
        !out.ok && out.text.contains("is a directory; use list_dir"),
        "{}",
        out.text
    );
    let out = run_sync(&root, &call("read_file", json!({"path": "../etc/passwd"})));
    assert!(!out.ok && out.text.contains("'..'"), "{}", out.text);
}

#[test]
fn list_dir_honours_gitignore_and_hides_git_internals() {
    let (dir, root) = workspace();
    let size = std::fs::metadata(dir.path().join("src/pager.py"))
        .unwrap()
        .len();
    let out = run_sync(&root, &call("list_dir", json!({"depth": 2})));
    assert!(out.ok);
    assert_eq!(
        out.text,
        format!(".gitignore (7 bytes)\nsrc/\n  src/pager.py ({size} bytes)")
    );
}

#[test]
fn list_dir_shows_non_utf8_names_approximately() {
    use std::os::unix::ffi::OsStrExt;
    let (dir, root) = workspace();
    let name = std::ffi::OsStr::from_bytes(b"caf\xe9.txt");
    std::fs::write(dir.path().join("src").join(name), "x").unwrap();
    let out = run_sync(&root, &call("list_dir", json!({"path": "src"})));
    assert!(
        out.text.contains("caf\u{fffd}.txt (1 bytes)"),
        "{}",
        out.text
    );
    assert!(out.text.contains("not valid UTF-8"), "{}", out.text);
}

#[test]
fn search_finds_matches_and_skips_ignored_files() {
    let (_dir, root) = workspace();
    let out = run_sync(&root, &call("search", json!({"pattern": "pages"})));
    assert!(out.ok);
    assert_eq!(
        out.text,
        "src/pager.py:1: def pages(n, size):\nsrc/pager.py:6:     return pages(n, size) - 1"
    );
    let out = run_sync(
        &root,
        &call(
            "search",
            json!({"pattern": "DEF", "case_insensitive": true, "glob": "*.py", "max_results": 1}),
        ),
    );
    assert!(
        out.text.starts_with("src/pager.py:1: def pages"),
        "{}",
        out.text
    );
    assert!(out.text.contains("stopped at 1 matches"), "{}", out.text);
    let out = run_sync(&root, &call("search", json!({"pattern": "("})));
    assert!(
        !out.ok && out.text.contains("invalid regular expression"),
        "{}",
        out.text
    );
}

#[test]
fn search_does_not_follow_symlinks_out() {
    let (dir, root) = workspace();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.txt"), "TOPSECRET").unwrap();
    symlink(outside.path(), dir.path().join("escape")).unwrap();
    let out = run_sync(&root, &call("search", json!({"pattern": "TOPSECRET"})));
    assert!(out.text.starts_with("no matches"), "{}", out.text);
    let out = run_sync(
        &root,
        &call("search", json!({"pattern": "TOPSECRET", "path": "escape"})),
    );
    assert!(!out.ok, "{}", out.text);
}

#[test]
fn edit_file_replaces_exactly_one_match() {
    let (dir, root) = workspace();
    let out = run_sync(
        &root,
        &call(
            "edit_file",
            json!({
                "path": "src/pager.py",
                "old_text": "    return n // size\n",
                "new_text": "    return -(-n // size)\n",
            }),
        ),
    );
    assert!(out.ok, "{}", out.text);
    assert!(out.text.contains("replaced lines 2-2"), "{}", out.text);
    let text = std::fs::read_to_string(dir.path().join("src/pager.py")).unwrap();
    assert!(text.contains("return -(-n // size)"));
    assert!(!text.contains("return n // size"));
}

#[test]
fn edit_file_explains_every_way_of_not_matching() {
    let (dir, root) = workspace();
    let original = std::fs::read_to_string(dir.path().join("src/pager.py")).unwrap();
    let edit = |old: &str| {
        run_sync(
            &root,
            &call(
                "edit_file",
                json!({"path": "src/pager.py", "old_text": old, "new_text": "X"}),
            ),
        )
    };
    let out = edit("size");
    assert!(
        !out.ok && out.text.contains("occurs 4 times") && out.text.contains("lines 1, 2, 5, 6"),
        "{}",
        out.text
    );
    let out = edit("     2\t    return n // size");
    assert!(!out.ok && out.text.contains("line numbers"), "{}", out.text);
    let out = edit("def pages(n, size):\n  return n // size");
    assert!(
        !out.ok
            && out
                .text
                .contains("lines 1-2 match it except for whitespace"),
        "{}",
        out.text
    );
    let out = edit("nowhere to be found");
    assert!(
        !out.ok && out.text.contains("read it again"),
        "{}",
        out.text
    );
    let out = edit("");
    assert!(
        !out.ok && out.text.contains("old_text is empty"),
        "{}",
        out.text
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("src/pager.py")).unwrap(),
        original
    );
}

#[test]
fn write_file_creates_parents_and_never_writes_through_hard_links() {
    let (dir, root) = workspace();
    let out = run_sync(
        &root,
        &call(
            "write_file",
            json!({"path": "tests/new/test_x.py", "content": "a\nb\n"}),
        ),
    );
    assert!(out.ok, "{}", out.text);
    assert_eq!(out.text, "created tests/new/test_x.py: 4 bytes, 2 lines");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("tests/new/test_x.py")).unwrap(),
        "a\nb\n"
    );

    let other = dir.path().join("other-name.txt");
    std::fs::write(dir.path().join("linked.txt"), "shared").unwrap();
    std::fs::hard_link(dir.path().join("linked.txt"), &other).unwrap();
    let out = run_sync(
        &root,
        &call(
            "write_file",
            json!({"path": "linked.txt", "content": "changed"}),
        ),
    );
    assert!(out.ok, "{}", out.text);
    assert_eq!(std::fs::read_to_string(&other).unwrap(), "shared");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("linked.txt")).unwrap(),
        "changed"
    );
}

#[test]
fn write_file_through_an_inner_symlink_keeps_the_link() {
    let (dir, root) = workspace();
    symlink("src/pager.py", dir.path().join("alias.py")).unwrap();
    let out = run_sync(
        &root,
        &call(
            "write_file",
            json!({"path": "alias.py", "content": "x = 1\n"}),
        ),
    );
    assert!(out.ok, "{}", out.text);
    assert!(
        std::fs::symlink_metadata(dir.path().join("alias.py"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("src/pager.py")).unwrap(),
        "x = 1\n"
    );
}

#[test]
fn write_file_refuses_git_escapes_and_directories() {
    let (dir, root) = workspace();
    let outside = tempfile::tempdir().unwrap();
    symlink(outside.path(), dir.path().join("out")).unwrap();
    for (path, expect) in [
        (".git/hooks/pre-commit", "inside .git"),
        ("out/evil.sh", "symlink"),
        ("/etc/cron.d/x", "absolute path"),
        ("src", "is a directory"),
        (".", "not the workspace root"),
    ] {
        let out = run_sync(
            &root,
            &call("write_file", json!({"path": path, "content": "x"})),
        );
        assert!(!out.ok && out.text.contains(expect), "{path}: {}", out.text);
    }
    assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
    assert!(!dir.path().join(".git/hooks").exists());
}

#[test]
fn policy_questions_carry_the_confined_path() {
    let (_dir, root) = workspace();
    let q = call(
        "edit_file",
        json!({"path": "/workspace/src/./pager.py", "old_text": "a", "new_text": "b"}),
    )
    .policy_question(&root)
    .unwrap();
    assert_eq!(
        q,
        PolicyQuestion::Ask {
            action: Action::WriteFile,
            resource: "src/pager.py".into()
        }
    );
    let q = call("run_command", json!({"command": "pytest -q"}))
        .policy_question(&root)
        .unwrap();
    assert_eq!(
        q,
        PolicyQuestion::Ask {
            action: Action::RunCommand,
            resource: "pytest -q".into()
        }
    );
    assert!(
        call("run_command", json!({"command": "ls", "cwd": "../.."}))
            .policy_question(&root)
            .is_err()
    );
    assert_eq!(
        call("finish", json!({"summary": "s"}))
            .policy_question(&root)
            .unwrap(),
        PolicyQuestion::None
    );
}
