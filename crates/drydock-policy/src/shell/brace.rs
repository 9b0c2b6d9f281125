//! Brace expansion (`{a,b}`, `{1..5}`) and ANSI-C quoting (`$'\x72m'`), as bash does them.

use super::AnalysisError;
use super::word::Item;

/// Decodes the body of `$'...'`.
pub(crate) fn decode_ansi_c(body: &str) -> String {
    let mut out = String::new();
    let chars: Vec<char> = body.chars().collect();
    let mut i = 0;
    let take_digits = |i: &mut usize, radix: u32, max: usize| -> Option<u32> {
        let start = *i;
        let mut value: u32 = 0;
        while *i < chars.len() && *i - start < max {
            match chars[*i].to_digit(radix) {
                Some(d) => {
                    value = value.wrapping_mul(radix).wrapping_add(d);
                    *i += 1;
                }
                None => break,
            }
        }
        (*i > start).then_some(value)
    };
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        if c != '\\' || i >= chars.len() {
            out.push(c);
            continue;
        }
        let e = chars[i];
        i += 1;
        let decoded: Option<char> = match e {
            'a' => Some('\u{7}'),
            'b' => Some('\u{8}'),
            'e' | 'E' => Some('\u{1b}'),
            'f' => Some('\u{c}'),
            'n' => Some('\n'),
            'r' => Some('\r'),
            't' => Some('\t'),
            'v' => Some('\u{b}'),
            '\\' | '\'' | '"' | '?' => Some(e),
            'x' => take_digits(&mut i, 16, 2).and_then(char::from_u32),
            'u' => take_digits(&mut i, 16, 4).and_then(char::from_u32),
            'U' => take_digits(&mut i, 16, 8).and_then(char::from_u32),
            'c' if i < chars.len() => {
                let ctl = chars[i];
                i += 1;
                char::from_u32((ctl as u32) & 0x1f)
            }
            '0'..='7' => {
                i -= 1;
                take_digits(&mut i, 8, 3).and_then(char::from_u32)
            }
            _ => {
                out.push('\\');
                Some(e)
            }
        };
        match decoded {
            // bash ends the string at a NUL byte.
            Some('\0') => break,
            Some(ch) => out.push(ch),
            None => out.push(e),
        }
    }
    out
}

pub(crate) fn is_special(item: &Item, want: char) -> bool {
    matches!(item, Item::Char { c, quoted: false, expanded: false } if *c == want)
}

/// Bash brace expansion over unquoted literal braces: `{a,b}` and `{1..3}` sequences.
pub(crate) fn brace_expand(items: &[Item], max: usize) -> Result<Vec<Vec<Item>>, AnalysisError> {
    let mut out = Vec::new();
    brace_expand_into(items, max, &mut out)?;
    Ok(out)
}

fn brace_expand_into(
    items: &[Item],
    max: usize,
    out: &mut Vec<Vec<Item>>,
) -> Result<(), AnalysisError> {
    let Some((open, close, alternatives)) = first_brace(items) else {
        out.push(items.to_vec());
        return Ok(());
    };
    for alternative in alternatives {
        let mut combined: Vec<Item> = items[..open].to_vec();
        combined.extend(alternative);
        combined.extend_from_slice(&items[close + 1..]);
        brace_expand_into(&combined, max, out)?;
        if out.len() > max {
            return Err(AnalysisError::Limit {
                message: format!("a brace expansion yields more than {max} words"),
            });
        }
    }
    Ok(())
}

type BraceSplit = (usize, usize, Vec<Vec<Item>>);

fn first_brace(items: &[Item]) -> Option<BraceSplit> {
    for open in 0..items.len() {
        if !is_special(&items[open], '{') {
            continue;
        }
        // Find the matching close brace and the top-level commas.
        let mut depth = 0usize;
        let mut commas = Vec::new();
        let mut close = None;
        for (j, item) in items.iter().enumerate().skip(open + 1) {
            if is_special(item, '{') {
                depth += 1;
            } else if is_special(item, '}') {
                if depth == 0 {
                    close = Some(j);
                    break;
                }
                depth -= 1;
            } else if depth == 0 && is_special(item, ',') {
                commas.push(j);
            }
        }
        let Some(close) = close else { continue };
        if !commas.is_empty() {
            let mut parts = Vec::new();
            let mut start = open + 1;
            for &comma in &commas {
                parts.push(items[start..comma].to_vec());
                start = comma + 1;
            }
            parts.push(items[start..close].to_vec());
            return Some((open, close, parts));
        }
        if let Some(sequence) = brace_sequence(&items[open + 1..close]) {
            return Some((open, close, sequence));
        }
    }
    None
}

/// `{1..5}`, `{05..1..2}`, `{a..e}` as lists of quoted items.
fn brace_sequence(inner: &[Item]) -> Option<Vec<Vec<Item>>> {
    let mut text = String::new();
    for item in inner {
        match item {
            Item::Char {
                c,
                quoted: false,
                expanded: false,
            } => text.push(*c),
            _ => return None,
        }
    }
    let parts: Vec<&str> = text.split("..").collect();
    if !(2..=3).contains(&parts.len()) {
        return None;
    }
    let step: i64 = match parts.get(2) {
        Some(s) => s.parse::<i64>().ok()?.checked_abs()?.max(1),
        None => 1,
    };
    let as_items = |s: String| Item::literal(&s);
    if let (Ok(from), Ok(to)) = (parts[0].parse::<i64>(), parts[1].parse::<i64>()) {
        let width = if parts[0].starts_with('0') || parts[1].starts_with('0') {
            parts[0].len().max(parts[1].len())
        } else {
            0
        };
        let count = (from - to).unsigned_abs() / step as u64 + 1;
        if count > 100_000 {
            return Some(vec![vec![Item::Dynamic { quoted: true }]]);
        }
        let mut out = Vec::new();
        let mut value = from;
        loop {
            out.push(as_items(format!("{value:0width$}")));
            if value == to || out.len() as u64 >= count {
                break;
            }
            value += if from < to { step } else { -step };
        }
        return Some(out);
    }
    let (from, to) = (parts[0], parts[1]);
    let (mut f, mut t) = (from.chars(), to.chars());
    if let (Some(a), None, Some(b), None) = (f.next(), f.next(), t.next(), t.next()) {
        let (a, b) = (a as u32, b as u32);
        let mut out = Vec::new();
        let mut value = a;
        loop {
            out.push(as_items(char::from_u32(value)?.to_string()));
            if value == b {
                break;
            }
            if a < b {
                value += step as u32;
                if value > b {
                    break;
                }
            } else {
                value = value.checked_sub(step as u32)?;
                if value < b {
                    break;
                }
            }
        }
        return Some(out);
    }
    None
}
