//! Running the rules' regexes on the lines a segment's keyword pass picked: anchored at start
//! literals, over runs of lines, line by line, or in windows for multi-line rules.

use regex::bytes::Captures;

use super::{MULTILINE_WINDOW, Matcher, Mode, RUN_GAP, Scratch, Span};
use crate::lines::Line;
use crate::rule::{Candidate, Rule};

/// Bytes anchored attempts may read on any line, on top of twice its length, before the line
/// is scanned whole instead (short lines with a few candidates stay anchored).
const ATTEMPT_ALLOWANCE: usize = 256;

impl Matcher {
    /// Spans of the rules whose keywords hit lines of this segment.
    pub(super) fn rule_spans(
        &self,
        view: &[u8],
        cut: usize,
        path: Option<&str>,
        scratch: &mut Scratch,
        spans: &mut Vec<Span>,
        deferred: &mut Vec<Span>,
    ) {
        let Scratch {
            lines: all_lines,
            by_rule,
            starts,
            found,
            ..
        } = scratch;
        let all_lines = &*all_lines;
        for (rule_index, line_ids) in by_rule.iter().enumerate() {
            if line_ids.is_empty() {
                continue;
            }
            let rule = &self.rules[rule_index];
            if !rule.applies_to(path) {
                continue;
            }
            let label = self.rule_label(rule_index as u32);
            let line = |id: u32| all_lines[id as usize];
            match self.modes[rule_index] {
                Mode::Starts => {
                    let starts = &starts[rule_index];
                    let mut next = 0;
                    for &id in line_ids {
                        let line = line(id);
                        while next < starts.len() && starts[next] < line.start {
                            next += 1;
                        }
                        let first = next;
                        while next < starts.len() && starts[next] < line.end {
                            next += 1;
                        }
                        let candidates = &starts[first..next];
                        self.search_starts(rule, label, view, line, candidates, path, spans);
                    }
                }
                Mode::Lines => {
                    // The regex cannot match a line feed, so one search over several hit lines
                    // (and the short gaps between them) finds exactly the per-line matches;
                    // matches on lines without a hit are dropped. Merging only close lines
                    // saves the per-search overhead without scanning much text twice.
                    let mut run_start = 0;
                    while run_start < line_ids.len() {
                        let mut run_end = run_start;
                        // Never across a cut inside an over-long line (no line feed there).
                        while run_end + 1 < line_ids.len() && {
                            let (this, next) =
                                (line(line_ids[run_end]), line(line_ids[run_end + 1]));
                            this.terminated() && next.start - this.end <= RUN_GAP
                        } {
                            run_end += 1;
                        }
                        let run = &line_ids[run_start..=run_end];
                        let (start, end) = (line(run[0]).start, line(run[run.len() - 1]).end);
                        found.clear();
                        self.search(rule, label, view, start, end, path, found);
                        let mut next_line = 0;
                        for &span in found.iter() {
                            while next_line < run.len() && line(run[next_line]).end < span.start {
                                next_line += 1;
                            }
                            if next_line < run.len() && line(run[next_line]).start <= span.start {
                                spans.push(span);
                            }
                        }
                        run_start = run_end + 1;
                    }
                }
                Mode::EachLine => {
                    for &id in line_ids {
                        let line = line(id);
                        self.search(rule, label, view, line.start, line.end, path, spans);
                    }
                }
                Mode::Window => {
                    for &id in line_ids {
                        let line = line(id);
                        let mut end = view.len().min(line.start + MULTILINE_WINDOW);
                        while end < view.len() && end > line.start && (view[end] & 0xC0) == 0x80 {
                            end -= 1;
                        }
                        found.clear();
                        self.search(rule, label, view, line.start, end, path, found);
                        for &span in found.iter() {
                            if span.start < cut {
                                spans.push(span);
                            } else {
                                deferred.push(span);
                            }
                        }
                    }
                }
            }
        }
    }

    /// Runs `rule` on one line, anchored at each candidate start in turn: the same matches as
    /// [`Matcher::search`] over the line, since every match starts at a candidate (matches are
    /// never empty, so the next search starts where the last match ended).
    ///
    /// An attempt that fails can still read to the end of the line, so a line full of
    /// candidates (`pass=pass=pass=...`) could cost a scan per candidate; once the attempts
    /// have read twice the line, the line is scanned once instead. A line never costs much more
    /// than three scans of it.
    #[allow(clippy::too_many_arguments)]
    fn search_starts(
        &self,
        rule: &Rule,
        label: u32,
        view: &[u8],
        line: Line,
        candidates: &[usize],
        path: Option<&str>,
        spans: &mut Vec<Span>,
    ) {
        let (Some(regex), Some(starts)) = (&rule.regex, &rule.starts) else {
            return;
        };
        let haystack = &view[line.start..line.end];
        let before = spans.len();
        let scan_instead = |spans: &mut Vec<Span>| {
            spans.truncate(before);
            self.search(rule, label, view, line.start, line.end, path, spans);
        };
        let budget = 2 * haystack.len() + ATTEMPT_ALLOWANCE;
        let mut read = 0;
        let mut from = 0;
        for &candidate in candidates {
            let at = candidate - line.start;
            if at < from {
                continue;
            }
            match starts.matches_at(haystack, at, &mut read) {
                Some(false) if read <= budget => continue,
                Some(true) if read <= budget => {}
                // Over budget, or the DFA cannot tell.
                _ => return scan_instead(spans),
            }
            let found = regex.captures_at(haystack, at).filter(|captures| {
                captures
                    .get(0)
                    .is_some_and(|m| m.start() == at && m.end() > at)
            });
            let Some(captures) = found else {
                // The DFA and the regex disagree (they are built alike, so this is a bug): the
                // line scan is the reference.
                return scan_instead(spans);
            };
            let end = captures.get(0).map_or(haystack.len(), |m| m.end());
            // Finding the captures read at least the match again.
            read += end - at;
            from = end;
            self.consider(rule, label, line.start, haystack, &captures, path, spans);
        }
    }

    /// Runs `rule` over `view[start..end]` and records accepted secrets.
    #[allow(clippy::too_many_arguments)]
    fn search(
        &self,
        rule: &Rule,
        label: u32,
        view: &[u8],
        start: usize,
        end: usize,
        path: Option<&str>,
        spans: &mut Vec<Span>,
    ) {
        let Some(regex) = &rule.regex else {
            return;
        };
        let haystack = &view[start..end];
        for captures in regex.captures_iter(haystack) {
            self.consider(rule, label, start, haystack, &captures, path, spans);
        }
    }

    /// Records the secret of one match of `rule` in `haystack` (which starts at `offset` in the
    /// view) unless a check or an allowlist rejects it.
    #[allow(clippy::too_many_arguments)]
    fn consider(
        &self,
        rule: &Rule,
        label: u32,
        offset: usize,
        haystack: &[u8],
        captures: &Captures<'_>,
        path: Option<&str>,
        spans: &mut Vec<Span>,
    ) {
        let Some(range) = rule.secret_range(captures) else {
            return;
        };
        let secret = &haystack[range.clone()];
        if !rule.accepts(secret, captures)
            || self.allowlisted(rule, haystack, captures, secret, path)
        {
            return;
        }
        spans.push(Span {
            start: offset + range.start,
            end: offset + range.end,
            label,
        });
    }

    fn allowlisted(
        &self,
        rule: &Rule,
        haystack: &[u8],
        captures: &Captures<'_>,
        secret: &[u8],
        path: Option<&str>,
    ) -> bool {
        let mut lists = rule
            .allowlists
            .iter()
            .chain(self.allowlists.iter().filter(|list| list.targets(&rule.id)))
            .peekable();
        if lists.peek().is_none() {
            return false;
        }
        let Some(whole) = captures.get(0) else {
            return false;
        };
        let line_start = memchr::memrchr(b'\n', &haystack[..whole.start()]).map_or(0, |i| i + 1);
        let line_end = memchr::memchr(b'\n', &haystack[whole.end()..])
            .map_or(haystack.len(), |i| whole.end() + i);
        let candidate = Candidate {
            secret,
            whole: whole.as_bytes(),
            line: &haystack[line_start..line_end],
            path,
        };
        lists.any(|list| list.allows(&candidate))
    }
}
