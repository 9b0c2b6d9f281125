//! Programs that run other programs or code: wrappers (`sudo`, `env`, `timeout`, ...), shells,
//! `python -m`, `xargs`, `find -exec`, `flock`, and the shell builtins that change what later
//! commands mean (`cd`, `alias`, `eval`, `source`, `read`, ...).

use super::argv::{self, OptionSpec, ParsedArgs};
use super::effects::Follow;
use super::programs::{self, WrapperKind};
use super::specs;
use super::state::{Input, ShellState, Value};
use super::walk::Analyzer;
use super::word::Field;
use super::{FileOperation, SimpleCommand};

impl Analyzer {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn wrapper(
        &mut self,
        cmd: &mut SimpleCommand,
        wrapper: programs::Wrapper,
        argv: &[Field],
        parsed: &ParsedArgs,
        input: &Input,
        st: &mut ShellState,
        follow: &mut Vec<Follow>,
    ) {
        let program = cmd.program.clone();
        let (options, starts) = argv::wrapped_command_starts(argv, 1, &wrapper.spec, 6);
        cmd.flags.extend(options.flags.iter().cloned());
        if wrapper
            .no_command_options
            .iter()
            .any(|o| options.flags.contains(*o) || parsed.flags.contains(*o))
        {
            return;
        }
        for script in options.values_of(wrapper.script_options) {
            if script.dynamic {
                cmd.opaque_code = true;
            } else {
                follow.push(Follow::Script {
                    text: script.text.clone(),
                    positional: Some(vec![Field::literal("sh")]),
                    input: input.clone(),
                });
            }
        }
        let mut cwd: Option<Value> = None;
        for dir in options.values_of(&["-C", "--chdir", "-D", "-w", "--wd"]) {
            if program == "env" || program == "sudo" || program == "unshare" {
                cwd = Some(self.dir_value(dir, st));
            }
        }
        for split in options.values_of(&["-S", "--split-string"]) {
            if program == "env" {
                if split.dynamic {
                    cmd.opaque_code = true;
                    continue;
                }
                let rest: Vec<String> = starts
                    .first()
                    .map(|&s| argv[s..].iter().map(|f| f.raw.clone()).collect())
                    .unwrap_or_default();
                follow.push(Follow::Script {
                    text: format!("{} {}", split.text, rest.join(" ")),
                    positional: None,
                    input: input.clone(),
                });
                cmd.wraps = true;
                return;
            }
        }
        let watch_script = program == "watch" && !options.has(&["-x", "--exec"]);
        // `su USER ARGS` passes ARGS to the user's shell; `script FILE` records into FILE.
        let su_like = program == "su" || (program == "runuser" && !options.has(&["-u", "--user"]));
        if su_like || program == "script" {
            let operands: Vec<&Field> = argv[1..]
                .iter()
                .skip(starts.first().map_or(argv.len(), |s| s.saturating_sub(1)))
                .filter(|f| f.text != "-")
                .collect();
            let has_script = options.values_of(wrapper.script_options).next().is_some();
            if program == "script" {
                for file in &operands {
                    self.access(file, st, FileOperation::Write, false, "script");
                }
            } else if operands.len() > 1 {
                let mut shell_argv = vec![Field::literal("sh")];
                shell_argv.extend(operands[1..].iter().map(|f| (*f).clone()));
                cmd.wraps = true;
                follow.push(Follow::Argv {
                    argv: shell_argv,
                    input: input.clone(),
                    taint: cmd.substitution_programs.clone(),
                    wrapper: program.clone(),
                    cwd: None,
                });
                return;
            }
            if !has_script {
                self.shell_on_stdin(cmd, input, follow);
            }
            return;
        }
        // `sudo -s`, `sudo -i` and `doas -s` without a command start a shell on standard input.
        let shell_option = match program.as_str() {
            "sudo" => options.has(&["-s", "-i", "--shell", "--login"]),
            "doas" => options.has(&["-s"]),
            _ => false,
        };
        if shell_option && starts.is_empty() {
            self.shell_on_stdin(cmd, input, follow);
        }
        for start in starts {
            let mut begin = start;
            match wrapper.kind {
                WrapperKind::Plain => {}
                WrapperKind::OperandThenCommand => begin += 1,
                WrapperKind::Assignments => {
                    while argv
                        .get(begin)
                        .is_some_and(|f| !f.dynamic && is_assignment(&f.text))
                    {
                        begin += 1;
                    }
                }
            }
            if begin >= argv.len() {
                continue;
            }
            cmd.wraps = true;
            if watch_script {
                let words: Vec<String> = argv[begin..].iter().map(|f| f.raw.clone()).collect();
                if argv[begin..].iter().any(|f| f.dynamic) {
                    cmd.opaque_code = true;
                }
                follow.push(Follow::Script {
                    text: words.join(" "),
                    positional: Some(vec![Field::literal("sh")]),
                    input: input.clone(),
                });
                continue;
            }
            follow.push(Follow::Argv {
                argv: argv[begin..].to_vec(),
                input: input.clone(),
                taint: cmd.substitution_programs.clone(),
                wrapper: program.clone(),
                cwd: cwd.clone(),
            });
        }
    }

    /// A shell started without a script reads its commands from standard input.
    pub(crate) fn shell_on_stdin(
        &mut self,
        cmd: &mut SimpleCommand,
        input: &Input,
        follow: &mut Vec<Follow>,
    ) {
        if let Some(text) = &input.text {
            follow.push(Follow::Script {
                text: text.clone(),
                positional: Some(vec![Field::literal("sh")]),
                input: Input::none(),
            });
        } else if input.opaque || !input.programs.is_empty() {
            cmd.opaque_code = true;
        }
    }

    pub(crate) fn shell(
        &mut self,
        cmd: &mut SimpleCommand,
        argv: &[Field],
        input: &Input,
        st: &ShellState,
        follow: &mut Vec<Follow>,
    ) {
        // `+o name` / `+O name` take a value too.
        let mut start = 1;
        while let Some(f) = argv.get(start) {
            if f.text == "+o" || f.text == "+O" {
                start += 2;
            } else if f.text.starts_with('+') && f.text.len() > 1 {
                start += 1;
            } else {
                break;
            }
        }
        let parsed = argv::parse_options(argv, start, &specs::SHELL_SPEC);
        cmd.flags.extend(parsed.flags.iter().cloned());
        let operands = &argv[parsed.rest.min(argv.len())..];
        if parsed.flags.contains("-c") {
            match operands.first() {
                None => {}
                Some(script) if script.dynamic => cmd.opaque_code = true,
                Some(script) => {
                    let mut positional: Vec<Field> = operands[1..].to_vec();
                    if positional.is_empty() {
                        positional.push(Field::literal(&cmd.program));
                    }
                    follow.push(Follow::Script {
                        text: script.text.clone(),
                        positional: Some(positional),
                        input: input.clone(),
                    });
                }
            }
            return;
        }
        if let Some(script) = operands.first()
            && !parsed.flags.contains("-s")
        {
            let places = self.access(script, st, FileOperation::Read, false, &cmd.program);
            cmd.runs_downloaded |= self.is_downloaded(&places);
            if let Some(text) = self.written_script(&places) {
                follow.push(Follow::Script {
                    text,
                    positional: Some(operands.to_vec()),
                    input: Input::none(),
                });
            }
            let from_stream = script.text.starts_with("/dev/fd/")
                || script.text == "/dev/stdin"
                || script.text == "-";
            if script.dynamic
                || (from_stream && (!cmd.substitution_programs.is_empty() || input.is_piped()))
            {
                cmd.opaque_code = true;
            }
            return;
        }
        // The shell reads its commands from standard input.
        if let Some(text) = &input.text {
            follow.push(Follow::Script {
                text: text.clone(),
                positional: Some(vec![Field::literal(&cmd.program)]),
                input: Input::none(),
            });
        } else if input.opaque || !input.programs.is_empty() {
            cmd.opaque_code = true;
        } else if !input.files.is_empty() {
            cmd.runs_downloaded |= self.is_downloaded(&input.files);
        }
    }

    pub(crate) fn python(
        &mut self,
        cmd: &mut SimpleCommand,
        argv: &[Field],
        input: &Input,
        follow: &mut Vec<Follow>,
    ) {
        let mut i = 1;
        while let Some(f) = argv.get(i) {
            let text = f.text.as_str();
            if f.dynamic || !text.starts_with('-') || text == "-" {
                break;
            }
            if text == "--" {
                i += 1;
                break;
            }
            if let Some(attached) = text.strip_prefix("-m") {
                let (module, next) = if attached.is_empty() {
                    (argv.get(i + 1).cloned(), i + 2)
                } else {
                    (Some(f.tail(2)), i + 1)
                };
                if let Some(module) = module {
                    let mut inner = vec![module];
                    inner.extend_from_slice(&argv[next.min(argv.len())..]);
                    cmd.wraps = true;
                    follow.push(Follow::Argv {
                        argv: inner,
                        input: input.clone(),
                        taint: cmd.substitution_programs.clone(),
                        wrapper: cmd.program.clone(),
                        cwd: None,
                    });
                }
                return;
            }
            if text.starts_with("-c") {
                return;
            }
            // Options with a separate value.
            if matches!(text, "-W" | "-X" | "-Q") {
                i += 1;
            }
            i += 1;
        }
        if let Some(script) = argv.get(i) {
            let places = self.resolve(script, &ShellState::new());
            cmd.runs_downloaded |= self.is_downloaded(&places);
        }
    }

    pub(crate) fn xargs(
        &mut self,
        cmd: &mut SimpleCommand,
        argv: &[Field],
        input: &Input,
        follow: &mut Vec<Follow>,
    ) {
        let spec = specs::spec_of("xargs");
        let (options, starts) = argv::wrapped_command_starts(argv, 1, &spec, 4);
        cmd.flags.extend(options.flags.iter().cloned());
        let replace: Option<String> = options
            .values_of(&["-I", "-i", "--replace"])
            .next()
            .map(|v| v.text.clone())
            .or_else(|| options.has(&["-i", "--replace"]).then(|| "{}".to_string()));
        let mut taint = cmd.substitution_programs.clone();
        taint.extend(input.programs.iter().cloned());
        let starts = if starts.is_empty() {
            vec![argv.len()]
        } else {
            starts
        };
        cmd.wraps = true;
        for start in starts {
            let mut inner: Vec<Field> = if start >= argv.len() {
                vec![Field::literal("echo")]
            } else {
                argv[start..].to_vec()
            };
            match &replace {
                Some(marker) if !marker.is_empty() => {
                    for field in inner.iter_mut().skip(1) {
                        if field.text.contains(marker.as_str()) {
                            *field = Field::unknown(&field.raw);
                        }
                    }
                }
                _ => inner.push(Field::unknown("<stdin>")),
            }
            follow.push(Follow::Argv {
                argv: inner,
                input: Input::none(),
                taint: taint.clone(),
                wrapper: "xargs".to_string(),
                cwd: None,
            });
        }
    }

    pub(crate) fn script_value(
        &mut self,
        cmd: &mut SimpleCommand,
        script: &Field,
        follow: &mut Vec<Follow>,
    ) {
        if script.dynamic {
            cmd.opaque_code = true;
        } else {
            follow.push(Follow::Script {
                text: script.text.clone(),
                positional: Some(vec![Field::literal("sh")]),
                input: Input::none(),
            });
        }
    }

    pub(crate) fn flock(
        &mut self,
        cmd: &mut SimpleCommand,
        argv: &[Field],
        input: &Input,
        follow: &mut Vec<Follow>,
    ) {
        let spec = OptionSpec {
            short_value: "wEc",
            short_flags: "sxunoFh",
            long_value: &["timeout", "conflict-exit-code", "command"],
            long_flags: &[
                "shared",
                "exclusive",
                "unlock",
                "nonblock",
                "close",
                "no-fork",
            ],
            stop_at_operand: true,
            ..OptionSpec::GENERIC
        };
        let parsed = argv::parse_options(argv, 1, &spec);
        for script in parsed.values_of(&["-c", "--command"]) {
            self.script_value(cmd, script, follow);
        }
        // `flock FILE -c CODE` or `flock FILE COMMAND...`.
        let after_lock = parsed.rest + 1;
        if let Some(next) = argv.get(after_lock) {
            if next.text == "-c" || next.text == "--command" {
                if let Some(code) = argv.get(after_lock + 1) {
                    self.script_value(cmd, code, follow);
                }
            } else {
                cmd.wraps = true;
                follow.push(Follow::Argv {
                    argv: argv[after_lock..].to_vec(),
                    input: input.clone(),
                    taint: cmd.substitution_programs.clone(),
                    wrapper: "flock".to_string(),
                    cwd: None,
                });
            }
        }
    }
}

/// Options of runners (`uv run`, `poetry run`): unknown, so every reading is kept.
pub(crate) fn runner_spec() -> OptionSpec {
    OptionSpec {
        short_value: "npC",
        long_value: &[
            "name",
            "prefix",
            "cwd",
            "with",
            "python",
            "package",
            "directory",
            "project",
            "env-file",
            "from",
            "spec",
        ],
        stop_at_operand: true,
        ..OptionSpec::GENERIC
    }
}

fn is_assignment(text: &str) -> bool {
    match text.split_once('=') {
        Some((name, _)) => {
            !name.is_empty()
                && !name.starts_with(|c: char| c.is_ascii_digit())
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        }
        None => false,
    }
}
