use std::net::IpAddr;

use pretty_assertions::assert_eq;

use super::*;

fn parse(raw: &str) -> Result<ProxyRequest, RequestError> {
    let end = find_head_end(raw.as_bytes()).expect("test head must be complete");
    parse_request(raw.as_bytes(), end)
}

fn name(n: &str) -> TargetHost {
    TargetHost::Name(n.into())
}

#[test]
fn connect_keeps_the_bytes_after_the_head() {
    let request =
        parse("CONNECT pypi.org:443 HTTP/1.1\r\nHost: pypi.org:443\r\n\r\n\x16\x03\x01").unwrap();
    assert_eq!(
        request,
        ProxyRequest::Connect {
            host: name("pypi.org"),
            port: 443,
            rest: b"\x16\x03\x01".to_vec(),
        }
    );
}

#[test]
fn connect_requires_a_port() {
    let err = parse("CONNECT pypi.org HTTP/1.1\r\n\r\n").unwrap_err();
    assert_eq!(err.status, 400);
    assert!(err.message.contains("needs a port"), "{}", err.message);
}

#[test]
fn connect_to_an_ipv6_literal() {
    let request = parse("CONNECT [2606:4700::1111]:443 HTTP/1.1\r\n\r\n").unwrap();
    assert_eq!(
        request.host(),
        &TargetHost::Ip("2606:4700::1111".parse::<IpAddr>().unwrap())
    );
    assert_eq!(request.port(), 443);
}

#[test]
fn absolute_form_is_rewritten_to_origin_form_with_host_from_the_uri() {
    let request = parse(
        "GET http://example.com:8080/a/b?q=1#frag HTTP/1.1\r\nHost: attacker.example\r\nProxy-Authorization: Basic eA==\r\nProxy-Connection: keep-alive\r\nConnection: keep-alive, X-Secret\r\nX-Secret: 1\r\nAccept: */*\r\n\r\nBODY",
    )
    .unwrap();
    let ProxyRequest::Http {
        host,
        port,
        head,
        rest,
    } = request
    else {
        panic!("expected plain HTTP");
    };
    assert_eq!(host, name("example.com"));
    assert_eq!(port, 8080);
    assert_eq!(
        String::from_utf8(head).unwrap(),
        "GET /a/b?q=1 HTTP/1.1\r\nHost: example.com:8080\r\nAccept: */*\r\nConnection: close\r\n\r\n"
    );
    assert_eq!(rest, b"BODY");
}

#[test]
fn absolute_form_without_path_or_port_defaults() {
    let ProxyRequest::Http { port, head, .. } =
        parse("GET HTTP://Example.COM HTTP/1.0\r\n\r\n").unwrap()
    else {
        panic!("expected plain HTTP");
    };
    assert_eq!(port, 80);
    assert_eq!(
        String::from_utf8(head).unwrap(),
        "GET / HTTP/1.0\r\nHost: example.com\r\nConnection: close\r\n\r\n"
    );
}

#[test]
fn query_only_targets_get_a_slash() {
    let ProxyRequest::Http { head, .. } =
        parse("GET http://example.com?x=1 HTTP/1.1\r\n\r\n").unwrap()
    else {
        panic!("expected plain HTTP");
    };
    assert!(
        String::from_utf8(head)
            .unwrap()
            .starts_with("GET /?x=1 HTTP/1.1\r\n")
    );
}

#[test]
fn userinfo_tricks_are_refused() {
    for raw in [
        "GET http://crates.io@evil.com/ HTTP/1.1\r\n\r\n",
        "GET http://user:pw@crates.io/ HTTP/1.1\r\n\r\n",
        "CONNECT crates.io@evil.com:443 HTTP/1.1\r\n\r\n",
    ] {
        assert_eq!(parse(raw).unwrap_err().status, 400, "{raw:?}");
    }
}

#[test]
fn origin_form_https_and_other_schemes_are_refused() {
    for raw in [
        "GET / HTTP/1.1\r\nHost: crates.io\r\n\r\n",
        "GET https://crates.io/ HTTP/1.1\r\n\r\n",
        "GET ftp://crates.io/ HTTP/1.1\r\n\r\n",
        "GET file:///etc/passwd HTTP/1.1\r\n\r\n",
    ] {
        assert_eq!(parse(raw).unwrap_err().status, 400, "{raw:?}");
    }
}

#[test]
fn numeric_and_malformed_hosts_are_refused_with_the_host_named() {
    let err = parse("CONNECT 2130706433:443 HTTP/1.1\r\n\r\n").unwrap_err();
    assert_eq!(err.status, 400);
    assert_eq!(err.host.as_deref(), Some("2130706433"));
    for raw in [
        "CONNECT 0x7f.1:443 HTTP/1.1\r\n\r\n",
        "CONNECT [::1%lo]:443 HTTP/1.1\r\n\r\n",
        "CONNECT crates.io:0 HTTP/1.1\r\n\r\n",
        "CONNECT crates.io:65536 HTTP/1.1\r\n\r\n",
        "CONNECT crates.io:+443 HTTP/1.1\r\n\r\n",
        "CONNECT :443 HTTP/1.1\r\n\r\n",
        "GET http://:80/ HTTP/1.1\r\n\r\n",
    ] {
        assert_eq!(parse(raw).unwrap_err().status, 400, "{raw:?}");
    }
}

#[test]
fn garbage_is_a_400_not_a_panic() {
    for raw in [
        "\x00\x01\x02\r\n\r\n",
        "GET\r\n\r\n",
        "CONNECT\r\n\r\n",
        "GET http://a.com/ HTTP/9.9\r\n\r\n",
        "G\u{e9}T http://a.com/ HTTP/1.1\r\n\r\n",
    ] {
        assert_eq!(parse(raw).unwrap_err().status, 400, "{raw:?}");
    }
}

#[test]
fn too_many_headers_is_431() {
    let mut raw = String::from("GET http://a.com/ HTTP/1.1\r\n");
    for i in 0..200 {
        raw.push_str(&format!("X-{i}: v\r\n"));
    }
    raw.push_str("\r\n");
    assert_eq!(parse(&raw).unwrap_err().status, 431);
}

#[tokio::test]
async fn an_endless_head_is_cut_at_the_limit() {
    let endless = vec![b'a'; MAX_HEAD * 2];
    let err = read_head(&mut &endless[..], Duration::from_secs(5))
        .await
        .unwrap_err();
    assert_eq!(err.status, 431);
}

#[tokio::test]
async fn a_truncated_head_is_an_error() {
    let err = read_head(
        &mut &b"GET http://a.com/ HTTP/1.1\r\n"[..],
        Duration::from_secs(5),
    )
    .await
    .unwrap_err();
    assert_eq!(err.status, 400);
}

#[tokio::test]
async fn a_silent_client_times_out() {
    let (mut client, _server) = tokio::io::duplex(64);
    let err = read_head(&mut client, Duration::from_millis(50))
        .await
        .unwrap_err();
    assert_eq!(err.status, 408);
}
