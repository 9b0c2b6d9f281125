//! Privilege and kernel-surface escapes: capabilities, ptrace, mount, namespaces, chroot, and the
//! system calls seccomp refuses. Each is tried with raw system calls (python ctypes) so the
//! result is the kernel's answer, not a tool's.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;

use common::*;
use drydock_sandbox::Session;
use pretty_assertions::assert_eq;

const PRELUDE: &str = r#"
import ctypes, json, os, socket, subprocess, time
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
results = {}
def sc(name, nr, *args):
    ctypes.set_errno(0)
    r = libc.syscall(ctypes.c_long(nr), *[ctypes.c_long(a) if isinstance(a, int) else a for a in args])
    results[name] = 0 if r >= 0 else ctypes.get_errno()
"#;

fn nr(n: libc::c_long) -> String {
    n.to_string()
}

#[tokio::test]
async fn privileged_and_dangerous_system_calls_are_refused() {
    let (backend, _rt) = backend();
    let ws = workspace();
    let session = backend.start_local(spec(ws.path())).await.unwrap();
    let buf = "ctypes.create_string_buffer(256)";
    let script = format!(
        r#"{PRELUDE}
child = subprocess.Popen(['sleep', '30'])
time.sleep(0.1)
sc('ptrace_attach', {ptrace}, 16, child.pid, 0, 0)
sc('process_vm_readv', {vm_readv}, child.pid, 0, 0, 0, 0, 0)
sc('mount_tmpfs', {mount}, b'none', b'/tmp', b'tmpfs', 0, 0)
sc('umount_proc', {umount2}, b'/proc', 2)
sc('unshare_user', {unshare}, 0x10000000)
sc('unshare_mount', {unshare}, 0x00020000)
sc('unshare_net', {unshare}, 0x40000000)
sc('clone_newuser', {clone}, 0x10000000 | 17, 0, 0, 0, 0)
sc('clone3', {clone3}, {buf}, 88)
sc('setns', {setns}, os.open('/proc/self/ns/net', os.O_RDONLY), 0)
sc('chroot', {chroot}, b'/tmp')
sc('pivot_root', {pivot_root}, b'/tmp', b'/tmp')
sc('keyctl_session', {keyctl}, 0, -3, 0)
sc('add_key', {add_key}, b'user', b'drydock', b'x', 1, -3)
sc('bpf', {bpf}, 5, {buf}, 72)
sc('perf_event_open', {perf}, {buf}, 0, -1, -1, 0)
sc('userfaultfd', {uffd}, 1)
sc('io_uring_setup', {io_uring}, 1, {buf})
sc('kexec_load', {kexec}, 0, 0, 0, 0)
sc('init_module', {init_module}, 0, 0, b'')
sc('reboot', {reboot}, 0xfee1dead, 672274793, 0x01234567, 0)
sc('syslog', {syslog}, 3, {buf}, 256)
sc('open_by_handle_at', {obha}, -100, {buf}, 0)
sc('settimeofday', {settimeofday}, {buf}, 0)
sc('x32_getpid', 0x40000000 | 39)
results['socket_packet'] = 0
try:
    socket.socket(17, socket.SOCK_RAW, 0)
except OSError as e:
    results['socket_packet'] = e.errno
results['socket_vsock'] = 0
try:
    socket.socket(40, socket.SOCK_STREAM, 0)
except OSError as e:
    results['socket_vsock'] = e.errno
import fcntl, termios
results['tiocsti'] = 0
try:
    fcntl.ioctl(0, termios.TIOCSTI, b'x')
except OSError as e:
    results['tiocsti'] = e.errno
child.kill()
print(json.dumps(results))
"#,
        ptrace = nr(libc::SYS_ptrace),
        vm_readv = nr(libc::SYS_process_vm_readv),
        mount = nr(libc::SYS_mount),
        umount2 = nr(libc::SYS_umount2),
        unshare = nr(libc::SYS_unshare),
        clone = nr(libc::SYS_clone),
        clone3 = nr(libc::SYS_clone3),
        setns = nr(libc::SYS_setns),
        chroot = nr(libc::SYS_chroot),
        pivot_root = nr(libc::SYS_pivot_root),
        keyctl = nr(libc::SYS_keyctl),
        add_key = nr(libc::SYS_add_key),
        bpf = nr(libc::SYS_bpf),
        perf = nr(libc::SYS_perf_event_open),
        uffd = nr(libc::SYS_userfaultfd),
        io_uring = nr(libc::SYS_io_uring_setup),
        kexec = nr(libc::SYS_kexec_load),
        init_module = nr(libc::SYS_init_module),
        reboot = nr(libc::SYS_reboot),
        syslog = nr(libc::SYS_syslog),
        obha = nr(libc::SYS_open_by_handle_at),
        settimeofday = nr(libc::SYS_settimeofday),
    );
    let out = run(&session, python(&script)).await;
    assert_eq!(out.exit_code, Some(0), "{}", stderr(&out));
    let results: BTreeMap<String, i32> = serde_json::from_str(stdout(&out).trim()).unwrap();
    let mut expected: BTreeMap<String, i32> =
        results.keys().map(|k| (k.clone(), libc::EPERM)).collect();
    expected.insert("clone3".into(), libc::ENOSYS);
    expected.insert("x32_getpid".into(), libc::ENOSYS);
    assert_eq!(results, expected);
    session.stop().await.unwrap();
}

#[tokio::test]
async fn capabilities_are_gone_and_tools_that_need_them_fail() {
    let (backend, _rt) = backend();
    let ws = workspace();
    let session = backend.start_local(spec(ws.path())).await.unwrap();
    let out = run(
        &session,
        sh("grep -E '^(Cap(Inh|Prm|Eff|Bnd|Amb)|NoNewPrivs|Seccomp):' /proc/self/status"),
    )
    .await;
    assert_eq!(
        stdout(&out),
        "CapInh:\t0000000000000000\nCapPrm:\t0000000000000000\nCapEff:\t0000000000000000\nCapBnd:\t0000000000000000\nCapAmb:\t0000000000000000\nNoNewPrivs:\t1\nSeccomp:\t2\n"
    );
    let attempts = [
        "unshare -Ur true",
        "unshare -m true",
        "unshare -n true",
        "unshare -p -f true",
        // util-linux `mount` is setuid root; no_new_privs keeps it unprivileged.
        "mount -t tmpfs none /tmp",
        "mount --bind /tmp /workspace",
        "umount /proc",
        "chroot / true",
        "strace -f true",
        "nsenter -t 1 -m true",
        "su -c true",
        "setpriv --reuid 0 true",
        "hostname evil",
        "ip link add dummy0 type dummy",
        "ip addr add 10.9.9.9/32 dev lo",
        "python3 -c \"import os; os.setuid(0)\"",
    ];
    for attempt in attempts {
        let out = run(
            &session,
            sh(&format!(
                "{attempt} </dev/null >/dev/null 2>&1 && echo SUCCEEDED"
            )),
        )
        .await;
        assert!(!stdout(&out).contains("SUCCEEDED"), "{attempt} succeeded");
    }
    let out = run(&session, sh("hostname; id -u")).await;
    assert_eq!(stdout(&out), "drydock\n1000\n");
    session.stop().await.unwrap();
}

#[tokio::test]
async fn a_command_cannot_reach_the_memory_of_its_init() {
    let (backend, _rt) = backend();
    let ws = workspace();
    let session = backend.start_local(spec(ws.path())).await.unwrap();
    let out = run(
        &session,
        python(
            "import os\nfor path in ['/proc/1/mem', '/proc/1/environ', '/proc/1/fd/0']:\n    try:\n        open(path, 'rb').read(1); print('READ', path)\n    except OSError as e:\n        print('DENIED', path, e.errno)\nprint(open('/proc/1/cmdline', 'rb').read().split(b'\\0')[1].decode())",
        ),
    )
    .await;
    let text = stdout(&out);
    assert!(!text.contains("READ"), "{text}");
    assert_eq!(text.matches("DENIED").count(), 3, "{text}{}", stderr(&out));
    // pid 1 is the command's own init, a copy of the stage: never the session's supervisor.
    assert!(text.ends_with("__drydock-sandbox-stage\n"), "{text}");
    session.stop().await.unwrap();
}
