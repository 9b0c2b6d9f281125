//! Reading and interpreting a proxy request's head.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};

use super::policy::{TargetHost, parse_host, parse_port};

/// Longest request head accepted.
pub(crate) const MAX_HEAD: usize = 64 * 1024;

/// Most headers accepted.
const MAX_HEADERS: usize = 100;

/// What the client asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ProxyRequest {
    /// `CONNECT host:port`: a tunnel (HTTPS and anything else over TLS).
    Connect {
        /// Destination.
        host: TargetHost,
        /// Port.
        port: u16,
        /// Bytes the client sent after the head (e.g. an eager TLS ClientHello).
        rest: Vec<u8>,
    },
    /// `GET http://host/path`: plain HTTP, forwarded with the head rewritten to origin form.
    Http {
        /// Destination.
        host: TargetHost,
        /// Port.
        port: u16,
        /// The head to send upstream.
        head: Vec<u8>,
        /// Bytes the client sent after the head (the start of a body).
        rest: Vec<u8>,
    },
}

impl ProxyRequest {
    /// Destination host.
    pub(crate) fn host(&self) -> &TargetHost {
        match self {
            ProxyRequest::Connect { host, .. } | ProxyRequest::Http { host, .. } => host,
        }
    }

    /// Destination port.
    pub(crate) fn port(&self) -> u16 {
        match self {
            ProxyRequest::Connect { port, .. } | ProxyRequest::Http { port, .. } => *port,
        }
    }
}

/// Why a request could not be served; carries the HTTP status to answer with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RequestError {
    /// Status code.
    pub status: u16,
    /// Explanation for the client.
    pub message: String,
    /// The host, when it was readable (for the event).
    pub host: Option<String>,
    /// The port, when known.
    pub port: u16,
}

impl RequestError {
    fn bad(message: impl Into<String>) -> Self {
        Self {
            status: 400,
            message: message.into(),
            host: None,
            port: 0,
        }
    }
}

/// Reads a request head (up to the blank line), bounded in size and time.
pub(crate) async fn read_head<R>(
    reader: &mut R,
    timeout: Duration,
) -> Result<(Vec<u8>, usize), RequestError>
where
    R: AsyncRead + Unpin,
{
    let mut buf = Vec::with_capacity(4096);
    let read = async {
        let mut chunk = [0u8; 4096];
        loop {
            if let Some(end) = find_head_end(&buf) {
                return Ok(end);
            }
            if buf.len() >= MAX_HEAD {
                return Err(RequestError {
                    status: 431,
                    message: format!("request head larger than {MAX_HEAD} bytes"),
                    host: None,
                    port: 0,
                });
            }
            let n = reader
                .read(&mut chunk)
                .await
                .map_err(|err| RequestError::bad(format!("reading the request failed: {err}")))?;
            if n == 0 {
                return Err(RequestError::bad(
                    "connection closed before a complete request",
                ));
            }
            buf.extend_from_slice(&chunk[..n]);
        }
    };
    match tokio::time::timeout(timeout, read).await {
        Ok(Ok(end)) => Ok((buf, end)),
        Ok(Err(err)) => Err(err),
        Err(_) => Err(RequestError {
            status: 408,
            message: "timed out waiting for the request".into(),
            host: None,
            port: 0,
        }),
    }
}

fn find_head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4)
}

/// Interprets a complete head (`buf[..end]`), keeping what follows it.
pub(crate) fn parse_request(buf: &[u8], end: usize) -> Result<ProxyRequest, RequestError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    match request.parse(&buf[..end]) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return Err(RequestError::bad("incomplete request head")),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(RequestError {
                status: 431,
                message: "too many headers".into(),
                host: None,
                port: 0,
            });
        }
        Err(err) => return Err(RequestError::bad(format!("malformed request: {err}"))),
    }
    let method = request.method.unwrap_or_default();
    let target = request.path.unwrap_or_default();
    let rest = buf[end..].to_vec();
    if method.eq_ignore_ascii_case("CONNECT") {
        let (host, port) = parse_authority(target, None)?;
        return Ok(ProxyRequest::Connect { host, port, rest });
    }
    let Some(after_scheme) = strip_prefix_ignore_case(target, "http://") else {
        let message = if strip_prefix_ignore_case(target, "https://").is_some() {
            "send https through a CONNECT tunnel (set HTTPS_PROXY)".to_string()
        } else {
            format!("not a proxy request: {target:?} (expected http://host/path or CONNECT)")
        };
        return Err(RequestError::bad(message));
    };
    let split = after_scheme
        .find(['/', '?', '#'])
        .unwrap_or(after_scheme.len());
    let (authority, path) = after_scheme.split_at(split);
    let (host, port) = parse_authority(authority, Some(80))?;
    let path = match path.split_once('#') {
        Some((before, _)) => before,
        None => path,
    };
    let path = if path.is_empty() {
        "/".to_string()
    } else if path.starts_with('?') {
        format!("/{path}")
    } else {
        path.to_string()
    };
    let version = match request.version {
        Some(0) => "HTTP/1.0",
        _ => "HTTP/1.1",
    };
    let mut head = format!("{method} {path} {version}\r\n").into_bytes();
    let connection_tokens: Vec<String> = request
        .headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("connection"))
        .flat_map(|h| {
            String::from_utf8_lossy(h.value)
                .split(',')
                .map(|t| t.trim().to_ascii_lowercase())
                .collect::<Vec<_>>()
        })
        .collect();
    let host_header = match (&host, port) {
        (h, 80) => h.to_string(),
        (h, p) => format!("{h}:{p}"),
    };
    head.extend_from_slice(format!("Host: {host_header}\r\n").as_bytes());
    for header in request.headers.iter() {
        let name = header.name.to_ascii_lowercase();
        let hop_by_hop = matches!(
            name.as_str(),
            "host"
                | "connection"
                | "proxy-connection"
                | "proxy-authorization"
                | "proxy-authenticate"
                | "keep-alive"
                | "te"
                | "trailer"
                | "upgrade"
        ) || connection_tokens.contains(&name);
        if hop_by_hop {
            continue;
        }
        head.extend_from_slice(header.name.as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(header.value);
        head.extend_from_slice(b"\r\n");
    }
    // One request per upstream connection: the tunnel never carries a second, unchecked target.
    head.extend_from_slice(b"Connection: close\r\n\r\n");
    Ok(ProxyRequest::Http {
        host,
        port,
        head,
        rest,
    })
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    if text.len() >= prefix.len() && text[..prefix.len()].eq_ignore_ascii_case(prefix) {
        Some(&text[prefix.len()..])
    } else {
        None
    }
}

/// Parses `host:port` (or `[v6]:port`); `default_port` applies when the port is absent.
pub(crate) fn parse_authority(
    authority: &str,
    default_port: Option<u16>,
) -> Result<(TargetHost, u16), RequestError> {
    if authority.contains('@') {
        return Err(RequestError::bad(
            "user information in the target is not allowed",
        ));
    }
    let (host_text, port_text) = if authority.starts_with('[') {
        match authority.find(']') {
            Some(end) => {
                let after = &authority[end + 1..];
                if after.is_empty() {
                    (&authority[..=end], None)
                } else if let Some(port) = after.strip_prefix(':') {
                    (&authority[..=end], Some(port))
                } else {
                    return Err(RequestError::bad(format!("bad target {authority:?}")));
                }
            }
            None => return Err(RequestError::bad(format!("bad target {authority:?}"))),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    let port = match port_text {
        Some(text) => parse_port(text)
            .ok_or_else(|| RequestError::bad(format!("bad port in target {authority:?}")))?,
        None => default_port.ok_or_else(|| {
            RequestError::bad(format!("CONNECT target {authority:?} needs a port"))
        })?,
    };
    let host = parse_host(host_text).map_err(|message| RequestError {
        status: 400,
        message,
        host: Some(host_text.to_string()),
        port,
    })?;
    Ok((host, port))
}

#[cfg(test)]
#[path = "request_tests.rs"]
mod tests;
