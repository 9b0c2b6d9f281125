use std::net::IpAddr;

use pretty_assertions::assert_eq;

use super::*;

fn policy(allow: &[&str], deny: &[&str], allow_private: &[&str]) -> EgressPolicy {
    EgressPolicy::from_config(&NetworkConfig {
        allow: allow.iter().map(|s| s.to_string()).collect(),
        deny: deny.iter().map(|s| s.to_string()).collect(),
        allow_private: allow_private.iter().map(|s| s.to_string()).collect(),
    })
    .unwrap()
}

fn host(raw: &str) -> TargetHost {
    parse_host(raw).unwrap()
}

fn allowed(p: &EgressPolicy, raw: &str, port: u16) -> bool {
    matches!(p.check_host(&host(raw), port), HostVerdict::Allowed { .. })
}

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

#[test]
fn the_default_registries_are_allowed_on_https() {
    let p = EgressPolicy::from_config(&NetworkConfig::default()).unwrap();
    assert_eq!(
        p.check_host(&host("pypi.org"), 443),
        HostVerdict::Allowed {
            rule: "pypi.org".into()
        }
    );
    assert!(allowed(&p, "files.pythonhosted.org", 443));
    assert!(!allowed(&p, "example.com", 443));
}

#[test]
fn a_wildcard_matches_subdomains_but_not_the_bare_domain_or_lookalikes() {
    let p = policy(&["*.pythonhosted.org"], &[], &[]);
    assert!(allowed(&p, "files.pythonhosted.org", 443));
    assert!(allowed(&p, "a.b.pythonhosted.org", 443));
    assert!(!allowed(&p, "pythonhosted.org", 443));
    assert!(!allowed(&p, "evilpythonhosted.org", 443));
    assert!(!allowed(&p, "pythonhosted.org.evil.com", 443));
    assert!(!allowed(&p, "files.pythonhosted.org.evil.com", 443));
}

#[test]
fn exact_rules_do_not_match_suffix_or_prefix_tricks() {
    let p = policy(&["crates.io"], &[], &[]);
    assert!(allowed(&p, "crates.io", 443));
    assert!(!allowed(&p, "crates.io.evil.com", 443));
    assert!(!allowed(&p, "evilcrates.io", 443));
    assert!(!allowed(&p, "sub.crates.io", 443));
}

#[test]
fn matching_is_case_insensitive_and_ignores_one_trailing_dot() {
    let p = policy(&["crates.io"], &[], &[]);
    assert!(allowed(&p, "CRATES.IO", 443));
    assert!(allowed(&p, "crates.io.", 443));
    assert!(parse_host("crates.io..").is_err());
}

#[test]
fn bare_rules_cover_only_http_and_https_ports() {
    let p = policy(&["crates.io"], &[], &[]);
    assert!(allowed(&p, "crates.io", 80));
    assert!(allowed(&p, "crates.io", 443));
    assert!(!allowed(&p, "crates.io", 22));
    assert!(!allowed(&p, "crates.io", 8443));
    let HostVerdict::Denied { reason } = p.check_host(&host("crates.io"), 22) else {
        panic!("port 22 must be refused");
    };
    assert!(reason.contains("crates.io:22"), "{reason}");
}

#[test]
fn explicit_and_any_ports() {
    let p = policy(&["mirror.internal:8443", "localhost:*"], &[], &[]);
    assert!(allowed(&p, "mirror.internal", 8443));
    assert!(!allowed(&p, "mirror.internal", 443));
    assert!(allowed(&p, "localhost", 1));
    assert!(allowed(&p, "localhost", 65535));
}

#[test]
fn deny_wins_over_allow_and_covers_every_port() {
    let p = policy(&["*", "*:*"], &["evil.com", "*.tracker.net"], &[]);
    assert!(allowed(&p, "good.com", 443));
    assert!(!allowed(&p, "evil.com", 443));
    assert!(!allowed(&p, "evil.com", 8080));
    assert!(!allowed(&p, "x.tracker.net", 443));
    let HostVerdict::Denied { reason } = p.check_host(&host("evil.com"), 443) else {
        panic!("denied host allowed");
    };
    assert!(reason.contains("network.deny"), "{reason}");
}

#[test]
fn an_empty_allow_list_is_offline() {
    let p = policy(&[], &[], &[]);
    assert!(p.is_offline());
    let HostVerdict::Denied { reason } = p.check_host(&host("crates.io"), 443) else {
        panic!("offline policy allowed a host");
    };
    assert!(reason.contains("offline"), "{reason}");
}

#[test]
fn ip_literals_need_their_own_rule() {
    let p = policy(
        &["crates.io", "93.184.216.34", "[2001:4860::8888]:443"],
        &[],
        &[],
    );
    assert!(allowed(&p, "93.184.216.34", 443));
    assert!(!allowed(&p, "93.184.216.35", 443));
    assert!(allowed(&p, "[2001:4860::8888]", 443));
    assert!(!allowed(&p, "[2001:4860::8889]", 443));
}

#[test]
fn a_star_glob_never_matches_ipv6_literals() {
    let p = policy(&["*"], &[], &[]);
    assert!(allowed(&p, "anything.example", 443));
    assert!(!allowed(&p, "[2001:4860::8888]", 443));
}

#[test]
fn non_canonical_numeric_hosts_are_refused_before_any_rule() {
    for raw in [
        "127.1",
        "2130706433",
        "0x7f.0.0.1",
        "0x7f000001",
        "0177.0.0.1",
        "017700000001",
        "127.0.0.1.",
        "1.2.3.04",
    ] {
        match parse_host(raw) {
            Err(_) => {}
            // A trailing dot on a canonical quad is still the same canonical address.
            Ok(TargetHost::Ip(addr)) if raw == "127.0.0.1." => assert_eq!(addr, ip("127.0.0.1")),
            Ok(other) => panic!("{raw:?} parsed as {other:?}"),
        }
    }
}

#[test]
fn hosts_with_odd_characters_are_refused() {
    for raw in [
        "",
        "evil.com@crates.io",
        "crates.io%2eevil.com",
        "crates io",
        "crates.io\0",
        "crates.io/",
        "cr\u{0430}tes.io",
        "[fe80::1%eth0]",
        "[::1",
        "a..b",
        &"a".repeat(64),
        &format!("{}.com", "a.".repeat(130)),
    ] {
        assert!(parse_host(raw).is_err(), "{raw:?} was accepted");
    }
}

#[test]
fn bad_rules_are_reported_with_their_list() {
    for (allow, deny) in [
        (vec!["crates.io:0"], vec![]),
        (vec!["crates.io:99999"], vec![]),
        (vec!["crates.io:http"], vec![]),
        (vec![""], vec![]),
        (vec!["cr\u{0430}tes.io"], vec![]),
        (vec![], vec!["evil.com/path"]),
        (vec!["[::1"], vec![]),
    ] {
        let err = EgressPolicy::from_config(&NetworkConfig {
            allow: allow.iter().map(|s: &&str| s.to_string()).collect(),
            deny: deny.iter().map(|s: &&str| s.to_string()).collect(),
            allow_private: Vec::new(),
        })
        .unwrap_err();
        let list = if allow.is_empty() { "deny" } else { "allow" };
        assert_eq!(err.list, list, "{err}");
    }
}

#[test]
fn private_loopback_and_metadata_addresses_are_refused() {
    let p = policy(&["*"], &[], &[]);
    let name = host("allowed.example");
    for addr in [
        "127.0.0.1",
        "127.255.255.254",
        "10.1.2.3",
        "172.16.0.1",
        "172.31.255.255",
        "192.168.1.1",
        "169.254.169.254",
        "169.254.1.1",
        "100.64.0.1",
        "0.0.0.0",
        "0.1.2.3",
        "192.0.2.2",
        "198.18.0.1",
        "224.0.0.1",
        "240.0.0.1",
        "255.255.255.255",
        "::",
        "::1",
        "::ffff:127.0.0.1",
        "::ffff:169.254.169.254",
        "::ffff:10.0.0.1",
        "::127.0.0.1",
        "64:ff9b::a00:1",
        "64:ff9b::7f00:1",
        "2002:7f00:1::1",
        "2002:a9fe:a9fe::1",
        "fc00::1",
        "fd12:3456::1",
        "fe80::1",
        "fec0::1",
        "ff02::1",
        "2001:db8::1",
        "2001::1",
        "100::1",
    ] {
        let err = p.check_address(&name, ip(addr)).unwrap_err();
        assert!(err.contains("allow_private"), "{addr}: {err}");
    }
}

#[test]
fn public_addresses_pass_including_public_v4_in_v6_forms() {
    let p = policy(&["*"], &[], &[]);
    let name = host("allowed.example");
    for addr in [
        "93.184.216.34",
        "1.1.1.1",
        "172.32.0.1",
        "100.128.0.1",
        "::ffff:93.184.216.34",
        "64:ff9b::5db8:d822",
        "2002:5db8:d822::1",
        "2606:4700::1111",
    ] {
        assert_eq!(p.check_address(&name, ip(addr)), Ok(()), "{addr}");
    }
}

#[test]
fn allow_private_accepts_cidrs_single_addresses_and_host_globs() {
    let p = policy(
        &["*:*"],
        &[],
        &["127.0.0.0/8", "10.1.2.3", "*.corp.internal"],
    );
    assert_eq!(p.check_address(&host("localhost"), ip("127.0.0.1")), Ok(()));
    assert_eq!(
        p.check_address(&host("localhost"), ip("::ffff:127.0.0.1")),
        Ok(())
    );
    assert_eq!(p.check_address(&host("x"), ip("10.1.2.3")), Ok(()));
    assert!(p.check_address(&host("x"), ip("10.1.2.4")).is_err());
    assert_eq!(
        p.check_address(&host("db.corp.internal"), ip("10.9.9.9")),
        Ok(())
    );
    assert!(
        p.check_address(&host("db.corp.internal.evil.com"), ip("10.9.9.9"))
            .is_err()
    );
    assert!(p.check_address(&host("x"), ip("169.254.169.254")).is_err());
}

#[test]
fn allow_private_does_not_allow_a_host_by_itself() {
    let p = policy(&["crates.io"], &[], &["localhost"]);
    assert!(!allowed(&p, "localhost", 443));
}

#[test]
fn a_bare_ipv6_rule_is_an_address_not_a_port() {
    let p = policy(&["2606:4700::1111"], &[], &[]);
    assert!(allowed(&p, "[2606:4700::1111]", 443));
}
