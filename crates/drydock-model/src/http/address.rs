//! Base URLs: validation, joining, and whether they point at this machine or a private network.

use std::net::{Ipv4Addr, Ipv6Addr};

use reqwest::Url;
use url::Host;

use crate::ModelError;

/// Parses a configured base URL: `http` or `https`, a host, no credentials (keys come only from
/// the environment), no query or fragment.
pub(crate) fn parse_base_url(text: &str) -> Result<Url, ModelError> {
    let fail = |why: &str| {
        Err(ModelError::Config {
            message: format!("base URL {:?}: {why}", redact_userinfo(text)),
        })
    };
    let url = match Url::parse(text.trim()) {
        Ok(url) => url,
        Err(error) => return fail(&error.to_string()),
    };
    if !matches!(url.scheme(), "http" | "https") {
        return fail("the scheme must be http or https");
    }
    if url.host().is_none() {
        return fail("a host is required");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return fail("credentials do not belong in the URL; keys are read from the environment");
    }
    if url.query().is_some() || url.fragment().is_some() {
        return fail("a query or fragment is not allowed");
    }
    Ok(url)
}

/// `base` with `suffix` appended to its path (`https://h/v1` + `/chat/completions`).
pub(crate) fn endpoint_url(base: &Url, suffix: &str) -> Url {
    let mut url = base.clone();
    let path = format!("{}{suffix}", base.path().trim_end_matches('/'));
    url.set_path(&path);
    url
}

/// The URL as shown in errors and logs: never with credentials, query or fragment.
pub(crate) fn display(url: &Url) -> String {
    let mut shown = url.clone();
    // These only fail for URLs that cannot carry credentials, which then have none to hide.
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.set_query(None);
    shown.set_fragment(None);
    shown.to_string()
}

/// True when the URL's host is this machine or on a private network: loopback, RFC 1918,
/// carrier-grade NAT (tailnets), link-local, IPv6 unique-local, `localhost`, and names that do
/// not resolve publicly (single labels such as a compose service, `.local`, `.internal`, `.lan`,
/// `.home.arpa`). Decided from the URL alone, without DNS.
pub fn is_private_host(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => private_v4(ip),
        Some(Host::Ipv6(ip)) => private_v6(ip),
        Some(Host::Domain(name)) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            name == "localhost"
                || !name.contains('.')
                || [".localhost", ".local", ".internal", ".lan", ".home.arpa"]
                    .iter()
                    .any(|suffix| name.ends_with(suffix))
        }
        None => false,
    }
}

fn private_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || (a == 100 && (64..128).contains(&b))
}

fn private_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return private_v4(v4);
    }
    let first = ip.segments()[0];
    ip.is_loopback()
        || ip.is_unspecified()
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80
}

/// The text with anything between `://` and `@` masked, for error messages about a bad URL.
fn redact_userinfo(text: &str) -> String {
    match (text.find("://"), text.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            format!("{}://***{}", &text[..scheme_end], &text[at..])
        }
        _ => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    #[test]
    fn private_and_local_hosts() {
        for private in [
            "http://127.0.0.1:8080",
            "http://127.8.9.1",
            "http://localhost:11434/v1",
            "http://LOCALHOST.",
            "http://ollama:11434/v1",
            "http://gpu-box.local",
            "http://llm.internal",
            "http://10.1.2.3",
            "http://172.16.0.1",
            "http://172.31.255.255",
            "http://192.168.1.20",
            "http://100.101.102.103",
            "http://169.254.1.1",
            "http://0.0.0.0:8000",
            "http://[::1]:8000",
            "http://[fd12:3456::1]",
            "http://[fe80::1]",
            "http://[::ffff:192.168.0.1]",
        ] {
            assert!(is_private_host(&url(private)), "{private}");
        }
        for public in [
            "https://api.openai.com/v1",
            "http://8.8.8.8",
            "http://172.32.0.1",
            "http://100.128.0.1",
            "http://192.169.0.1",
            "http://[2001:db8::1]",
            "http://[::ffff:8.8.8.8]",
            "http://localhost.evil.com",
            "http://127.0.0.1.nip.io",
        ] {
            assert!(!is_private_host(&url(public)), "{public}");
        }
    }

    #[test]
    fn base_urls_are_validated_without_echoing_credentials() {
        assert!(parse_base_url("http://127.0.0.1:9/v1").is_ok());
        for (bad, why) in [
            ("ftp://host", "scheme"),
            ("not a url", "relative URL"),
            ("https://user:sk-secret@host/v1", "credentials"),
            ("https://host/v1?key=1", "query"),
            ("unix:/run/x.sock", "scheme"),
        ] {
            let error = parse_base_url(bad).unwrap_err().to_string();
            assert!(error.contains(why), "{bad}: {error}");
            assert!(!error.contains("sk-secret"), "{error}");
        }
    }

    #[test]
    fn endpoints_join_without_double_slashes() {
        assert_eq!(
            endpoint_url(&url("https://api.openai.com/v1/"), "/chat/completions").as_str(),
            "https://api.openai.com/v1/chat/completions"
        );
        assert_eq!(
            endpoint_url(&url("https://api.anthropic.com"), "/v1/messages").as_str(),
            "https://api.anthropic.com/v1/messages"
        );
    }
}
