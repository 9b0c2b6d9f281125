//! Option parsing with flag normalisation: clusters split, long options matched by unambiguous
//! prefix (as getopt_long and git accept them), values separated, aliases added.

use std::collections::BTreeSet;

use super::word::Field;

/// How a program's options are spelled.
#[derive(Debug, Clone, Copy)]
pub(crate) struct OptionSpec {
    /// Short options that take a value, attached or as the next word.
    pub short_value: &'static str,
    /// Short options whose value can only be attached (`sed -i.bak`).
    pub short_optional: &'static str,
    /// Short options known to take no value (for wrappers: anything else is ambiguous).
    pub short_flags: &'static str,
    /// Long options that take a value (`--x v` or `--x=v`), without the dashes.
    pub long_value: &'static [&'static str],
    /// Long options known to take no value (or only an attached `=value`).
    pub long_flags: &'static [&'static str],
    /// `(spelling, canonical)`: the canonical flag is added whenever the spelling is seen.
    pub aliases: &'static [(&'static str, &'static str)],
    /// Options end at the first operand (commands with subcommands, wrappers).
    pub stop_at_operand: bool,
}

impl OptionSpec {
    /// A program nothing is known about.
    pub const GENERIC: OptionSpec = OptionSpec {
        short_value: "",
        short_optional: "",
        short_flags: "",
        long_value: &[],
        long_flags: &[],
        aliases: &[],
        stop_at_operand: false,
    };
}

/// Options and operands of one command.
#[derive(Debug, Clone, Default)]
pub(crate) struct ParsedArgs {
    /// Every option seen, normalised (`-r`, `--recursive`), plus aliases.
    pub flags: BTreeSet<String>,
    /// Options with their values, as `(option, value)`; the option as spelled after expansion
    /// of a prefix (`--output`, `-o`).
    pub values: Vec<(String, Field)>,
    /// Operands.
    pub operands: Vec<Field>,
    /// Where each operand is in argv.
    pub operand_indices: Vec<usize>,
    /// Index in argv where option parsing stopped (the first operand for `stop_at_operand`
    /// specs, or after `--`); argv's length otherwise.
    pub rest: usize,
    /// Some word is not statically known.
    pub dynamic: bool,
}

impl ParsedArgs {
    /// The values given to any of `options`.
    pub fn values_of<'a>(&'a self, options: &'a [&str]) -> impl Iterator<Item = &'a Field> + 'a {
        self.values
            .iter()
            .filter(move |(name, _)| options.contains(&name.as_str()))
            .map(|(_, value)| value)
    }

    /// True when any of `options` was given.
    pub fn has(&self, options: &[&str]) -> bool {
        options.iter().any(|o| self.flags.contains(*o))
    }
}

/// Long options of `spec` that `given` (without dashes) may stand for: itself, or every known
/// option it is a prefix of.
fn expand_long<'a>(given: &'a str, spec: &OptionSpec) -> Vec<&'a str>
where
    'static: 'a,
{
    let known = spec
        .long_value
        .iter()
        .chain(spec.long_flags)
        .copied()
        .chain(
            spec.aliases
                .iter()
                .filter_map(|(spelling, _)| spelling.strip_prefix("--")),
        );
    let mut matches: Vec<&str> = Vec::new();
    for candidate in known {
        if candidate == given {
            return vec![candidate];
        }
        if !given.is_empty() && candidate.starts_with(given) && !matches.contains(&candidate) {
            matches.push(candidate);
        }
    }
    if matches.is_empty() {
        vec![given]
    } else {
        matches
    }
}

fn add_flag(flags: &mut BTreeSet<String>, flag: String, spec: &OptionSpec) {
    for (spelling, canonical) in spec.aliases {
        if *spelling == flag {
            flags.insert(canonical.to_string());
        }
    }
    flags.insert(flag);
}

/// Parses `argv[start..]` with `spec`.
pub(crate) fn parse_options(argv: &[Field], start: usize, spec: &OptionSpec) -> ParsedArgs {
    let mut out = ParsedArgs {
        rest: argv.len(),
        ..ParsedArgs::default()
    };
    let mut i = start;
    while i < argv.len() {
        let field = &argv[i];
        out.dynamic |= field.dynamic;
        let text = field.text.as_str();
        if field.dynamic {
            out.operands.push(field.clone());
            out.operand_indices.push(i);
            if spec.stop_at_operand {
                out.rest = i;
                break;
            }
            i += 1;
            continue;
        }
        if text == "--" {
            out.rest = i + 1;
            for (k, rest) in argv.iter().enumerate().skip(i + 1) {
                out.dynamic |= rest.dynamic;
                out.operands.push(rest.clone());
                out.operand_indices.push(k);
            }
            break;
        }
        if let Some(long) = text.strip_prefix("--") {
            let (name, attached) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (long, None),
            };
            let names = expand_long(name, spec);
            let takes_value = names.iter().all(|n| spec.long_value.contains(n));
            for n in &names {
                add_flag(&mut out.flags, format!("--{n}"), spec);
            }
            let value = match attached {
                Some(_) => Some(field.tail(name.chars().count() + 3)),
                None if takes_value => {
                    i += 1;
                    argv.get(i).cloned()
                }
                None => None,
            };
            if let Some(value) = value {
                out.dynamic |= value.dynamic;
                for n in &names {
                    out.values.push((format!("--{n}"), value.clone()));
                }
            }
            i += 1;
            continue;
        }
        if text.len() > 1 && text.starts_with('-') {
            let chars: Vec<char> = text.chars().collect();
            let mut k = 1;
            while k < chars.len() {
                let c = chars[k];
                add_flag(&mut out.flags, format!("-{c}"), spec);
                if spec.short_value.contains(c) || spec.short_optional.contains(c) {
                    let value = if k + 1 < chars.len() {
                        Some(field.tail(k + 1))
                    } else if spec.short_value.contains(c) {
                        i += 1;
                        argv.get(i).cloned()
                    } else {
                        None
                    };
                    if let Some(value) = value {
                        out.dynamic |= value.dynamic;
                        out.values.push((format!("-{c}"), value));
                    }
                    break;
                }
                k += 1;
            }
            i += 1;
            continue;
        }
        out.operands.push(field.clone());
        out.operand_indices.push(i);
        if spec.stop_at_operand {
            out.rest = i;
            // The rest belongs to the subcommand or the wrapped command.
            out.operands.pop();
            out.operand_indices.pop();
            break;
        }
        i += 1;
    }
    out
}

/// Where a wrapped command may start in `argv[start..]`. Options the spec does not know may or
/// may not take a value, so both readings are kept (`uv run --with x rm -rf /` must find `rm`).
pub(crate) fn wrapped_command_starts(
    argv: &[Field],
    start: usize,
    spec: &OptionSpec,
    max: usize,
) -> (ParsedArgs, Vec<usize>) {
    let mut starts = Vec::new();
    let mut pending = vec![start];
    let mut explored = BTreeSet::new();
    let mut first: Option<ParsedArgs> = None;
    while let Some(mut i) = pending.pop() {
        if !explored.insert(i) {
            continue;
        }
        let mut parsed = ParsedArgs {
            rest: argv.len(),
            ..ParsedArgs::default()
        };
        while let Some(field) = argv.get(i) {
            let text = field.text.as_str();
            if field.dynamic || text == "-" || !text.starts_with('-') {
                if !starts.contains(&i) {
                    starts.push(i);
                }
                parsed.rest = i;
                break;
            }
            if text == "--" {
                if !starts.contains(&(i + 1)) && i + 1 < argv.len() {
                    starts.push(i + 1);
                }
                parsed.rest = i + 1;
                break;
            }
            if let Some(long) = text.strip_prefix("--") {
                let (name, attached) = match long.split_once('=') {
                    Some((n, v)) => (n, Some(v)),
                    None => (long, None),
                };
                let names = expand_long(name, spec);
                for n in &names {
                    add_flag(&mut parsed.flags, format!("--{n}"), spec);
                }
                if attached.is_some() {
                    let value = field.tail(name.chars().count() + 3);
                    for n in &names {
                        parsed.values.push((format!("--{n}"), value.clone()));
                    }
                    i += 1;
                    continue;
                }
                let takes = names.iter().all(|n| spec.long_value.contains(n));
                let known_flag = names.iter().all(|n| spec.long_flags.contains(n));
                if takes {
                    if let Some(value) = argv.get(i + 1) {
                        for n in &names {
                            parsed.values.push((format!("--{n}"), value.clone()));
                        }
                    }
                    i += 2;
                } else if known_flag {
                    i += 1;
                } else {
                    // Unknown: it may take the next word as its value.
                    pending.push(i + 2);
                    i += 1;
                }
                continue;
            }
            let chars: Vec<char> = text.chars().collect();
            let mut k = 1;
            let mut skip = 1;
            while k < chars.len() {
                let c = chars[k];
                add_flag(&mut parsed.flags, format!("-{c}"), spec);
                if spec.short_value.contains(c) || spec.short_optional.contains(c) {
                    if k + 1 < chars.len() {
                        parsed.values.push((format!("-{c}"), field.tail(k + 1)));
                    } else if spec.short_value.contains(c) {
                        if let Some(value) = argv.get(i + 1) {
                            parsed.values.push((format!("-{c}"), value.clone()));
                        }
                        skip = 2;
                    }
                    break;
                }
                if !spec.short_flags.contains(c) && k + 1 == chars.len() {
                    pending.push(i + 2);
                }
                k += 1;
            }
            i += skip;
        }
        if first.is_none() {
            first = Some(parsed);
        }
        if starts.len() >= max || pending.len() > max * 2 {
            // Too many readings: every later word may start the command.
            let from = starts.iter().copied().min().unwrap_or(start);
            starts = (from..argv.len()).take(max * 4).collect();
            break;
        }
    }
    starts.sort_unstable();
    starts.dedup();
    (first.unwrap_or_default(), starts)
}
