//! Network escapes through the real docker daemon: no route to the host, the docker bridge, the
//! internet or a metadata service, over IPv4 or IPv6, TCP or UDP; no DNS; and the egress proxy
//! allows and refuses what it must, reporting every connection (checked on the host: the target
//! servers see nothing they should not).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod docker_common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use common::{CountingServer, CountingUdp, host_address, python, sh, stderr, stdout, workspace};
use docker_common::*;
use drydock_core::NetworkEvent;
use drydock_sandbox::{DockerBackend, NetworkConfig, Session};
use pretty_assertions::assert_eq;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio_util::sync::CancellationToken;

async fn run(
    session: &impl Session,
    req: drydock_sandbox::ExecRequest,
) -> drydock_sandbox::ExecOutput {
    session.exec(req, &CancellationToken::new()).await.unwrap()
}

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
        "import socket\nfam = socket.AF_INET6 if ':' in '{host}' else socket.AF_INET\ns = socket.socket(fam)\ns.settimeout(3)\ntry:\n    s.connect(('{host}', {port})); print('OPEN {host}')\nexcept Exception as e:\n    print('FAIL {host}', type(e).__name__, e)\n"
    )
}

/// The docker bridge's gateway address on this host, if the bridge exists.
async fn bridge_gateway(backend: &DockerBackend) -> Option<Ipv4Addr> {
    let network = backend
        .client()
        .inspect_network(
            "bridge",
            None::<bollard::query_parameters::InspectNetworkOptions>,
        )
        .await
        .ok()?;
    let config = network.ipam?.config?.into_iter().next()?;
    let candidate = match config.gateway.filter(|g| !g.is_empty()) {
        Some(gateway) => gateway.parse().ok()?,
        None => {
            let subnet = config.subnet?;
            let base: Ipv4Addr = subnet.split('/').next()?.parse().ok()?;
            Ipv4Addr::from(u32::from(base) + 1)
        }
    };
    // Only an address of this host can be bound.
    std::net::TcpListener::bind((candidate, 0))
        .ok()
        .map(|_| candidate)
}

#[tokio::test]
async fn direct_connections_go_nowhere_and_nothing_arrives() {
    let Some((backend, _rt)) = backend().await else {
        return;
    };
    let ws = workspace();
    let host_ip = host_address();
    let loopback = CountingServer::http(SocketAddr::from(([127, 0, 0, 1], 0)), "loopback").await;
    let external = CountingServer::http(SocketAddr::new(IpAddr::V4(host_ip), 0), "external").await;
    let gateway = bridge_gateway(&backend).await;
    let bridge = match gateway {
        Some(ip) => Some(CountingServer::http(SocketAddr::new(IpAddr::V4(ip), 0), "bridge").await),
        None => {
            println!("note: no docker bridge on this host; its gateway is not probed");
            None
        }
    };
    let udp_loopback = CountingUdp::bind(SocketAddr::from(([127, 0, 0, 1], 0)));
    let udp_external = CountingUdp::bind(SocketAddr::new(IpAddr::V4(host_ip), 0));
    let v6 = tokio::net::TcpListener::bind("[::1]:0").await.ok();
    let session = session(&backend, ws.path()).await;

    let mut script = String::new();
    script.push_str(&tcp_probe("127.0.0.1", loopback.addr.port()));
    script.push_str(&tcp_probe(&host_ip.to_string(), external.addr.port()));
    if let (Some(ip), Some(server)) = (gateway, &bridge) {
        script.push_str(&tcp_probe(&ip.to_string(), server.addr.port()));
    }
    script.push_str(&tcp_probe("172.17.0.1", 80));
    script.push_str(&tcp_probe("1.1.1.1", 443));
    script.push_str(&tcp_probe("169.254.169.254", 80));
    script.push_str(&tcp_probe("2606:4700:4700::1111", 443));
    if let Some(listener) = &v6 {
        script.push_str(&tcp_probe("::1", listener.local_addr().unwrap().port()));
    }
    script.push_str(&format!(
        "for addr in [('127.0.0.1', {}), ('{}', {}), ('8.8.8.8', 53)]:\n    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n    try:\n        u.sendto(b'x' * 10, addr); u.sendto(b'y', addr); print('SENT', addr)\n    except Exception as e:\n        print('FAIL udp', type(e).__name__, e)\n",
        udp_loopback.addr.port(),
        host_ip,
        udp_external.addr.port()
    ));
    script.push_str("import subprocess\nprint(subprocess.run(['cat', '/proc/net/route', '/proc/net/ipv6_route'], capture_output=True, text=True).stdout)\nprint('IFACES', sorted(i[1] for i in socket.if_nameindex()))\n");
    let out = run(&session, python(&script)).await;
    let text = stdout(&out);
    println!("{text}{}", stderr(&out));
    assert!(
        !text.contains("OPEN"),
        "a direct connection succeeded:\n{text}"
    );
    assert!(
        text.lines().filter(|l| l.starts_with("FAIL")).count() >= 6,
        "{text}"
    );
    assert!(
        text.contains("IFACES ['lo']"),
        "the container has an interface besides loopback: {text}"
    );
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(loopback.count(), 0);
    assert_eq!(external.count(), 0);
    if let Some(server) = &bridge {
        assert_eq!(server.count(), 0, "the docker bridge's gateway was reached");
    }
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
    let Some((backend, _rt)) = backend().await else {
        return;
    };
    let ws = workspace();
    let session = session(&backend, ws.path()).await;
    let out = run(
        &session,
        sh("getent hosts pypi.org && echo RESOLVED; python3 -c \"import socket; socket.setdefaulttimeout(5); print(socket.getaddrinfo('pypi.org', 443))\" && echo RESOLVED; getent hosts localhost"),
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

async fn session_with_network(
    backend: &DockerBackend,
    ws: &std::path::Path,
    network: NetworkConfig,
) -> (
    drydock_sandbox::DockerSession,
    UnboundedReceiver<NetworkEvent>,
) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let mut spec = spec(ws, &image(backend).await);
    spec.network = network;
    spec.network_events = Some(tx);
    (backend.start_docker(spec).await.unwrap(), rx)
}

/// curl through the session's proxy even for local names (NO_PROXY would bypass it).
fn curl_via_proxy(url: &str) -> String {
    format!(
        "curl -sS --max-time 10 --noproxy '' -x \"$HTTP_PROXY\" -w '\\nHTTP %{{http_code}}\\n' '{url}'; echo curl-exit=$?"
    )
}

#[tokio::test]
async fn the_proxy_refuses_hosts_outside_the_allowlist() {
    let Some((backend, _rt)) = backend().await else {
        return;
    };
    let ws = workspace();
    let (session, mut events) = session_with_network(
        &backend,
        ws.path(),
        NetworkConfig {
            allow: vec!["pypi.org".into()],
            deny: Vec::new(),
            allow_private: Vec::new(),
        },
    )
    .await;
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
    let Some((backend, _rt)) = backend().await else {
        return;
    };
    let ws = workspace();
    let server = CountingServer::http(SocketAddr::from(([127, 0, 0, 1], 0)), "host").await;
    let port = server.addr.port();

    let (session, mut refused_events) = session_with_network(
        &backend,
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
    )
    .await;
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

    // Allowed explicitly, the same requests go through the proxy: the refusal above was the
    // private-address check, not a broken path.
    let (session, mut allowed_events) = session_with_network(
        &backend,
        ws.path(),
        NetworkConfig {
            allow: vec!["localhost:*".into()],
            deny: Vec::new(),
            allow_private: vec!["127.0.0.0/8".into()],
        },
    )
    .await;
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
    let Some((backend, _rt)) = backend().await else {
        return;
    };
    let ws = workspace();
    let (session, mut events) = session_with_network(&backend, ws.path(), offline()).await;
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
