//! Network escapes through the real docker daemon: no route to the host, the docker bridge, the
//! internet or a metadata service, over IPv4 or IPv6, TCP or UDP; no DNS; and the egress proxy
//! allows and refuses what it must, reporting every connection (checked on the host: the target
//! servers see nothing they should not).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod docker_common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use common::{
    CountingServer, CountingUdp, host_address, python, run, sh, stderr, stdout, workspace,
};
use docker_common::*;
use drydock_core::NetworkEvent;
use drydock_sandbox::{DockerBackend, NetworkConfig, Session};
use pretty_assertions::assert_eq;
use tokio::sync::mpsc::UnboundedReceiver;

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

#[tokio::test]
async fn the_proxy_refuses_hosts_outside_the_allowlist() {
    let Some((backend, _rt)) = backend().await else {
        return;
    };
    let ws = workspace();
    let (session, mut events) =
        session_with_network(&backend, ws.path(), common::scenarios::only_pypi()).await;
    common::scenarios::the_proxy_refuses_hosts_outside_the_allowlist(&session, &mut events).await;
}

#[tokio::test]
async fn an_allowed_name_that_resolves_to_loopback_is_refused_unless_allow_private() {
    let Some((backend, _rt)) = backend().await else {
        return;
    };
    let ws = workspace();
    common::scenarios::loopback_is_refused_unless_allow_private(async |network| {
        let (session, events) = session_with_network(&backend, ws.path(), network).await;
        (Box::new(session) as Box<dyn Session>, events)
    })
    .await;
}

#[tokio::test]
async fn offline_sessions_refuse_everything_and_report_it() {
    let Some((backend, _rt)) = backend().await else {
        return;
    };
    let ws = workspace();
    let (session, mut events) = session_with_network(&backend, ws.path(), offline()).await;
    common::scenarios::offline_sessions_refuse_everything(&session, &mut events).await;
}
