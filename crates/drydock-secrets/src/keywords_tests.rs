use std::collections::BTreeSet;

use pretty_assertions::assert_eq;

use super::*;
use crate::fixtures::FakeRng;

/// (keyword, case-sensitive, rule)
const KEYWORDS: &[(&str, bool, u32)] = &[
    ("pass", false, 0),
    ("password", false, 1),
    ("_password", false, 2),
    ("token", false, 0),
    ("sk-", false, 3),
    ("SK", true, 4),
    ("sk", false, 5),
    ("AKIA", true, 6),
    ("://", false, 7),
    ("q~", false, 8),
    ("clé", false, 9),
    ("private key-----", false, 10),
    ("password", false, 11),
];

fn scanner() -> KeywordScanner {
    let mut builder = KeywordSetBuilder::default();
    for &(keyword, exact, rule) in KEYWORDS {
        builder.add(keyword, exact, rule);
    }
    builder.build().unwrap().unwrap()
}

/// What `scan` must report: (start, rule) for every occurrence starting before `limit`.
fn naive(haystack: &[u8], limit: usize) -> BTreeSet<(usize, u32)> {
    let mut out = BTreeSet::new();
    for start in 0..haystack.len().min(limit) {
        for &(keyword, exact, rule) in KEYWORDS {
            let keyword = keyword.as_bytes();
            let Some(window) = haystack.get(start..start + keyword.len()) else {
                continue;
            };
            let found = if exact {
                window == keyword
            } else {
                window.eq_ignore_ascii_case(keyword)
            };
            if found {
                out.insert((start, rule));
            }
        }
    }
    out
}

fn scanned(scanner: &KeywordScanner, haystack: &[u8], limit: usize) -> BTreeSet<(usize, u32)> {
    let mut hits = Vec::new();
    scanner.scan(haystack, limit, &mut LaneEvents::default(), &mut hits);
    assert!(
        hits.windows(2).all(|w| w[0] < w[1]),
        "hits are sorted, each reported once"
    );
    hits.iter()
        .flat_map(|&hit| {
            scanner
                .rules_of(hit)
                .iter()
                .map(move |&rule| (hit.start, rule))
        })
        .collect()
}

fn random_haystack(rng: &mut FakeRng, len: usize) -> Vec<u8> {
    let pieces: &[&[u8]] = &[
        b"pass",
        b"PASSWORD",
        b"_Password",
        b"tOkEn",
        b"sk-",
        b"SK",
        b"Sk",
        b"sk",
        b"AKIA",
        b"akia",
        b"://",
        b"Q~",
        "clé".as_bytes(),
        "CLÉ".as_bytes(),
        b"cl\xc3",
        b"-----BEGIN RSA PRIVATE KEY-----",
        b"\n",
        b" ",
        b"\xff\xfe",
        b"x",
        b"passpassword",
    ];
    let mut out = Vec::with_capacity(len + 40);
    while out.len() < len {
        if rng.below(3) == 0 {
            out.extend_from_slice(pieces[rng.below(pieces.len())]);
        } else {
            out.push(b"abcdefghijklmnopqrstuvwxyz0123456789_-:/~ "[rng.below(42)]);
        }
    }
    out.truncate(len);
    out
}

#[test]
fn scan_reports_exactly_the_occurrences_a_naive_search_finds() {
    let scanner = scanner();
    let mut rng = FakeRng::new(11);
    // Around the size where the walk switches to interleaved lanes, and well above it.
    let lengths = [0, 1, 3, 100, 2047, 2048, 2049, 2051, 5000, 16_411, 40_000];
    for &len in &lengths {
        for _ in 0..4 {
            let haystack = random_haystack(&mut rng, len);
            for limit in [len, len / 2, len.saturating_sub(3), 0] {
                assert_eq!(
                    scanned(&scanner, &haystack, limit),
                    naive(&haystack, limit),
                    "len {len} limit {limit}"
                );
            }
        }
    }
}

#[test]
fn keywords_across_every_lane_boundary_are_found_once() {
    let scanner = scanner();
    let len = 8192;
    let keyword = b"private key-----";
    // Lane boundaries are multiples of len / LANES; put the keyword across each of them at
    // every offset.
    for lane in 1..LANES {
        let boundary = len / LANES * lane;
        for shift in 0..=keyword.len() {
            let mut haystack = vec![b'.'; len];
            let start = boundary + shift - keyword.len();
            haystack[start..start + keyword.len()].copy_from_slice(keyword);
            let hits = scanned(&scanner, &haystack, len);
            assert_eq!(
                hits,
                BTreeSet::from([(start, 10)]),
                "boundary {boundary} start {start}"
            );
        }
    }
}

#[test]
fn exact_keywords_keep_their_case_and_any_case_keywords_do_not() {
    let scanner = scanner();
    let hits = scanned(&scanner, b"SK Sk sK sk SK- AKIA akia", usize::MAX);
    let expected = BTreeSet::from([
        (0, 4), // SK exact
        (0, 5), // sk any case
        (3, 5),
        (6, 5),
        (9, 5),
        (12, 3), // sk- any case
        (12, 4),
        (12, 5),
        (16, 6), // AKIA exact only
    ]);
    assert_eq!(hits, expected);
}

#[test]
fn overlapping_and_nested_keywords_are_all_reported() {
    let scanner = scanner();
    let hits = scanned(&scanner, b"x_PASSWORD passpassword", usize::MAX);
    let expected = BTreeSet::from([
        (1, 2), // _password
        (2, 0), // pass
        (2, 1), // password (two rules share it)
        (2, 11),
        (11, 0),
        (15, 0),
        (15, 1),
        (15, 11),
    ]);
    assert_eq!(hits, expected);
}

#[test]
fn only_ascii_letters_fold() {
    let scanner = scanner();
    assert_eq!(
        scanned(&scanner, "clé CLé CLÉ".as_bytes(), usize::MAX),
        BTreeSet::from([(0, 9), (5, 9)])
    );
}

#[test]
fn no_keywords_build_no_scanner() {
    assert!(KeywordSetBuilder::default().build().unwrap().is_none());
}

#[test]
fn hits_are_sorted_whatever_their_order() {
    let mut rng = FakeRng::new(5);
    for len in [0, 1, 2, 10, 100, 1000] {
        // Nearly sorted (the usual case) and shuffled (the fallback).
        let mut nearly: Vec<Hit> = (0..len)
            .map(|i| Hit {
                start: i + rng.below(4),
                trigger: rng.below(3) as u32,
            })
            .collect();
        let mut shuffled: Vec<Hit> = (0..len)
            .map(|_| Hit {
                start: rng.below(50),
                trigger: rng.below(3) as u32,
            })
            .collect();
        for hits in [&mut nearly, &mut shuffled] {
            let mut expected = hits.clone();
            expected.sort();
            sort_nearly_sorted(hits);
            assert_eq!(*hits, expected);
        }
    }
}
