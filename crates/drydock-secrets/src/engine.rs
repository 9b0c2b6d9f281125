//! The scanning core shared by one-shot and streaming redaction.
//!
//! Input is analysed in segments that end on logical line boundaries. A segment's analysis
//! sees some input past its end (look-ahead) so that every span starting inside it is complete:
//! known values are at most `max_known_len` long, single-line rules never leave their line, and
//! multi-line rules search a bounded window from the line of their keyword. Spans that start
//! before the cut are final; those from multi-line windows that start after it are handed to the
//! next segment. Because every decision depends only on content, the result is the same for one
//! segment (one-shot) or many (streaming), however the input was chunked.
//!
//! Per segment: one DFA walk finds every keyword and start literal ([`crate::keywords`]); one
//! Aho-Corasick search finds the known values; each rule then runs only on the lines holding one
//! of its keywords, anchored at its start literals where it has them ([`crate::starts`]).

use aho_corasick::{AhoCorasick, Input, MatchKind};

use crate::SecretsError;
use crate::keywords::{Hit, KeywordScanner, KeywordSetBuilder, LaneEvents};
use crate::lines::{LINE_MAX, Line, LineCursor, line_from};
use crate::rule::{Allowlist, Rule, RuleSet};

#[path = "engine_rules.rs"]
mod rules;

/// Hit lines of a single-line rule closer than this are searched in one go (a search costs
/// about as much as scanning a few dozen bytes; scanning long gaps between hit lines costs more).
const RUN_GAP: usize = 16;

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
    /// It cannot match a line feed and its matches start with known literals: tried anchored
    /// at those literals on its lines.
    Starts,
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
    /// Every rule keyword, case-insensitive and exact ones in one automaton.
    keywords: Option<KeywordScanner>,
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
                } else if rule.starts.is_some() {
                    Mode::Starts
                } else {
                    Mode::Lines
                }
            })
            .collect();

        let mut keyword_set = KeywordSetBuilder::default();
        let mut keywordless = Vec::new();
        for (index, rule) in rules.iter().enumerate() {
            let index = u32::try_from(index).map_err(|_| too_many("rules"))?;
            if rule.keywords.is_empty() {
                keywordless.push(index);
            }
            for keyword in &rule.keywords {
                keyword_set.add(&keyword.text, keyword.case_sensitive, index);
            }
            if let Some(starts) = &rule.starts {
                for literal in starts.literals() {
                    keyword_set.add_start(literal, index);
                }
            }
        }
        let keywords = keyword_set.build()?;
        let max_keyword_len = rules
            .iter()
            .flat_map(|rule| rule.keywords.iter().map(|keyword| keyword.text.len()))
            .max()
            .unwrap_or(0);

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

    /// Analyses one segment; `scratch` keeps buffers from one segment to the next.
    pub fn analyze(&self, segment: &Segment<'_>, scratch: &mut Scratch) -> Plan {
        let cut = segment.cut;
        self.hit_lines(segment, scratch);
        let windowed = scratch
            .by_rule
            .iter()
            .zip(&self.modes)
            .any(|(lines, &mode)| mode == Mode::Window && !lines.is_empty());
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
        self.rule_spans(view, cut, segment.path, scratch, &mut spans, &mut deferred);
        Plan::Ready(Analysis {
            spans,
            deferred,
            known_resume,
        })
    }

    /// For each rule, the logical lines before the cut holding one of its keywords (every line
    /// for rules without keywords).
    fn hit_lines(&self, segment: &Segment<'_>, scratch: &mut Scratch) {
        let cut = segment.cut;
        let before_cut = &segment.view[..cut];
        scratch.lines.clear();
        scratch.by_rule.resize_with(self.rules.len(), Vec::new);
        scratch.by_rule.iter_mut().for_each(Vec::clear);
        scratch.starts.resize_with(self.rules.len(), Vec::new);
        scratch.starts.iter_mut().for_each(Vec::clear);
        let hit_lines = scratch;
        let all_lines = !self.keywordless.is_empty();
        if all_lines {
            let mut start = 0;
            while start < cut {
                let Some(line) = line_from(before_cut, start, true) else {
                    break;
                };
                let index = hit_lines.lines.len() as u32;
                hit_lines.lines.push(line);
                for &rule in &self.keywordless {
                    hit_lines.by_rule[rule as usize].push(index);
                }
                if line.next <= start {
                    break;
                }
                start = line.next;
            }
        }
        let Some(keywords) = &self.keywords else {
            return;
        };
        let end = segment.view.len().min(cut + keywords.max_len());
        let mut hits = std::mem::take(&mut hit_lines.hits);
        hits.clear();
        keywords.scan(&segment.view[..end], cut, &mut hit_lines.events, &mut hits);
        let mut cursor = LineCursor::new(before_cut);
        let mut known_line = 0;
        for &hit in &hits {
            if keywords.is_start(hit) {
                for &rule in keywords.rules_of(hit) {
                    let starts = &mut hit_lines.starts[rule as usize];
                    if starts.last() != Some(&hit.start) {
                        starts.push(hit.start);
                    }
                }
                continue;
            }
            let index = if all_lines {
                let lines = &hit_lines.lines;
                while known_line + 1 < lines.len() && lines[known_line + 1].start <= hit.start {
                    known_line += 1;
                }
                known_line
            } else {
                let line = cursor.line_at(hit.start);
                if hit_lines.lines.last() != Some(&line) {
                    hit_lines.lines.push(line);
                }
                hit_lines.lines.len() - 1
            } as u32;
            for &rule in keywords.rules_of(hit) {
                let lines = &mut hit_lines.by_rule[rule as usize];
                if lines.last() != Some(&index) {
                    lines.push(index);
                }
            }
        }
        hit_lines.hits = hits;
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
}

/// Buffers an analysis needs, kept from one segment to the next.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    /// Keyword hits of the segment.
    hits: Vec<Hit>,
    /// Scratch space of the keyword pass.
    events: LaneEvents,
    /// Logical lines holding a keyword (or every line, when a rule has no keywords), in order.
    lines: Vec<Line>,
    /// Per rule, the lines it runs on: indexes into `lines`, increasing.
    by_rule: Vec<Vec<u32>>,
    /// Per rule searched from its start literals, where they occur, increasing.
    starts: Vec<Vec<usize>>,
    /// Matches of one search.
    found: Vec<Span>,
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
