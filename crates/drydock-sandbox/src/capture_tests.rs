use pretty_assertions::assert_eq;

use super::*;

fn capture_all(limit: usize, chunks: &[&[u8]]) -> CapturedOutput {
    let mut capture = OutputCapture::new(limit);
    for chunk in chunks {
        capture.push(chunk);
    }
    capture.finish()
}

#[test]
fn output_under_the_limit_is_kept_whole_in_head() {
    let out = capture_all(10, &[b"hello", b" you"]);
    assert_eq!(
        out,
        CapturedOutput {
            head: b"hello you".to_vec(),
            tail: Vec::new(),
            total_bytes: 9,
        }
    );
    assert_eq!(out.dropped_bytes(), 0);
}

#[test]
fn output_exactly_at_the_limit_is_kept_whole() {
    let out = capture_all(8, &[b"abcdefgh"]);
    assert_eq!(out.head, b"abcdefgh");
    assert!(out.tail.is_empty());
}

#[test]
fn output_over_the_limit_keeps_first_and_last_halves() {
    let data: Vec<u8> = (0..100u8).collect();
    let out = capture_all(10, &[&data]);
    assert_eq!(
        out,
        CapturedOutput {
            head: (0..5u8).collect(),
            tail: (95..100u8).collect(),
            total_bytes: 100,
        }
    );
    assert_eq!(out.dropped_bytes(), 90);
}

#[test]
fn many_small_chunks_wrap_the_tail_correctly() {
    let data: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
    let mut capture = OutputCapture::new(64);
    for chunk in data.chunks(7) {
        capture.push(chunk);
    }
    let out = capture.finish();
    assert_eq!(out.head, data[..32]);
    assert_eq!(out.tail, data[data.len() - 32..]);
    assert_eq!(out.total_bytes, 10_000);
}

#[test]
fn an_odd_limit_gives_the_extra_byte_to_the_tail() {
    let out = capture_all(5, &[b"0123456789"]);
    assert_eq!(out.head, b"01");
    assert_eq!(out.tail, b"789");
}

#[test]
fn a_zero_limit_keeps_nothing_but_counts() {
    let out = capture_all(0, &[b"abc", b"def"]);
    assert_eq!(
        out,
        CapturedOutput {
            head: Vec::new(),
            tail: Vec::new(),
            total_bytes: 6,
        }
    );
}

#[test]
fn just_over_the_limit_splits_without_losing_bytes_at_the_seam() {
    let out = capture_all(6, &[b"abc", b"defg"]);
    assert_eq!(out.head, b"abc");
    assert_eq!(out.tail, b"efg");
    assert_eq!(out.dropped_bytes(), 1);
    assert_eq!(out.to_text(), "abc\n[... 1 bytes omitted ...]\nefg");
}

#[test]
fn binary_and_invalid_utf8_are_kept_as_bytes() {
    let bytes = [0xff, 0x00, 0xfe, b'\n'];
    let out = capture_all(100, &[&bytes]);
    assert_eq!(out.head, bytes);
}

#[tokio::test]
async fn capture_reader_reads_to_the_end_and_forwards_chunks() {
    let data: Vec<u8> = (0..=255u8).cycle().take(300_000).collect();
    let (sink, mut rx) = output_channel(4);
    let collector = tokio::spawn(async move {
        let mut seen = Vec::new();
        while let Some(chunk) = rx.recv().await {
            assert_eq!(chunk.stream, OutputStream::Stderr);
            seen.extend(chunk.data);
        }
        seen
    });
    let out = capture_reader(&data[..], 1000, OutputStream::Stderr, Some(sink)).await;
    assert_eq!(out.total_bytes, 300_000);
    assert_eq!(out.head, data[..500]);
    assert_eq!(out.tail, data[data.len() - 500..]);
    assert_eq!(collector.await.unwrap(), data);
}

#[tokio::test]
async fn a_dropped_sink_does_not_stop_the_capture() {
    let data = vec![b'z'; 200_000];
    let (sink, rx) = output_channel(1);
    drop(rx);
    let out = capture_reader(&data[..], 10, OutputStream::Stdout, Some(sink)).await;
    assert_eq!(out.total_bytes, 200_000);
}
