//! The egress proxy on its own, driven by raw clients over its Unix socket and TCP listener:
//! tunnels, plain HTTP rewriting, refusals, DNS rebinding, limits and shutdown.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use drydock_core::NetworkEvent;
use drydock_sandbox::NetworkConfig;
use drydock_sandbox::egress::{EgressPolicy, EgressProxy, ProxyEndpoint, ProxyOptions, Resolver};
use pretty_assertions::assert_eq;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UnixStream};
use tokio::sync::mpsc::UnboundedReceiver;

fn config(allow: &[&str], allow_private: &[&str]) -> NetworkConfig {
    NetworkConfig {
        allow: allow.iter().map(|s| s.to_string()).collect(),
        deny: Vec::new(),
        allow_private: allow_private.iter().map(|s| s.to_string()).collect(),
    }
}

struct Proxy {
    proxy: EgressProxy,
    events: UnboundedReceiver<NetworkEvent>,
    _dir: tempfile::TempDir,
}

async fn proxy_with(options: impl FnOnce(&mut ProxyOptions), network: NetworkConfig) -> Proxy {
    let dir = tempfile::tempdir().unwrap();
    let (tx, events) = tokio::sync::mpsc::unbounded_channel();
    let mut opts = ProxyOptions::new(EgressPolicy::from_config(&network).unwrap());
    opts.events = Some(tx);
    options(&mut opts);
    let proxy = EgressProxy::bind_unix(&dir.path().join("proxy.sock"), opts)
        .await
        .unwrap();
    Proxy {
        proxy,
        events,
        _dir: dir,
    }
}

async fn connect(proxy: &EgressProxy) -> UnixStream {
    let ProxyEndpoint::Unix(path) = proxy.endpoint() else {
        panic!("unix proxy expected")
    };
    UnixStream::connect(path).await.unwrap()
}

async fn read_all(stream: &mut (impl AsyncReadExt + Unpin)) -> String {
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

async fn next_event(events: &mut UnboundedReceiver<NetworkEvent>) -> NetworkEvent {
    tokio::time::timeout(Duration::from_secs(10), events.recv())
        .await
        .unwrap()
        .unwrap()
}

/// An upstream that records the first request it receives and answers `ok`; or echoes.
async fn upstream(
    bind: &str,
    echo: bool,
) -> (SocketAddr, tokio::sync::mpsc::UnboundedReceiver<Vec<u8>>) {
    let listener = TcpListener::bind(bind).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65536];
                if echo {
                    loop {
                        match stream.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => {
                                let _ = tx.send(buf[..n].to_vec());
                                if stream.write_all(&buf[..n]).await.is_err() {
                                    return;
                                }
                            }
                        }
                    }
                }
                let mut got = Vec::new();
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = tx.send(got);
                let _ = stream
                    .write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
                    )
                    .await;
            });
        }
    });
    (addr, rx)
}

#[tokio::test]
async fn a_connect_tunnel_carries_bytes_both_ways_and_is_reported() {
    let (addr, _seen) = upstream("127.0.0.1:0", true).await;
    let mut p = proxy_with(|_| {}, config(&["localhost:*"], &["127.0.0.0/8"])).await;
    let mut client = connect(&p.proxy).await;
    client
        .write_all(
            format!(
                "CONNECT localhost:{} HTTP/1.1\r\nHost: x\r\n\r\nearly",
                addr.port()
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let mut reply = vec![0u8; 39];
    client.read_exact(&mut reply).await.unwrap();
    assert_eq!(reply, b"HTTP/1.1 200 Connection established\r\n\r\n");
    let mut echoed = [0u8; 5];
    client.read_exact(&mut echoed).await.unwrap();
    assert_eq!(&echoed, b"early");
    client.write_all(b"ping!").await.unwrap();
    client.read_exact(&mut echoed).await.unwrap();
    assert_eq!(&echoed, b"ping!");
    drop(client);
    let event = next_event(&mut p.events).await;
    assert_eq!(
        event,
        NetworkEvent {
            host: "localhost".into(),
            port: addr.port(),
            allowed: true,
            reason: "allowed by rule \"localhost:*\"".into(),
            bytes_up: 10,
            bytes_down: 10,
        }
    );
}

#[tokio::test]
async fn plain_http_is_rewritten_and_stripped_of_proxy_credentials() {
    let (addr, mut seen) = upstream("127.0.0.1:0", false).await;
    let p = proxy_with(|_| {}, config(&["127.0.0.1:*"], &["127.0.0.1"])).await;
    let mut client = connect(&p.proxy).await;
    let request = format!(
        "GET http://127.0.0.1:{}/simple/six/?x=1 HTTP/1.1\r\nHost: evil.example\r\nProxy-Authorization: Basic c2VjcmV0\r\nProxy-Connection: keep-alive\r\nUser-Agent: t\r\n\r\n",
        addr.port()
    );
    client.write_all(request.as_bytes()).await.unwrap();
    let response = read_all(&mut client).await;
    assert!(response.ends_with("\r\n\r\nok"), "{response}");
    let upstream_saw = String::from_utf8(seen.recv().await.unwrap()).unwrap();
    assert_eq!(
        upstream_saw,
        format!(
            "GET /simple/six/?x=1 HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nUser-Agent: t\r\nConnection: close\r\n\r\n",
            addr.port()
        )
    );
}

#[tokio::test]
async fn refused_requests_get_an_explanation_and_an_event() {
    let mut p = proxy_with(|_| {}, config(&["crates.io"], &[])).await;
    for (request, status, host, port) in [
        (
            "CONNECT evil.example:443 HTTP/1.1\r\n\r\n",
            "403",
            "evil.example",
            443,
        ),
        (
            "GET http://evil.example/ HTTP/1.1\r\n\r\n",
            "403",
            "evil.example",
            80,
        ),
        (
            "CONNECT crates.io:22 HTTP/1.1\r\n\r\n",
            "403",
            "crates.io",
            22,
        ),
        (
            "CONNECT 2130706433:443 HTTP/1.1\r\n\r\n",
            "400",
            "2130706433",
            443,
        ),
    ] {
        let mut client = connect(&p.proxy).await;
        client.write_all(request.as_bytes()).await.unwrap();
        let response = read_all(&mut client).await;
        assert!(
            response.starts_with(&format!("HTTP/1.1 {status} ")),
            "{request:?}: {response}"
        );
        assert!(response.contains("drydock egress proxy:"), "{response}");
        let event = next_event(&mut p.events).await;
        assert_eq!(
            (event.host.as_str(), event.port, event.allowed),
            (host, port, false),
            "{event:?}"
        );
        assert_eq!((event.bytes_up, event.bytes_down), (0, 0));
    }
}

#[derive(Debug)]
struct Rebinding {
    calls: AtomicUsize,
    answers: Vec<Vec<IpAddr>>,
}

#[async_trait]
impl Resolver for Rebinding {
    async fn resolve(&self, _host: &str, port: u16) -> std::io::Result<Vec<SocketAddr>> {
        let call = self.calls.fetch_add(1, Ordering::SeqCst);
        let answer = &self.answers[call.min(self.answers.len() - 1)];
        Ok(answer.iter().map(|ip| SocketAddr::new(*ip, port)).collect())
    }
}

#[tokio::test]
async fn the_proxy_connects_to_the_address_it_checked_not_a_later_answer() {
    // Two servers on the same port: 127.0.0.2 (allowed) and 127.0.0.1 (not).
    let (allowed_addr, mut allowed_seen) = upstream("127.0.0.2:0", false).await;
    let forbidden =
        TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], allowed_addr.port()))).await;
    let resolver = Arc::new(Rebinding {
        calls: AtomicUsize::new(0),
        answers: vec![
            vec!["127.0.0.2".parse().unwrap()],
            vec!["127.0.0.1".parse().unwrap()],
        ],
    });
    let r = Arc::clone(&resolver);
    let p = proxy_with(
        move |o| o.resolver = r,
        config(&["rebind.example:*"], &["127.0.0.2/32"]),
    )
    .await;
    let mut client = connect(&p.proxy).await;
    client
        .write_all(
            format!(
                "GET http://rebind.example:{}/ HTTP/1.1\r\n\r\n",
                allowed_addr.port()
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let response = read_all(&mut client).await;
    assert!(response.ends_with("ok"), "{response}");
    assert!(allowed_seen.recv().await.is_some());
    assert_eq!(
        resolver.calls.load(Ordering::SeqCst),
        1,
        "the name was resolved more than once"
    );
    if let Ok(forbidden) = forbidden {
        let accepted = tokio::time::timeout(Duration::from_millis(100), forbidden.accept()).await;
        assert!(
            accepted.is_err(),
            "the proxy connected to an address it did not check"
        );
    }
}

#[tokio::test]
async fn mixed_answers_use_only_the_acceptable_addresses() {
    let (allowed_addr, mut allowed_seen) = upstream("127.0.0.3:0", false).await;
    let resolver = Arc::new(Rebinding {
        calls: AtomicUsize::new(0),
        answers: vec![vec![
            "169.254.169.254".parse().unwrap(),
            "127.0.0.1".parse().unwrap(),
            "127.0.0.3".parse().unwrap(),
        ]],
    });
    let p = proxy_with(
        move |o| o.resolver = resolver,
        config(&["mixed.example:*"], &["127.0.0.3"]),
    )
    .await;
    let mut client = connect(&p.proxy).await;
    client
        .write_all(
            format!(
                "GET http://mixed.example:{}/ HTTP/1.1\r\n\r\n",
                allowed_addr.port()
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    assert!(read_all(&mut client).await.ends_with("ok"));
    assert!(allowed_seen.recv().await.is_some());
}

#[tokio::test]
async fn a_name_resolving_only_to_private_addresses_is_refused() {
    let resolver = Arc::new(Rebinding {
        calls: AtomicUsize::new(0),
        answers: vec![vec![
            "10.0.0.5".parse().unwrap(),
            "::ffff:169.254.169.254".parse().unwrap(),
        ]],
    });
    let mut p = proxy_with(
        move |o| o.resolver = resolver,
        config(&["internal.example"], &[]),
    )
    .await;
    let mut client = connect(&p.proxy).await;
    client
        .write_all(b"CONNECT internal.example:443 HTTP/1.1\r\n\r\n")
        .await
        .unwrap();
    let response = read_all(&mut client).await;
    assert!(response.starts_with("HTTP/1.1 403"), "{response}");
    assert!(
        response.contains("10.0.0.5") && response.contains("private"),
        "{response}"
    );
    let event = next_event(&mut p.events).await;
    assert!(
        !event.allowed && event.reason.contains("allow_private"),
        "{event:?}"
    );
}

#[tokio::test]
async fn connections_beyond_the_limit_get_503() {
    let (addr, _seen) = upstream("127.0.0.1:0", true).await;
    let p = proxy_with(
        |o| o.max_connections = 2,
        config(&["localhost:*"], &["127.0.0.0/8"]),
    )
    .await;
    let mut open = Vec::new();
    for _ in 0..2 {
        let mut client = connect(&p.proxy).await;
        client
            .write_all(format!("CONNECT localhost:{} HTTP/1.1\r\n\r\n", addr.port()).as_bytes())
            .await
            .unwrap();
        let mut reply = vec![0u8; 39];
        client.read_exact(&mut reply).await.unwrap();
        open.push(client);
    }
    let mut third = connect(&p.proxy).await;
    third
        .write_all(format!("CONNECT localhost:{} HTTP/1.1\r\n\r\n", addr.port()).as_bytes())
        .await
        .unwrap();
    assert!(read_all(&mut third).await.starts_with("HTTP/1.1 503"));
}

#[tokio::test]
async fn a_client_that_never_finishes_its_request_times_out() {
    let p = proxy_with(
        |o| o.head_timeout = Duration::from_millis(200),
        config(&["crates.io"], &[]),
    )
    .await;
    let mut client = connect(&p.proxy).await;
    client
        .write_all(b"CONNECT crates.io:443 HTTP/1.1\r\n")
        .await
        .unwrap();
    assert!(read_all(&mut client).await.starts_with("HTTP/1.1 408"));
}

#[tokio::test]
async fn shutdown_closes_open_tunnels_and_reports_them() {
    let (addr, _seen) = upstream("127.0.0.1:0", true).await;
    let mut p = proxy_with(|_| {}, config(&["localhost:*"], &["127.0.0.0/8"])).await;
    let mut client = connect(&p.proxy).await;
    client
        .write_all(format!("CONNECT localhost:{} HTTP/1.1\r\n\r\nabc", addr.port()).as_bytes())
        .await
        .unwrap();
    let mut reply = vec![0u8; 42];
    client.read_exact(&mut reply).await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), p.proxy.shutdown())
        .await
        .unwrap();
    let mut rest = Vec::new();
    assert_eq!(
        client.read_to_end(&mut rest).await.unwrap(),
        0,
        "the tunnel stayed open"
    );
    let event = next_event(&mut p.events).await;
    assert!(
        event.allowed && event.reason.contains("session ended"),
        "{event:?}"
    );
    assert_eq!(event.bytes_up, 3);
    let ProxyEndpoint::Unix(path) = p.proxy.endpoint() else {
        unreachable!()
    };
    assert!(!path.exists());
}

#[tokio::test]
async fn the_tcp_listener_serves_the_same_protocol() {
    let (addr, _seen) = upstream("127.0.0.1:0", false).await;
    let mut opts = ProxyOptions::new(
        EgressPolicy::from_config(&config(&["localhost:*"], &["127.0.0.0/8"])).unwrap(),
    );
    opts.events = None;
    let proxy = EgressProxy::bind_tcp("127.0.0.1:0".parse().unwrap(), opts)
        .await
        .unwrap();
    let ProxyEndpoint::Tcp(listen) = proxy.endpoint().clone() else {
        panic!("tcp expected")
    };
    let mut client = tokio::net::TcpStream::connect(listen).await.unwrap();
    client
        .write_all(format!("GET http://localhost:{}/ HTTP/1.1\r\n\r\n", addr.port()).as_bytes())
        .await
        .unwrap();
    assert!(read_all(&mut client).await.ends_with("ok"));
    proxy.shutdown().await;
}

#[tokio::test]
async fn an_invalid_rule_is_a_configuration_error() {
    let err = EgressPolicy::from_config(&config(&["crates.io:http"], &[])).unwrap_err();
    assert!(err.to_string().contains("network.allow"), "{err}");
}
