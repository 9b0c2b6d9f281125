//! What a sed script does beyond editing the stream: `e` runs a command (or the pattern space),
//! `w`/`W` and the `w` flag write files, `r`/`R` read them.

/// What a sed script does beyond editing the stream: `e` runs a command (or the pattern space),
/// `w`/`W` and the `w` flag write files, `r`/`R` read them.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct SedFindings {
    pub scripts: Vec<String>,
    pub writes: Vec<String>,
    pub reads: Vec<String>,
    pub opaque: bool,
}

/// Scans a sed script.
pub(crate) fn scan_sed(script: &str) -> SedFindings {
    let mut out = SedFindings::default();
    for raw in script.split(['\n', ';']) {
        let command = strip_address(raw.trim());
        let mut chars = command.chars();
        match chars.next() {
            Some('e') => {
                let rest = chars.as_str().trim();
                if rest.is_empty() {
                    out.opaque = true;
                } else {
                    out.scripts.push(rest.to_string());
                }
            }
            Some('w' | 'W') => out.writes.push(chars.as_str().trim().to_string()),
            Some('r' | 'R') => out.reads.push(chars.as_str().trim().to_string()),
            Some('s') => {
                let Some(delimiter) = chars.next() else {
                    continue;
                };
                let body: Vec<char> = chars.collect();
                let mut sections = 0;
                let mut i = 0;
                while i < body.len() && sections < 2 {
                    if body[i] == '\\' {
                        i += 2;
                        continue;
                    }
                    if body[i] == delimiter {
                        sections += 1;
                    }
                    i += 1;
                }
                let flags: String = body[i.min(body.len())..].iter().collect();
                if let Some(pos) = flags.find('w') {
                    out.writes.push(flags[pos + 1..].trim().to_string());
                    if flags[..pos].contains('e') {
                        out.opaque = true;
                    }
                } else if flags.contains('e') {
                    out.opaque = true;
                }
            }
            _ => {}
        }
    }
    out
}

fn strip_address(command: &str) -> &str {
    let mut rest = command;
    loop {
        let trimmed = rest.trim_start();
        let next = if let Some(after) = trimmed.strip_prefix('/') {
            match after.find('/') {
                Some(end) => &after[end + 1..],
                None => return "",
            }
        } else if trimmed
            .starts_with(|c: char| c.is_ascii_digit() || matches!(c, '$' | ',' | '!' | '~' | '+'))
        {
            trimmed.trim_start_matches(|c: char| {
                c.is_ascii_digit() || matches!(c, '$' | ',' | '!' | '~' | '+')
            })
        } else {
            return trimmed.trim_start_matches(['{', ' ']);
        };
        if next.len() == rest.len() {
            return next;
        }
        rest = next;
    }
}
