//! Bounded capture of a command's output, shared by every backend.
//!
//! A stream keeps at most `limit` bytes: while it stays under the limit everything is kept; past
//! it, the first `limit / 2` and the last `limit - limit / 2` bytes are kept and the rest is only
//! counted ([`CapturedOutput`]). Memory is bounded by `limit` whatever the command prints.
//! Optionally every chunk is also forwarded to an [`OutputSink`] as it arrives (for a terminal);
//! the sink is bounded, so a slow reader slows the command instead of growing a buffer.

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::mpsc;

use crate::CapturedOutput;

/// Which stream a chunk came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputStream {
    /// Standard output (with stderr when merged).
    Stdout,
    /// Standard error.
    Stderr,
}

/// A piece of output forwarded while the command runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputChunk {
    /// Its stream.
    pub stream: OutputStream,
    /// The bytes, as read.
    pub data: Vec<u8>,
}

/// Receives output while a command runs (bounded: a slow consumer applies back-pressure).
pub type OutputSink = mpsc::Sender<OutputChunk>;

/// Creates a sink and its receiving end with room for `chunks` pending chunks.
pub fn output_channel(chunks: usize) -> (OutputSink, mpsc::Receiver<OutputChunk>) {
    mpsc::channel(chunks.max(1))
}

/// Size of one read from a pipe.
const READ_CHUNK: usize = 64 * 1024;

/// Head-and-tail accumulator for one stream.
#[derive(Debug)]
pub struct OutputCapture {
    head_limit: usize,
    head: Vec<u8>,
    tail: TailRing,
    total: u64,
}

impl OutputCapture {
    /// A capture keeping at most `limit` bytes.
    pub fn new(limit: usize) -> Self {
        let head_limit = limit / 2;
        Self {
            head_limit,
            head: Vec::new(),
            tail: TailRing::new(limit - head_limit),
            total: 0,
        }
    }

    /// Adds bytes.
    pub fn push(&mut self, mut data: &[u8]) {
        self.total += data.len() as u64;
        if self.head.len() < self.head_limit {
            let take = (self.head_limit - self.head.len()).min(data.len());
            self.head.extend_from_slice(&data[..take]);
            data = &data[take..];
        }
        self.tail.push(data);
    }

    /// Bytes seen so far.
    pub fn total_bytes(&self) -> u64 {
        self.total
    }

    /// The captured output: everything when it fit, else head, tail and the count.
    pub fn finish(self) -> CapturedOutput {
        let kept = (self.head.len() + self.tail.len()) as u64;
        let mut head = self.head;
        let tail = self.tail.into_vec();
        if kept == self.total {
            head.extend_from_slice(&tail);
            return CapturedOutput {
                head,
                tail: Vec::new(),
                total_bytes: self.total,
            };
        }
        CapturedOutput {
            head,
            tail,
            total_bytes: self.total,
        }
    }
}

/// The last `capacity` bytes of a stream.
#[derive(Debug)]
struct TailRing {
    buf: Vec<u8>,
    capacity: usize,
    /// Where the oldest byte is once the ring is full.
    start: usize,
}

impl TailRing {
    fn new(capacity: usize) -> Self {
        Self {
            buf: Vec::new(),
            capacity,
            start: 0,
        }
    }

    fn len(&self) -> usize {
        self.buf.len()
    }

    fn push(&mut self, mut data: &[u8]) {
        if self.capacity == 0 || data.is_empty() {
            return;
        }
        if data.len() >= self.capacity {
            self.buf.clear();
            self.buf
                .extend_from_slice(&data[data.len() - self.capacity..]);
            self.start = 0;
            return;
        }
        if self.buf.len() < self.capacity {
            let take = (self.capacity - self.buf.len()).min(data.len());
            self.buf.extend_from_slice(&data[..take]);
            data = &data[take..];
            if data.is_empty() {
                return;
            }
        }
        // Full: overwrite the oldest bytes, wrapping around.
        let first = (self.capacity - self.start).min(data.len());
        self.buf[self.start..self.start + first].copy_from_slice(&data[..first]);
        let rest = data.len() - first;
        self.buf[..rest].copy_from_slice(&data[first..]);
        self.start = (self.start + data.len()) % self.capacity;
    }

    fn into_vec(mut self) -> Vec<u8> {
        self.buf.rotate_left(self.start);
        self.buf
    }
}

/// Reads `reader` to its end into a bounded capture, forwarding chunks to `sink` when given.
///
/// A read error ends the capture (what was read is kept); a closed sink is ignored.
pub async fn capture_reader<R>(
    mut reader: R,
    limit: usize,
    stream: OutputStream,
    sink: Option<OutputSink>,
) -> CapturedOutput
where
    R: AsyncRead + Unpin,
{
    let mut capture = OutputCapture::new(limit);
    let mut buf = vec![0u8; READ_CHUNK];
    let mut sink = sink;
    loop {
        let n = match reader.read(&mut buf).await {
            Ok(0) => break,
            Ok(n) => n,
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(err) => {
                tracing::debug!(%err, ?stream, "reading command output failed");
                break;
            }
        };
        capture.push(&buf[..n]);
        if let Some(tx) = &sink {
            let chunk = OutputChunk {
                stream,
                data: buf[..n].to_vec(),
            };
            if tx.send(chunk).await.is_err() {
                sink = None;
            }
        }
    }
    capture.finish()
}

#[cfg(test)]
#[path = "capture_tests.rs"]
mod tests;
