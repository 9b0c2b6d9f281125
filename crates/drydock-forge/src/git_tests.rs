use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;

use super::*;

fn repo() -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::process::Command::new("git")
        .args(["init", "-q"])
        .current_dir(dir.path())
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .status()
        .unwrap();
    dir
}

#[tokio::test]
async fn commands_see_a_clean_environment() {
    let dir = repo();
    let git = Git::new().unwrap();
    let out = git
        .run(dir.path(), ["-c", "alias.showenv=!env", "showenv"])
        .await
        .unwrap();
    let keys: BTreeSet<String> = out
        .text()
        .lines()
        .filter_map(|line| line.split_once('=').map(|(k, _)| k.to_string()))
        .collect();
    let allowed: BTreeSet<&str> = [
        "PATH",
        "HOME",
        "XDG_CONFIG_HOME",
        "GIT_CONFIG_NOSYSTEM",
        "GIT_CONFIG_GLOBAL",
        "GIT_TERMINAL_PROMPT",
        "GIT_OPTIONAL_LOCKS",
        "LC_ALL",
        "GIT_AUTHOR_NAME",
        "GIT_AUTHOR_EMAIL",
        "GIT_COMMITTER_NAME",
        "GIT_COMMITTER_EMAIL",
        // Set by git for aliases and by the shell that runs them:
        "GIT_CONFIG_PARAMETERS",
        "GIT_PREFIX",
        "GIT_EXEC_PATH",
        "PWD",
        "OLDPWD",
        "SHLVL",
        "_",
    ]
    .into_iter()
    .collect();
    let unexpected: Vec<&String> = keys
        .iter()
        .filter(|k| !allowed.contains(k.as_str()))
        .collect();
    assert!(
        unexpected.is_empty(),
        "leaked into git's environment: {unexpected:?}"
    );
    // The test process itself runs under cargo, with variables the child must not see.
    if std::env::var_os("CARGO_MANIFEST_DIR").is_some() {
        assert!(!keys.contains("CARGO_MANIFEST_DIR"));
    }
    let env_text = out.text();
    assert!(env_text.contains("GIT_AUTHOR_EMAIL=drydock@localhost"));
    let home = env_text
        .lines()
        .find_map(|l| l.strip_prefix("HOME="))
        .unwrap();
    assert_eq!(std::fs::read_dir(home).unwrap().count(), 0, "HOME is empty");
}

#[tokio::test]
async fn only_command_line_and_repository_config_is_read() {
    let dir = repo();
    let git = Git::new().unwrap();
    let out = git
        .run(dir.path(), ["config", "--list", "--show-scope"])
        .await
        .unwrap();
    for line in out.text().lines() {
        assert!(
            line.starts_with("command\t") || line.starts_with("local\t"),
            "config from outside the repository: {line}"
        );
    }
    let hooks = git
        .run(dir.path(), ["config", "core.hooksPath"])
        .await
        .unwrap();
    assert_eq!(PathBuf::from(hooks.text()), git.hooks_dir());
    assert_eq!(std::fs::read_dir(git.hooks_dir()).unwrap().count(), 0);
}

#[tokio::test]
async fn a_failure_names_the_command_and_carries_stderr() {
    let dir = repo();
    let git = Git::new().unwrap();
    let err = git
        .run(dir.path(), ["rev-parse", "--verify", "no-such-ref"])
        .await
        .unwrap_err();
    match &err {
        GitError::Failed {
            command,
            status,
            stderr,
        } => {
            assert_eq!(command, "rev-parse --verify no-such-ref");
            assert_eq!(status, "exit code 128");
            assert!(stderr.contains("Needed a single revision"), "{stderr}");
        }
        other => panic!("expected Failed, got {other:?}"),
    }
    assert!(
        err.to_string()
            .contains("git rev-parse --verify no-such-ref")
    );
}

#[tokio::test]
async fn output_returns_unsuccessful_exits_as_answers() {
    let dir = repo();
    let git = Git::new().unwrap();
    let out = git
        .command(dir.path())
        .args(["rev-parse", "--verify", "-q", "HEAD"])
        .output()
        .await
        .unwrap();
    assert_eq!(out.code, Some(1));
}

#[tokio::test]
async fn stdin_is_fed_to_the_command() {
    let dir = repo();
    let git = Git::new().unwrap();
    let out = git
        .command(dir.path())
        .args(["hash-object", "--stdin"])
        .stdin(b"hello\n".to_vec())
        .run()
        .await
        .unwrap();
    assert_eq!(out.text(), "ce013625030ba8dba906f756967f9e9ca394464a");
}

#[tokio::test]
async fn a_missing_program_is_a_spawn_error() {
    let dir = repo();
    let git = Git::new().unwrap().with_program("/nonexistent/git");
    let err = git.run(dir.path(), ["status"]).await.unwrap_err();
    assert!(matches!(err, GitError::Spawn { .. }), "{err:?}");
    assert!(err.to_string().contains("git status"), "{err}");
}

#[tokio::test]
async fn a_command_past_its_deadline_is_killed_with_its_children() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("child.pid");
    let script = dir.path().join("slow-git");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nsleep 300 &\necho $! > '{}'\nwait\n",
            pid_file.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let git = Git::new()
        .unwrap()
        .with_program(&script)
        .with_timeout(Duration::from_millis(500));
    let err = git.run(dir.path(), ["fetch"]).await.unwrap_err();
    assert!(matches!(err, GitError::Timeout { .. }), "{err:?}");
    assert!(err.to_string().contains("git fetch"), "{err}");

    let pid: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // The grandchild was in git's process group and got SIGKILL; wait for init to reap it.
    let mut alive = true;
    for _ in 0..100 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .chars()
            .next();
        if stat.is_empty() || state == Some('Z') {
            alive = false;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!alive, "the child git started outlived the timeout");
}

#[test]
fn shell_quoting_survives_quotes_and_spaces() {
    let quoted = shell_quote(OsStr::new("it's a /path"));
    assert_eq!(quoted, OsString::from("'it'\\''s a /path'"));
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("printf %s {}", quoted.to_string_lossy()))
        .output()
        .unwrap();
    assert_eq!(out.stdout, b"it's a /path");
}
