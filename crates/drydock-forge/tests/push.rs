//! Pushing back into the source, hooks that must never run, and the local forge.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use chrono::Utc;
use common::{HOOKS, git, git_raw, plant_hook, sample_repo, snapshot, write_files};
use drydock_core::{DiffStat, PullRequest, TaskId};
use drydock_forge::{Forge, ForgeError, LocalForge, LocalRepo, Workspace};
use pretty_assertions::assert_eq;

#[tokio::test]
async fn the_whole_flow_changes_nothing_in_the_source_but_the_new_branch() {
    let source_dir = sample_repo();
    write_files(
        source_dir.path(),
        &[("target/cache.bin", "ignored by the user")],
    );
    let before = snapshot(source_dir.path());

    let source = LocalRepo::open(source_dir.path()).await.unwrap();
    assert!(source.is_clean().await.unwrap());
    assert!(
        source
            .read_file_at_head(".drydock.toml")
            .await
            .unwrap()
            .is_some()
    );
    let scratch = tempfile::tempdir().unwrap();
    let ws = Workspace::create(&source, &scratch.path().join("ws"), "drydock/flow")
        .await
        .unwrap();
    write_files(ws.dir(), &[("src/lib.rs", "// fixed\n")]);
    ws.diff_stat().await.unwrap();
    let sha = ws.commit("Fix", &[("Drydock-Task", "x")]).await.unwrap();
    let pushed = ws.push_to_source(&source).await.unwrap();
    assert_eq!(pushed.sha, sha);
    assert_eq!(pushed.pushed_ref, "refs/heads/drydock/flow");
    assert_eq!(pushed.remote, source_dir.path().canonicalize().unwrap());
    assert!(pushed.created);

    let mut after = snapshot(source_dir.path());
    let new_branch = after.refs.remove("refs/heads/drydock/flow");
    assert_eq!(new_branch, Some(sha.clone()));
    assert_eq!(after, before, "the source changed beyond the new branch");
    assert_eq!(
        git(
            source_dir.path(),
            &["log", "-1", "--format=%s", "drydock/flow"]
        ),
        "Fix"
    );
}

#[tokio::test]
async fn no_hook_of_the_source_or_the_workspace_ever_runs() {
    let source_dir = sample_repo();
    let markers = tempfile::tempdir().unwrap();
    let marker = markers.path().join("ran");
    // Hooks in the source's default place and in a hooksPath its config names...
    let custom_hooks = markers.path().join("custom-hooks");
    for hook in HOOKS {
        plant_hook(&source_dir.path().join(".git/hooks"), hook, &marker);
        plant_hook(&custom_hooks, hook, &marker);
    }
    git(
        source_dir.path(),
        &["config", "core.hooksPath", custom_hooks.to_str().unwrap()],
    );
    // ...and the setup is live: plain git does run them.
    git(
        source_dir.path(),
        &["commit", "-q", "--allow-empty", "-m", "probe"],
    );
    assert!(marker.exists(), "the planted hooks do not work");
    std::fs::remove_file(&marker).unwrap();

    let source = LocalRepo::open(source_dir.path()).await.unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let ws = Workspace::create(&source, &scratch.path().join("ws"), "drydock/hooks")
        .await
        .unwrap();
    // Hooks that got into the workspace's own .git, and a hooksPath in its config.
    for hook in HOOKS {
        plant_hook(&ws.dir().join(".git/hooks"), hook, &marker);
    }
    git(
        ws.dir(),
        &["config", "core.hooksPath", custom_hooks.to_str().unwrap()],
    );
    write_files(ws.dir(), &[("src/lib.rs", "// fixed\n")]);
    ws.diff_stat().await.unwrap();
    ws.commit("Fix", &[("Drydock-Task", "x")]).await.unwrap();
    ws.push_to_source(&source).await.unwrap();

    let ran = std::fs::read_to_string(&marker).unwrap_or_default();
    assert_eq!(ran, "", "hooks ran:\n{ran}");
}

#[tokio::test]
async fn a_branch_with_other_history_in_the_source_is_never_overwritten() {
    let source_dir = sample_repo();
    let source = LocalRepo::open(source_dir.path()).await.unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let ws = Workspace::create(&source, &scratch.path().join("ws"), "drydock/taken")
        .await
        .unwrap();
    // Somebody else made a branch of the same name with their own commit.
    git(source_dir.path(), &["branch", "drydock/taken"]);
    git(source_dir.path(), &["checkout", "-q", "drydock/taken"]);
    write_files(source_dir.path(), &[("theirs.txt", "theirs\n")]);
    git(source_dir.path(), &["add", "theirs.txt"]);
    git(source_dir.path(), &["commit", "-q", "-m", "theirs"]);
    git(source_dir.path(), &["checkout", "-q", "main"]);
    let theirs = git(source_dir.path(), &["rev-parse", "drydock/taken"]);

    write_files(ws.dir(), &[("ours.txt", "ours\n")]);
    ws.commit("ours", &[]).await.unwrap();
    let err = ws.push_to_source(&source).await.unwrap_err();
    assert!(matches!(err, ForgeError::BranchDiverged { .. }), "{err:?}");
    assert!(err.to_string().contains("never force-pushes"), "{err}");
    assert_eq!(
        git(source_dir.path(), &["rev-parse", "drydock/taken"]),
        theirs
    );
}

#[tokio::test]
async fn a_later_push_fast_forwards_the_task_branch() {
    let source_dir = sample_repo();
    let source = LocalRepo::open(source_dir.path()).await.unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let ws = Workspace::create(&source, &scratch.path().join("ws"), "drydock/iter")
        .await
        .unwrap();
    write_files(ws.dir(), &[("a.txt", "1\n")]);
    ws.commit("first", &[]).await.unwrap();
    assert!(ws.push_to_source(&source).await.unwrap().created);
    // Pushing the same commit again is a no-op, not an error.
    assert!(!ws.push_to_source(&source).await.unwrap().created);
    write_files(ws.dir(), &[("a.txt", "2\n")]);
    let second = ws.commit("second", &[]).await.unwrap();
    let pushed = ws.push_to_source(&source).await.unwrap();
    assert!(!pushed.created);
    assert_eq!(
        git(source_dir.path(), &["rev-parse", "drydock/iter"]),
        second
    );
}

#[tokio::test]
async fn the_branch_checked_out_in_the_source_is_never_pushed_to() {
    let source_dir = sample_repo();
    git(source_dir.path(), &["checkout", "-q", "-b", "drydock/mine"]);
    let source = LocalRepo::open(source_dir.path()).await.unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let ws = Workspace::create(&source, &scratch.path().join("ws"), "drydock/mine")
        .await
        .unwrap();
    write_files(ws.dir(), &[("a.txt", "1\n")]);
    ws.commit("first", &[]).await.unwrap();
    let head_before = git(source_dir.path(), &["rev-parse", "HEAD"]);
    let err = ws.push_to_source(&source).await.unwrap_err();
    assert!(
        matches!(err, ForgeError::BranchCheckedOut { .. }),
        "{err:?}"
    );
    assert_eq!(git(source_dir.path(), &["rev-parse", "HEAD"]), head_before);
}

fn pull_request(ws: &Workspace, head_sha: &str) -> PullRequest {
    PullRequest {
        task_id: TaskId::new(),
        title: "Fix".into(),
        body: "body".into(),
        head_branch: ws.branch().into(),
        base_branch: ws.base_branch().into(),
        head_sha: head_sha.into(),
        base_sha: ws.base_commit().into(),
        diff_stat: DiffStat::default(),
        url: None,
        created_at: Utc::now(),
    }
}

#[tokio::test]
async fn the_local_forge_publishes_by_pushing_the_branch() {
    let source_dir = sample_repo();
    let source = LocalRepo::open(source_dir.path()).await.unwrap();
    let forge = LocalForge::new(source.clone());
    assert_eq!(forge.name(), "local");
    let scratch = tempfile::tempdir().unwrap();
    let ws = Workspace::create(&source, &scratch.path().join("ws"), "drydock/pr")
        .await
        .unwrap();
    write_files(ws.dir(), &[("a.txt", "1\n")]);
    let sha = ws.commit("first", &[]).await.unwrap();

    let mut wrong_branch = pull_request(&ws, &sha);
    wrong_branch.head_branch = "drydock/other".into();
    assert!(matches!(
        forge.publish(&ws, &wrong_branch).await,
        Err(ForgeError::PullRequestMismatch { .. })
    ));
    let stale = pull_request(&ws, ws.base_commit());
    assert!(matches!(
        forge.publish(&ws, &stale).await,
        Err(ForgeError::PullRequestMismatch { .. })
    ));
    assert!(
        !git_raw(
            source_dir.path(),
            &["rev-parse", "--verify", "-q", "drydock/pr"]
        )
        .status
        .success()
    );

    let published = forge.publish(&ws, &pull_request(&ws, &sha)).await.unwrap();
    assert_eq!(published.url, None);
    assert_eq!(published.pushed_ref, "refs/heads/drydock/pr");
    assert_eq!(published.sha, sha);
    assert_eq!(
        published.remote,
        source_dir
            .path()
            .canonicalize()
            .unwrap()
            .display()
            .to_string()
    );
    assert_eq!(git(source_dir.path(), &["rev-parse", "drydock/pr"]), sha);
}
