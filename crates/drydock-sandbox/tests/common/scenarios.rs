//! Attempts both backends must withstand in the same way, written once: each test starts a
//! session on its backend and hands it here, then checks what is particular to that backend.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use drydock_core::NetworkEvent;
use drydock_sandbox::{NetworkConfig, SandboxError, Session};
use pretty_assertions::assert_eq;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio_util::sync::CancellationToken;

use super::{CountingServer, marker, pids_with_marker, python, request, run, sh, stderr, stdout};

/// A session and the network events it reports.
pub type NetworkSession = (Box<dyn Session>, UnboundedReceiver<NetworkEvent>);

/// The events received so far.
pub fn drain(rx: &mut UnboundedReceiver<NetworkEvent>) -> Vec<NetworkEvent> {
    let mut events = Vec::new();
    while let Ok(event) = rx.try_recv() {
        events.push(event);
    }
    events
}

/// curl through the session's proxy even for local names (NO_PROXY would bypass it).
pub fn curl_via_proxy(url: &str) -> String {
    format!(
        "curl -sS --max-time 10 --noproxy '' -x \"$HTTP_PROXY\" -w '\\nHTTP %{{http_code}}\\n' '{url}'; echo curl-exit=$?"
    )
}

/// A missing program, an empty argv, a working directory outside the workspace or missing, a NUL
/// byte and a non-executable file each get a clear error; a huge argument works; the session
/// goes on.
pub async fn bad_requests_get_clear_errors(session: &dyn Session, workspace: &Path) {
    let cancel = CancellationToken::new();

    let err = session
        .exec(request(&["no-such-program-drydock"]), &cancel)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, SandboxError::Exec { program, message } if program == "no-such-program-drydock" && message.contains("not found")),
        "{err}"
    );

    let err = session.exec(request(&[]), &cancel).await.unwrap_err();
    assert!(matches!(err, SandboxError::InvalidRequest { .. }), "{err}");

    let mut req = request(&["true"]);
    req.cwd = Some("../outside".into());
    assert!(matches!(
        session.exec(req, &cancel).await.unwrap_err(),
        SandboxError::InvalidRequest { .. }
    ));

    let mut req = request(&["true"]);
    req.cwd = Some("missing/dir".into());
    let err = session.exec(req, &cancel).await.unwrap_err();
    assert!(
        matches!(&err, SandboxError::InvalidRequest { message } if message.contains("missing/dir")),
        "{err}"
    );

    let err = session
        .exec(request(&["echo", "nul\0byte"]), &cancel)
        .await
        .unwrap_err();
    assert!(matches!(err, SandboxError::InvalidRequest { .. }), "{err}");

    std::fs::write(workspace.join("noexec.sh"), "#!/bin/sh\necho hi\n").unwrap();
    let err = session
        .exec(request(&["./noexec.sh"]), &cancel)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, SandboxError::Exec { message, .. } if message.contains("ermission")),
        "{err}"
    );

    // A large single argument (well past a shell's comfort zone) still works.
    let big = "x".repeat(120_000);
    let out = run(
        session,
        request(&["bash", "-c", "echo ${#1}", "arg0", &big]),
    )
    .await;
    assert_eq!(stdout(&out), "120000\n");

    assert_eq!(run(session, request(&["true"])).await.exit_code, Some(0));
}

/// Every way of changing `.git` from inside fails (the backend may add its own `extra_attempts`),
/// the rest of the workspace stays writable, and after `stop` the host's `.git` is as it was.
pub async fn git_metadata_cannot_be_changed(
    session: &dyn Session,
    workspace: &Path,
    config_before: &[u8],
    extra_attempts: &[&str],
) {
    let attempts = [
        "printf '#!/bin/sh\\ncurl evil\\n' > .git/hooks/pre-commit",
        "echo '[core]\\n\\tfsmonitor = /tmp/x' >> .git/config",
        "rm -f .git/config",
        "rm -rf .git",
        "mv .git .git-moved",
        "chmod 777 .git/config",
        "ln -s /tmp/x .git/hooks/post-checkout",
        "touch .git/index.lock",
        "mkdir .git/refs-evil",
    ];
    for attempt in attempts.iter().chain(extra_attempts) {
        let out = run(session, sh(&format!("{attempt} && echo DONE"))).await;
        assert!(!stdout(&out).contains("DONE"), "{attempt} succeeded");
    }
    // The rest of the workspace is writable.
    let out = run(
        session,
        sh("echo changed > README.md && mkdir -p src && echo ok > src/new.rs && cat README.md"),
    )
    .await;
    assert_eq!(stdout(&out), "changed\n");
    session.stop().await.unwrap();
    assert_eq!(
        std::fs::read(workspace.join(".git/config")).unwrap(),
        config_before
    );
    assert_eq!(
        std::fs::read_dir(workspace.join(".git/hooks"))
            .unwrap()
            .count(),
        0
    );
    assert!(!workspace.join(".git-moved").exists());
    assert!(!workspace.join(".git/index.lock").exists());
    assert_eq!(
        std::fs::read_to_string(workspace.join("src/new.rs")).unwrap(),
        "ok\n"
    );
}

/// A fork bomb in a session limited to a few processes ends (by the limit or its timeout), leaves
/// nothing behind, and the session still runs `count_processes` (a listing of `/proc`).
pub async fn a_fork_bomb_is_contained(session: &dyn Session, count_processes: &str) {
    let m = marker("forkbomb");
    // The bomb runs from a script whose name carries the marker, so every fork shows it.
    let script = format!("/tmp/{m}.sh");
    run(
        session,
        sh(&format!("printf 'b(){{ b | b & }}; b\\n' > {script}")),
    )
    .await;
    let mut bomb = request(&["bash", &script]);
    bomb.timeout = Duration::from_secs(3);
    let out = run(session, bomb).await;
    // Either the limit made bash give up ("Resource temporarily unavailable") or the timeout
    // ended it; in both cases nothing is left.
    assert!(out.timed_out || out.exit_code.is_some(), "{out:?}");
    assert_eq!(pids_with_marker(&m), Vec::<u32>::new());
    let ok = run(session, sh(&format!("echo alive; {count_processes}"))).await;
    assert_eq!(ok.exit_code, Some(0), "{}", stderr(&ok));
    assert!(stdout(&ok).starts_with("alive\n"));
}

/// In a session limited to 16 processes, forking stops with EAGAIN before the 16th.
pub async fn processes_beyond_sixteen_cannot_start(session: &dyn Session) {
    let out = run(session, python(
        "import os, time\nkids = []\nerr = None\nfor i in range(64):\n    try:\n        pid = os.fork()\n    except OSError as e:\n        err = e.errno; break\n    if pid == 0:\n        time.sleep(5); os._exit(0)\n    kids.append(pid)\nprint(len(kids), err)\n",
    )).await;
    let text = stdout(&out);
    let started: usize = text.split_whitespace().next().unwrap().parse().unwrap();
    assert!(
        started < 16,
        "{started} processes started under a limit of 16: {text}"
    );
    assert!(text.trim().ends_with(&libc::EAGAIN.to_string()), "{text}");
}

/// In a session with a 16 MiB disk budget, one 64 MiB file fails with EFBIG and stays within the
/// budget on the host.
pub async fn one_huge_file_fails_with_efbig(session: &dyn Session, workspace: &Path) {
    let out = run(
        session,
        sh("dd if=/dev/zero of=big bs=1M count=64 2>&1; echo dd-exit=$?"),
    )
    .await;
    let text = stdout(&out);
    assert!(text.contains("File too large"), "{text}");
    assert!(!text.contains("dd-exit=0"), "{text}");
    let size = std::fs::metadata(workspace.join("big")).unwrap().len();
    assert!(size <= 16 << 20, "the file grew to {size} bytes");
}

/// With only `pypi.org` allowed, plain and TLS requests to example.com are refused by the proxy,
/// and each is reported (the session is stopped here).
pub async fn the_proxy_refuses_hosts_outside_the_allowlist(
    session: &dyn Session,
    events: &mut UnboundedReceiver<NetworkEvent>,
) {
    let out = run(
        session,
        sh("curl -sS --max-time 10 -w '\\nHTTP %{http_code}\\n' http://example.com/; curl -sS --max-time 10 https://example.com/ ; echo exit=$?"),
    )
    .await;
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(text.contains("HTTP 403"), "{text}");
    assert!(text.contains("not in network.allow"), "{text}");
    assert!(!text.contains("exit=0"), "{text}");
    session.stop().await.unwrap();
    let events = drain(events);
    assert!(events.len() >= 2, "{events:?}");
    assert!(
        events.iter().all(|e| !e.allowed && e.host == "example.com"),
        "{events:?}"
    );
    assert!(events.iter().any(|e| e.port == 443) && events.iter().any(|e| e.port == 80));
}

/// The allowlist used by [`the_proxy_refuses_hosts_outside_the_allowlist`].
pub fn only_pypi() -> NetworkConfig {
    NetworkConfig {
        allow: vec!["pypi.org".into()],
        deny: Vec::new(),
        allow_private: Vec::new(),
    }
}

/// Allowed names that resolve to loopback or the metadata address are refused (nothing reaches a
/// loopback server) until `allow_private` names the range; `start` opens a session with the
/// given network.
pub async fn loopback_is_refused_unless_allow_private(
    start: impl AsyncFn(NetworkConfig) -> NetworkSession,
) {
    let server = CountingServer::http(SocketAddr::from(([127, 0, 0, 1], 0)), "host").await;
    let port = server.addr.port();

    let (session, mut refused_events) = start(NetworkConfig {
        allow: vec![
            "localhost:*".into(),
            "127.0.0.1:*".into(),
            "169.254.169.254:*".into(),
        ],
        deny: Vec::new(),
        allow_private: Vec::new(),
    })
    .await;
    let script = [
        curl_via_proxy(&format!("http://localhost:{port}/")),
        curl_via_proxy(&format!("http://127.0.0.1:{port}/")),
        curl_via_proxy("http://169.254.169.254/latest/meta-data/"),
        format!("curl -sS --max-time 10 --noproxy '' -x \"$HTTP_PROXY\" -p http://localhost:{port}/; echo tunnel-exit=$?"),
    ]
    .join("; ");
    let out = run(session.as_ref(), sh(&script)).await;
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(!text.contains("hello from host"), "{text}");
    assert_eq!(text.matches("HTTP 403").count(), 3, "{text}");
    assert!(text.contains("allow_private"), "{text}");
    session.stop().await.unwrap();
    assert_eq!(server.count(), 0, "the loopback server was reached");
    let events = drain(&mut refused_events);
    assert!(events.iter().all(|e| !e.allowed), "{events:?}");
    assert!(
        events.iter().any(|e| e.reason.contains("loopback")),
        "{events:?}"
    );
    assert!(
        events.iter().any(|e| e.reason.contains("metadata")),
        "{events:?}"
    );

    // The same requests succeed once the range is allowed, proving the refusal above was the
    // private-address check and not a broken path.
    let (session, mut allowed_events) = start(NetworkConfig {
        allow: vec!["localhost:*".into()],
        deny: Vec::new(),
        allow_private: vec!["127.0.0.0/8".into()],
    })
    .await;
    let tunnel = format!(
        "curl -sS --max-time 10 --noproxy '' -x \"$HTTP_PROXY\" -p http://localhost:{port}/"
    );
    let out = run(
        session.as_ref(),
        sh(&format!(
            "{}; {tunnel}",
            curl_via_proxy(&format!("http://localhost:{port}/"))
        )),
    )
    .await;
    assert_eq!(
        stdout(&out).matches("hello from host").count(),
        2,
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    session.stop().await.unwrap();
    assert_eq!(server.count(), 2);
    let events = drain(&mut allowed_events);
    assert_eq!(events.len(), 2, "{events:?}");
    for event in &events {
        assert!(event.allowed, "{event:?}");
        assert_eq!((event.host.as_str(), event.port), ("localhost", port));
        assert!(event.bytes_up > 0 && event.bytes_down > 0, "{event:?}");
        assert!(event.reason.contains("localhost:*"), "{event:?}");
    }
}

/// An offline session's request is refused with 403 and reported once, as offline (the session
/// is stopped here).
pub async fn offline_sessions_refuse_everything(
    session: &dyn Session,
    events: &mut UnboundedReceiver<NetworkEvent>,
) {
    let out = run(
        session,
        sh("curl -sS --max-time 10 -w '%{http_code}' http://crates.io/"),
    )
    .await;
    assert!(
        stdout(&out).contains("403"),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    session.stop().await.unwrap();
    let events = drain(events);
    assert_eq!(events.len(), 1);
    assert!(events[0].reason.contains("offline"), "{:?}", events[0]);
}

/// Exit codes, signals and a binary stdin come back as they were.
pub async fn exit_codes_signals_and_stdin(session: &dyn Session) {
    let out = run(session, sh("echo out; echo err >&2; exit 3")).await;
    assert_eq!(
        (out.exit_code, out.signal, out.timed_out),
        (Some(3), None, false)
    );
    assert_eq!(
        (stdout(&out), stderr(&out)),
        ("out\n".into(), "err\n".into())
    );
    assert!(!out.success());

    let out = run(session, sh("kill -TERM $$")).await;
    assert_eq!((out.exit_code, out.signal), (None, Some(libc::SIGTERM)));

    let mut req = request(&["cat"]);
    req.stdin = Some(b"from stdin\0binary\xff".to_vec());
    let out = run(session, req).await;
    assert_eq!(out.stdout.head, b"from stdin\0binary\xff");
}

/// No stdin reads as empty, `cwd` is relative to the workspace (which holds `sub/dir`), merged
/// output keeps its order, and `/dev/std*` work.
pub async fn empty_stdin_cwd_and_merged_output(session: &dyn Session) {
    let out = run(session, request(&["cat"])).await;
    assert_eq!(out.stdout.total_bytes, 0, "no stdin means an empty one");

    let mut req = request(&["pwd"]);
    req.cwd = Some("sub/dir".into());
    assert_eq!(stdout(&run(session, req).await), "/workspace/sub/dir\n");

    let mut req = sh("echo a; echo b >&2; echo c");
    req.merge_stderr = true;
    let out = run(session, req).await;
    assert_eq!(stdout(&out), "a\nb\nc\n");
    assert_eq!(out.stderr.total_bytes, 0);

    // Common shell idioms that go through /proc/self/fd.
    let out = run(
        session,
        sh("echo x > /dev/stdout; echo y > /dev/stderr; echo z | cat /dev/stdin"),
    )
    .await;
    assert_eq!(
        (stdout(&out), stderr(&out)),
        ("x\nz\n".into(), "y\n".into())
    );
}

/// This process's resident memory.
fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    kib * 1024
}

/// `gib` GiB of output (a marker at each end) are counted whole, kept as 32 KiB of head and of
/// tail, and capturing them grows this process by under 64 MiB; `route` names the path the
/// output took, for the printed figure. Returns the output for backend-specific checks.
pub async fn a_flood_is_captured_in_bounded_memory(
    session: &dyn Session,
    gib: u64,
    route: &str,
) -> drydock_sandbox::ExecOutput {
    let before = rss_bytes();
    let mut req = sh(&format!(
        "echo START; head -c {gib}G /dev/zero; echo END; echo to-stderr >&2"
    ));
    req.max_output_bytes = 64 * 1024;
    req.timeout = Duration::from_secs(300);
    let out = run(session, req).await;
    let grown = rss_bytes().saturating_sub(before);
    assert_eq!(out.exit_code, Some(0));
    assert_eq!(out.stdout.total_bytes, (gib << 30) + 10);
    assert_eq!(out.stdout.head.len(), 32 * 1024);
    assert_eq!(out.stdout.tail.len(), 32 * 1024);
    assert!(out.stdout.head.starts_with(b"START\n\0\0"));
    assert!(out.stdout.tail.ends_with(b"\0\0END\n"));
    assert_eq!(stderr(&out), "to-stderr\n");
    println!(
        "{gib} GiB of output{route} in {:?}; resident memory grew by {} KiB",
        out.duration,
        grown >> 10
    );
    assert!(
        grown < 64 << 20,
        "memory grew by {grown} bytes while capturing"
    );
    out
}

fn resolve(host: &str) -> Vec<std::net::IpAddr> {
    use std::net::ToSocketAddrs;
    (host, 443)
        .to_socket_addrs()
        .map(|addrs| addrs.map(|a| a.ip()).collect())
        .unwrap_or_default()
}

fn host_reaches(host: &str) -> bool {
    use std::net::ToSocketAddrs;
    let Ok(mut addrs) = (host, 443).to_socket_addrs() else {
        return false;
    };
    addrs.any(|addr| std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(5)).is_ok())
}

/// Whether this host reaches pypi.org (printing a skip when it does not).
pub async fn pypi_is_reachable() -> bool {
    let reachable = tokio::task::spawn_blocking(|| host_reaches("pypi.org"))
        .await
        .unwrap();
    if !reachable {
        println!("SKIPPED: pypi.org is not reachable from this host");
    }
    reachable
}

/// The default registries, plus the non-public addresses this host's PyPI names resolve to.
pub fn pypi_network() -> NetworkConfig {
    let mut network = NetworkConfig::default();
    // Some build hosts reach registries through a gateway at a reserved or private address; the
    // proxy refuses those unless allowed, so allow exactly those addresses, as an operator would.
    for host in ["pypi.org", "files.pythonhosted.org"] {
        for ip in resolve(host) {
            if let Some(class) = drydock_sandbox::egress::non_public_class(ip) {
                println!(
                    "note: {host} resolves to {ip} ({class}) on this host; allowing it explicitly"
                );
                network.allow_private.push(ip.to_string());
            }
        }
    }
    network
}

/// In a session on [`pypi_network`], pip downloads `six` into the workspace (`list_downloads`
/// then prints what arrived), cannot reach an index outside the registries, and every
/// connection is reported (the session is stopped here).
pub async fn pip_downloads_six_through_the_proxy(
    session: &dyn Session,
    events: &mut UnboundedReceiver<NetworkEvent>,
    workspace: &Path,
    list_downloads: &str,
) {
    let mut download = sh(&format!(
        "python3 -m pip download --no-deps --disable-pip-version-check -q -d /workspace/dl six==1.16.0 2>&1; {list_downloads}"
    ));
    download.timeout = Duration::from_secs(180);
    let out = run(session, download).await;
    assert_eq!(out.exit_code, Some(0), "{out:?}\n{}", stdout(&out));
    assert!(
        stdout(&out).contains("six-1.16.0-py2.py3-none-any.whl"),
        "{}",
        stdout(&out)
    );
    // The same session cannot reach a host outside the default registries.
    let out = run(session, sh("python3 -m pip download --no-deps -q --retries 0 --timeout 5 -d /tmp/x --index-url https://example.com/simple six 2>&1; echo exit=$?")).await;
    assert!(!stdout(&out).contains("exit=0"), "{}", stdout(&out));
    session.stop().await.unwrap();
    assert!(
        workspace
            .join("dl/six-1.16.0-py2.py3-none-any.whl")
            .exists()
    );
    let events = drain(events);
    assert!(
        events
            .iter()
            .any(|e| e.allowed && e.host == "pypi.org" && e.bytes_down > 0),
        "{events:?}"
    );
    assert!(
        events
            .iter()
            .any(|e| e.allowed && e.host == "files.pythonhosted.org"),
        "{events:?}"
    );
    assert!(
        events.iter().any(|e| !e.allowed && e.host == "example.com"),
        "{events:?}"
    );
}

/// Jobs a command leaves in the background in every usual way (plus the backend's
/// `extra_variants`, templates with `{m}` for a marker) end with it: the command returns at once
/// and no host process carries the marker; `also_gone` checks the marker by the backend's own
/// means.
pub async fn background_jobs_do_not_outlive_their_command(
    session: &dyn Session,
    extra_variants: &[(&str, &str)],
    also_gone: impl AsyncFn(&str),
) {
    let variants = [
        ("amp", "sh -c 'sleep 300' {m} &"),
        ("setsid", "setsid sh -c 'sleep 300' {m} &"),
        ("nohup", "nohup sh -c 'sleep 300' {m} >/dev/null 2>&1 &"),
        ("double", "( ( sh -c 'sleep 300' {m} & ) & )"),
        ("disown", "sh -c 'sleep 300' {m} & disown"),
        (
            "daemon",
            "python3 -c 'import os,sys,time\nif os.fork(): sys.exit(0)\nos.setsid()\nif os.fork(): sys.exit(0)\ntime.sleep(300)' {m} </dev/null >/dev/null 2>&1",
        ),
    ];
    for (tag, template) in variants.iter().chain(extra_variants) {
        let m = marker(tag);
        let started = std::time::Instant::now();
        let out = run(session, sh(&template.replace("{m}", &m))).await;
        assert_eq!(out.exit_code, Some(0), "{tag}: {}", stderr(&out));
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{tag}: the command waited for its background job"
        );
        // The exec returns only after the command's pid namespace is gone.
        assert_eq!(
            pids_with_marker(&m),
            Vec::<u32>::new(),
            "{tag} survived its command"
        );
        also_gone(&m).await;
    }
}
