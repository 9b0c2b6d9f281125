//! Streaming redaction of output that arrives in chunks.

use std::fmt;

use crate::engine::{Plan, Scratch, Segment, Span, first_cut};
use crate::redactor::{Finding, Progress, Redactor, into_string};

/// A segment is processed once this much input past its start is buffered (plus look-ahead).
pub(crate) const TARGET_SEGMENT: usize = 16 * 1024;

/// Redacts a stream chunk by chunk. It holds back just enough input to decide (the rest of the
/// current line group plus a look-ahead: the longest known-value encoding, or 64 KiB after a
/// private-key marker), so a secret split across chunks is still redacted, memory stays bounded,
/// and the concatenated output equals [`Redactor::redact`] of the concatenated input.
///
/// ```
/// use drydock_secrets::{KnownSecret, Redactor, RuleSet};
///
/// let redactor = Redactor::new(
///     RuleSet::builtin(),
///     vec![KnownSecret::new("DEPLOY_KEY", "correct-horse-battery-staple")],
/// )?;
/// let mut stream = redactor.stream();
/// let mut out = stream.push("key: correct-horse-bat");
/// out += &stream.push("tery-staple\n");
/// out += &stream.finish();
/// assert_eq!(out, "key: [REDACTED:DEPLOY_KEY]\n");
/// # Ok::<(), drydock_secrets::SecretsError>(())
/// ```
pub struct StreamRedactor<'r> {
    redactor: &'r Redactor,
    output: bool,
    buf: Vec<u8>,
    driver: Driver,
    /// Buffer length before which another attempt cannot succeed...
    retry_at: usize,
    /// ...unless a line feed arrives (the current line's end was what was missing).
    retry_on_newline: bool,
}

impl fmt::Debug for StreamRedactor<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamRedactor")
            .field("consumed", &self.consumed())
            .field("buffered", &self.buf.len())
            .field("findings", &self.driver.progress.findings.len())
            .finish_non_exhaustive()
    }
}

impl<'r> StreamRedactor<'r> {
    pub(crate) fn new(redactor: &'r Redactor, path: Option<String>, output: bool) -> Self {
        StreamRedactor {
            redactor,
            output,
            buf: Vec::new(),
            driver: Driver::new(path),
            retry_at: 0,
            retry_on_newline: false,
        }
    }

    /// Adds a chunk; returns the redacted output that is now final (possibly empty).
    pub fn push(&mut self, chunk: &str) -> String {
        into_string(self.push_bytes(chunk.as_bytes()))
    }

    /// Ends the stream; returns the rest of the redacted output.
    pub fn finish(&mut self) -> String {
        into_string(self.finish_bytes())
    }

    /// [`StreamRedactor::push`] for bytes that need not be UTF-8.
    pub fn push_bytes(&mut self, chunk: &[u8]) -> Vec<u8> {
        self.buf.extend_from_slice(chunk);
        let newline = self.retry_on_newline && memchr::memchr(b'\n', chunk).is_some();
        if self.buf.len() < self.retry_at && !newline {
            return Vec::new();
        }
        self.drain(false)
    }

    /// [`StreamRedactor::finish`] for bytes.
    pub fn finish_bytes(&mut self) -> Vec<u8> {
        let out = self.drain(true);
        self.driver.progress.close();
        out
    }

    /// Findings whose redaction has been emitted since the last call, in input order (a span
    /// still open at the end of the output so far is reported once it closes). Taking them
    /// keeps memory bounded on endless streams.
    pub fn take_findings(&mut self) -> Vec<Finding> {
        std::mem::take(&mut self.driver.progress.findings)
    }

    /// Bytes consumed so far.
    pub fn consumed(&self) -> usize {
        self.driver.progress.base + self.buf.len()
    }

    fn drain(&mut self, eof: bool) -> Vec<u8> {
        let mut out = Vec::new();
        let mut consumed = 0;
        self.retry_at = 0;
        self.retry_on_newline = false;
        loop {
            let sink = self.output.then_some(&mut out);
            match self
                .driver
                .step(self.redactor, &self.buf[consumed..], eof, sink)
            {
                Step::Consumed(cut) => consumed += cut,
                Step::Done => break,
                Step::NeedMore { len, on_newline } => {
                    self.retry_at = len;
                    self.retry_on_newline = on_newline;
                    break;
                }
            }
        }
        self.buf.drain(..consumed);
        out
    }
}

/// What one step of the driver did.
pub(crate) enum Step {
    /// Emitted a segment of this many bytes.
    Consumed(usize),
    /// Nothing left.
    Done,
    /// Needs a view of `len` bytes (or a line feed, when `on_newline`) to go on.
    NeedMore { len: usize, on_newline: bool },
}

/// Segment-by-segment redaction state shared by streaming and one-shot redaction.
#[derive(Debug)]
pub(crate) struct Driver {
    path: Option<String>,
    pub progress: Progress,
    known_from: usize,
    deferred: Vec<Span>,
    scratch: Scratch,
}

impl Driver {
    pub fn new(path: Option<String>) -> Self {
        Driver {
            path,
            progress: Progress::default(),
            known_from: 0,
            deferred: Vec::new(),
            scratch: Scratch::default(),
        }
    }

    /// Redacts the first segment of `view` (which starts where the previous step stopped) into
    /// `out`.
    pub fn step(
        &mut self,
        redactor: &Redactor,
        view: &[u8],
        eof: bool,
        out: Option<&mut Vec<u8>>,
    ) -> Step {
        if view.is_empty() {
            return Step::Done;
        }
        let cut = match first_cut(view, TARGET_SEGMENT, eof) {
            Ok(cut) => cut,
            Err(len) => {
                return Step::NeedMore {
                    len,
                    on_newline: true,
                };
            }
        };
        let base = self.progress.base;
        let segment = Segment {
            view,
            cut,
            eof,
            known_from: self.known_from.saturating_sub(base),
            path: self.path.as_deref(),
        };
        let analysis = match redactor.matcher().analyze(&segment, &mut self.scratch) {
            Plan::NeedMore(len) => {
                return Step::NeedMore {
                    len,
                    on_newline: false,
                };
            }
            Plan::Ready(analysis) => analysis,
        };
        let mut spans = analysis.spans;
        self.deferred.retain(|span| {
            let keep = span.start >= base + cut;
            if !keep {
                spans.push(Span {
                    start: span.start - base,
                    end: span.end - base,
                    label: span.label,
                });
            }
            keep
        });
        self.deferred
            .extend(analysis.deferred.iter().map(|span| Span {
                start: span.start + base,
                end: span.end + base,
                label: span.label,
            }));
        self.known_from = base + analysis.known_resume;
        self.progress.emit(redactor, view, cut, spans, out);
        Step::Consumed(cut)
    }
}

#[cfg(test)]
#[path = "stream_tests.rs"]
mod tests;
