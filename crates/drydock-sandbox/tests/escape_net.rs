//! Network escapes through the real `local` backend: no direct route anywhere, no DNS, and the
//! egress proxy refuses what it must (checked on the host: the target servers see nothing).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use common::*;
use drydock_core::NetworkEvent;
use drydock_sandbox::{NetworkConfig, Session};
use pretty_assertions::assert_eq;
use tokio::sync::mpsc::UnboundedReceiver;

fn drain(rx: &mut UnboundedReceiver<NetworkEvent>) -> Vec<NetworkEvent> {
    let mut events = Vec::new();
    while let Ok(event) = rx.try_recv() {
        events.push(event);
    }
    events
}

/// Python that tries to reach `host:port` over TCP and prints `OPEN` or the error.
fn tcp_probe(host: &str, port: u16) -> String {
    format!(
        "import socket\nfam = socket.AF_INET6 if ':' in '{host}' else socket.AF_INET\ns = socket.socket(fam)\ns.settimeout(3)\ntry:\n    s.connect(('{host}', {port})); print('OPEN')\nexcept Exception as e:\n    print('FAIL', type(e).__name__, e)\n"
    )
}

#[tokio::test]
async fn direct_connections_to_the_host_fail_and_nothing_arrives() {
    let (backend, _rt) = backend();
    let ws = workspace();
    let host_ip = host_address();
    let loopback = CountingServer::http(SocketAddr::from(([127, 0, 0, 1], 0)), "loopback").await;
    let external = CountingServer::http(SocketAddr::new(IpAddr::V4(host_ip), 0), "external").await;
    let udp_loopback = CountingUdp::bind(SocketAddr::from(([127, 0, 0, 1], 0)));
    let udp_external = CountingUdp::bind(SocketAddr::new(IpAddr::V4(host_ip), 0));
    let v6 = tokio::net::TcpListener::bind("[::1]:0").await.ok();
    let session = backend.start_local(spec(ws.path())).await.unwrap();

    let mut script = String::new();
    script.push_str(&tcp_probe("127.0.0.1", loopback.addr.port()));
    script.push_str(&tcp_probe(&host_ip.to_string(), external.addr.port()));
    script.push_str(&tcp_probe("1.1.1.1", 443));
    script.push_str(&tcp_probe("169.254.169.254", 80));
    script.push_str(&tcp_probe("2606:4700:4700::1111", 443));
    if let Some(listener) = &v6 {
        script.push_str(&tcp_probe("::1", listener.local_addr().unwrap().port()));
    }
    script.push_str(&format!(
        "for addr in [('127.0.0.1', {}), ('{}', {})]:\n    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n    try:\n        u.sendto(b'x' * 10, addr); u.sendto(b'y', addr); print('SENT')\n    except Exception as e:\n        print('FAIL', type(e).__name__, e)\n",
        udp_loopback.addr.port(),
        host_ip,
        udp_external.addr.port()
    ));
    let out = run(&session, python(&script)).await;
    let text = stdout(&out);
    println!("{text}{}", stderr(&out));
    assert!(
        !text.contains("OPEN"),
        "a direct connection succeeded:\n{text}"
    );
    assert!(
        text.lines().filter(|l| l.starts_with("FAIL")).count() >= 5,
        "{text}"
    );
    // UDP to loopback lands on the sandbox's own loopback (nobody listens); to the host it has no
    // route. Either way the host's sockets receive nothing.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(loopback.count(), 0);
    assert_eq!(external.count(), 0);
    assert_eq!(udp_loopback.received(), 0);
    assert_eq!(udp_external.received(), 0);
    if let Some(listener) = v6 {
        let accepted =
            tokio::time::timeout(std::time::Duration::from_millis(100), listener.accept()).await;
        assert!(
            accepted.is_err(),
            "the host's IPv6 loopback got a connection"
        );
    }
    session.stop().await.unwrap();
}

#[tokio::test]
async fn names_do_not_resolve_inside() {
    let (backend, _rt) = backend();
    let ws = workspace();
    let session = backend.start_local(spec(ws.path())).await.unwrap();
    let out = run(
        &session,
        sh("getent hosts pypi.org && echo RESOLVED; python3 -c \"import socket; print(socket.getaddrinfo('pypi.org', 443))\" && echo RESOLVED; getent hosts localhost"),
    )
    .await;
    assert!(!stdout(&out).contains("RESOLVED"), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("localhost"),
        "localhost no longer resolves: {}",
        stdout(&out)
    );
    session.stop().await.unwrap();
}

fn with_network(
    ws: &std::path::Path,
    network: NetworkConfig,
) -> (
    drydock_sandbox::SessionSpec,
    UnboundedReceiver<NetworkEvent>,
) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let mut spec = spec(ws);
    spec.network = network;
    spec.network_events = Some(tx);
    (spec, rx)
}

/// curl through the session's proxy even for local names (NO_PROXY would bypass it).
fn curl_via_proxy(url: &str) -> String {
    format!(
        "curl -sS --max-time 10 --noproxy '' -x \"$HTTP_PROXY\" -w '\\nHTTP %{{http_code}}\\n' '{url}'; echo curl-exit=$?"
    )
}

#[tokio::test]
async fn the_proxy_refuses_hosts_outside_the_allowlist() {
    let (backend, _rt) = backend();
    let ws = workspace();
    let (spec, mut events) = with_network(
        ws.path(),
        NetworkConfig {
            allow: vec!["pypi.org".into()],
            deny: Vec::new(),
            allow_private: Vec::new(),
        },
    );
    let session = backend.start_local(spec).await.unwrap();
    let out = run(
        &session,
        sh("curl -sS --max-time 10 -w '\\nHTTP %{http_code}\\n' http://example.com/; curl -sS --max-time 10 https://example.com/ ; echo exit=$?"),
    )
    .await;
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(text.contains("HTTP 403"), "{text}");
    assert!(text.contains("not in network.allow"), "{text}");
    assert!(!text.contains("exit=0"), "{text}");
    session.stop().await.unwrap();
    let events = drain(&mut events);
    assert!(events.len() >= 2, "{events:?}");
    assert!(
        events.iter().all(|e| !e.allowed && e.host == "example.com"),
        "{events:?}"
    );
    assert!(events.iter().any(|e| e.port == 443) && events.iter().any(|e| e.port == 80));
}

#[tokio::test]
async fn an_allowed_name_that_resolves_to_loopback_is_refused_unless_allow_private() {
    let (backend, _rt) = backend();
    let ws = workspace();
    let server = CountingServer::http(SocketAddr::from(([127, 0, 0, 1], 0)), "host").await;
    let port = server.addr.port();

    let (refused_spec, mut refused_events) = with_network(
        ws.path(),
        NetworkConfig {
            allow: vec![
                "localhost:*".into(),
                "127.0.0.1:*".into(),
                "169.254.169.254:*".into(),
            ],
            deny: Vec::new(),
            allow_private: Vec::new(),
        },
    );
    let session = backend.start_local(refused_spec).await.unwrap();
    let script = [
        curl_via_proxy(&format!("http://localhost:{port}/")),
        curl_via_proxy(&format!("http://127.0.0.1:{port}/")),
        curl_via_proxy("http://169.254.169.254/latest/meta-data/"),
        format!("curl -sS --max-time 10 --noproxy '' -x \"$HTTP_PROXY\" -p http://localhost:{port}/; echo tunnel-exit=$?"),
    ]
    .join("; ");
    let out = run(&session, sh(&script)).await;
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
    let (allowed_spec, mut allowed_events) = with_network(
        ws.path(),
        NetworkConfig {
            allow: vec!["localhost:*".into()],
            deny: Vec::new(),
            allow_private: vec!["127.0.0.0/8".into()],
        },
    );
    let session = backend.start_local(allowed_spec).await.unwrap();
    let tunnel = format!(
        "curl -sS --max-time 10 --noproxy '' -x \"$HTTP_PROXY\" -p http://localhost:{port}/"
    );
    let out = run(
        &session,
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

#[tokio::test]
async fn offline_sessions_refuse_everything_and_report_it() {
    let (backend, _rt) = backend();
    let ws = workspace();
    let (spec, mut events) = with_network(ws.path(), offline());
    let session = backend.start_local(spec).await.unwrap();
    let out = run(
        &session,
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
    let events = drain(&mut events);
    assert_eq!(events.len(), 1);
    assert!(events[0].reason.contains("offline"), "{:?}", events[0]);
}

#[test]
fn the_host_address_used_is_not_loopback() {
    assert_ne!(host_address(), Ipv4Addr::LOCALHOST);
}
