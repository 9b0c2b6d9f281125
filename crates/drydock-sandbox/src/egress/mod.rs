//! The egress proxy: the only way out of a sandbox.
//!
//! An HTTP proxy that drydock runs on the host for one session. It serves `CONNECT host:port`
//! tunnels and absolute-URI `http://` requests, decides by the session's [`EgressPolicy`],
//! resolves names itself (the sandbox has no DNS), checks every resolved address (no private,
//! loopback or metadata destinations unless allowed) and connects to exactly the address it
//! checked, so a DNS answer that changes between check and use (rebinding) cannot redirect it.
//! Every allowed and refused connection is reported as a [`NetworkEvent`].
//!
//! It listens on a Unix socket (bind-mounted into `local` sandboxes, whose in-namespace forwarder
//! relays `127.0.0.1:<port>` to it) or on TCP (for backends that reach the host over a network).
//! The proxy holds no credential and adds none.

mod policy;
mod request;
mod resolve;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use drydock_core::NetworkEvent;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UnixListener};
use tokio::sync::Semaphore;
use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use policy::{EgressPolicy, HostVerdict, RuleError, TargetHost, non_public_class, parse_host};
pub use resolve::{Resolver, SystemResolver};

use request::{ProxyRequest, RequestError, parse_request, read_head};

/// Tunables of a proxy; [`ProxyOptions::new`] gives the defaults.
#[derive(Debug, Clone)]
pub struct ProxyOptions {
    /// The allowlist.
    pub policy: EgressPolicy,
    /// Name resolution (the system resolver by default).
    pub resolver: Arc<dyn Resolver>,
    /// Receives one event per connection.
    pub events: Option<UnboundedSender<NetworkEvent>>,
    /// Connections served at once; more are refused with 503.
    pub max_connections: usize,
    /// Time allowed for the client to send its request head.
    pub head_timeout: Duration,
    /// Time allowed for name resolution.
    pub resolve_timeout: Duration,
    /// Time allowed to connect to one upstream address.
    pub connect_timeout: Duration,
}

impl ProxyOptions {
    /// Defaults around a policy.
    pub fn new(policy: EgressPolicy) -> Self {
        Self {
            policy,
            resolver: Arc::new(SystemResolver),
            events: None,
            max_connections: 256,
            head_timeout: Duration::from_secs(30),
            resolve_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(15),
        }
    }
}

/// Where a proxy listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProxyEndpoint {
    /// A Unix socket path.
    Unix(PathBuf),
    /// A TCP address.
    Tcp(SocketAddr),
}

/// The proxy could not start.
#[derive(Debug, thiserror::Error)]
#[error("egress proxy: {context}: {source}")]
pub struct EgressError {
    /// What was being done.
    pub context: String,
    /// The error.
    #[source]
    pub source: std::io::Error,
}

/// A running proxy. Dropping it stops accepting and closes every connection.
#[derive(Debug)]
pub struct EgressProxy {
    endpoint: ProxyEndpoint,
    shutdown: CancellationToken,
    tracker: TaskTracker,
}

#[derive(Debug)]
struct Shared {
    options: ProxyOptions,
    slots: Semaphore,
    shutdown: CancellationToken,
}

impl EgressProxy {
    /// Listens on a new Unix socket at `path` (which must not exist).
    pub async fn bind_unix(path: &Path, options: ProxyOptions) -> Result<Self, EgressError> {
        let listener = UnixListener::bind(path).map_err(|source| EgressError {
            context: format!("binding {}", path.display()),
            source,
        })?;
        let proxy = Self::new(ProxyEndpoint::Unix(path.to_path_buf()));
        let shared = proxy.shared(options);
        proxy.tracker.spawn(async move {
            loop {
                tokio::select! {
                    () = shared.shutdown.cancelled() => break,
                    accepted = listener.accept() => match accepted {
                        Ok((stream, _)) => spawn_connection(&shared, stream),
                        Err(err) => {
                            tracing::warn!(%err, "egress proxy accept failed");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                    },
                }
            }
        });
        Ok(proxy)
    }

    /// Listens on TCP (`127.0.0.1:0` picks a free port; see [`EgressProxy::endpoint`]).
    pub async fn bind_tcp(addr: SocketAddr, options: ProxyOptions) -> Result<Self, EgressError> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| EgressError {
                context: format!("binding {addr}"),
                source,
            })?;
        let local = listener.local_addr().map_err(|source| EgressError {
            context: "reading the bound address".into(),
            source,
        })?;
        let proxy = Self::new(ProxyEndpoint::Tcp(local));
        let shared = proxy.shared(options);
        proxy.tracker.spawn(async move {
            loop {
                tokio::select! {
                    () = shared.shutdown.cancelled() => break,
                    accepted = listener.accept() => match accepted {
                        Ok((stream, _)) => spawn_connection(&shared, stream),
                        Err(err) => {
                            tracing::warn!(%err, "egress proxy accept failed");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                    },
                }
            }
        });
        Ok(proxy)
    }

    fn new(endpoint: ProxyEndpoint) -> Self {
        Self {
            endpoint,
            shutdown: CancellationToken::new(),
            tracker: TaskTracker::new(),
        }
    }

    fn shared(&self, options: ProxyOptions) -> Arc<Shared> {
        Arc::new(Shared {
            slots: Semaphore::new(options.max_connections),
            options,
            shutdown: self.shutdown.clone(),
        })
    }

    /// Where it listens.
    pub fn endpoint(&self) -> &ProxyEndpoint {
        &self.endpoint
    }

    /// Stops accepting, closes every open connection (reporting it) and waits for them.
    pub async fn shutdown(&self) {
        self.shutdown.cancel();
        self.tracker.close();
        self.tracker.wait().await;
        if let ProxyEndpoint::Unix(path) = &self.endpoint {
            let _ = std::fs::remove_file(path);
        }
    }
}

impl Drop for EgressProxy {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

fn spawn_connection<S>(shared: &Arc<Shared>, stream: S)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let shared = Arc::clone(shared);
    tokio::spawn(async move {
        let Ok(_slot) = shared.slots.try_acquire() else {
            let mut stream = stream;
            respond(
                &mut stream,
                503,
                "too many connections through the egress proxy",
            )
            .await;
            return;
        };
        let shutdown = shared.shutdown.clone();
        let counters = Arc::new(Counters::default());
        let mut report = Report::default();
        let cancelled = {
            let served = serve(&shared, stream, &counters, &mut report);
            tokio::select! {
                () = shutdown.cancelled() => true,
                () = served => false,
            }
        };
        if cancelled && report.host.is_some() {
            report.reason.push_str(" (closed: the session ended)");
        }
        if let Some(host) = report.host.take() {
            emit(
                &shared,
                NetworkEvent {
                    host,
                    port: report.port,
                    allowed: report.allowed,
                    reason: std::mem::take(&mut report.reason),
                    bytes_up: counters.up.load(Ordering::Relaxed),
                    bytes_down: counters.down.load(Ordering::Relaxed),
                },
            );
        }
    });
}

/// Byte counts of one connection, readable after it is torn down.
#[derive(Debug, Default)]
struct Counters {
    up: AtomicU64,
    down: AtomicU64,
}

/// What the event for a connection will say; filled in as the request is understood.
#[derive(Debug, Default)]
struct Report {
    host: Option<String>,
    port: u16,
    allowed: bool,
    reason: String,
}

async fn serve<S>(shared: &Shared, mut client: S, counters: &Counters, report: &mut Report)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let options = &shared.options;
    let parsed = match read_head(&mut client, options.head_timeout).await {
        Ok((buf, end)) => parse_request(&buf, end),
        Err(err) => Err(err),
    };
    let request = match parsed {
        Ok(request) => request,
        Err(RequestError {
            status,
            message,
            host,
            port,
        }) => {
            if let Some(host) = host {
                *report = Report {
                    host: Some(host),
                    port,
                    allowed: false,
                    reason: message.clone(),
                };
            }
            respond(&mut client, status, &message).await;
            return;
        }
    };
    let host = request.host().clone();
    let port = request.port();
    report.host = Some(host.to_string());
    report.port = port;
    let rule = match options.policy.check_host(&host, port) {
        HostVerdict::Allowed { rule } => rule,
        HostVerdict::Denied { reason } => {
            report.reason = reason.clone();
            respond(&mut client, 403, &reason).await;
            return;
        }
    };
    let addrs = match resolve_checked(options, &host, port).await {
        Ok(addrs) => addrs,
        Err((status, reason)) => {
            report.reason = reason.clone();
            respond(&mut client, status, &reason).await;
            return;
        }
    };
    let upstream = match connect_first(&addrs, options.connect_timeout).await {
        Ok(stream) => stream,
        Err(err) => {
            let reason =
                format!("allowed by rule {rule:?} but connecting to {host}:{port} failed: {err}");
            report.allowed = true;
            report.reason = reason.clone();
            respond(&mut client, 502, &reason).await;
            return;
        }
    };
    report.allowed = true;
    report.reason = format!("allowed by rule {rule:?}");
    let mut upstream = upstream;
    let first_bytes = match request {
        ProxyRequest::Connect { rest, .. } => {
            if client
                .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                .await
                .is_err()
            {
                return;
            }
            rest
        }
        ProxyRequest::Http { head, rest, .. } => {
            let mut bytes = head;
            bytes.extend_from_slice(&rest);
            bytes
        }
    };
    if !first_bytes.is_empty() {
        if upstream.write_all(&first_bytes).await.is_err() {
            return;
        }
        counters
            .up
            .fetch_add(first_bytes.len() as u64, Ordering::Relaxed);
    }
    relay(client, upstream, counters).await;
}

/// Resolves (unless an IP literal) and keeps only the addresses the policy accepts.
async fn resolve_checked(
    options: &ProxyOptions,
    host: &TargetHost,
    port: u16,
) -> Result<Vec<SocketAddr>, (u16, String)> {
    let candidates = match host {
        TargetHost::Ip(ip) => vec![SocketAddr::new(*ip, port)],
        TargetHost::Name(name) => {
            let lookup = options.resolver.resolve(name, port);
            match tokio::time::timeout(options.resolve_timeout, lookup).await {
                Ok(Ok(addrs)) if !addrs.is_empty() => addrs,
                Ok(Ok(_)) => return Err((502, format!("{host} has no address"))),
                Ok(Err(err)) => return Err((502, format!("resolving {host} failed: {err}"))),
                Err(_) => return Err((504, format!("resolving {host} timed out"))),
            }
        }
    };
    let mut accepted = Vec::new();
    let mut first_refusal = None;
    for addr in candidates {
        match options.policy.check_address(host, addr.ip()) {
            // Keep the port we were asked for whatever the resolver says.
            Ok(()) => accepted.push(SocketAddr::new(addr.ip(), port)),
            Err(reason) => {
                first_refusal.get_or_insert(reason);
            }
        }
    }
    if accepted.is_empty() {
        let reason = first_refusal.unwrap_or_else(|| format!("{host} has no usable address"));
        return Err((403, reason));
    }
    Ok(accepted)
}

async fn connect_first(addrs: &[SocketAddr], timeout: Duration) -> std::io::Result<TcpStream> {
    let mut last = std::io::Error::other("no address");
    for addr in addrs {
        match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => return Ok(stream),
            Ok(Err(err)) => last = err,
            Err(_) => {
                last = std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("connecting to {addr} timed out"),
                )
            }
        }
    }
    Err(last)
}

/// Copies both ways until both sides are done, counting bytes as they pass.
async fn relay<C>(client: C, upstream: TcpStream, counters: &Counters)
where
    C: AsyncRead + AsyncWrite + Unpin,
{
    let (mut client_read, mut client_write) = tokio::io::split(client);
    let (mut upstream_read, mut upstream_write) = upstream.into_split();
    let up = pump(&mut client_read, &mut upstream_write, &counters.up);
    let down = pump(&mut upstream_read, &mut client_write, &counters.down);
    tokio::join!(up, down);
}

async fn pump<R, W>(reader: &mut R, writer: &mut W, counter: &AtomicU64)
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    use tokio::io::AsyncReadExt;
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        let n = match reader.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if writer.write_all(&buf[..n]).await.is_err() {
            break;
        }
        counter.fetch_add(n as u64, Ordering::Relaxed);
    }
    let _ = writer.shutdown().await;
}

async fn respond<S>(stream: &mut S, status: u16, message: &str)
where
    S: AsyncWrite + Unpin,
{
    let phrase = match status {
        400 => "Bad Request",
        403 => "Forbidden",
        408 => "Request Timeout",
        431 => "Request Header Fields Too Large",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Error",
    };
    let body = format!("drydock egress proxy: {message}\n");
    let response = format!(
        "HTTP/1.1 {status} {phrase}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

fn emit(shared: &Shared, event: NetworkEvent) {
    if event.allowed {
        tracing::debug!(host = %event.host, port = event.port, up = event.bytes_up, down = event.bytes_down, "egress allowed");
    } else {
        tracing::info!(host = %event.host, port = event.port, reason = %event.reason, "egress refused");
    }
    if let Some(events) = &shared.options.events {
        let _ = events.send(event);
    }
}
