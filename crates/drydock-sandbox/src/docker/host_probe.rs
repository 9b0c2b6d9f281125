//! Blocking looks at the daemon over its Unix socket, read loosely as JSON: for
//! `check_isolation` (synchronous, and possibly inside an async runtime, so it cannot drive the
//! async client), and for listing containers (engines disagree on state names: Podman reports
//! `stopped`, which the typed client refuses to parse).

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Most bytes read from one answer.
const MAX_ANSWER: u64 = 4 << 20;

/// What the daemon says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DaemonProbe {
    /// Its socket.
    pub socket: PathBuf,
    /// `Docker Engine 20.10.24`, ...
    pub server: String,
    /// Its newest API version.
    pub api_version: String,
    /// Its oldest API version.
    pub min_api_version: String,
    /// OCI runtimes it knows.
    pub runtimes: Vec<String>,
    /// Its default runtime.
    pub default_runtime: String,
}

/// Asks the daemon at `socket` for `/version` and `/info`.
pub(crate) fn probe_daemon(socket: &Path, timeout: Duration) -> Result<DaemonProbe, String> {
    let version = get_json(socket, "/version", timeout)?;
    let info = get_json(socket, "/info", timeout)?;
    let text = |value: &serde_json::Value, key: &str| {
        value
            .get(key)
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_string()
    };
    let platform = version
        .get("Platform")
        .map(|p| text(p, "Name"))
        .unwrap_or_default();
    let server = match version.get("Components").and_then(|c| c.get(0)) {
        Some(component) => super::client::server_name(
            &platform,
            &text(component, "Name"),
            &text(component, "Version"),
        ),
        None => super::client::server_name(&platform, "", &text(&version, "Version")),
    };
    let mut runtimes: Vec<String> = info
        .get("Runtimes")
        .and_then(|r| r.as_object())
        .map(|r| r.keys().cloned().collect())
        .unwrap_or_default();
    runtimes.sort();
    Ok(DaemonProbe {
        socket: socket.to_path_buf(),
        server,
        api_version: text(&version, "ApiVersion"),
        min_api_version: text(&version, "MinAPIVersion"),
        runtimes,
        default_runtime: text(&info, "DefaultRuntime"),
    })
}

/// A container as the daemon lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ListedContainer {
    /// Its id.
    pub id: String,
    /// Its labels.
    pub labels: HashMap<String, String>,
    /// `running`, `exited`, `created`, `stopped`, ...
    pub state: String,
    /// Creation time, seconds since the epoch.
    pub created: i64,
}

/// Every container (running or not) carrying the label `label`.
pub(crate) fn list_labelled(
    socket: &Path,
    api_version: &str,
    label: &str,
    timeout: Duration,
) -> Result<Vec<ListedContainer>, String> {
    let filters = serde_json::json!({ "label": [label] }).to_string();
    let path = format!(
        "/v{api_version}/containers/json?all=1&filters={}",
        percent_encode(&filters)
    );
    let listed = get_json(socket, &path, timeout)?;
    let containers = listed
        .as_array()
        .ok_or("the container list is not an array")?;
    Ok(containers
        .iter()
        .filter_map(|c| {
            Some(ListedContainer {
                id: c.get("Id")?.as_str()?.to_string(),
                labels: c
                    .get("Labels")
                    .and_then(|l| l.as_object())
                    .map(|l| {
                        l.iter()
                            .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                            .collect()
                    })
                    .unwrap_or_default(),
                state: c
                    .get("State")
                    .and_then(|s| s.as_str())
                    .unwrap_or("")
                    .to_string(),
                created: c.get("Created").and_then(|t| t.as_i64()).unwrap_or(0),
            })
        })
        .collect())
}

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

fn get_json(socket: &Path, path: &str, timeout: Duration) -> Result<serde_json::Value, String> {
    let mut stream = std::os::unix::net::UnixStream::connect(socket)
        .map_err(|e| format!("connecting to {}: {e}", socket.display()))?;
    stream
        .set_read_timeout(Some(timeout))
        .and_then(|()| stream.set_write_timeout(Some(timeout)))
        .map_err(|e| e.to_string())?;
    stream
        .write_all(format!("GET {path} HTTP/1.0\r\nHost: docker\r\n\r\n").as_bytes())
        .map_err(|e| format!("asking for {path}: {e}"))?;
    let mut answer = Vec::new();
    stream
        .take(MAX_ANSWER)
        .read_to_end(&mut answer)
        .map_err(|e| format!("reading {path}: {e}"))?;
    parse_answer(&answer).map_err(|e| format!("{path}: {e}"))
}

/// The JSON body of an HTTP/1.x answer with status 200.
fn parse_answer(answer: &[u8]) -> Result<serde_json::Value, String> {
    let end = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no HTTP header in the answer")?;
    let head = String::from_utf8_lossy(&answer[..end]);
    let mut lines = head.lines();
    let status = lines.next().unwrap_or_default();
    let code = status.split_whitespace().nth(1).unwrap_or_default();
    if !status.starts_with("HTTP/1.") || code != "200" {
        return Err(format!("the daemon answered {status:?}"));
    }
    let chunked = lines.any(|l| {
        l.to_ascii_lowercase()
            .replace(' ', "")
            .starts_with("transfer-encoding:chunked")
    });
    let mut body = answer[end + 4..].to_vec();
    if chunked {
        body = dechunk(&body)?;
    }
    serde_json::from_slice(&body).map_err(|e| format!("not JSON: {e}"))
}

fn dechunk(mut data: &[u8]) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    loop {
        let line_end = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("truncated chunk header")?;
        let size_text = String::from_utf8_lossy(&data[..line_end]);
        let size_text = size_text.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| "bad chunk size")?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Ok(body);
        }
        let chunk = data.get(..size).ok_or("truncated chunk")?;
        body.extend_from_slice(chunk);
        data = data.get(size + 2..).ok_or("truncated chunk")?;
    }
}

#[cfg(test)]
mod tests {
    use pretty_assertions::assert_eq;

    use super::*;

    #[test]
    fn answers_are_parsed_plain_or_chunked_and_errors_are_reported() {
        let plain =
            b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n{\"ApiVersion\":\"1.41\"}";
        assert_eq!(parse_answer(plain).unwrap()["ApiVersion"], "1.41");
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"a\":\r\n2\r\n1}\r\n0\r\n\r\n";
        assert_eq!(parse_answer(chunked).unwrap()["a"], 1);
        let refused = b"HTTP/1.0 403 Forbidden\r\n\r\n{}";
        assert!(parse_answer(refused).unwrap_err().contains("403"));
        assert!(parse_answer(b"garbage").is_err());
        assert!(parse_answer(b"HTTP/1.0 200 OK\r\n\r\nnot json").is_err());
        let truncated = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nff\r\nab";
        assert!(parse_answer(truncated).is_err());
    }

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(
            percent_encode(r#"{"label":["drydock.owner-pid"]}"#),
            "%7B%22label%22%3A%5B%22drydock.owner-pid%22%5D%7D"
        );
    }

    #[test]
    fn a_missing_socket_is_an_error_not_a_hang() {
        let err = probe_daemon(
            Path::new("/nonexistent/docker.sock"),
            Duration::from_secs(1),
        )
        .unwrap_err();
        assert!(err.contains("/nonexistent/docker.sock"), "{err}");
    }
}
