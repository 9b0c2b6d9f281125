//! Filesystem escapes through the real `local` backend. Each attempt must fail *and* leave the
//! host untouched: the assertions look at the host, not just at exit codes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use common::*;
use drydock_sandbox::Session;
use pretty_assertions::assert_eq;

fn host_home() -> std::path::PathBuf {
    std::env::var_os("HOME")
        .map(Into::into)
        .unwrap_or_else(|| "/root".into())
}

#[tokio::test]
async fn writes_outside_the_workspace_fail_and_the_host_is_untouched() {
    let (backend, _rt) = backend();
    let ws = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    // Another workspace of the host. If it lies under the host's /tmp (a checkout under /tmp), the
    // sandbox's writes to its path land in the sandbox's own private /tmp: no escape, which only
    // the host-side checks below can tell.
    let sibling = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    std::fs::write(sibling.path().join("victim"), "original").unwrap();
    let home_target = host_home().join(format!("drydock-escape-{}", std::process::id()));
    let swappiness_before = std::fs::read_to_string("/proc/sys/vm/swappiness").unwrap();
    let session = backend.start_local(spec(ws.path())).await.unwrap();
    let targets = [
        "/usr/drydock-escape".to_string(),
        "/usr/bin/drydock-escape".into(),
        "/etc/drydock-escape".into(),
        "/drydock-escape".into(),
        "/var/drydock-escape".into(),
        "/run/drydock/escape".into(),
        "/dev/drydock-escape".into(),
        "/proc/drydock-escape".into(),
        home_target.display().to_string(),
        sibling.path().join("new").display().to_string(),
        sibling.path().join("victim").display().to_string(),
    ];
    for target in &targets {
        let out = run(&session, sh(&format!("mkdir -p \"$(dirname '{target}')\" 2>/dev/null; echo pwned > '{target}' && echo WROTE"))).await;
        let in_private_tmp = target.starts_with("/tmp/") || target.starts_with("/var/tmp/");
        if !in_private_tmp {
            assert!(!stdout(&out).contains("WROTE"), "wrote {target}");
        }
    }
    // Kernel tunables: global ones are writable by a uid that maps to host root, so this one
    // matters most when tests run as root.
    let value = if swappiness_before.trim() == "13" {
        "14"
    } else {
        "13"
    };
    let out = run(&session, sh(&format!("echo {value} > /proc/sys/vm/swappiness && echo WROTE; echo 1 > /proc/sys/kernel/sysrq && echo WROTE"))).await;
    let swappiness_after = std::fs::read_to_string("/proc/sys/vm/swappiness").unwrap();
    if swappiness_after != swappiness_before {
        std::fs::write("/proc/sys/vm/swappiness", &swappiness_before).unwrap();
    }
    assert_eq!(
        swappiness_after, swappiness_before,
        "the sandbox changed a host sysctl"
    );
    assert!(!stdout(&out).contains("WROTE"));
    session.stop().await.unwrap();

    for target in &targets[..targets.len() - 1] {
        assert!(!Path::new(target).exists(), "{target} exists on the host");
    }
    assert_eq!(
        std::fs::read_to_string(sibling.path().join("victim")).unwrap(),
        "original"
    );
    assert!(!home_target.exists());
}

#[tokio::test]
async fn host_secrets_are_out_of_view() {
    let (backend, _rt) = backend();
    let ws = workspace();
    let secrets = tempfile::tempdir().unwrap();
    let secret_value = format!("host-secret-{}", std::process::id());
    let secret = secrets.path().join("credentials");
    std::fs::write(&secret, &secret_value).unwrap();
    let session = backend.start_local(spec(ws.path())).await.unwrap();
    let script = format!(
        "cat '{}'; cat /etc/shadow /etc/gshadow /etc/sudoers /etc/pip.conf /etc/npmrc; ls -A /root '{}' /home; \
         ls /etc/ssh /etc/ssl/private; cat /proc/1/environ; echo; ls -la /var/run/docker.sock /run/docker.sock; \
         python3 -c \"import socket; s=socket.socket(socket.AF_UNIX); s.connect('/var/run/docker.sock')\" && echo DOCKER; \
         getent passwd | cut -d: -f1; echo end",
        secret.display(),
        host_home().display()
    );
    let out = run(&session, sh(&script)).await;
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).ends_with("end\n"), "{text}");
    assert!(
        !text.contains(&secret_value),
        "a planted host secret was read: {text}"
    );
    assert!(!stdout(&out).contains("DOCKER"));
    // Only the sandbox's own users exist.
    let listed = stdout(&out);
    let users: Vec<&str> = listed.lines().rev().skip(1).take(3).collect();
    assert_eq!(users, vec!["nobody", "drydock", "root"]);
    let root_listing = run(&session, sh("ls -A /root 2>&1; ls -A / ")).await;
    assert!(
        !stdout(&root_listing).contains(".bashrc"),
        "{}",
        stdout(&root_listing)
    );
    assert!(
        !stdout(&root_listing).contains(".cargo"),
        "{}",
        stdout(&root_listing)
    );
    // /proc shows only the command's own pid namespace: its init (pid 1, a copy of the stage)
    // and its own processes, never the session's supervisor or forwarder.
    let procs = run(
        &session,
        sh("for p in /proc/[0-9]*; do echo \"${p#/proc/} $(tr '\\0' ' ' < $p/cmdline)\"; done"),
    )
    .await;
    let listing = stdout(&procs);
    let stage: Vec<&str> = listing
        .lines()
        .filter(|l| l.contains("__drydock-sandbox-stage"))
        .collect();
    assert_eq!(stage.len(), 1, "{listing}");
    assert!(stage[0].starts_with("1 "), "{listing}");
    session.stop().await.unwrap();
}

#[tokio::test]
async fn git_metadata_cannot_be_changed_from_inside() {
    let (backend, _rt) = backend();
    let ws = workspace();
    let config_before = std::fs::read(ws.path().join(".git/config")).unwrap();
    let session = backend.start_local(spec(ws.path())).await.unwrap();
    scenarios::git_metadata_cannot_be_changed(&session, ws.path(), &config_before, &[]).await;
}

#[tokio::test]
async fn symlinks_and_hard_links_do_not_reach_outside() {
    let (backend, _rt) = backend();
    let ws = workspace();
    let (_outside, secret, secret_value) = plant_links_to_secrets(ws.path());
    std::os::unix::fs::symlink(host_home(), ws.path().join("planted-home")).unwrap();
    let session = backend.start_local(spec(ws.path())).await.unwrap();
    let script = format!(
        "cat planted-abs planted-rel; ls -A planted-home/; \
         ln -s /etc/shadow made-shadow; cat made-shadow; \
         ln -s '{secret}' made-secret; cat made-secret; \
         ln /etc/passwd hard-passwd && echo HARD1; \
         ln '{secret}' hard-secret && echo HARD2; \
         ln /usr/bin/env hard-env && echo HARD3; \
         echo overwrite > planted-abs; echo end",
        secret = secret.display()
    );
    let out = run(&session, sh(&script)).await;
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).ends_with("end\n"), "{text}");
    assert!(!text.contains(&secret_value), "{text}");
    assert!(!text.contains("root:"), "{text}");
    assert!(
        !text.contains("HARD"),
        "a hard link to a file outside was made: {text}"
    );
    assert!(!text.contains(".bashrc"), "{text}");
    session.stop().await.unwrap();
    assert_eq!(std::fs::read_to_string(&secret).unwrap(), secret_value);
    assert_eq!(std::fs::metadata(&secret).unwrap().nlink(), 1);
    assert_eq!(std::fs::metadata("/etc/passwd").unwrap().nlink(), 1);
}

#[tokio::test]
async fn another_session_on_another_workspace_is_invisible() {
    let (backend, _rt) = backend();
    let (ws_a, ws_b) = (workspace(), workspace());
    std::fs::write(ws_b.path().join("b-only"), "b").unwrap();
    let a = backend.start_local(spec(ws_a.path())).await.unwrap();
    let b = backend.start_local(spec(ws_b.path())).await.unwrap();
    run(&b, sh("echo from-b > /tmp/shared")).await;
    let out = run(
        &a,
        sh(&format!(
            "cat /tmp/shared; ls /workspace; ls '{}'",
            ws_b.path().display()
        )),
    )
    .await;
    assert!(!stdout(&out).contains("from-b"));
    assert!(!stdout(&out).contains("b-only"));
    a.stop().await.unwrap();
    b.stop().await.unwrap();
}
