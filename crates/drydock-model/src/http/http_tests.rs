use pretty_assertions::assert_eq;

use super::*;

#[test]
fn api_key_debug_never_shows_the_key() {
    let key = ApiKey::new("  sk-ant-api03-verysecretvalue\n").unwrap();
    assert_eq!(key.header("", "X").unwrap(), "sk-ant-api03-verysecretvalue");
    assert_eq!(format!("{key:?}"), "ApiKey(<redacted>)");
    assert!(ApiKey::new(" \n").is_none());
    assert!(key.header("Bearer ", "X").unwrap().is_sensitive());
    let bad = ApiKey::new("abc\u{7f}def").unwrap();
    let error = bad.header("", "OPENAI_API_KEY").unwrap_err().to_string();
    assert!(
        error.contains("OPENAI_API_KEY") && !error.contains("abc"),
        "{error}"
    );
}

#[test]
fn scrub_removes_the_key_and_key_shaped_tokens() {
    let key = ApiKey::new("local-test-key-123").unwrap();
    assert_eq!(
        scrub("bad key local-test-key-123 given", Some(&key)),
        "bad key [REDACTED] given"
    );
    assert_eq!(
        scrub(
            "Incorrect API key provided: sk-proj-abc1************************xyz9. See docs",
            None
        ),
        "Incorrect API key provided: sk-[REDACTED]. See docs"
    );
    assert_eq!(
        scrub("task-list and sk-1 stay", None),
        "task-list and sk-1 stay"
    );
    assert_eq!(
        scrub("a task-management-system", None),
        "a task-management-system"
    );
    assert_eq!(scrub("ends with sk-", None), "ends with sk-");
    assert_eq!(
        scrub("sk-aaaaaaaa,sk-bbbbbbbbbb", None),
        "sk-[REDACTED],sk-[REDACTED]"
    );
}

#[test]
fn error_messages_are_found_in_every_vendor_shape() {
    for (body, expected) in [
        (
            r#"{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}"#,
            "invalid x-api-key",
        ),
        (
            r#"{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}"#,
            "Rate limit reached",
        ),
        (
            r#"{"error":"model 'qwen' not found"}"#,
            "model 'qwen' not found",
        ),
        (r#"{"detail":"Not Found"}"#, "Not Found"),
        (
            "<html>\n<b>502 Bad\tGateway</b>\n</html>",
            "<html> <b>502 Bad Gateway</b> </html>",
        ),
        ("", "(empty response body)"),
    ] {
        assert_eq!(error_message(body.as_bytes()), expected);
    }
    let long = "x".repeat(10_000);
    assert_eq!(
        error_message(long.as_bytes()).chars().count(),
        MAX_MESSAGE_CHARS + 1
    );
    assert_eq!(error_message(b"\xff\xfeoops"), "\u{fffd}\u{fffd}oops");
}

#[test]
fn statuses_are_classified() {
    let classify = |status, should_retry| match status_failure(
        "openai",
        status,
        "m".into(),
        None,
        should_retry,
    ) {
        AttemptError::Retry(transient) => format!("retry {:?}", transient.status),
        AttemptError::Fatal(error) => format!("fatal {}", error.code()),
    };
    assert_eq!(classify(401, None), "fatal model_auth");
    assert_eq!(classify(403, Some(true)), "fatal model_auth");
    assert_eq!(classify(400, None), "fatal model_http");
    assert_eq!(classify(404, None), "fatal model_http");
    assert_eq!(classify(429, None), "retry Some(429)");
    assert_eq!(classify(529, None), "retry Some(529)");
    assert_eq!(classify(503, Some(false)), "fatal model_http");
    assert_eq!(classify(400, Some(true)), "retry Some(400)");
}
