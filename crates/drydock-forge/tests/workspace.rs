//! The task workspace: cloning, inspecting the change, committing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use common::{git, non_utf8_name, sample_repo, work_tree, write_files};
use drydock_core::FileChange;
use drydock_forge::{Change, ForgeError, Git, Identity, LocalRepo, Workspace};
use pretty_assertions::assert_eq;
use tempfile::TempDir;

async fn workspace() -> (TempDir, TempDir, LocalRepo, Workspace) {
    let source_dir = sample_repo();
    let source = LocalRepo::open(source_dir.path()).await.unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let ws = Workspace::create(&source, &scratch.path().join("ws"), "drydock/abcd1234-fix")
        .await
        .unwrap();
    (source_dir, scratch, source, ws)
}

fn change(path: &str, insertions: u32, deletions: u32, binary: bool) -> FileChange {
    FileChange {
        path: path.into(),
        insertions,
        deletions,
        binary,
    }
}

#[tokio::test]
async fn a_workspace_is_the_source_head_on_a_new_branch() {
    let (source_dir, _scratch, source, ws) = workspace().await;
    assert_eq!(ws.branch(), "drydock/abcd1234-fix");
    assert_eq!(ws.base_branch(), "main");
    assert_eq!(ws.base_commit(), source.head_commit().await.unwrap());
    assert_eq!(ws.head_commit().await.unwrap(), ws.base_commit());
    assert_eq!(
        git(ws.dir(), &["symbolic-ref", "HEAD"]),
        "refs/heads/drydock/abcd1234-fix"
    );
    assert_eq!(work_tree(ws.dir()), work_tree(source_dir.path()));
    assert!(!ws.has_changes().await.unwrap());
    assert_eq!(ws.diff_stat().await.unwrap().files, vec![]);
    assert_eq!(ws.diff_text().await.unwrap(), "");
    assert_eq!(ws.status_paths().await.unwrap(), vec![]);
}

#[tokio::test]
async fn the_clone_config_names_no_remote_and_no_credentials_and_has_no_hooks() {
    let source_dir = sample_repo();
    git(
        source_dir.path(),
        &[
            "remote",
            "add",
            "origin",
            "https://user:hunter2@forge.example/team/pager.git",
        ],
    );
    git(source_dir.path(), &["config", "credential.helper", "store"]);
    let source = LocalRepo::open(source_dir.path()).await.unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let ws = Workspace::create(&source, &scratch.path().join("ws"), "drydock/t")
        .await
        .unwrap();

    let config = std::fs::read_to_string(ws.dir().join(".git/config")).unwrap();
    for forbidden in [
        "[remote",
        "url",
        "hunter2",
        "@",
        "credential",
        source_dir.path().to_str().unwrap(),
    ] {
        assert!(!config.contains(forbidden), "{forbidden:?} in:\n{config}");
    }
    assert_eq!(git(ws.dir(), &["remote"]), "");
    let hooks = ws.dir().join(".git/hooks");
    let hook_count = std::fs::read_dir(&hooks).map(|d| d.count()).unwrap_or(0);
    assert_eq!(hook_count, 0, "hooks in {}", hooks.display());
}

#[tokio::test]
async fn objects_are_hard_linked_not_copied() {
    let (source_dir, _scratch, _source, ws) = workspace().await;
    let head = git(source_dir.path(), &["rev-parse", "HEAD"]);
    let object = Path::new(".git/objects").join(&head[..2]).join(&head[2..]);
    let in_source = std::fs::metadata(source_dir.path().join(&object)).unwrap();
    let in_clone = std::fs::metadata(ws.dir().join(&object)).unwrap();
    assert_eq!(in_source.ino(), in_clone.ino());
    assert_eq!(in_source.dev(), in_clone.dev());
    assert!(in_source.nlink() >= 2);
}

#[tokio::test]
async fn a_destination_with_content_and_bad_branch_names_are_refused() {
    let source_dir = sample_repo();
    let source = LocalRepo::open(source_dir.path()).await.unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let occupied = scratch.path().join("occupied");
    write_files(&occupied, &[("keep.txt", "mine")]);
    let err = Workspace::create(&source, &occupied, "drydock/x")
        .await
        .unwrap_err();
    assert!(
        matches!(err, ForgeError::DestinationNotEmpty { .. }),
        "{err:?}"
    );
    assert_eq!(
        std::fs::read_to_string(occupied.join("keep.txt")).unwrap(),
        "mine"
    );

    let file = scratch.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    assert!(matches!(
        Workspace::create(&source, &file, "drydock/x").await,
        Err(ForgeError::DestinationNotEmpty { .. })
    ));

    for bad in [
        "",
        "-f",
        "has space",
        "a..b",
        "ends.lock",
        "x~1",
        "a:b",
        "refs/../x",
        "HEAD",
        "@",
        "trailing/",
        "back\\slash",
        "ctl\u{7}",
        " lead",
    ] {
        let dest = scratch.path().join("never");
        let err = Workspace::create(&source, &dest, bad).await.unwrap_err();
        assert!(
            matches!(err, ForgeError::InvalidBranch { .. }),
            "{bad:?}: {err:?}"
        );
        assert!(!dest.exists(), "{bad:?} left {}", dest.display());
    }

    let empty = scratch.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    Workspace::create(&source, &empty, "drydock/ok")
        .await
        .unwrap();
}

#[tokio::test]
async fn the_change_includes_edits_deletions_new_and_binary_files_but_not_ignored_ones() {
    let (_source_dir, _scratch, _source, ws) = workspace().await;
    write_files(
        ws.dir(),
        &[
            (
                "src/lib.rs",
                "pub fn pages(n: usize, size: usize) -> usize {\n    n.div_ceil(size)\n}\n",
            ),
            ("src/new.rs", "pub fn one() {}\npub fn two() {}\n"),
            ("target/out.txt", "build output\n"),
        ],
    );
    std::fs::remove_file(ws.dir().join("src/old.rs")).unwrap();
    std::fs::write(
        ws.dir().join("logo.png"),
        b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\xff",
    )
    .unwrap();

    assert!(ws.has_changes().await.unwrap());
    let mut files = ws.diff_stat().await.unwrap().files;
    files.sort_by(|a, b| a.path.cmp(&b.path));
    assert_eq!(
        files,
        vec![
            change("logo.png", 0, 0, true),
            change("src/lib.rs", 1, 1, false),
            change("src/new.rs", 2, 0, false),
            change("src/old.rs", 0, 1, false),
        ]
    );
    let text = ws.diff_text().await.unwrap();
    assert!(text.contains("+pub fn two() {}"), "{text}");
    assert!(text.contains("-    n / size"), "{text}");
    assert!(text.contains("+    n.div_ceil(size)"), "{text}");
    assert!(
        text.contains("Binary files /dev/null and b/logo.png differ"),
        "{text}"
    );
    assert!(!text.contains("build output"), "{text}");

    // Inspecting the change stages nothing.
    let status = ws.status_paths().await.unwrap();
    assert!(status.iter().all(|e| !e.staged), "{status:?}");
    assert!(
        status
            .iter()
            .any(|e| e.path == Path::new("src/new.rs") && e.change == Change::Untracked)
    );
}

#[tokio::test]
async fn attributes_in_the_tree_cannot_hide_text_from_the_diff() {
    let (_source_dir, _scratch, _source, ws) = workspace().await;
    write_files(
        ws.dir(),
        &[
            (
                ".gitattributes",
                "*.txt binary\n*.env -diff\nsecret.* diff=hide\n",
            ),
            (
                "notes.txt",
                "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n",
            ),
            (
                "prod.env",
                "TOKEN=ghp_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
            ),
            ("secret.cfg", "password = hunter2\n"),
        ],
    );
    let text = ws.diff_text().await.unwrap();
    for needle in ["wJalrXUtnFEMI", "ghp_aaaa", "hunter2"] {
        assert!(text.contains(needle), "{needle} hidden from:\n{text}");
    }
    let stat = ws.diff_stat().await.unwrap();
    assert!(stat.files.iter().all(|f| !f.binary), "{stat:?}");
    assert_eq!(stat.insertions(), 3 + 3);
}

#[tokio::test]
async fn non_utf8_file_names_are_diffed_and_committed() {
    let (_source_dir, _scratch, _source, ws) = workspace().await;
    std::fs::write(ws.dir().join(non_utf8_name()), "bonjour\n").unwrap();
    let stat = ws.diff_stat().await.unwrap();
    assert_eq!(stat.files, vec![change("caf\u{fffd}.txt", 1, 0, false)]);
    let text = ws.diff_text().await.unwrap();
    assert!(text.contains("+bonjour"), "{text}");
    assert!(text.contains(r#""b/caf\351.txt""#), "{text}");
    ws.commit("Add a Latin-1 file", &[]).await.unwrap();
    let listed = git(ws.dir(), &["-c", "core.quotePath=true", "ls-files"]);
    assert!(listed.contains(r#""caf\351.txt""#), "{listed}");
}

#[tokio::test]
async fn a_commit_stages_everything_and_carries_parseable_trailers() {
    let (_source_dir, _scratch, _source, ws) = workspace().await;
    write_files(
        ws.dir(),
        &[("src/lib.rs", "// fixed\n"), ("src/added.rs", "// new\n")],
    );
    std::fs::remove_file(ws.dir().join("src/old.rs")).unwrap();
    let sha = ws
        .commit(
            "Fix the pager's last page\n\nThe last partial page was dropped.",
            &[
                ("Drydock-Task", "01JD3V6S8RZ6X0Q4N2M9K7B5TA"),
                ("Drydock-Prompt", "9f86d081884c7d659a2feaa0c55ad015"),
            ],
        )
        .await
        .unwrap();
    assert_eq!(sha, git(ws.dir(), &["rev-parse", "HEAD"]));
    assert_eq!(ws.head_commit().await.unwrap(), sha);
    assert_eq!(git(ws.dir(), &["rev-parse", "HEAD^"]), ws.base_commit());
    assert_eq!(git(ws.dir(), &["status", "--porcelain"]), "");

    let message = git(ws.dir(), &["log", "-1", "--format=%B"]);
    assert!(
        message.starts_with("Fix the pager's last page\n\nThe last partial page was dropped.\n\n")
    );
    let out = std::process::Command::new("git")
        .args(["interpret-trailers", "--parse"])
        .current_dir(ws.dir())
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(message.as_bytes())?;
            child.wait_with_output()
        })
        .unwrap();
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "Drydock-Task: 01JD3V6S8RZ6X0Q4N2M9K7B5TA\nDrydock-Prompt: 9f86d081884c7d659a2feaa0c55ad015\n"
    );
    let names = git(ws.dir(), &["show", "--name-status", "--format=", "HEAD"]);
    assert_eq!(names, "A\tsrc/added.rs\nM\tsrc/lib.rs\nD\tsrc/old.rs");
    let author = git(ws.dir(), &["log", "-1", "--format=%an <%ae>|%cn <%ce>"]);
    assert_eq!(
        author,
        "drydock <drydock@localhost>|drydock <drydock@localhost>"
    );

    // Committed work still counts as the task's change.
    assert!(ws.has_changes().await.unwrap());
    assert_eq!(ws.diff_stat().await.unwrap().files.len(), 3);
}

#[tokio::test]
async fn the_commit_identity_is_configurable() {
    let source_dir = sample_repo();
    let git_runner = Git::new().unwrap().with_identity(Identity {
        name: "Platform Bot".into(),
        email: "bot@platform.example".into(),
    });
    let source = LocalRepo::open_with(source_dir.path(), git_runner)
        .await
        .unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let ws = Workspace::create(&source, &scratch.path().join("ws"), "drydock/id")
        .await
        .unwrap();
    write_files(ws.dir(), &[("x.txt", "x\n")]);
    ws.commit("x", &[]).await.unwrap();
    assert_eq!(
        git(ws.dir(), &["log", "-1", "--format=%an <%ae>"]),
        "Platform Bot <bot@platform.example>"
    );
}

#[tokio::test]
async fn empty_commits_messages_and_bad_trailers_are_refused() {
    let (_source_dir, _scratch, _source, ws) = workspace().await;
    assert!(matches!(
        ws.commit("nothing changed", &[]).await,
        Err(ForgeError::NothingToCommit { .. })
    ));
    write_files(ws.dir(), &[("x.txt", "x\n")]);
    assert!(matches!(
        ws.commit("  \n\t", &[]).await,
        Err(ForgeError::EmptyMessage)
    ));
    for (key, value) in [
        ("Bad Key", "v"),
        ("", "v"),
        ("-Lead", "v"),
        ("Key:", "v"),
        ("Key", ""),
        ("Key", "two\nlines"),
        ("Key", "carriage\rreturn"),
    ] {
        assert!(
            matches!(
                ws.commit("msg", &[(key, value)]).await,
                Err(ForgeError::InvalidTrailer { .. })
            ),
            "{key:?}: {value:?}"
        );
    }
    // Refused commits left the work tree and the branch alone.
    assert_eq!(ws.head_commit().await.unwrap(), ws.base_commit());
    ws.commit("x", &[("Drydock-Task", "t")]).await.unwrap();
    assert!(matches!(
        ws.commit("again", &[]).await,
        Err(ForgeError::NothingToCommit { .. })
    ));
}

#[tokio::test]
async fn a_removed_workspace_is_gone_and_the_source_keeps_its_objects() {
    let (source_dir, _scratch, _source, ws) = workspace().await;
    let dir = ws.dir().to_path_buf();
    ws.remove().await.unwrap();
    assert!(!dir.exists());
    assert_eq!(git(source_dir.path(), &["fsck", "--no-progress"]), "");
}

#[tokio::test]
async fn a_clone_that_fails_half_way_leaves_nothing_behind() {
    let source_dir = sample_repo();
    let bin = tempfile::tempdir().unwrap();
    // A git that works until the checkout of the new branch.
    let wrapper = bin.path().join("git");
    std::fs::write(
        &wrapper,
        "#!/bin/sh\nfor arg; do [ \"$arg\" = checkout ] && { echo 'checkout broke' >&2; exit 1; }; done\nexec git \"$@\"\n",
    )
    .unwrap();
    std::fs::set_permissions(
        &wrapper,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let failing = Git::new().unwrap().with_program(&wrapper);
    let source = LocalRepo::open_with(source_dir.path(), failing)
        .await
        .unwrap();
    let scratch = tempfile::tempdir().unwrap();

    let fresh = scratch.path().join("fresh");
    let err = Workspace::create(&source, &fresh, "drydock/x")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("checkout broke"), "{err}");
    assert!(!fresh.exists());

    let empty = scratch.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    Workspace::create(&source, &empty, "drydock/x")
        .await
        .unwrap_err();
    assert_eq!(std::fs::read_dir(&empty).unwrap().count(), 0);
}
