//! Inline code of interpreters: `python -c`, `perl -e`, `node -e`, `php -r`, awk programs, and
//! code fed to them on standard input.

use std::collections::BTreeSet;

use super::argv::{self, OptionSpec};
use super::code::script;
use super::effects::Follow;
use super::inline::{self, InlineFindings, Language};
use super::state::{Input, ShellState};
use super::walk::Analyzer;
use super::word::Field;
use super::{FileOperation, SimpleCommand};
use crate::paths::{DYNAMIC, HOME, Location};

/// Values of single-dash long options or options that take the next word: `-ex CMD`,
/// `--eval=CODE`, `--eval CODE`.
pub(crate) fn option_values(argv: &[Field], names: &[&str]) -> Vec<Field> {
    let mut out = Vec::new();
    let mut i = 1;
    while i < argv.len() {
        let text = argv[i].text.as_str();
        if names.contains(&text) {
            if let Some(value) = argv.get(i + 1) {
                out.push(value.clone());
            }
            i += 2;
            continue;
        }
        if let Some((name, _)) = text.split_once('=')
            && names.contains(&name)
        {
            out.push(argv[i].tail(name.chars().count() + 1));
        }
        i += 1;
    }
    out
}

/// Like [`option_values`], also accepting an attached value (`-e'print 1'`).
fn option_values_attached(argv: &[Field], names: &[&str]) -> Vec<Field> {
    let mut out = option_values(argv, names);
    for (position, field) in argv.iter().enumerate().skip(1) {
        for name in names {
            if field.text.len() > name.len()
                && field.text.starts_with(name)
                && !field.text.starts_with("--")
            {
                out.push(field.tail(name.chars().count()));
            }
        }
        // `-pie CODE`, `-ne CODE`: clusters ending in `e`.
        let text = field.text.as_str();
        if text.starts_with('-')
            && !text.starts_with("--")
            && text.len() > 2
            && text.ends_with('e')
            && text[1..].chars().all(|c| c.is_ascii_alphabetic())
            && let Some(value) = argv.get(position + 1)
        {
            out.push(value.clone());
        }
    }
    out
}

/// The code of `python -c CODE`.
fn python_code(argv: &[Field]) -> Option<Field> {
    let mut i = 1;
    while let Some(field) = argv.get(i) {
        let text = field.text.as_str();
        if field.dynamic
            || !text.starts_with('-')
            || text == "-"
            || text == "--"
            || text.starts_with("-m")
        {
            return None;
        }
        if let Some(attached) = text.strip_prefix("-c") {
            return if attached.is_empty() {
                argv.get(i + 1).cloned()
            } else {
                Some(field.tail(2))
            };
        }
        if matches!(text, "-W" | "-X" | "-Q") {
            i += 1;
        }
        i += 1;
    }
    None
}

/// A path from inline code: `~` means home, nothing else is special.
pub(crate) fn literal_path(text: &str) -> Field {
    let expanded = if text == "~" || text.starts_with("~/") {
        format!("{HOME}{}", &text[1..])
    } else {
        text.to_string()
    };
    let mut field = Field::literal(&expanded);
    field.dynamic = expanded.contains(DYNAMIC);
    field
}

impl Analyzer {
    /// `python -c CODE`, `perl -e CODE`, `node -e CODE`, `php -r CODE`, awk programs, and code
    /// fed on standard input when no script file is named.
    pub(crate) fn inline_code(
        &mut self,
        cmd: &mut SimpleCommand,
        language: Language,
        argv: &[Field],
        input: &Input,
        st: &ShellState,
        follow: &mut Vec<Follow>,
    ) {
        let mut sources: Vec<Field> = Vec::new();
        let mut in_place = false;
        match language {
            Language::Python => {
                if let Some(code) = python_code(argv) {
                    sources.push(code);
                }
            }
            Language::Perl | Language::Ruby => {
                sources.extend(option_values_attached(argv, &["-e", "-E"]));
                in_place = argv.iter().any(|f| {
                    f.text.starts_with('-')
                        && !f.text.starts_with("--")
                        && f.text.contains('i')
                        && f.text.len() <= 6
                });
            }
            Language::Node => {
                sources.extend(option_values(argv, &["-e", "--eval", "-p", "--print"]));
                if argv.get(1).is_some_and(|f| f.text == "eval") {
                    sources.extend(argv.get(2).cloned());
                }
            }
            Language::Php => sources.extend(option_values(argv, &["-r", "--run"])),
            Language::Awk => {
                let spec = OptionSpec {
                    short_value: "fvFeiEl",
                    long_value: &[
                        "file",
                        "assign",
                        "field-separator",
                        "source",
                        "include",
                        "exec",
                        "load",
                    ],
                    ..OptionSpec::GENERIC
                };
                let parsed = argv::parse_options(argv, 1, &spec);
                in_place = parsed
                    .values_of(&["-i", "--include"])
                    .any(|v| v.text == "inplace" || v.dynamic);
                let explicit: Vec<Field> = parsed.values_of(&["-e", "--source"]).cloned().collect();
                let has_file = parsed.has(&["-f", "--file", "-E", "--exec"]);
                let operands = parsed.operands.clone();
                let files_start = if explicit.is_empty() && !has_file {
                    sources.extend(operands.first().cloned());
                    1
                } else {
                    0
                };
                sources.extend(explicit);
                if in_place {
                    for file in operands
                        .iter()
                        .skip(files_start)
                        .filter(|f| !f.text.contains('='))
                    {
                        self.access(file, st, FileOperation::Write, false, &cmd.program);
                    }
                }
            }
        }
        let reads_stdin = sources.is_empty()
            && match language {
                Language::Python => argv.len() == 1 || argv.get(1).is_some_and(|f| f.text == "-"),
                _ => argv.len() == 1,
            };
        if reads_stdin && let Some(text) = &input.text {
            sources.push(Field::literal(text));
        }
        if in_place && language != Language::Awk {
            let skip_script = usize::from(sources.is_empty());
            for file in argv[1..]
                .iter()
                .filter(|f| !f.text.starts_with('-'))
                .skip(skip_script)
            {
                if !sources.iter().any(|s| s.text == file.text) {
                    self.access(file, st, FileOperation::Write, false, &cmd.program);
                }
            }
        }
        for source in sources {
            if source.dynamic {
                // Code not known statically: only what it was built from can be judged.
                continue;
            }
            let found = inline::scan(language, &source.text);
            self.apply_inline(cmd, found, st, follow);
        }
    }

    fn apply_inline(
        &mut self,
        cmd: &mut SimpleCommand,
        found: InlineFindings,
        st: &ShellState,
        follow: &mut Vec<Follow>,
    ) {
        cmd.opaque_code |= found.opaque;
        for text in found.scripts {
            follow.push(script(&text, Input::none()));
        }
        for text in found.piped_scripts {
            let fed = Input::opaque_pipe(BTreeSet::from([cmd.program.clone()]));
            follow.push(script(&text, fed));
        }
        for words in found.argvs {
            follow.push(Follow::Argv {
                argv: words.iter().map(|w| Field::literal(w)).collect(),
                input: Input::none(),
                taint: BTreeSet::new(),
                wrapper: cmd.program.clone(),
                cwd: None,
            });
        }
        for (path, recursive) in found.deletes {
            self.access(
                &literal_path(&path),
                st,
                FileOperation::Delete,
                recursive,
                &cmd.program,
            );
        }
        for path in found.writes {
            self.access(
                &literal_path(&path),
                st,
                FileOperation::Write,
                false,
                &cmd.program,
            );
        }
        for path in found.reads {
            let field = literal_path(&path);
            for place in self.resolve(&field, st) {
                if place.credential || matches!(place.location, Location::Home | Location::Device) {
                    self.record_access(super::FileAccess {
                        path: place,
                        operation: FileOperation::Read,
                        recursive: false,
                        program: cmd.program.clone(),
                    });
                }
            }
        }
    }
}
