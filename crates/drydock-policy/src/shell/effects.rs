//! What a simple command does, program by program: wrappers and nested code are followed, file
//! effects and network uploads are recorded.

use std::collections::BTreeSet;

use super::argv::{self, OptionSpec, ParsedArgs};
use super::network::hosts_in;
use super::programs::{self};
use super::runners::runner_spec;
use super::specs;
use super::state::{Input, ShellState, Value};
use super::walk::{Analyzer, basename};
use super::word::Field;
use super::{AnalysisError, FileOperation, SimpleCommand};
use crate::paths::{self, HOME, Location};

/// Work a command hands on: another command or shell code.
pub(crate) enum Follow {
    /// Run `argv` (a wrapped command).
    Argv {
        argv: Vec<Field>,
        input: Input,
        taint: BTreeSet<String>,
        wrapper: String,
        cwd: Option<Value>,
    },
    /// Run shell code: in a child shell (`bash -c`, with positional parameters) or in this one
    /// (`eval`, `trap`).
    Script {
        text: String,
        positional: Option<Vec<Field>>,
        input: Input,
    },
}

impl Analyzer {
    /// Records what `argv` does and follows what it runs.
    pub(crate) fn analyze_argv(
        &mut self,
        argv: Vec<Field>,
        input: &Input,
        st: &mut ShellState,
        wrappers: &[String],
        depth: u32,
        taint: BTreeSet<String>,
    ) -> Result<(), AnalysisError> {
        self.check_budget()?;
        if depth > self.limits.max_depth {
            return Err(AnalysisError::Limit {
                message: format!(
                    "commands nest more than {} levels deep",
                    self.limits.max_depth
                ),
            });
        }
        let Some(name) = argv.first() else {
            return Ok(());
        };
        let dynamic_program = name.dynamic || name.has_glob();
        let path = name.shown();
        let program = if dynamic_program {
            String::new()
        } else {
            basename(&path)
        };
        if !dynamic_program
            && name.plain
            && let Some(value) = st.aliases.get(&program).cloned()
        {
            let rest: Vec<String> = argv[1..].iter().map(|f| f.raw.clone()).collect();
            let text = format!("{value} {}", rest.join(" "));
            // An alias is not expanded again inside its own expansion.
            let saved = st.aliases.remove(&program);
            let result = self.source(&text, st, input, depth + 1);
            if let Some(saved) = saved {
                st.aliases.insert(program, saved);
            }
            return result;
        }
        let family = programs::family(&program);
        let wrapper = programs::wrapper_of(&program);
        let spec = match &wrapper {
            Some(w) => w.spec,
            None => specs::spec_of(&family),
        };
        let parsed = argv::parse_options(&argv, 1, &spec);
        let subcommand = if spec.stop_at_operand {
            argv.get(parsed.rest).map(Field::shown).unwrap_or_default()
        } else {
            parsed
                .operands
                .first()
                .map(Field::shown)
                .unwrap_or_default()
        };
        let mut flags = parsed.flags.clone();
        if spec.stop_at_operand && wrapper.is_none() {
            // Options of the subcommand (`docker buildx build --push`).
            let rest = argv::parse_options(&argv, parsed.rest + 1, &OptionSpec::GENERIC);
            flags.extend(rest.flags);
        }
        let mut cmd = SimpleCommand {
            program: program.clone(),
            family: family.clone(),
            path,
            dynamic_program,
            args: argv[1..].iter().map(Field::display).collect(),
            subcommand,
            positionals: if spec.stop_at_operand {
                // Subcommand programs: every later word that is not an option.
                argv.iter()
                    .skip(parsed.rest)
                    .filter(|f| f.dynamic || !f.text.starts_with('-'))
                    .map(Field::shown)
                    .collect()
            } else {
                parsed.operands.iter().map(Field::shown).collect()
            },
            flags,
            dynamic_args: argv[1..].iter().any(|f| f.dynamic),
            wraps: false,
            wrappers: wrappers.to_vec(),
            depth,
            stdin_programs: input.programs.clone(),
            substitution_programs: taint.clone(),
            hosts: hosts_in(&argv, &family),
            ..SimpleCommand::default()
        };
        let mut pending_script: Option<String> = None;
        let mut pending_remote: Option<String> = None;
        let mut pending_script_follow: Vec<String> = Vec::new();
        if !dynamic_program
            && (name.text.starts_with("/dev/fd/")
                || name.text.starts_with("/proc/self/fd/")
                || name.text == "/dev/stdin")
        {
            // Running a file descriptor runs whatever was written into it.
            cmd.opaque_code = true;
        }
        if !dynamic_program && path_like_program(&name.text) {
            // `./install.sh` after `curl -o install.sh ...`.
            let places = self.resolve(name, st);
            cmd.runs_downloaded |= self.is_downloaded(&places);
            if let Some(text) = self.written_script(&places) {
                pending_script = Some(text);
            }
        }
        if matches!(family.as_str(), "ssh" | "slogin")
            && let Some(host) = argv.get(parsed.rest).filter(|f| !f.dynamic)
        {
            let host = host.text.rsplit('@').next().unwrap_or(&host.text);
            let host = super::network::normalise_host(host);
            // A command run over ssh on this very machine is a local command.
            let remote_command = &argv[(parsed.rest + 1).min(argv.len())..];
            if matches!(host.as_str(), "localhost" | "127.0.0.1" | "::1" | "0.0.0.0")
                && !remote_command.is_empty()
            {
                if remote_command.iter().any(|f| f.dynamic) {
                    cmd.opaque_code = true;
                } else {
                    let text: Vec<String> = remote_command.iter().map(|f| f.text.clone()).collect();
                    pending_remote = Some(text.join(" "));
                }
            }
            cmd.hosts.insert(host);
        }
        if let Some(text) = pending_remote {
            pending_script_follow.push(text);
        }
        let mut follow = Vec::new();
        for text in pending_script_follow {
            follow.push(Follow::Script {
                text,
                positional: Some(vec![Field::literal("sh")]),
                input: input.clone(),
            });
        }
        if let Some(text) = pending_script {
            follow.push(Follow::Script {
                text,
                positional: Some(argv.clone()),
                input: Input::none(),
            });
        }
        if !dynamic_program {
            self.semantics(&mut cmd, &argv, &parsed, input, st, depth, &mut follow)?;
        }
        self.references(&cmd, &argv, &parsed, st);
        if let Some(text) = printed_text(&cmd, &argv, input) {
            self.outputs.insert(self.out.commands.len(), text);
        }
        self.out.commands.push(cmd);
        for next in follow {
            match next {
                Follow::Argv {
                    argv,
                    input,
                    taint,
                    wrapper,
                    cwd,
                } => {
                    let mut chain = wrappers.to_vec();
                    chain.push(wrapper);
                    match cwd {
                        Some(dir) => {
                            let mut inner = st.clone();
                            inner.change_dir(dir);
                            self.analyze_argv(argv, &input, &mut inner, &chain, depth + 1, taint)?;
                        }
                        None => self.analyze_argv(argv, &input, st, &chain, depth + 1, taint)?,
                    }
                }
                Follow::Script {
                    text,
                    positional,
                    input,
                } => match positional {
                    Some(args) => {
                        let mut child = st.child();
                        child.set_positional(&args);
                        self.source(&text, &mut child, &input, depth + 1)?;
                    }
                    None => self.source(&text, st, &input, depth + 1)?,
                },
            }
        }
        Ok(())
    }

    /// Records reads of every operand and option value that looks like a path, so credential
    /// stores and places outside the workspace are seen whatever program names them.
    fn references(
        &mut self,
        cmd: &SimpleCommand,
        argv: &[Field],
        parsed: &ParsedArgs,
        st: &ShellState,
    ) {
        if matches!(
            cmd.program.as_str(),
            "echo" | "printf" | "true" | "false" | ":"
        ) {
            return;
        }
        let mut candidates: Vec<Field> = parsed.operands.clone();
        candidates.extend(parsed.values.iter().map(|(_, v)| v.clone()));
        for field in &argv[1..] {
            // `key=value` operands (dd, make) and `@file` data arguments.
            if let Some(pos) = field.text.find('=') {
                let skip = field.text[..pos].chars().count() + 1;
                candidates.push(field.tail(skip));
            }
            if field.text.starts_with('@') {
                candidates.push(field.tail(1));
            }
        }
        let cwd_is_workspace = st
            .cwds()
            .is_some_and(|c| c.iter().all(|d| d.starts_with(paths::WORKSPACE_ROOT)));
        for field in candidates {
            if field.text.is_empty() || field.text.contains("://") {
                continue;
            }
            if field.dynamic {
                // Where it points is unknown; only a credential-store shape is worth a facet.
                for place in self
                    .resolve(&field, st)
                    .into_iter()
                    .filter(|p| p.credential)
                {
                    self.record_access(super::FileAccess {
                        path: place,
                        operation: FileOperation::Read,
                        recursive: false,
                        program: cmd.program.clone(),
                    });
                }
                continue;
            }
            let looks_like_path = field.text.contains('/')
                || field.text.starts_with(['.', HOME])
                || !cwd_is_workspace;
            for place in self.resolve(&field, st) {
                let interesting = place.credential
                    || matches!(
                        place.location,
                        Location::Home | Location::System | Location::Device
                    )
                    || (looks_like_path && place.location != Location::Unknown);
                if interesting {
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

    #[allow(clippy::too_many_arguments)]
    fn semantics(
        &mut self,
        cmd: &mut SimpleCommand,
        argv: &[Field],
        parsed: &ParsedArgs,
        input: &Input,
        st: &mut ShellState,
        depth: u32,
        follow: &mut Vec<Follow>,
    ) -> Result<(), AnalysisError> {
        let program = cmd.program.clone();
        let family = cmd.family.clone();
        if let Some(wrapper) = programs::wrapper_of(&program) {
            self.wrapper(cmd, wrapper, argv, parsed, input, st, follow);
            return Ok(());
        }
        if programs::is_shell(&family) {
            self.shell(cmd, argv, input, st, follow);
            return Ok(());
        }
        let prog = program.as_str();
        match prog {
            "xargs" => self.xargs(cmd, argv, input, follow),
            "find" => self.find(cmd, argv, st, follow),
            _ if self.builtin(cmd, argv, parsed, input, st, follow) => {}
            "git" => self.git(cmd, argv, input, st, follow)?,
            _ if self.file_effects(cmd, argv, parsed, input, st, follow) => {}
            _ if self.network_effects(cmd, argv, parsed, input, st) => {}
            "flock" => self.flock(cmd, argv, input, follow),
            "python" | "pypy" => {}
            _ => {}
        }
        self.option_code(cmd, argv, parsed, input, st, follow);
        if matches!(family.as_str(), "python" | "pypy") {
            self.python(cmd, argv, input, follow);
        } else if matches!(
            family.as_str(),
            "node" | "nodejs" | "perl" | "ruby" | "php" | "lua" | "deno" | "bun" | "Rscript"
        ) && let Some(script) = parsed.operands.first()
        {
            let places = self.resolve(script, st);
            cmd.runs_downloaded |= self.is_downloaded(&places);
        }
        if programs::is_disk_tool(&program) {
            for field in &parsed.operands {
                self.access(field, st, FileOperation::Write, false, &program);
            }
        }
        if matches!(prog, "cargo" | "rustup") && cmd.subcommand.starts_with('+') {
            // `cargo +nightly publish`: the toolchain is not the subcommand.
            cmd.subcommand = argv
                .iter()
                .skip(parsed.rest + 1)
                .find(|f| !f.text.starts_with('-'))
                .map(Field::shown)
                .unwrap_or_default();
        }
        if (programs::runner_subcommand(prog, &cmd.subcommand)
            || (prog == "uv" && cmd.subcommand == "tool"))
            && depth < self.limits.max_depth
        {
            let subcommand_index = if specs::spec_of(&family).stop_at_operand {
                parsed.rest
            } else {
                parsed
                    .operand_indices
                    .first()
                    .copied()
                    .unwrap_or(argv.len())
            };
            let mut start = subcommand_index + 1;
            if prog == "uv" && cmd.subcommand == "tool" {
                start += 1;
            }
            if prog == "direnv" {
                start += 1;
            }
            let (_, starts) = argv::wrapped_command_starts(argv, start, &runner_spec(), 6);
            cmd.wraps = !starts.is_empty();
            for s in starts {
                follow.push(Follow::Argv {
                    argv: argv[s..].to_vec(),
                    input: input.clone(),
                    taint: cmd.substitution_programs.clone(),
                    wrapper: program.clone(),
                    cwd: None,
                });
            }
        }
        Ok(())
    }

    /// True when one of `places` was downloaded earlier in the line.
    pub(crate) fn is_downloaded(&self, places: &[paths::PathInfo]) -> bool {
        places.iter().any(|p| {
            self.downloads
                .iter()
                .any(|d| d.display == p.display || (d.glob && d.location == p.location))
        })
    }
}

/// A program named by a path (`./x`, `/tmp/x`, `bin/x`) rather than looked up in `PATH`.
fn path_like_program(text: &str) -> bool {
    text.contains('/')
}

/// What `echo`, `printf` or `cat` prints, when it is statically known.
fn printed_text(cmd: &SimpleCommand, argv: &[Field], input: &Input) -> Option<String> {
    if argv.iter().any(|f| f.dynamic) || !cmd.wrappers.is_empty() {
        return None;
    }
    let args: Vec<&str> = argv[1..].iter().map(|f| f.text.as_str()).collect();
    match cmd.program.as_str() {
        "echo" => {
            let mut newline = true;
            let mut escapes = false;
            let mut words = args.as_slice();
            while let Some((first, rest)) = words.split_first() {
                let is_option = first.len() > 1
                    && first.starts_with('-')
                    && first[1..].chars().all(|c| matches!(c, 'n' | 'e' | 'E'));
                if !is_option {
                    break;
                }
                newline &= !first.contains('n');
                escapes |= first.contains('e');
                words = rest;
            }
            let mut text = words.join(" ");
            if text.contains('\\') {
                if !escapes {
                    // Whether echo interprets it depends on shell options: unknown.
                    return None;
                }
                text = super::brace::decode_ansi_c(&text);
            }
            if newline {
                text.push('\n');
            }
            Some(text)
        }
        "printf" => {
            let [format] = args.as_slice() else {
                return None;
            };
            if format.replace("%%", "").contains('%') {
                return None;
            }
            Some(super::brace::decode_ansi_c(format).replace("%%", "%"))
        }
        "cat" if args.iter().all(|a| *a == "-") => input.text.clone(),
        _ => None,
    }
}
