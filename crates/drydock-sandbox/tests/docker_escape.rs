//! Escapes through the real docker daemon: writing outside the workspace, changing `.git`,
//! privileges and capabilities, the daemon's socket, host files, the init, other sessions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod docker_common;

use common::{run, sh, stderr, stdout, workspace};
use docker_common::*;
use drydock_sandbox::Session;
use pretty_assertions::assert_eq;
use tokio_util::sync::CancellationToken;

#[tokio::test]
async fn only_the_workspace_tmp_and_home_are_writable() {
    let Some((backend, _rt)) = backend().await else {
        return;
    };
    let ws = workspace();
    let session = session(&backend, ws.path()).await;
    for target in [
        "/etc/drydock-probe",
        "/usr/drydock-probe",
        "/drydock-probe",
        "/root/drydock-probe",
        "/run/drydock/drydock-probe",
        "/run/drydock-stage/drydock-probe",
        "/run/drydock-stage/stage",
        "/var/drydock-probe",
        "/proc/sys/kernel/hostname",
        "/sys/kernel/drydock-probe",
    ] {
        let out = run(&session, sh(&format!("echo x > {target} && echo WROTE"))).await;
        assert!(!stdout(&out).contains("WROTE"), "{target} is writable");
        assert!(!stderr(&out).is_empty(), "{target}: no error shown");
    }
    let out = run(
        &session,
        sh("echo a > /workspace/new && echo b > /tmp/t && echo c > $HOME/h && cat /workspace/new /tmp/t $HOME/h"),
    )
    .await;
    assert_eq!(stdout(&out), "a\nb\nc\n", "{}", stderr(&out));
    // The workspace is the host's: the host sees what was written.
    assert_eq!(
        std::fs::read_to_string(ws.path().join("new")).unwrap(),
        "a\n"
    );
    // /tmp is a size-capped file system of its own (tmpfs; gVisor names it "none").
    let out = run(
        &session,
        sh("df -k /tmp | tail -1; df -k /tmp /workspace | tail -2 | awk '{print $6}'"),
    )
    .await;
    let text = stdout(&out);
    let total_kib: u64 = text.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert!(total_kib <= 2 << 20, "/tmp holds {total_kib} KiB: {text}");
    assert!(text.ends_with("/tmp\n/workspace\n"), "{text}");
    session.stop().await.unwrap();
}

#[tokio::test]
async fn git_metadata_cannot_be_changed_from_inside() {
    let Some((backend, _rt)) = backend().await else {
        return;
    };
    let ws = workspace();
    let config_before = std::fs::read(ws.path().join(".git/config")).unwrap();
    let session = session(&backend, ws.path()).await;
    common::scenarios::git_metadata_cannot_be_changed(
        &session,
        ws.path(),
        &config_before,
        &["umount /workspace/.git"],
    )
    .await;
}

#[tokio::test]
async fn commands_run_unprivileged_without_capabilities() {
    let Some((backend, _rt)) = backend().await else {
        return;
    };
    let ws = workspace();
    let session = session(&backend, ws.path()).await;
    let out = run(
        &session,
        sh("id -u; id -g; grep -E '^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp):' /proc/self/status"),
    )
    .await;
    let text = stdout(&out);
    let mut lines = text.lines();
    let uid: u32 = lines.next().unwrap().parse().unwrap();
    assert_ne!(uid, 0, "commands run as root");
    assert_eq!(
        (uid, lines.next().unwrap().parse::<u32>().unwrap()),
        session.user()
    );
    // gVisor leaves CapAmb out of /proc/self/status; every line that is there must be empty.
    for cap in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
        let line = text.lines().find(|l| l.starts_with(&format!("{cap}:")));
        assert!(
            line.is_none_or(|l| l.ends_with("\t0000000000000000")),
            "{cap} is not empty: {text}"
        );
    }
    for required in ["CapPrm", "CapEff", "CapBnd"] {
        assert!(text.contains(&format!("{required}:\t")), "{text}");
    }
    // gVisor implements system calls itself rather than filtering the host's, and its
    // /proc/self/status has no NoNewPrivs line.
    let gvisor = session
        .info()
        .isolation
        .iter()
        .any(|i| i == "runtime runsc");
    assert!(gvisor || text.contains("NoNewPrivs:\t1"), "{text}");
    assert!(gvisor || text.contains("Seccomp:\t2"), "{text}");
    let attempts = [
        "mount -t tmpfs none /mnt",
        "mount --bind /tmp /workspace",
        "umount /workspace",
        "chroot / true",
        "unshare -m true",
        "nsenter -t 1 -m true",
        "hostname evil",
        "chown root /workspace/README.md",
        "python3 -c 'import os; os.setuid(0)'",
        "python3 -c 'import ctypes; l = ctypes.CDLL(None); assert l.setns(0, 0) == 0'",
        "echo 1 > /proc/sysrq-trigger",
        "cat /proc/kcore > /dev/null",
    ];
    // gVisor emulates user namespaces inside its own kernel: they give nothing on the host.
    let user_namespace = (!gvisor).then_some("unshare -r true");
    for attempt in attempts.into_iter().chain(user_namespace) {
        let out = run(&session, sh(&format!("{attempt} 2>&1 && echo DONE"))).await;
        assert!(
            !stdout(&out).contains("DONE"),
            "{attempt} succeeded: {}",
            stdout(&out)
        );
    }
    session.stop().await.unwrap();
}

#[tokio::test]
async fn the_daemon_socket_and_host_files_are_not_inside() {
    let Some((backend, _rt)) = backend().await else {
        return;
    };
    let ws = workspace();
    let outside = tempfile::tempdir().unwrap();
    let secret = format!("host-secret-{}", std::process::id());
    std::fs::write(outside.path().join("secret.txt"), &secret).unwrap();
    let session = session(&backend, ws.path()).await;
    let out = run(
        &session,
        sh(&format!(
            "ls -la /var/run/docker.sock /run/docker.sock /run/containerd 2>&1; \
             find / -xdev \\( -name 'docker.sock' -o -name 'containerd.sock' -o -name 'podman.sock' \\) 2>/dev/null; \
             cat '{}' 2>&1; grep -rl '{secret}' / --exclude-dir=proc --exclude-dir=sys 2>/dev/null; \
             test -S /run/drydock/proxy.sock && echo proxy-socket; \
             test -S /run/drydock/status.sock && echo status-socket; ls -A /run/drydock 2>&1 | tr '\\n' ' '; echo; echo end",
            outside.path().join("secret.txt").display()
        )),
    )
    .await;
    let text = stdout(&out);
    assert!(text.ends_with("end\n"), "{text}");
    assert!(!text.contains(&secret), "a host file is visible: {text}");
    assert!(!text.contains("srw"), "a daemon socket is inside: {text}");
    assert!(text.contains("proxy-socket\nstatus-socket\n"), "{text}");
    // Not listable (runc: permission denied; gVisor: an error too), or nothing in it but the
    // two sockets.
    let listing = text
        .split("status-socket\n")
        .nth(1)
        .and_then(|rest| rest.lines().next())
        .unwrap_or_default();
    assert!(
        listing.starts_with("ls: ") || listing == "proxy.sock status.sock ",
        "the socket directory shows more than its sockets: {text}"
    );
    // The session's mounts: nothing from the host's file systems but the image, the workspace,
    // drydock's own files and the engine's /etc entries. (Kernel file systems and tmpfs are not
    // the host's files: engines differ in which of those they add, like Podman's /run.)
    let mounts = run(&session, sh("cat /proc/self/mountinfo")).await;
    let virtual_fs = [
        "tmpfs", "proc", "sysfs", "devpts", "mqueue", "cgroup", "cgroup2",
    ];
    let allowed = [
        "/",
        "/workspace",
        "/workspace/.git",
        "/run/drydock",
        "/etc/hosts",
        "/etc/hostname",
        "/etc/resolv.conf",
    ];
    for line in stdout(&mounts).lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let target = fields.get(4).copied().unwrap_or("");
        let fstype = line
            .split(" - ")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or("");
        if virtual_fs.contains(&fstype) {
            continue;
        }
        assert!(
            allowed.contains(&target) || target.starts_with("/run/drydock-stage/"),
            "unexpected mount {target} ({fstype}): {line}"
        );
    }
    session.stop().await.unwrap();
}

#[tokio::test]
async fn symlinks_planted_in_the_workspace_resolve_inside_the_container() {
    let Some((backend, _rt)) = backend().await else {
        return;
    };
    let ws = workspace();
    let (_outside, secret, secret_value) = common::plant_links_to_secrets(ws.path());
    let session = session(&backend, ws.path()).await;
    let script = format!(
        "cat planted-abs planted-rel; ln -s '{secret}' made-secret; cat made-secret; \
         ln /etc/passwd hard-passwd && echo HARD1; echo overwrite > planted-abs; echo end",
        secret = secret.display()
    );
    let out = run(&session, sh(&script)).await;
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).ends_with("end\n"), "{text}");
    assert!(!text.contains(&secret_value), "{text}");
    assert!(!text.contains("root:"), "{text}");
    assert!(!text.contains("HARD1"), "{text}");
    session.stop().await.unwrap();
    assert_eq!(std::fs::read_to_string(&secret).unwrap(), secret_value);
}

#[tokio::test]
async fn the_init_cannot_be_killed_traced_or_read_by_a_command() {
    let Some((backend, _rt)) = backend().await else {
        return;
    };
    let ws = workspace();
    let session = session(&backend, ws.path()).await;
    let out = run(
        &session,
        sh("cat /proc/1/environ 2>&1; head -c 16 /proc/1/mem 2>&1; \
            python3 -c 'import ctypes; l = ctypes.CDLL(None); print(\"ptrace\", l.ptrace(16, 1, 0, 0))'; echo end"),
    )
    .await;
    let text = stdout(&out);
    let gvisor = session
        .info()
        .isolation
        .iter()
        .any(|i| i == "runtime runsc");
    assert!(text.contains("ptrace -1"), "{text}");
    assert!(
        text.contains("/proc/1/mem") && text.contains("denied"),
        "{text}"
    );
    // gVisor shows a non-dumpable process's environment (the same one every command has).
    assert!(
        gvisor || !text.contains("HOME=/tmp/home"),
        "the init's environment is readable: {text}"
    );
    let gvisor = session
        .info()
        .isolation
        .iter()
        .any(|i| i == "runtime runsc");
    let killed = session
        .exec(
            sh("kill -9 1; kill -TERM 1; kill -STOP 1; sleep 1; echo end"),
            &CancellationToken::new(),
        )
        .await;
    if gvisor {
        // gVisor does not shield a pid namespace's init from its own processes: the command
        // can end its session, and everything in it, but nothing more.
        println!("gVisor: killing the init gives {killed:?}");
        let next = session
            .exec(sh("echo alive"), &CancellationToken::new())
            .await;
        if let Err(err) = &next {
            assert!(err.to_string().contains("container ended"), "{err}");
        }
        session.stop().await.unwrap();
        return;
    }
    assert_eq!(stdout(&killed.unwrap()), "end\n");
    // The init is alive and still serves: a command runs, and the sweep still works.
    let out = run(&session, sh("sh -c 'sleep 300' & echo alive")).await;
    assert_eq!(stdout(&out), "alive\n");
    let out = run(
        &session,
        sh("ps -eo comm --no-headers | grep -c sleep || true"),
    )
    .await;
    assert_eq!(stdout(&out), "0\n");
    session.stop().await.unwrap();
}

#[tokio::test]
async fn forged_status_messages_do_not_disturb_the_session() {
    let Some((backend, _rt)) = backend().await else {
        return;
    };
    let ws = workspace();
    let session = session(&backend, ws.path()).await;
    // A command speaks the status protocol itself: claims to be the init, floods a connection,
    // and, behind a connection that never speaks (stalling the host's reader), queues a report
    // for the next command (this is the first, so the next is number 2) with a guessed token.
    std::fs::write(
        ws.path().join("forge.py"),
        r#"import socket
def send(data):
    s = socket.socket(socket.AF_UNIX)
    s.connect('/run/drydock/status.sock')
    s.sendall(data)
    return s
keep = [send(b'"hello_init"\n{"ready":{"oom_kills":0}}\n')]
try:
    send(b'x' * (1 << 20))
except OSError as e:
    print('refused', e)
keep.append(send(b''))
keep.append(send(b'{"hello_exec":{"id":2,"token":"00000000000000000000000000000000"}}\n{"exited":{"outcome":{"Exited":0}}}\n'))
print('sent')
"#,
    )
    .unwrap();
    let out = run(&session, sh("python3 forge.py")).await;
    assert!(
        stdout(&out).contains("sent"),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    // The next commands get their own, true outcomes.
    let out = run(&session, sh("exit 7")).await;
    assert_eq!(out.exit_code, Some(7));
    let out = run(&session, sh("echo fine")).await;
    assert_eq!(stdout(&out), "fine\n");
    session.stop().await.unwrap();
}

#[tokio::test]
async fn another_session_is_invisible() {
    let Some((backend, _rt)) = backend().await else {
        return;
    };
    let (ws_a, ws_b) = (workspace(), workspace());
    std::fs::write(ws_b.path().join("b-only"), "b").unwrap();
    let a = session(&backend, ws_a.path()).await;
    let b = session(&backend, ws_b.path()).await;
    run(&b, sh("echo from-b > /tmp/shared")).await;
    let out = run(
        &a,
        sh(&format!(
            "cat /tmp/shared; ls /workspace; ls '{}'; ps -eo pid --no-headers | wc -l",
            ws_b.path().display()
        )),
    )
    .await;
    let text = stdout(&out);
    assert!(!text.contains("from-b"), "{text}");
    assert!(!text.contains("b-only"), "{text}");
    // Only a's init, the command's wrapper, its shell, ps and wc.
    let processes: usize = text.lines().last().unwrap().trim().parse().unwrap();
    assert!(processes <= 5, "{text}");
    a.stop().await.unwrap();
    b.stop().await.unwrap();
}
