//! Logical lines: physical lines, with lines longer than [`LINE_MAX`] cut into pieces at
//! content-defined places, so that scanning works in bounded memory and gives the same answer
//! however the input was chunked.

/// Longest logical line; longer physical lines are cut into pieces.
pub(crate) const LINE_MAX: usize = 1 << 20;
/// How far back from [`LINE_MAX`] a piece looks for a `,` or `;` to end at.
const BREAK_SEARCH: usize = 4096;

/// One logical line of a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Line {
    /// First byte.
    pub start: usize,
    /// End of the content (before `\n`, or the piece end).
    pub end: usize,
    /// Where the next line starts (after `\n`, or `end` for a piece or the last line).
    pub next: usize,
}

impl Line {
    /// Whether a line feed ends it (so the next line continues a run of whole lines).
    pub fn terminated(&self) -> bool {
        self.next > self.end
    }
}

/// The logical line starting at `start` (a logical line start), or `None` when `view` ends
/// before the line does and more input may come.
pub(crate) fn line_from(view: &[u8], start: usize, eof: bool) -> Option<Line> {
    let limit = view.len().min(start + LINE_MAX + 1);
    if let Some(offset) = memchr::memchr(b'\n', &view[start..limit]) {
        let end = start + offset;
        return Some(Line {
            start,
            end,
            next: end + 1,
        });
    }
    if view.len() - start > LINE_MAX {
        let end = piece_end(view, start);
        return Some(Line {
            start,
            end,
            next: end,
        });
    }
    eof.then_some(Line {
        start,
        end: view.len(),
        next: view.len(),
    })
}

/// Where a piece of an over-long line starting at `start` ends: after the last `,` or `;` in the
/// few KiB before [`LINE_MAX`] (secrets do not contain them), else at a UTF-8 boundary.
fn piece_end(view: &[u8], start: usize) -> usize {
    let nominal = start + LINE_MAX;
    let search_from = nominal - BREAK_SEARCH;
    if let Some(offset) = memchr::memrchr2(b',', b';', &view[search_from..nominal]) {
        return search_from + offset + 1;
    }
    let mut end = nominal;
    while end > start + 1 && (view[end] & 0xC0) == 0x80 {
        end -= 1;
    }
    end
}

/// Finds the logical line around positions visited in non-decreasing order, in amortised
/// linear time.
pub(crate) struct LineCursor<'a> {
    view: &'a [u8],
    current: Option<Line>,
}

impl<'a> LineCursor<'a> {
    /// A cursor over `view`, whose first byte starts a logical line.
    pub fn new(view: &'a [u8]) -> Self {
        LineCursor {
            view,
            current: None,
        }
    }

    /// The logical line containing `pos` (`pos` at least the previous call's).
    pub fn line_at(&mut self, pos: usize) -> Line {
        if let Some(line) = self.current
            && line.start <= pos
            && (pos < line.next || line.next == self.view.len())
        {
            return line;
        }
        let lower = self.current.map_or(0, |line| line.next);
        let mut start = if self.current.is_some_and(|line| !line.terminated()) {
            // The previous line was a piece of a long line: the next piece starts where it ended.
            lower
        } else {
            memchr::memrchr(b'\n', &self.view[lower..pos.min(self.view.len())])
                .map_or(lower, |offset| lower + offset + 1)
        };
        loop {
            let line = line_from(self.view, start, true).unwrap_or(Line {
                start,
                end: self.view.len(),
                next: self.view.len(),
            });
            if pos < line.next || line.next >= self.view.len() {
                self.current = Some(line);
                return line;
            }
            start = line.next;
            if line.terminated() {
                // Past a line feed: jump straight to the physical line holding `pos`.
                start = memchr::memrchr(b'\n', &self.view[start..pos])
                    .map_or(start, |offset| start + offset + 1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_lines_are_physical_lines() {
        let view = b"ab\ncd\n\nef";
        let mut cursor = LineCursor::new(view);
        assert_eq!(
            cursor.line_at(0),
            Line {
                start: 0,
                end: 2,
                next: 3
            }
        );
        assert_eq!(
            cursor.line_at(4),
            Line {
                start: 3,
                end: 5,
                next: 6
            }
        );
        assert_eq!(
            cursor.line_at(6),
            Line {
                start: 6,
                end: 6,
                next: 7
            }
        );
        assert_eq!(
            cursor.line_at(8),
            Line {
                start: 7,
                end: 9,
                next: 9
            }
        );
        assert_eq!(line_from(view, 7, false), None);
        assert_eq!(
            line_from(view, 7, true),
            Some(Line {
                start: 7,
                end: 9,
                next: 9
            })
        );
    }

    #[test]
    fn long_lines_are_cut_after_a_comma_near_the_limit() {
        let mut view = vec![b'a'; LINE_MAX + 500];
        view[LINE_MAX - 100] = b',';
        let line = line_from(&view, 0, false).unwrap();
        assert_eq!(
            line,
            Line {
                start: 0,
                end: LINE_MAX - 99,
                next: LINE_MAX - 99
            }
        );
        assert!(!line.terminated());
        let mut cursor = LineCursor::new(&view);
        assert_eq!(cursor.line_at(10).end, LINE_MAX - 99);
        let rest = cursor.line_at(LINE_MAX);
        assert_eq!((rest.start, rest.end), (LINE_MAX - 99, view.len()));
    }

    #[test]
    fn long_lines_without_delimiters_are_cut_on_a_utf8_boundary() {
        let mut view = "é".repeat(LINE_MAX).into_bytes();
        view.extend_from_slice(b"\n");
        let line = line_from(&view, 0, false).unwrap();
        assert!(
            line.end <= LINE_MAX && line.end.is_multiple_of(2),
            "{line:?}"
        );
        assert!(std::str::from_utf8(&view[..line.end]).is_ok());
    }
}
