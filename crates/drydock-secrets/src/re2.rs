//! Translation of Go RE2 regex syntax (what gitleaks rule files use) to Rust `regex` syntax.
//!
//! The two are close. The differences handled here:
//! - `\d \w \s \b \B` are ASCII in Go and Unicode in Rust: translated to ASCII forms.
//! - `\Q...\E` literal quoting: expanded to escaped literals.
//! - octal escapes `\123`: translated to `\x{53}`.
//! - `\A` and `\z` (text start/end): rules are matched line by line here, so they become `^`/`$`.
//! - a `{` that does not start a repetition is a literal in Go: escaped.
//! - inside a class, Rust treats `[`, `&&`, `--`, `~~` as nesting and set operations: escaped.
//!
//! Rejected with a clear message: `\C` (any byte), `\Z`, `\8`/`\9`, and `\pX`-style escapes Go
//! does not have are left for the Rust parser, whose error is reported with the rule id.

/// Translates a Go RE2 pattern to an equivalent Rust `regex` pattern.
pub(crate) fn translate(pattern: &str) -> Result<String, String> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::with_capacity(pattern.len() + 16);
    let mut i = 0;
    // Depth of character classes (Go has no nesting, but `[[:alpha:]]` opens a POSIX class).
    let mut in_class = false;
    let mut class_start = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\\' => {
                let Some(&next) = chars.get(i + 1) else {
                    return Err("pattern ends with a lone backslash".to_string());
                };
                i += 2;
                match next {
                    'Q' => {
                        let mut literal = String::new();
                        while i < chars.len()
                            && !(chars[i] == '\\' && chars.get(i + 1) == Some(&'E'))
                        {
                            literal.push(chars[i]);
                            i += 1;
                        }
                        i = (i + 2).min(chars.len().max(i));
                        for ch in literal.chars() {
                            push_literal(&mut out, ch, in_class);
                        }
                    }
                    'C' => return Err(r"\C (match any byte) is not supported".to_string()),
                    'Z' => return Err(r"\Z is not valid RE2 syntax (use \z)".to_string()),
                    'd' => out.push_str(if in_class { "0-9" } else { "[0-9]" }),
                    'D' => out.push_str("[^0-9]"),
                    'w' => out.push_str(if in_class {
                        "0-9A-Za-z_"
                    } else {
                        "[0-9A-Za-z_]"
                    }),
                    'W' => out.push_str("[^0-9A-Za-z_]"),
                    's' => out.push_str(if in_class {
                        r"\t\n\f\r "
                    } else {
                        r"[\t\n\f\r ]"
                    }),
                    'S' => out.push_str(r"[^\t\n\f\r ]"),
                    'b' if !in_class => out.push_str(r"(?-u:\b)"),
                    'B' if !in_class => out.push_str(r"(?-u:\B)"),
                    'A' if !in_class => out.push('^'),
                    'z' if !in_class => out.push('$'),
                    '0'..='7' => {
                        let mut value = next.to_digit(8).unwrap_or(0);
                        let mut digits = 1;
                        while digits < 3
                            && let Some(d) = chars.get(i).and_then(|ch| ch.to_digit(8))
                        {
                            value = value * 8 + d;
                            i += 1;
                            digits += 1;
                        }
                        if next != '0' && digits == 1 {
                            return Err(format!(
                                r"\{next} is a backreference, which RE2 does not support"
                            ));
                        }
                        out.push_str(&format!(r"\x{{{value:X}}}"));
                    }
                    '8' | '9' => {
                        return Err(format!(
                            r"\{next} is a backreference, which RE2 does not support"
                        ));
                    }
                    'x' | 'p' | 'P' if chars.get(i) == Some(&'{') => {
                        // `\x{41}`, `\p{Greek}`: the braces belong to the escape.
                        let close = chars[i..]
                            .iter()
                            .position(|&ch| ch == '}')
                            .ok_or_else(|| format!(r"unclosed \{next}{{...}} escape"))?;
                        out.push('\\');
                        out.push(next);
                        out.extend(&chars[i..=i + close]);
                        i += close + 1;
                    }
                    other => {
                        out.push('\\');
                        out.push(other);
                    }
                }
                continue;
            }
            '[' if !in_class => {
                in_class = true;
                out.push('[');
                i += 1;
                class_start = out.len();
                if chars.get(i) == Some(&'^') {
                    out.push('^');
                    i += 1;
                    class_start = out.len();
                }
                // A `]` first in a class is a literal in both dialects.
                if chars.get(i) == Some(&']') {
                    out.push_str(r"\]");
                    i += 1;
                }
                continue;
            }
            '[' if in_class => {
                // `[:alpha:]` POSIX classes pass through; any other `[` is a literal in Go.
                if let Some(len) = posix_class_len(&chars[i..]) {
                    out.extend(&chars[i..i + len]);
                    i += len;
                } else {
                    out.push_str(r"\[");
                    i += 1;
                }
                continue;
            }
            ']' if in_class => {
                in_class = false;
                out.push(']');
                i += 1;
                continue;
            }
            '&' | '~' if in_class => {
                out.push('\\');
                out.push(c);
                i += 1;
                continue;
            }
            '-' if in_class => {
                let at_edge = out.len() == class_start || chars.get(i + 1) == Some(&']');
                let doubled = out.ends_with('-') || chars.get(i + 1) == Some(&'-');
                if at_edge || doubled {
                    out.push_str(r"\-");
                } else {
                    out.push('-');
                }
                i += 1;
                continue;
            }
            '{' if !in_class => {
                match repetition_len(&chars[i..]) {
                    Some(len) => out.extend(&chars[i..i + len]),
                    None => out.push_str(r"\{"),
                }
                i += repetition_len(&chars[i..]).unwrap_or(1);
                continue;
            }
            '}' if !in_class => {
                out.push_str(r"\}");
                i += 1;
                continue;
            }
            _ => {}
        }
        out.push(c);
        i += 1;
    }
    if in_class {
        return Err("unclosed character class".to_string());
    }
    Ok(out)
}

fn push_literal(out: &mut String, ch: char, in_class: bool) {
    if regex_syntax::is_meta_character(ch)
        || (in_class && matches!(ch, '&' | '~' | '-' | '[' | ']'))
    {
        out.push('\\');
    }
    out.push(ch);
}

/// Length of `[:name:]` or `[:^name:]` at the start of `chars`.
fn posix_class_len(chars: &[char]) -> Option<usize> {
    if chars.get(1) != Some(&':') {
        return None;
    }
    let close = chars.windows(2).position(|w| w == [':', ']'])?;
    let name: String = chars[2..close].iter().collect();
    let name = name.strip_prefix('^').unwrap_or(&name);
    (!name.is_empty() && name.chars().all(|c| c.is_ascii_lowercase())).then_some(close + 2)
}

/// Length of `{n}`, `{n,}` or `{n,m}` at the start of `chars`.
fn repetition_len(chars: &[char]) -> Option<usize> {
    let close = chars.iter().position(|&c| c == '}')?;
    let body: String = chars[1..close].iter().collect();
    let (min, max) = match body.split_once(',') {
        Some((min, max)) => (min, Some(max)),
        None => (body.as_str(), None),
    };
    let digits = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
    let valid = digits(min) && max.is_none_or(|max| max.is_empty() || digits(max));
    valid.then_some(close + 1)
}

#[cfg(test)]
mod tests {
    use super::translate;

    fn rust_matches(go: &str, text: &str) -> bool {
        let translated = translate(go).unwrap();
        regex::bytes::Regex::new(&translated)
            .unwrap_or_else(|e| panic!("{go} -> {translated}: {e}"))
            .is_match(text.as_bytes())
    }

    #[test]
    fn perl_classes_are_ascii_like_in_go() {
        assert!(rust_matches(r"^\d+$", "0123"));
        assert!(!rust_matches(r"^\d+$", "٠١٢"));
        assert!(!rust_matches(r"^\w+$", "héllo"));
        assert!(rust_matches(r"^[\w.-]+$", "a.b-c_d"));
        assert!(!rust_matches(r"^\s$", "\u{a0}"));
        assert!(rust_matches(r"^[^\s]+$", "abc"));
        assert!(rust_matches(r"\bkey\b", "a key."));
        assert!(!rust_matches(r"\bkey\b", "akey"));
    }

    #[test]
    fn go_literals_that_rust_reads_as_syntax_are_escaped() {
        assert!(rust_matches(r"a{", "a{"));
        assert!(rust_matches(r"a{,5}", "a{,5}"));
        assert!(rust_matches(r"x}", "x}"));
        assert!(rust_matches(r"a{2,3}b", "aab"));
        assert!(rust_matches(r"^[a&&b]+$", "a&&b"));
        assert!(rust_matches(r"^[a--]+$", "a--"));
        assert!(rust_matches(r"^[[]+$", "[["));
        assert!(rust_matches(r"^[]a]+$", "]a"));
        assert!(rust_matches(r"^[~]$", "~"));
        assert!(rust_matches(r"^[[:alpha:]]+$", "abc"));
        assert!(rust_matches(r"^[a-z-]+$", "ab-c"));
    }

    #[test]
    fn quoting_and_octal_escapes() {
        assert!(rust_matches(r"\Qa.b*c\E$", "a.b*c"));
        assert!(!rust_matches(r"^\Qa.b\E$", "axb"));
        assert!(rust_matches(r"^\101\0$", "A\0"));
        assert!(rust_matches(r"\Aabc\z", "abc"));
        assert!(rust_matches(r"^\x{41}\p{Greek}\x42$", "AλB"));
    }

    #[test]
    fn unsupported_constructs_are_rejected_with_a_reason() {
        assert!(translate(r"a\C").unwrap_err().contains("any byte"));
        assert!(translate(r"(a)\1").unwrap_err().contains("backreference"));
        assert!(translate(r"\Z").unwrap_err().contains("RE2"));
        assert!(translate(r"[abc").unwrap_err().contains("unclosed"));
        assert!(translate("abc\\").unwrap_err().contains("backslash"));
    }
}
