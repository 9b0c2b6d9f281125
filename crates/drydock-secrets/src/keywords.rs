//! The keyword pass: every occurrence of every rule keyword, case-insensitive or exact, and of
//! every rule's start literals (see [`crate::starts`]), found in one walk of one DFA over the
//! text (no lower-cased copy, no second pass for exact keywords).

use aho_corasick::automaton::{Automaton, StateID};
use aho_corasick::dfa::DFA;
use aho_corasick::{Anchored, MatchKind};

use crate::SecretsError;

/// Independent walks interleaved over one haystack. A DFA step waits on the table lookup of the
/// previous one, so a single walk leaves the CPU mostly idle; four side by side run about twice
/// as fast and find exactly the same occurrences.
const LANES: usize = 4;
/// Haystacks shorter than this many bytes per lane are walked in one lane.
const MIN_LANE_LEN: usize = 512;

/// One occurrence of a keyword or start literal: where it starts and what it triggers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Hit {
    /// First byte of the occurrence.
    pub start: usize,
    /// Index into [`KeywordScanner::rules_of`].
    pub trigger: u32,
}

/// What a text (lower-cased) triggers.
#[derive(Debug, Default)]
struct Pattern {
    /// Trigger of the case-insensitive keyword, if there is one.
    any_case: Option<u32>,
    /// Exact spellings of the keyword and their triggers.
    exact: Vec<(Vec<u8>, u32)>,
    /// Trigger of the text as a start literal (case-insensitive), if it is one.
    start: Option<u32>,
}

/// The rules an occurrence concerns, and how.
#[derive(Debug, Default)]
struct Trigger {
    rules: Vec<u32>,
    /// A start literal (a candidate match start) rather than a keyword (a line to search).
    start: bool,
}

/// Collects keywords and start literals (with their rules) and builds a [`KeywordScanner`].
#[derive(Debug, Default)]
pub(crate) struct KeywordSetBuilder {
    texts: Vec<Vec<u8>>,
    patterns: Vec<Pattern>,
    triggers: Vec<Trigger>,
}

impl KeywordSetBuilder {
    /// Adds `keyword` for `rule`; `case_sensitive` keywords match only as written.
    pub fn add(&mut self, keyword: &str, case_sensitive: bool, rule: u32) {
        let slot = self.slot(keyword.as_bytes());
        let pattern = &mut self.patterns[slot];
        let trigger = if case_sensitive {
            let exact = keyword.as_bytes();
            match pattern.exact.iter().find(|(text, _)| text == exact) {
                Some(&(_, trigger)) => trigger,
                None => {
                    let trigger = new_trigger(&mut self.triggers, false);
                    pattern.exact.push((exact.to_vec(), trigger));
                    trigger
                }
            }
        } else {
            *pattern
                .any_case
                .get_or_insert_with(|| new_trigger(&mut self.triggers, false))
        };
        add_rule(&mut self.triggers[trigger as usize], rule);
    }

    /// Adds a start literal of `rule` (matched ignoring ASCII case).
    pub fn add_start(&mut self, literal: &[u8], rule: u32) {
        let slot = self.slot(literal);
        let trigger = *self.patterns[slot]
            .start
            .get_or_insert_with(|| new_trigger(&mut self.triggers, true));
        add_rule(&mut self.triggers[trigger as usize], rule);
    }

    fn slot(&mut self, text: &[u8]) -> usize {
        let folded = text.to_ascii_lowercase();
        match self.texts.iter().position(|known| *known == folded) {
            Some(slot) => slot,
            None => {
                self.texts.push(folded);
                self.patterns.push(Pattern::default());
                self.texts.len() - 1
            }
        }
    }

    /// The scanner; `None` when there are no keywords.
    pub fn build(self) -> Result<Option<KeywordScanner>, SecretsError> {
        if self.texts.is_empty() {
            return Ok(None);
        }
        // Standard semantics report every occurrence, overlapping ones included; no prefilter,
        // since with this many short keywords none pays for itself and it would make the start
        // state special.
        let dfa = DFA::builder()
            .match_kind(MatchKind::Standard)
            .ascii_case_insensitive(true)
            .prefilter(false)
            .build(&self.texts)
            .map_err(|error| SecretsError::Config {
                message: format!("cannot build the keyword matcher: {error}"),
            })?;
        let start = dfa
            .start_state(Anchored::No)
            .map_err(|error| SecretsError::Config {
                message: format!("cannot start the keyword matcher: {error}"),
            })?;
        let max_len = self.texts.iter().map(Vec::len).max().unwrap_or(0);
        Ok(Some(KeywordScanner {
            dfa,
            start,
            patterns: self.patterns,
            triggers: self.triggers,
            max_len,
        }))
    }
}

fn new_trigger(triggers: &mut Vec<Trigger>, start: bool) -> u32 {
    triggers.push(Trigger {
        rules: Vec::new(),
        start,
    });
    // Bounded by the number of keyword spellings, which a rule file cannot make exceed u32.
    u32::try_from(triggers.len() - 1).unwrap_or(u32::MAX)
}

fn add_rule(trigger: &mut Trigger, rule: u32) {
    if !trigger.rules.contains(&rule) {
        trigger.rules.push(rule);
    }
}

/// Finds keyword occurrences.
pub(crate) struct KeywordScanner {
    dfa: DFA,
    start: StateID,
    patterns: Vec<Pattern>,
    triggers: Vec<Trigger>,
    max_len: usize,
}

impl KeywordScanner {
    /// Length of the longest keyword or start literal.
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// The rules a hit concerns.
    pub fn rules_of(&self, hit: Hit) -> &[u32] {
        self.triggers
            .get(hit.trigger as usize)
            .map_or(&[], |trigger| trigger.rules.as_slice())
    }

    /// Whether a hit is a start literal (else a keyword).
    pub fn is_start(&self, hit: Hit) -> bool {
        self.triggers
            .get(hit.trigger as usize)
            .is_some_and(|trigger| trigger.start)
    }

    /// Every occurrence in `haystack` that starts before `limit`, sorted by start, appended to
    /// `hits`; `events` is scratch space kept between calls.
    pub fn scan(
        &self,
        haystack: &[u8],
        limit: usize,
        events: &mut LaneEvents,
        hits: &mut Vec<Hit>,
    ) {
        let len = haystack.len();
        let lanes = if len >= LANES * MIN_LANE_LEN {
            LANES
        } else {
            1
        };
        // Lane k owns the occurrences starting in [starts[k], starts[k + 1]) and walks on until
        // the longest keyword starting there has ended. A walk that begins in the start state at
        // `starts[k]` reports exactly the occurrences lying wholly after that point.
        let mut starts = [len; LANES + 1];
        for (lane, start) in starts.iter_mut().enumerate().take(lanes) {
            *start = len / lanes * lane;
        }
        let overlap = self.max_len.saturating_sub(1);
        let walk_end = |lane: usize| (starts[lane + 1] + overlap).min(len);
        let owned = |lane: usize| starts[lane + 1].min(limit);
        let events = &mut events.0;
        events.iter_mut().for_each(Vec::clear);
        let mut states = [self.start; LANES];
        let mut walked = 0;
        if lanes == LANES {
            // All lanes step together for as long as the shortest walk lasts...
            walked = (0..LANES)
                .map(|lane| walk_end(lane) - starts[lane])
                .min()
                .unwrap_or(0);
            let lane = |k: usize| &haystack[starts[k]..starts[k] + walked];
            let (a, b, c, d) = (lane(0), lane(1), lane(2), lane(3));
            let dfa = &self.dfa;
            let [mut s0, mut s1, mut s2, mut s3] = states;
            for (step, (((&x0, &x1), &x2), &x3)) in a.iter().zip(b).zip(c).zip(d).enumerate() {
                s0 = dfa.next_state(Anchored::No, s0, x0);
                s1 = dfa.next_state(Anchored::No, s1, x1);
                s2 = dfa.next_state(Anchored::No, s2, x2);
                s3 = dfa.next_state(Anchored::No, s3, x3);
                if dfa.is_special(s0) | dfa.is_special(s1) | dfa.is_special(s2) | dfa.is_special(s3)
                {
                    for (lane, sid) in [s0, s1, s2, s3].into_iter().enumerate() {
                        if dfa.is_match(sid) {
                            events[lane].push(Event {
                                end: starts[lane] + step + 1,
                                owned: owned(lane),
                                sid,
                            });
                        }
                    }
                }
            }
            states = [s0, s1, s2, s3];
        }
        // ...then each finishes alone.
        for (lane, state) in states.iter_mut().enumerate().take(lanes) {
            let from = starts[lane] + walked;
            for (at, &byte) in haystack[from..walk_end(lane)].iter().enumerate() {
                *state = self.dfa.next_state(Anchored::No, *state, byte);
                if self.dfa.is_match(*state) {
                    events[lane].push(Event {
                        end: from + at + 1,
                        owned: owned(lane),
                        sid: *state,
                    });
                }
            }
        }
        for &event in events.iter().flatten() {
            self.report(haystack, event, hits);
        }
        sort_nearly_sorted(hits);
    }

    /// Records the occurrences a match state stands for.
    fn report(&self, haystack: &[u8], event: Event, hits: &mut Vec<Hit>) {
        let Event { end, owned, sid } = event;
        for index in 0..self.dfa.match_len(sid) {
            let pattern_id = self.dfa.match_pattern(sid, index);
            let start = end - self.dfa.pattern_len(pattern_id);
            if start >= owned {
                continue;
            }
            let Some(pattern) = self.patterns.get(pattern_id.as_usize()) else {
                continue;
            };
            for trigger in [pattern.any_case, pattern.start].into_iter().flatten() {
                hits.push(Hit { start, trigger });
            }
            for (text, trigger) in &pattern.exact {
                if haystack[start..end] == text[..] {
                    hits.push(Hit {
                        start,
                        trigger: *trigger,
                    });
                }
            }
        }
    }
}

/// Sorts hits. They come almost in order (by end, lane after lane; nested keywords ending
/// together start a few bytes apart), so an insertion sort takes about linear time; input that
/// makes it work harder (many long overlapping keywords) falls back to a general sort.
fn sort_nearly_sorted(hits: &mut [Hit]) {
    let mut budget = hits.len() * 8;
    for index in 1..hits.len() {
        let mut at = index;
        while at > 0 && hits[at - 1] > hits[at] {
            if budget == 0 {
                hits.sort_unstable();
                return;
            }
            budget -= 1;
            hits.swap(at - 1, at);
            at -= 1;
        }
    }
}

/// Match events of each lane, in walk order (kept between scans to save allocations).
#[derive(Debug, Default)]
pub(crate) struct LaneEvents([Vec<Event>; LANES]);

/// The walk reached a match state.
#[derive(Debug, Clone, Copy)]
struct Event {
    /// Just past the byte that led there.
    end: usize,
    /// Occurrences starting at or after this belong to another lane (or lie past the limit).
    owned: usize,
    sid: StateID,
}

#[cfg(test)]
#[path = "keywords_tests.rs"]
mod tests;
