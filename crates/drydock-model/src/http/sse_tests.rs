use pretty_assertions::assert_eq;

use super::*;

fn event(name: Option<&str>, data: &str) -> SseEvent {
    SseEvent {
        event: name.map(str::to_owned),
        data: data.to_owned(),
    }
}

fn decode_in_chunks(bytes: &[u8], chunk: usize) -> Vec<SseEvent> {
    let mut decoder = SseDecoder::new(1 << 20);
    let mut events = Vec::new();
    for piece in bytes.chunks(chunk) {
        events.extend(decoder.push(piece).unwrap());
    }
    events.extend(decoder.finish());
    events
}

#[test]
fn events_survive_any_chunking_and_any_line_ending() {
    let body = "event: ping\ndata: {\"a\":1}\n\n: keep-alive comment\ndata:no-space\ndata:  two spaces\n\nevent: done\ndata: é ✓\n\n";
    let expected = vec![
        event(Some("ping"), "{\"a\":1}"),
        event(None, "no-space\n two spaces"),
        event(Some("done"), "é ✓"),
    ];
    for ending in ["\n", "\r\n", "\r"] {
        let bytes = body.replace('\n', ending).into_bytes();
        for chunk in [1, 2, 3, 5, 7, bytes.len()] {
            assert_eq!(
                decode_in_chunks(&bytes, chunk),
                expected,
                "ending {ending:?}, chunk {chunk}"
            );
        }
    }
}

#[test]
fn crlf_split_between_chunks_is_one_line_end() {
    let mut decoder = SseDecoder::new(1024);
    assert_eq!(decoder.push(b"event: a\r").unwrap(), vec![]);
    assert_eq!(decoder.push(b"\ndata: x\r").unwrap(), vec![]);
    // Had the `\n` after `\r` counted as a blank line, the event would have been dispatched early.
    assert_eq!(
        decoder.push(b"\n\r\n").unwrap(),
        vec![event(Some("a"), "x")]
    );
}

#[test]
fn event_name_without_data_dispatches_nothing_and_does_not_leak() {
    let events = decode_in_chunks(b"event: lonely\n\ndata: next\n\n", 4);
    assert_eq!(events, vec![event(None, "next")]);
}

#[test]
fn a_complete_last_event_without_blank_line_is_kept_but_a_cut_line_is_not() {
    assert_eq!(
        decode_in_chunks(b"data: [DONE]\n", 3),
        vec![event(None, "[DONE]")]
    );
    assert_eq!(
        decode_in_chunks(b"data: {\"a\":1}\n\ndata: {\"type\":\"mess", 5),
        vec![event(None, "{\"a\":1}")]
    );
}

#[test]
fn utf8_split_across_chunks_is_reassembled_but_invalid_utf8_is_an_error() {
    let body = "data: ünïcødé\n\n".as_bytes();
    assert_eq!(decode_in_chunks(body, 1), vec![event(None, "ünïcødé")]);
    let mut decoder = SseDecoder::new(1024);
    assert_eq!(
        decoder.push(b"data: \xff\xfe\n\n"),
        Err(SseError::NotUtf8 { line: 1 })
    );
}

#[test]
fn unbounded_lines_and_events_are_refused() {
    let mut decoder = SseDecoder::new(64);
    let long = vec![b'x'; 65];
    assert_eq!(
        decoder.push(&long),
        Err(SseError::TooLong { line: 1, limit: 64 })
    );
    let mut decoder = SseDecoder::new(64);
    let line = format!("data: {}\n", "y".repeat(40));
    assert_eq!(decoder.push(line.as_bytes()), Ok(vec![]));
    assert_eq!(
        decoder.push(line.as_bytes()),
        Err(SseError::TooLong { line: 2, limit: 64 })
    );
}
