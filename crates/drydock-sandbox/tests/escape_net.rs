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

#[tokio::test]
async fn the_proxy_refuses_hosts_outside_the_allowlist() {
    let (backend, _rt) = backend();
    let ws = workspace();
    let (spec, mut events) = with_network(ws.path(), scenarios::only_pypi());
    let session = backend.start_local(spec).await.unwrap();
    scenarios::the_proxy_refuses_hosts_outside_the_allowlist(&session, &mut events).await;
}

#[tokio::test]
async fn an_allowed_name_that_resolves_to_loopback_is_refused_unless_allow_private() {
    let (backend, _rt) = backend();
    let ws = workspace();
    scenarios::loopback_is_refused_unless_allow_private(async |network| {
        let (spec, events) = with_network(ws.path(), network);
        let session = backend.start_local(spec).await.unwrap();
        (Box::new(session) as Box<dyn Session>, events)
    })
    .await;
}

#[tokio::test]
async fn offline_sessions_refuse_everything_and_report_it() {
    let (backend, _rt) = backend();
    let ws = workspace();
    let (spec, mut events) = with_network(ws.path(), offline());
    let session = backend.start_local(spec).await.unwrap();
    scenarios::offline_sessions_refuse_everything(&session, &mut events).await;
}

#[test]
fn the_host_address_used_is_not_loopback() {
    assert_ne!(host_address(), Ipv4Addr::LOCALHOST);
}
