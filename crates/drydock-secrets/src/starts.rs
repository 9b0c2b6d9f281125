//! Where a rule's matches can start. Most rules begin with one of a few literals (`ghp_`,
//! `bearer`, `password`, `https://`); the keyword pass finds those literals along with the
//! keywords, and the rule's regex is then tried only there, anchored, instead of over each
//! whole line. A long line with a keyword on it then costs a few short attempts, not a scan of
//! the line per rule.
//!
//! The literals come from the regex itself (`regex-syntax` prefix extraction), so every match
//! starts with one of them: nothing a line scan would find is missed. An attempt walks an
//! anchored DFA of the regex byte by byte, so the caller knows how much it read and can bound
//! the work a line full of candidates causes.

use std::sync::{Arc, OnceLock};

use regex_automata::Anchored;
use regex_automata::dfa::{Automaton, StartKind, dense};
use regex_automata::nfa::thompson;
use regex_automata::util::{start, syntax};
use regex_syntax::hir::literal::{ExtractKind, Extractor};
use regex_syntax::hir::{
    Capture, Class, ClassBytes, ClassBytesRange, ClassUnicode, ClassUnicodeRange, Hir, HirKind,
    Repetition,
};

/// Shorter literals would make too many candidates to be worth it.
const MIN_LITERAL_LEN: usize = 3;
/// More literals than this and the line scan is simpler and about as fast.
const MAX_LITERALS: usize = 32;
/// Literals are cut to this length (a prefix of a match prefix is still one).
const MAX_LITERAL_LEN: usize = 8;
/// An anchored DFA larger than this is not worth its memory: the rule scans its hit lines
/// instead.
const MAX_DFA_BYTES: usize = 1 << 20;

/// A rule's start literals and the anchored DFA to try at each.
#[derive(Debug, Clone)]
pub(crate) struct StartSearch {
    /// Lower-case literals; every match starts with one of them (ASCII case aside).
    literals: Vec<Vec<u8>>,
    /// The rule's regex as an anchored DFA (shared: rule sets are cloned per redactor).
    dfa: Arc<LazyDfa>,
}

/// A DFA built on first use: determinizing every rule up front costs more than scanning a few
/// tens of megabytes, and most rules never see a candidate in a given process.
#[derive(Debug)]
struct LazyDfa {
    pattern: String,
    /// `None` inside when the DFA would be too large (attempts then defer to the line scan).
    built: OnceLock<Option<dense::DFA<Vec<u32>>>>,
}

impl LazyDfa {
    fn get(&self) -> Option<&dense::DFA<Vec<u32>>> {
        self.built
            .get_or_init(|| anchored_dfa(&self.pattern))
            .as_ref()
    }
}

/// `pattern` (compiled like [`crate::rule::compile`]) as an anchored DFA, unless too large.
fn anchored_dfa(pattern: &str) -> Option<dense::DFA<Vec<u32>>> {
    // The syntax of `compile` (multi-line, CRLF-aware, bytes). A Unicode `\b` makes the DFA
    // give up on non-ASCII bytes (a quit state), and the caller then scans the line.
    dense::Builder::new()
        .syntax(
            syntax::Config::new()
                .multi_line(true)
                .crlf(true)
                .utf8(false),
        )
        .thompson(thompson::Config::new().utf8(false))
        .configure(
            dense::Config::new()
                .start_kind(StartKind::Anchored)
                .unicode_word_boundary(true)
                .dfa_size_limit(Some(MAX_DFA_BYTES))
                .determinize_size_limit(Some(MAX_DFA_BYTES)),
        )
        .build(pattern)
        .ok()
}

impl StartSearch {
    /// The start search of a rule regex compiled by [`crate::rule::compile`] from `pattern`, or
    /// `None` when its matches do not begin with a few literals of a useful length. Its DFA is
    /// built on the first attempt.
    pub fn new(pattern: &str) -> Option<StartSearch> {
        let literals = start_literals(pattern)?;
        Some(StartSearch {
            literals,
            dfa: Arc::new(LazyDfa {
                pattern: pattern.to_string(),
                built: OnceLock::new(),
            }),
        })
    }

    /// The literals (lower-case; match them ignoring ASCII case).
    pub fn literals(&self) -> &[Vec<u8>] {
        &self.literals
    }

    /// Whether a match starts at `at` in `haystack` (whose bytes before `at` are the look-behind
    /// context and whose end is the end of input); adds the bytes read to `read`. `None` when
    /// the DFA cannot tell (a non-ASCII byte next to a Unicode word boundary) or would be too
    /// large.
    pub fn matches_at(&self, haystack: &[u8], at: usize, read: &mut usize) -> Option<bool> {
        let dfa = self.dfa.get()?;
        let look_behind = at
            .checked_sub(1)
            .and_then(|before| haystack.get(before).copied());
        let config = start::Config::new()
            .anchored(Anchored::Yes)
            .look_behind(look_behind);
        let mut state = dfa.start_state(&config).ok()?;
        for &byte in haystack.get(at..)? {
            *read += 1;
            state = dfa.next_state(state, byte);
            if dfa.is_special_state(state) {
                // Match states come one byte late: the match ended before this byte.
                if dfa.is_match_state(state) {
                    return Some(true);
                }
                if dfa.is_dead_state(state) {
                    return Some(false);
                }
                if dfa.is_quit_state(state) {
                    return None;
                }
            }
        }
        Some(dfa.is_match_state(dfa.next_eoi_state(state)))
    }
}

/// Lower-cased literals such that every match of `pattern` starts with one of them, ignoring
/// ASCII case; `None` when there is no such short list of literals of a useful length.
pub(crate) fn start_literals(pattern: &str) -> Option<Vec<Vec<u8>>> {
    let hir = regex_syntax::ParserBuilder::new()
        .multi_line(true)
        .crlf(true)
        .utf8(false)
        .build()
        .parse(pattern)
        .ok()?;
    // Extracting from the case-folded pattern keeps `(?i)password` one literal instead of 256.
    let seq = Extractor::new()
        .kind(ExtractKind::Prefix)
        .limit_literal_len(MAX_LITERAL_LEN)
        .extract(&fold_ascii_case(&hir));
    let extracted: Vec<Vec<u8>> = seq
        .literals()?
        .iter()
        .map(|literal| literal.as_bytes().to_ascii_lowercase())
        .collect();
    if extracted.is_empty() || extracted.iter().any(|l| l.len() < MIN_LITERAL_LEN) {
        return None;
    }
    // Too many literals usually means a class right after a common prefix: cutting them
    // shorter (a prefix of a match prefix is still one) merges them.
    [MAX_LITERAL_LEN, 6, 4, MIN_LITERAL_LEN]
        .into_iter()
        .map(|len| minimal(extracted.iter().map(|l| l[..l.len().min(len)].to_vec())))
        .find(|literals| literals.len() <= MAX_LITERALS)
}

/// Sorted, without duplicates, and without literals that extend another one (they add no
/// candidate).
fn minimal(literals: impl Iterator<Item = Vec<u8>>) -> Vec<Vec<u8>> {
    let mut literals: Vec<Vec<u8>> = literals.collect();
    literals.sort();
    literals.dedup();
    let all = literals.clone();
    literals.retain(|literal| {
        !all.iter()
            .any(|other| other.len() < literal.len() && literal.starts_with(other))
    });
    literals
}

/// The pattern with every ASCII upper-case letter replaced by its lower-case form. A string the
/// pattern matches, lower-cased, is matched by the folded pattern, so the folded pattern's
/// prefixes are prefixes of every match ignoring ASCII case. (Look-around assertions are kept;
/// extraction treats them as empty anyway.)
pub(crate) fn fold_ascii_case(hir: &Hir) -> Hir {
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => hir.clone(),
        HirKind::Literal(literal) => Hir::literal(literal.0.to_ascii_lowercase()),
        HirKind::Class(Class::Bytes(class)) => {
            let upper = ClassBytes::new([ClassBytesRange::new(b'A', b'Z')]);
            let mut uppers = class.clone();
            uppers.intersect(&upper);
            let mut folded = class.clone();
            folded.difference(&upper);
            folded.union(&ClassBytes::new(uppers.ranges().iter().map(|range| {
                ClassBytesRange::new(
                    range.start().to_ascii_lowercase(),
                    range.end().to_ascii_lowercase(),
                )
            })));
            Hir::class(Class::Bytes(folded))
        }
        HirKind::Class(Class::Unicode(class)) => {
            let upper = ClassUnicode::new([ClassUnicodeRange::new('A', 'Z')]);
            let mut uppers = class.clone();
            uppers.intersect(&upper);
            let mut folded = class.clone();
            folded.difference(&upper);
            folded.union(&ClassUnicode::new(uppers.ranges().iter().map(|range| {
                ClassUnicodeRange::new(
                    range.start().to_ascii_lowercase(),
                    range.end().to_ascii_lowercase(),
                )
            })));
            Hir::class(Class::Unicode(folded))
        }
        HirKind::Repetition(repetition) => Hir::repetition(Repetition {
            min: repetition.min,
            max: repetition.max,
            greedy: repetition.greedy,
            sub: Box::new(fold_ascii_case(&repetition.sub)),
        }),
        HirKind::Capture(capture) => Hir::capture(Capture {
            index: capture.index,
            name: capture.name.clone(),
            sub: Box::new(fold_ascii_case(&capture.sub)),
        }),
        HirKind::Concat(parts) => Hir::concat(parts.iter().map(fold_ascii_case).collect()),
        HirKind::Alternation(parts) => {
            Hir::alternation(parts.iter().map(fold_ascii_case).collect())
        }
    }
}

#[cfg(test)]
#[path = "starts_tests.rs"]
mod tests;
