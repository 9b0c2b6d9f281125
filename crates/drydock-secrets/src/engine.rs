//! The scanning core shared by one-shot and streaming redaction.
//!
//! Input is analysed in segments that end on logical line boundaries. A segment's analysis
//! sees some input past its end (look-ahead) so that every span starting inside it is complete:
//! known values are at most `max_known_len` long, single-line rules never leave their line, and
//! multi-line rules search a bounded window from the line of their keyword. Spans that start
//! before the cut are final; those from multi-line windows that start after it are handed to the
//! next segment. Because every decision depends only on content, the result is the same for one
//! segment (one-shot) or many (streaming), however the input was chunked.

use aho_corasick::{AhoCorasick, AhoCorasickKind, Input, MatchKind};
use regex::bytes::Captures;

use crate::SecretsError;
use crate::lines::{LINE_MAX, Line, LineCursor, line_from};
use crate::rule::{Allowlist, Candidate, Rule, RuleSet};

/// Hit lines of a single-line rule closer than this are searched in one go.
const RUN_GAP: usize = 512;

/// Bytes a multi-line rule searches from the start of its keyword's line.
pub(crate) const MULTILINE_WINDOW: usize = 64 * 1024;

/// A byte range to redact, with the label it is redacted under (a priority: lower wins).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Span {
    pub start: usize,
    pub end: usize,
    pub label: u32,
}

/// How a rule's regex is run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// It cannot match a line feed: runs of consecutive hit lines are searched at once.
    Lines,
    /// It can match a line feed but is not meant to span lines (or has no keywords to anchor
    /// a window): searched one line at a time.
    EachLine,
    /// It spans lines: searched in a window from each keyword line.
    Window,
}

/// What a segment analysis needs.
pub(crate) struct Segment<'a> {
    /// Input from the segment start; may run past `cut` (look-ahead).
    pub view: &'a [u8],
    /// Where the segment ends (a logical line boundary, or `view.len()` at end of input).
    pub cut: usize,
    /// Whether `view` ends where the input ends.
    pub eof: bool,
    /// Where the known-value search resumes (a match from the previous segment may reach in).
    pub known_from: usize,
    /// Path of the content, for path-scoped rules and allowlists.
    pub path: Option<&'a str>,
}

/// The outcome of analysing a segment.
pub(crate) enum Plan {
    /// The look-ahead is short: call again once `view` is at least this long (or at the end).
    NeedMore(usize),
    /// The spans of the segment.
    Ready(Analysis),
}

/// Spans found in a segment.
pub(crate) struct Analysis {
    /// Raw spans starting before the cut (unmerged; may end after it).
    pub spans: Vec<Span>,
    /// Raw spans starting at or after the cut, from multi-line windows of this segment.
    pub deferred: Vec<Span>,
    /// Where the next segment's known-value search resumes (relative to this segment).
    pub known_resume: usize,
}

/// Compiled matching state of a redactor.
pub(crate) struct Matcher {
    rules: Vec<Rule>,
    modes: Vec<Mode>,
    allowlists: Vec<Allowlist>,
    /// Case-insensitive keywords, lower-cased; searched in a lower-cased copy of the text
    /// (much faster than a case-insensitive automaton).
    keywords: Option<AhoCorasick>,
    keyword_entries: Vec<Vec<u32>>,
    /// Keywords that must match exactly, searched in the text itself.
    exact_keywords: Option<AhoCorasick>,
    exact_entries: Vec<Vec<u32>>,
    max_keyword_len: usize,
    keywordless: Vec<u32>,
    known: Option<AhoCorasick>,
    known_labels: Vec<u32>,
    max_known_len: usize,
    rule_label_base: u32,
}

impl Matcher {
    /// Builds the matcher; `known` holds each known secret's searchable forms, in label order.
    pub fn new(rules: RuleSet, known: Vec<Vec<Vec<u8>>>) -> Result<Matcher, SecretsError> {
        let RuleSet { rules, allowlists } = rules;
        // Specific rules (built-in or the team's) label a span before the generic assignment
        // rules do; otherwise the set's order is the priority.
        let (specific, generic): (Vec<Rule>, Vec<Rule>) = rules
            .into_iter()
            .filter(|rule| rule.regex.is_some())
            .partition(|rule| !rule.generic);
        let rules: Vec<Rule> = specific.into_iter().chain(generic).collect();
        let modes = rules
            .iter()
            .map(|rule| {
                if rule.multiline && !rule.keywords.is_empty() {
                    Mode::Window
                } else if rule.crosses_lines || rule.multiline {
                    Mode::EachLine
                } else {
                    Mode::Lines
                }
            })
            .collect();

        let mut any_case = KeywordTable::default();
        let mut exact = KeywordTable::default();
        let mut keywordless = Vec::new();
        for (index, rule) in rules.iter().enumerate() {
            let index = u32::try_from(index).map_err(|_| too_many("rules"))?;
            if rule.keywords.is_empty() {
                keywordless.push(index);
            }
            for keyword in &rule.keywords {
                if keyword.case_sensitive {
                    exact.add(keyword.text.as_bytes().to_vec(), index);
                } else {
                    any_case.add(keyword.text.to_ascii_lowercase().into_bytes(), index);
                }
            }
        }
        let max_keyword_len = any_case
            .texts
            .iter()
            .chain(&exact.texts)
            .map(Vec::len)
            .max()
            .unwrap_or(0);
        let keywords = any_case.automaton()?;
        let exact_keywords = exact.automaton()?;

        let mut known_patterns = Vec::new();
        let mut known_labels = Vec::new();
        for (label, forms) in known.into_iter().enumerate() {
            let label = u32::try_from(label).map_err(|_| too_many("known secrets"))?;
            for form in forms {
                known_patterns.push(form);
                known_labels.push(label);
            }
        }
        let max_known_len = known_patterns.iter().map(Vec::len).max().unwrap_or(0);
        let rule_label_base = known_labels.last().map_or(0, |l| l + 1);
        let known = if known_patterns.is_empty() {
            None
        } else {
            Some(
                AhoCorasick::builder()
                    .match_kind(MatchKind::LeftmostLongest)
                    .build(&known_patterns)
                    .map_err(|error| SecretsError::Config {
                        message: format!("cannot build the known-secret matcher: {error}"),
                    })?,
            )
        };
        Ok(Matcher {
            rules,
            modes,
            allowlists,
            keywords,
            keyword_entries: any_case.rules,
            exact_keywords,
            exact_entries: exact.rules,
            max_keyword_len,
            keywordless,
            known,
            known_labels,
            max_known_len,
            rule_label_base,
        })
    }

    /// The rules, in label order after the known secrets.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Whether a global allowlist that targets every rule excludes this whole path.
    pub fn path_is_allowlisted(&self, path: &str) -> bool {
        self.allowlists
            .iter()
            .any(|list| list.targets_all_rules() && list.allows_path(path))
    }

    /// The label of rule `index`.
    fn rule_label(&self, index: u32) -> u32 {
        self.rule_label_base + index
    }

    /// Number of known secrets (labels below this are known secrets).
    pub fn known_count(&self) -> u32 {
        self.rule_label_base
    }

    /// Analyses one segment.
    pub fn analyze(&self, segment: &Segment<'_>) -> Plan {
        let cut = segment.cut;
        let hits = self.keyword_hits(segment);
        let windowed = hits
            .iter()
            .any(|&(_, rule)| self.modes[rule as usize] == Mode::Window);
        let mut look_ahead = self.max_known_len.max(self.max_keyword_len);
        if windowed {
            look_ahead = look_ahead.max(MULTILINE_WINDOW);
        }
        let need = cut + look_ahead;
        if !segment.eof && segment.view.len() < need {
            return Plan::NeedMore(need);
        }
        let view = &segment.view[..segment.view.len().min(need)];

        let mut spans = Vec::new();
        let known_resume = self.known_spans(view, cut, segment.known_from, &mut spans);
        let mut deferred = Vec::new();
        self.rule_spans(view, cut, segment.path, &hits, &mut spans, &mut deferred);
        Plan::Ready(Analysis {
            spans,
            deferred,
            known_resume,
        })
    }

    /// Keyword hits starting before the cut, as `(position, rule)`, sorted by position; rules
    /// without keywords are hit at every line start.
    fn keyword_hits(&self, segment: &Segment<'_>) -> Vec<(usize, u32)> {
        let mut hits = Vec::new();
        let cut = segment.cut;
        let end = segment.view.len().min(cut + self.max_keyword_len);
        let haystack = &segment.view[..end];
        if let Some(keywords) = &self.keywords {
            let lower = haystack.to_ascii_lowercase();
            for found in keywords.find_overlapping_iter(Input::new(&lower)) {
                if found.start() < cut {
                    let rules = &self.keyword_entries[found.pattern().as_usize()];
                    hits.extend(rules.iter().map(|&rule| (found.start(), rule)));
                }
            }
        }
        if let Some(keywords) = &self.exact_keywords {
            for found in keywords.find_overlapping_iter(Input::new(haystack)) {
                if found.start() < cut {
                    let rules = &self.exact_entries[found.pattern().as_usize()];
                    hits.extend(rules.iter().map(|&rule| (found.start(), rule)));
                }
            }
        }
        if !self.keywordless.is_empty() && cut > 0 {
            let mut start = 0;
            while start < cut {
                hits.extend(self.keywordless.iter().map(|&rule| (start, rule)));
                match line_from(&segment.view[..cut], start, true) {
                    Some(line) if line.next > start => start = line.next,
                    _ => break,
                }
            }
        }
        hits.sort_unstable();
        hits.dedup();
        hits
    }

    /// Leftmost-longest known-value matches starting before the cut; returns where the next
    /// segment's search resumes.
    fn known_spans(&self, view: &[u8], cut: usize, from: usize, spans: &mut Vec<Span>) -> usize {
        let Some(known) = &self.known else {
            return from.max(cut);
        };
        let from = from.min(view.len());
        let mut resume = from.max(cut);
        for found in known.find_iter(Input::new(view).range(from..view.len())) {
            if found.start() >= cut {
                break;
            }
            resume = resume.max(found.end());
            spans.push(Span {
                start: found.start(),
                end: found.end(),
                label: self.known_labels[found.pattern().as_usize()],
            });
        }
        resume
    }

    fn rule_spans(
        &self,
        view: &[u8],
        cut: usize,
        path: Option<&str>,
        hits: &[(usize, u32)],
        spans: &mut Vec<Span>,
        deferred: &mut Vec<Span>,
    ) {
        // (rule, line) pairs, then grouped by rule in line order.
        let mut cursor = LineCursor::new(&view[..cut]);
        let mut rule_lines: Vec<(u32, Line)> = hits
            .iter()
            .map(|&(pos, rule)| (rule, cursor.line_at(pos)))
            .collect();
        rule_lines.sort_unstable_by_key(|&(rule, line)| (rule, line.start));
        rule_lines.dedup_by_key(|&mut (rule, line)| (rule, line.start));

        let mut index = 0;
        while index < rule_lines.len() {
            let rule_index = rule_lines[index].0;
            let group_end = rule_lines[index..]
                .iter()
                .position(|&(rule, _)| rule != rule_index)
                .map_or(rule_lines.len(), |offset| index + offset);
            let lines = &rule_lines[index..group_end];
            index = group_end;
            let rule = &self.rules[rule_index as usize];
            if !rule.applies_to(path) {
                continue;
            }
            let label = self.rule_label(rule_index);
            match self.modes[rule_index as usize] {
                Mode::Lines => {
                    // The regex cannot match a line feed, so one search over several hit lines
                    // (and the short gaps between them) finds exactly the per-line matches;
                    // matches on lines without a hit are dropped. Fewer, longer searches are
                    // much cheaper than one per line.
                    let mut run_start = 0;
                    while run_start < lines.len() {
                        let mut run_end = run_start;
                        // Never across a cut inside an over-long line (no line feed there).
                        while run_end + 1 < lines.len()
                            && lines[run_end].1.terminated()
                            && lines[run_end + 1].1.start - lines[run_end].1.end <= RUN_GAP
                        {
                            run_end += 1;
                        }
                        let run = &lines[run_start..=run_end];
                        let (start, end) = (run[0].1.start, run[run.len() - 1].1.end);
                        let mut found = Vec::new();
                        self.search(rule, label, view, start, end, path, &mut found);
                        let mut next_line = 0;
                        for span in found {
                            while next_line < run.len() && run[next_line].1.end < span.start {
                                next_line += 1;
                            }
                            if next_line < run.len() && run[next_line].1.start <= span.start {
                                spans.push(span);
                            }
                        }
                        run_start = run_end + 1;
                    }
                }
                Mode::EachLine => {
                    for &(_, line) in lines {
                        self.search(rule, label, view, line.start, line.end, path, spans);
                    }
                }
                Mode::Window => {
                    for &(_, line) in lines {
                        let mut end = view.len().min(line.start + MULTILINE_WINDOW);
                        while end < view.len() && end > line.start && (view[end] & 0xC0) == 0x80 {
                            end -= 1;
                        }
                        let mut found = Vec::new();
                        self.search(rule, label, view, line.start, end, path, &mut found);
                        for span in found {
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
            let Some(range) = rule.secret_range(&captures) else {
                continue;
            };
            let secret = &haystack[range.clone()];
            if !rule.accepts(secret, &captures)
                || self.allowlisted(rule, haystack, &captures, secret, path)
            {
                continue;
            }
            spans.push(Span {
                start: start + range.start,
                end: start + range.end,
                label,
            });
        }
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

/// Keywords and the rules each one triggers.
#[derive(Default)]
struct KeywordTable {
    texts: Vec<Vec<u8>>,
    rules: Vec<Vec<u32>>,
}

impl KeywordTable {
    fn add(&mut self, text: Vec<u8>, rule: u32) {
        match self.texts.iter().position(|existing| *existing == text) {
            Some(slot) if !self.rules[slot].contains(&rule) => self.rules[slot].push(rule),
            Some(_) => {}
            None => {
                self.texts.push(text);
                self.rules.push(vec![rule]);
            }
        }
    }

    fn automaton(&self) -> Result<Option<AhoCorasick>, SecretsError> {
        if self.texts.is_empty() {
            return Ok(None);
        }
        AhoCorasick::builder()
            .match_kind(MatchKind::Standard)
            .kind(Some(AhoCorasickKind::DFA))
            .build(&self.texts)
            .map(Some)
            .map_err(|error| SecretsError::Config {
                message: format!("cannot build the keyword matcher: {error}"),
            })
    }
}

fn too_many(what: &str) -> SecretsError {
    SecretsError::Config {
        message: format!("too many {what}"),
    }
}

/// Sorts raw spans and merges overlapping ones; a merged span keeps the label of its leftmost
/// part (the lowest label among those starting there).
pub(crate) fn merge(mut spans: Vec<Span>) -> Vec<Span> {
    spans.sort_unstable_by(|a, b| {
        a.start
            .cmp(&b.start)
            .then(a.label.cmp(&b.label))
            .then(b.end.cmp(&a.end))
    });
    let mut merged: Vec<Span> = Vec::with_capacity(spans.len());
    for span in spans {
        match merged.last_mut() {
            Some(last) if span.start < last.end => last.end = last.end.max(span.end),
            _ => merged.push(span),
        }
    }
    merged
}

/// Where the first segment of `view` ends: the end of the logical line holding byte
/// `target - 1`; at the end of input, the whole rest if shorter. `Err(len)` when more input is
/// needed to know: a line feed, or a buffer of `len` bytes.
pub(crate) fn first_cut(view: &[u8], target: usize, eof: bool) -> Result<usize, usize> {
    if view.len() < target {
        return if eof { Ok(view.len()) } else { Err(target) };
    }
    let mut start = memchr::memrchr(b'\n', &view[..target - 1]).map_or(0, |i| i + 1);
    loop {
        let Some(line) = line_from(view, start, eof) else {
            return Err(start + LINE_MAX + 1);
        };
        if line.next >= target || line.next >= view.len() {
            return Ok(line.next);
        }
        start = line.next;
    }
}
