//! What the egress proxy lets through: host rules, then the resolved address.
//!
//! Rules are host globs with an optional port: `crates.io`, `*.pythonhosted.org`,
//! `mirror.internal:8443`, `localhost:*`. A rule without a port allows 80 and 443 only (the web);
//! `:N` allows port N, `:*` any port. `deny` wins over `allow`. Hosts are matched after strict
//! normalisation (lower case, one trailing dot dropped, ASCII only, canonical IP literals only), so
//! `CRATES.IO.`, `127.1`, `0x7f.1` or `%2e` tricks cannot slip past a rule or be read differently
//! by the resolver than by the matcher.
//!
//! After the name is allowed and resolved, every address is checked: loopback, private,
//! link-local (cloud metadata `169.254.169.254`), CGNAT, unspecified, multicast, documentation and
//! reserved ranges, and their IPv6 equivalents (including v4-mapped, NAT64 and 6to4 forms of such
//! IPv4 addresses) are refused unless `allow_private` names the host or a CIDR holding the address.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use globset::{GlobBuilder, GlobMatcher};
use ipnet::IpNet;

use crate::NetworkConfig;

/// A configured rule that cannot be understood.
#[derive(Debug, thiserror::Error)]
#[error("invalid network rule {rule:?} in network.{list}: {message}")]
pub struct RuleError {
    /// Which list (`allow`, `deny`, `allow_private`).
    pub list: &'static str,
    /// The rule as written.
    pub rule: String,
    /// What is wrong.
    pub message: String,
}

/// A normalised destination host.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TargetHost {
    /// A DNS name: lower case, no trailing dot.
    Name(String),
    /// An IP literal.
    Ip(IpAddr),
}

impl fmt::Display for TargetHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TargetHost::Name(name) => f.write_str(name),
            TargetHost::Ip(IpAddr::V4(ip)) => write!(f, "{ip}"),
            TargetHost::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]"),
        }
    }
}

/// The decision on a host and port, before resolution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostVerdict {
    /// Allowed by this rule (as written in the config).
    Allowed {
        /// The rule.
        rule: String,
    },
    /// Refused, and why (a sentence the agent and the user can act on).
    Denied {
        /// Why.
        reason: String,
    },
}

/// Which ports a rule covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ports {
    /// 80 and 443.
    Web,
    /// One port.
    One(u16),
    /// Every port.
    Any,
}

impl Ports {
    fn contains(self, port: u16) -> bool {
        match self {
            Ports::Web => port == 80 || port == 443,
            Ports::One(p) => p == port,
            Ports::Any => true,
        }
    }
}

#[derive(Debug, Clone)]
enum HostPattern {
    /// A plain host name (no glob characters): compared exactly, no regex needed.
    Exact(String),
    Glob(GlobMatcher),
    Ip(IpAddr),
}

#[derive(Debug, Clone)]
struct HostRule {
    written: String,
    pattern: HostPattern,
    ports: Ports,
}

impl HostRule {
    fn parse(list: &'static str, written: &str, default_ports: Ports) -> Result<Self, RuleError> {
        let error = |message: &str| RuleError {
            list,
            rule: written.to_string(),
            message: message.to_string(),
        };
        let rule = written.trim();
        if rule.is_empty() {
            return Err(error("empty rule"));
        }
        if !rule.is_ascii() {
            return Err(error("use the ASCII (punycode) form of the host"));
        }
        let (host, ports) = split_rule_port(rule, default_ports).map_err(|m| error(&m))?;
        let host = host.to_ascii_lowercase();
        let host = host.strip_suffix('.').unwrap_or(&host);
        if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            let ip = Ipv6Addr::from_str(inner).map_err(|_| error("not an IPv6 address"))?;
            return Ok(Self {
                written: written.to_string(),
                pattern: HostPattern::Ip(IpAddr::V6(ip)),
                ports,
            });
        }
        if let Ok(ip) = IpAddr::from_str(host) {
            return Ok(Self {
                written: written.to_string(),
                pattern: HostPattern::Ip(ip),
                ports,
            });
        }
        if host.is_empty()
            || host.chars().any(|c| {
                !(c.is_ascii_alphanumeric()
                    || matches!(
                        c,
                        '.' | '-' | '_' | '*' | '?' | '[' | ']' | '{' | '}' | ',' | '!'
                    ))
            })
        {
            return Err(error(
                "a host glob may only hold letters, digits, '.', '-', '_' and glob characters",
            ));
        }
        if !host.contains(['*', '?', '[', ']', '{', '}', ',', '!']) {
            return Ok(Self {
                written: written.to_string(),
                pattern: HostPattern::Exact(host.to_string()),
                ports,
            });
        }
        let glob = GlobBuilder::new(host)
            .case_insensitive(true)
            .literal_separator(false)
            .backslash_escape(false)
            .build()
            .map_err(|err| error(&err.to_string()))?;
        Ok(Self {
            written: written.to_string(),
            pattern: HostPattern::Glob(glob.compile_matcher()),
            ports,
        })
    }

    fn matches_host(&self, host: &TargetHost) -> bool {
        match (&self.pattern, host) {
            (HostPattern::Ip(rule), TargetHost::Ip(ip)) => rule == ip,
            (HostPattern::Ip(_), TargetHost::Name(_)) => false,
            (HostPattern::Exact(rule), TargetHost::Name(name)) => rule == name,
            (HostPattern::Exact(_), TargetHost::Ip(_)) => false,
            (HostPattern::Glob(glob), TargetHost::Name(name)) => glob.is_match(name),
            (HostPattern::Glob(glob), TargetHost::Ip(IpAddr::V4(ip))) => {
                glob.is_match(ip.to_string())
            }
            // Globs never match IPv6 literals: `*` should not silently open `[::1]`.
            (HostPattern::Glob(_), TargetHost::Ip(IpAddr::V6(_))) => false,
        }
    }

    fn matches(&self, host: &TargetHost, port: u16) -> bool {
        self.ports.contains(port) && self.matches_host(host)
    }
}

/// Splits `host[:port]`; `[v6]:port` keeps its brackets; a bare IPv6 address has no port.
fn split_rule_port(rule: &str, default_ports: Ports) -> Result<(&str, Ports), String> {
    let (host, port) = if rule.matches(':').count() > 1 && !rule.starts_with('[') {
        (rule, None)
    } else if rule.starts_with('[') {
        match rule.find(']') {
            Some(end) if end + 1 == rule.len() => (rule, None),
            Some(end) => match rule[end + 1..].strip_prefix(':') {
                Some(port) => (&rule[..=end], Some(port)),
                None => return Err("unexpected text after ']'".into()),
            },
            None => return Err("missing ']'".into()),
        }
    } else {
        match rule.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (rule, None),
        }
    };
    let ports = match port {
        None => default_ports,
        Some("*") => Ports::Any,
        Some(port) => Ports::One(parse_port(port).ok_or_else(|| format!("bad port {port:?}"))?),
    };
    Ok((host, ports))
}

/// A decimal port 1..=65535, digits only.
pub(crate) fn parse_port(text: &str) -> Option<u16> {
    if text.is_empty() || text.len() > 5 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse::<u16>().ok().filter(|p| *p != 0)
}

/// Normalises a host from a request. Refuses anything a resolver could read differently than the
/// rule matcher: non-ASCII, zone ids, numeric forms other than a canonical dotted quad.
pub fn parse_host(raw: &str) -> Result<TargetHost, String> {
    if raw.is_empty() {
        return Err("empty host".into());
    }
    if !raw.is_ascii() {
        return Err(format!("host {raw:?} is not ASCII (use the punycode form)"));
    }
    if let Some(inner) = raw.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return Ipv6Addr::from_str(inner)
            .map(|ip| TargetHost::Ip(IpAddr::V6(ip)))
            .map_err(|_| format!("host {raw:?} is not a valid IPv6 literal"));
    }
    let lower = raw.to_ascii_lowercase();
    let name = lower.strip_suffix('.').unwrap_or(&lower);
    if let Ok(ip) = Ipv4Addr::from_str(name) {
        return Ok(TargetHost::Ip(IpAddr::V4(ip)));
    }
    if name.len() > 253 {
        return Err("host name longer than 253 characters".into());
    }
    let labels: Vec<&str> = name.split('.').collect();
    for label in &labels {
        if label.is_empty() || label.len() > 63 {
            return Err(format!("host {raw:?} has an empty or over-long label"));
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(format!(
                "host {raw:?} holds characters not allowed in a host name"
            ));
        }
    }
    // No top-level domain starts with a digit; names like `127.1`, `2130706433` or `0x7f.1` are
    // numeric addresses that `getaddrinfo` would accept in non-canonical forms.
    if labels
        .last()
        .is_some_and(|tld| tld.as_bytes()[0].is_ascii_digit())
    {
        return Err(format!(
            "host {raw:?} looks like a non-canonical IP address; write it as a dotted quad"
        ));
    }
    Ok(TargetHost::Name(name.to_string()))
}

/// The allowlist of a session.
#[derive(Debug, Clone)]
pub struct EgressPolicy {
    allow: Vec<HostRule>,
    deny: Vec<HostRule>,
    private_hosts: Vec<HostRule>,
    private_nets: Vec<IpNet>,
}

impl EgressPolicy {
    /// Builds the policy from `[network]`; every rule must parse.
    pub fn from_config(config: &NetworkConfig) -> Result<Self, RuleError> {
        let allow = parse_rules("allow", &config.allow, Ports::Web)?;
        // A deny rule without a port refuses the host on every port.
        let deny = parse_rules("deny", &config.deny, Ports::Any)?;
        let mut private_hosts = Vec::new();
        let mut private_nets = Vec::new();
        for entry in &config.allow_private {
            let trimmed = entry.trim();
            if let Ok(net) = IpNet::from_str(trimmed) {
                private_nets.push(net.trunc());
            } else if let Ok(ip) = IpAddr::from_str(trimmed) {
                private_nets.push(IpNet::from(ip));
            } else {
                // allow_private names hosts whose addresses may be private; ports come from `allow`.
                private_hosts.push(HostRule::parse("allow_private", entry, Ports::Any)?);
            }
        }
        Ok(Self {
            allow,
            deny,
            private_hosts,
            private_nets,
        })
    }

    /// A policy that refuses everything.
    pub fn offline() -> Self {
        Self {
            allow: Vec::new(),
            deny: Vec::new(),
            private_hosts: Vec::new(),
            private_nets: Vec::new(),
        }
    }

    /// True when no host can ever be allowed.
    pub fn is_offline(&self) -> bool {
        self.allow.is_empty()
    }

    /// Decides on a host and port by the rules (deny first).
    pub fn check_host(&self, host: &TargetHost, port: u16) -> HostVerdict {
        if let Some(rule) = self.deny.iter().find(|r| r.matches(host, port)) {
            return HostVerdict::Denied {
                reason: format!(
                    "{host}:{port} is refused by network.deny rule {:?}",
                    rule.written
                ),
            };
        }
        if let Some(rule) = self.allow.iter().find(|r| r.matches(host, port)) {
            return HostVerdict::Allowed {
                rule: rule.written.clone(),
            };
        }
        let reason = if self.allow.is_empty() {
            format!("{host}:{port} refused: the sandbox is offline (network.allow is empty)")
        } else if self.allow.iter().any(|r| r.matches_host(host)) {
            format!(
                "{host}:{port} refused: the host is allowed on other ports only (add \"{}:{port}\" to network.allow)",
                host
            )
        } else {
            format!("{host}:{port} refused: the host is not in network.allow")
        };
        HostVerdict::Denied { reason }
    }

    /// Checks one resolved address of `host`; `Err` explains the refusal.
    pub fn check_address(&self, host: &TargetHost, addr: IpAddr) -> Result<(), String> {
        let Some(class) = non_public_class(addr) else {
            return Ok(());
        };
        let embedded = embedded_ipv4(addr);
        let in_allowed_net = self.private_nets.iter().any(|net| {
            net.contains(&addr) || embedded.is_some_and(|v4| net.contains(&IpAddr::V4(v4)))
        });
        if in_allowed_net || self.private_hosts.iter().any(|r| r.matches_host(host)) {
            return Ok(());
        }
        Err(format!(
            "{host} resolves to {addr}, a {class} address; add it to network.allow_private to allow"
        ))
    }
}

fn parse_rules(
    list: &'static str,
    rules: &[String],
    default_ports: Ports,
) -> Result<Vec<HostRule>, RuleError> {
    rules
        .iter()
        .map(|r| HostRule::parse(list, r, default_ports))
        .collect()
}

/// The IPv4 address an IPv6 address stands for (mapped, compatible, NAT64, 6to4), if any.
fn embedded_ipv4(addr: IpAddr) -> Option<Ipv4Addr> {
    let IpAddr::V6(v6) = addr else {
        return None;
    };
    let s = v6.segments();
    let low = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    if let Some(v4) = v6.to_ipv4_mapped() {
        return Some(v4);
    }
    if s[..6] == [0, 0, 0, 0, 0, 0] {
        return Some(low);
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return Some(low);
    }
    if s[0] == 0x2002 {
        return Some(Ipv4Addr::new(
            (s[1] >> 8) as u8,
            s[1] as u8,
            (s[2] >> 8) as u8,
            s[2] as u8,
        ));
    }
    None
}

/// Why an address is not a public unicast destination, or `None` when it is.
pub fn non_public_class(addr: IpAddr) -> Option<&'static str> {
    match addr {
        IpAddr::V4(v4) => non_public_v4(v4),
        IpAddr::V6(v6) => non_public_v6(v6),
    }
}

fn non_public_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let o = ip.octets();
    let class = match o {
        [169, 254, 169, 254] => "cloud metadata (link-local)",
        [0, ..] => "unspecified (this network)",
        [127, ..] => "loopback",
        [10, ..] => "private",
        [172, b, ..] if (16..=31).contains(&b) => "private",
        [192, 168, ..] => "private",
        [100, b, ..] if (64..=127).contains(&b) => "shared (CGNAT)",
        [169, 254, ..] => "link-local",
        [192, 0, 0, _] => "IETF protocol assignment",
        [192, 0, 2, _] | [198, 51, 100, _] | [203, 0, 113, _] => "documentation",
        [192, 88, 99, _] => "6to4 relay",
        [198, 18 | 19, ..] => "benchmarking",
        [255, 255, 255, 255] => "broadcast",
        [a, ..] if (224..=239).contains(&a) => "multicast",
        [a, ..] if a >= 240 => "reserved",
        _ => return None,
    };
    Some(class)
}

fn non_public_v6(ip: Ipv6Addr) -> Option<&'static str> {
    if ip.is_unspecified() {
        return Some("unspecified");
    }
    if ip.is_loopback() {
        return Some("loopback");
    }
    let s = ip.segments();
    if let Some(v4) = embedded_ipv4(IpAddr::V6(ip)) {
        let wrapper_is_public = s[0] == 0x2002 || s[..6] == [0x64, 0xff9b, 0, 0, 0, 0];
        return match non_public_v4(v4) {
            Some(class) => Some(class),
            // Deprecated v4-compatible and v4-mapped forms are never routed as themselves.
            None if wrapper_is_public => None,
            None if ip.to_ipv4_mapped().is_some() => None,
            None => Some("IPv4-compatible (deprecated)"),
        };
    }
    let class = match s[0] {
        0x0064 if s[1] == 0xff9b && s[2] == 1 => "local-use NAT64",
        0x0100 if s[1..4] == [0, 0, 0] => "discard-only",
        0x2001 if s[1] < 0x0200 => "IETF protocol assignment (incl. Teredo)",
        0x2001 if s[1] == 0x0db8 => "documentation",
        0x3fff if s[1] < 0x1000 => "documentation",
        a if a & 0xfe00 == 0xfc00 => "unique local (private)",
        a if a & 0xffc0 == 0xfe80 => "link-local",
        a if a & 0xffc0 == 0xfec0 => "site-local (deprecated)",
        a if a & 0xff00 == 0xff00 => "multicast",
        a if a & 0xe000 == 0x2000 => return None,
        _ => "reserved",
    };
    Some(class)
}

#[cfg(test)]
#[path = "policy_tests.rs"]
mod tests;
