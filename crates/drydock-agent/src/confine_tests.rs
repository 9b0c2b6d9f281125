use std::os::unix::fs::symlink;

use super::*;

fn setup() -> (tempfile::TempDir, tempfile::TempDir, WorkspaceRoot) {
    let outside = tempfile::tempdir().unwrap();
    let ws = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(ws.path().join("src")).unwrap();
    std::fs::create_dir_all(ws.path().join(".git/hooks")).unwrap();
    std::fs::write(ws.path().join("src/lib.rs"), "fn x() {}").unwrap();
    std::fs::write(outside.path().join("secret.txt"), "s3cret").unwrap();
    let root = WorkspaceRoot::new(ws.path()).unwrap();
    (ws, outside, root)
}

#[test]
fn plain_relative_paths_resolve_inside() {
    let (_ws, _out, root) = setup();
    let got = root.resolve("src/lib.rs", Access::Read).unwrap();
    assert_eq!(got.rel, PathBuf::from("src/lib.rs"));
    assert_eq!(got.abs, root.path().join("src/lib.rs"));
    assert_eq!(
        root.resolve("./src/./lib.rs", Access::Read).unwrap().rel,
        got.rel
    );
}

#[test]
fn root_spellings_resolve_to_the_root() {
    let (_ws, _out, root) = setup();
    for spelling in ["", ".", "./", "/workspace", "/workspace/"] {
        let got = root.resolve(spelling, Access::Read).unwrap();
        assert_eq!(got.display_rel(), ".", "{spelling:?}");
    }
}

#[test]
fn sandbox_absolute_paths_are_accepted() {
    let (_ws, _out, root) = setup();
    let got = root.resolve("/workspace/src/lib.rs", Access::Read).unwrap();
    assert_eq!(got.rel, PathBuf::from("src/lib.rs"));
}

#[test]
fn parent_components_are_refused_everywhere() {
    let (_ws, _out, root) = setup();
    for evil in [
        "..",
        "../x",
        "src/../../x",
        "src/..",
        "/workspace/../etc/passwd",
        "a/b/../../..",
    ] {
        let err = root.resolve(evil, Access::Read).unwrap_err();
        assert!(
            matches!(err, PathError::ParentComponent(_)),
            "{evil}: {err:?}"
        );
    }
}

#[test]
fn foreign_absolute_paths_are_refused() {
    let (_ws, out, root) = setup();
    let outside_file = out.path().join("secret.txt");
    for evil in [
        "/etc/passwd",
        "/workspacex/a",
        "/root/.ssh/id_rsa",
        outside_file.to_str().unwrap(),
    ] {
        let err = root.resolve(evil, Access::Read).unwrap_err();
        assert!(matches!(err, PathError::Absolute(_)), "{evil}: {err:?}");
    }
    // The workspace's own host path is refused too: the model only knows /workspace.
    let host_spelling = root.path().join("src/lib.rs");
    assert!(
        root.resolve(host_spelling.to_str().unwrap(), Access::Read)
            .is_err()
    );
}

#[test]
fn symlink_out_of_the_workspace_is_refused_for_read_and_write() {
    let (ws, out, root) = setup();
    symlink(out.path().join("secret.txt"), ws.path().join("link")).unwrap();
    symlink(out.path(), ws.path().join("dirlink")).unwrap();
    for (path, access) in [
        ("link", Access::Read),
        ("link", Access::Write),
        ("dirlink/secret.txt", Access::Read),
        ("dirlink/new.txt", Access::Write),
    ] {
        let err = root.resolve(path, access).unwrap_err();
        assert!(matches!(err, PathError::Escapes { .. }), "{path}: {err:?}");
    }
}

#[test]
fn dangling_symlink_is_refused_so_a_write_cannot_create_its_target() {
    let (ws, out, root) = setup();
    let target = out.path().join("created-by-agent");
    symlink(&target, ws.path().join("dangling")).unwrap();
    let err = root.resolve("dangling", Access::Write).unwrap_err();
    assert!(matches!(err, PathError::Escapes { .. }), "{err:?}");
    assert!(!target.exists());
}

#[test]
fn symlink_inside_the_workspace_is_fine() {
    let (ws, _out, root) = setup();
    symlink("src/lib.rs", ws.path().join("alias.rs")).unwrap();
    symlink("src", ws.path().join("code")).unwrap();
    assert!(root.resolve("alias.rs", Access::Read).is_ok());
    assert!(root.resolve("code/lib.rs", Access::Write).is_ok());
}

#[test]
fn symlinked_workspace_root_itself_is_fine() {
    let (ws, _out, _root) = setup();
    let holder = tempfile::tempdir().unwrap();
    let linked = holder.path().join("ws");
    symlink(ws.path(), &linked).unwrap();
    let root = WorkspaceRoot::new(&linked).unwrap();
    assert!(root.resolve("src/lib.rs", Access::Write).is_ok());
}

#[test]
fn writes_into_git_are_refused_however_spelled() {
    let (ws, _out, root) = setup();
    symlink(".git", ws.path().join("meta")).unwrap();
    symlink(".git/hooks", ws.path().join("hooks")).unwrap();
    for evil in [
        ".git/config",
        "./.git/hooks/pre-commit",
        "/workspace/.git/HEAD",
        "meta/config",
        "hooks/post-checkout",
        ".git",
    ] {
        let err = root.resolve(evil, Access::Write).unwrap_err();
        assert!(matches!(err, PathError::GitDir(_)), "{evil}: {err:?}");
    }
    // Reading .git is allowed (e.g. to look at HEAD).
    assert!(root.resolve(".git/HEAD", Access::Read).is_ok());
    // A file merely named like .git elsewhere is not .git.
    assert!(root.resolve("src/.git-notes", Access::Write).is_ok());
}

#[test]
fn nul_bytes_are_refused() {
    let (_ws, _out, root) = setup();
    assert_eq!(
        root.resolve("src/lib.rs\0.txt", Access::Read),
        Err(PathError::Nul)
    );
}
