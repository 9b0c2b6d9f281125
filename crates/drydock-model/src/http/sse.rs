//! A server-sent events decoder (the `text/event-stream` format of the HTML standard), fed with
//! the body's bytes as they arrive. Bounded: a line longer than the limit is an error rather than
//! an ever-growing buffer.

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SseEvent {
    /// The `event:` field, when the server named the event.
    pub event: Option<String>,
    /// The `data:` lines joined with `\n`.
    pub data: String,
}

/// Why the bytes are not a valid event stream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum SseError {
    /// A line was not UTF-8.
    #[error("event stream line {line} is not UTF-8")]
    NotUtf8 {
        /// 1-based line number.
        line: u64,
    },
    /// A line or an event grew past the limit.
    #[error("event stream line {line} exceeds {limit} bytes")]
    TooLong {
        /// 1-based line number.
        line: u64,
        /// The limit in bytes.
        limit: usize,
    },
}

/// Incremental decoder: push bytes, collect the events they complete.
#[derive(Debug)]
pub(crate) struct SseDecoder {
    partial: Vec<u8>,
    after_cr: bool,
    event: Option<String>,
    data: String,
    has_data: bool,
    line: u64,
    limit: usize,
}

impl SseDecoder {
    /// A decoder refusing lines and events larger than `limit` bytes.
    pub fn new(limit: usize) -> Self {
        Self {
            partial: Vec::new(),
            after_cr: false,
            event: None,
            data: String::new(),
            has_data: false,
            line: 0,
            limit,
        }
    }

    /// Feeds the next bytes of the body and returns the events they complete, in order.
    pub fn push(&mut self, mut bytes: &[u8]) -> Result<Vec<SseEvent>, SseError> {
        let mut events = Vec::new();
        if self.after_cr && bytes.first() == Some(&b'\n') {
            bytes = &bytes[1..];
        }
        self.after_cr = false;
        while let Some(end) = bytes.iter().position(|b| *b == b'\n' || *b == b'\r') {
            self.partial.extend_from_slice(&bytes[..end]);
            let line = std::mem::take(&mut self.partial);
            self.take_line(&line, &mut events)?;
            let mut next = end + 1;
            if bytes[end] == b'\r' {
                match bytes.get(next) {
                    Some(b'\n') => next += 1,
                    Some(_) => {}
                    None => self.after_cr = true,
                }
            }
            bytes = &bytes[next..];
        }
        self.partial.extend_from_slice(bytes);
        if self.partial.len() > self.limit {
            return Err(SseError::TooLong {
                line: self.line + 1,
                limit: self.limit,
            });
        }
        Ok(events)
    }

    /// Ends the stream: an event whose lines were all complete but which lacked its closing blank
    /// line is dispatched; a half-received line is dropped, as the standard requires.
    pub fn finish(&mut self) -> Option<SseEvent> {
        self.partial.clear();
        self.dispatch()
    }

    fn take_line(&mut self, raw: &[u8], events: &mut Vec<SseEvent>) -> Result<(), SseError> {
        self.line += 1;
        let line = std::str::from_utf8(raw).map_err(|_| SseError::NotUtf8 { line: self.line })?;
        if line.is_empty() {
            events.extend(self.dispatch());
            return Ok(());
        }
        if line.starts_with(':') {
            return Ok(());
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        match field {
            "event" => self.event = Some(value.to_owned()),
            "data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
                if self.data.len() > self.limit {
                    return Err(SseError::TooLong {
                        line: self.line,
                        limit: self.limit,
                    });
                }
            }
            // `id` and `retry` steer browser reconnection, which a one-shot request never does.
            _ => {}
        }
        Ok(())
    }

    fn dispatch(&mut self) -> Option<SseEvent> {
        let event = self.event.take();
        if !self.has_data {
            return None;
        }
        self.has_data = false;
        Some(SseEvent {
            event,
            data: std::mem::take(&mut self.data),
        })
    }
}

#[cfg(test)]
#[path = "sse_tests.rs"]
mod tests;
