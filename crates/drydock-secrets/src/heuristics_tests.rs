use super::*;

#[test]
fn entropy_of_simple_inputs() {
    assert_eq!(shannon_entropy(b""), 0.0);
    assert_eq!(shannon_entropy(b"aaaa"), 0.0);
    assert!((shannon_entropy(b"abab") - 1.0).abs() < 1e-9);
    assert!((shannon_entropy(b"abcdefgh") - 3.0).abs() < 1e-9);
}

#[test]
fn placeholders_are_recognised() {
    for value in [
        "AKIAIOSFODNN7EXAMPLE",
        "xxxxxxxxxxxxxxxx",
        "your-api-key-here",
        "<token>",
        "${GITHUB_TOKEN}",
        "{{ secret }}",
        "0000000000000000",
        "REDACTED",
        "sk_live_**********",
    ] {
        assert!(is_placeholder(value.as_bytes()), "{value}");
    }
    for value in ["ghp_4fG7hK2mP9qR1sT6vW8xY0zA3bC5dE7fG9hJ", "Zq8xYyw3kLp0"] {
        assert!(!is_placeholder(value.as_bytes()), "{value}");
    }
}

#[test]
fn generic_values_need_randomness_and_no_reference() {
    let plausible =
        |value: &str, quoted: bool| plausible_generic_value(value.as_bytes(), quoted, 3.0);
    assert!(plausible("hT8kZ2pQ9wXv3LmN", false));
    assert!(plausible("Tr0ub4dor&3xQ!zz", true));
    for (value, quoted) in [
        ("changeme", true),
        ("${DB_PASSWORD}", false),
        ("$DB_PASSWORD", false),
        ("process.env.DB_PASSWORD", false),
        ("os.environ['X']", false),
        ("get_token()", false),
        ("self.password_field", false),
        ("accessTokenValue", false),
        ("12345678901234", true),
        ("test-secret-value-123", true),
        ("aaaaaaaa11", true),
        ("short1", true),
        ("<your-password>", true),
        ("%(password)s", true),
    ] {
        assert!(!plausible(value, quoted), "{value} quoted={quoted}");
    }
}

#[test]
fn url_passwords() {
    assert!(plausible_url_password(b"app", b"hT8kZ2pQ9w"));
    assert!(plausible_url_password(b"", b"s3cr3t!x"));
    for (user, password) in [
        ("postgres", "postgres"),
        ("user", "password"),
        ("guest", "guest"),
        ("app", "${DB_PASSWORD}"),
        ("app", "****"),
        ("app", "xxxxxxxx"),
        ("app", "%s"),
        ("app", "<password>"),
    ] {
        assert!(
            !plausible_url_password(user.as_bytes(), password.as_bytes()),
            "{user}:{password}"
        );
    }
}

#[test]
fn structural_checks() {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    assert!(is_basic_auth_pair(
        b64.encode("deploy:hT8kZ2pQ9w").as_bytes()
    ));
    assert!(!is_basic_auth_pair(b64.encode("no-colon-here").as_bytes()));
    assert!(!is_basic_auth_pair(b64.encode("user:").as_bytes()));
    assert!(!is_basic_auth_pair(b"not base64 at all!"));
    assert!(!is_jwt(
        b"eyJub3QiOiJqd3QifQ.eyJ4IjoxfQ.c2lnbmF0dXJlc2lnbmF0dXJl"
    ));
    let header = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256"}"#);
    assert!(is_jwt(format!("{header}.eyJ4IjoxfQ.c2ln").as_bytes()));
    assert!(looks_random(b"glpat-zXypXgXhWmbuoCGLzxQi"));
    assert!(!looks_random(b"abcdefghabcdefgh"));
}
