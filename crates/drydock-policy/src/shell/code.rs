//! Code that hides outside the shell's own syntax: in options (`ssh -o ProxyCommand=`,
//! `rsync -e`, `git -c core.pager=`), in environment variables programs run (`GIT_PAGER`,
//! `EDITOR`), in scripts written and run in the same line, behind symlinks made in the same line,
//! and in interpreters' inline code.

use std::collections::BTreeSet;

use super::argv::{self, OptionSpec, ParsedArgs};
use super::effects::Follow;
use super::inline::Language;
use super::interpreters::{literal_path, option_values};
use super::sed;
use super::state::{Input, ShellState, Value};
use super::walk::Analyzer;
use super::word::Field;
use super::{AnalysisError, FileOperation, SimpleCommand};
use crate::paths::{self, Location, PathInfo, WORKSPACE_ROOT};

/// Environment variables whose value some program runs as a shell command.
pub(crate) const CODE_VARIABLES: &[&str] = &[
    "GIT_PAGER",
    "PAGER",
    "MANPAGER",
    "GIT_EDITOR",
    "EDITOR",
    "VISUAL",
    "GIT_SEQUENCE_EDITOR",
    "GIT_SSH_COMMAND",
    "GIT_SSH",
    "GIT_EXTERNAL_DIFF",
    "GIT_ASKPASS",
    "SSH_ASKPASS",
    "SUDO_ASKPASS",
    "GIT_PROXY_COMMAND",
    "PROMPT_COMMAND",
    "LESSOPEN",
    "LESSCLOSE",
    "RSYNC_RSH",
    "BROWSER",
    "FCEDIT",
    "CVS_RSH",
    "TAR_OPTIONS",
    "SYSTEMD_PAGER",
];

/// `git -c` keys whose value git runs as a shell command.
const GIT_CODE_KEYS: &[&str] = &[
    "core.pager",
    "core.editor",
    "core.sshcommand",
    "core.fsmonitor",
    "core.askpass",
    "core.gitproxy",
    "sequence.editor",
    "diff.external",
    "gpg.program",
    "gpg.ssh.program",
    "credential.helper",
    "uploadpack.packobjectshook",
    "interactive.difffilter",
    "sendemail.sendmailcmd",
    "web.browser",
];

impl Analyzer {
    /// A variable programs run as code was assigned: its value is checked as a command now.
    pub(crate) fn code_variable(
        &mut self,
        name: &str,
        value: &Value,
        st: &ShellState,
        depth: u32,
    ) -> Result<(), AnalysisError> {
        if !CODE_VARIABLES.contains(&name) {
            return Ok(());
        }
        match value {
            Value::Known(values) => {
                for text in values {
                    let mut child = st.child();
                    self.source(text, &mut child, &Input::none(), depth + 1)?;
                }
            }
            Value::Unknown(programs) => self.opaque_marker(name, programs, depth),
        }
        Ok(())
    }

    /// Records a command that runs code the analysis cannot see.
    pub(crate) fn opaque_marker(&mut self, what: &str, programs: &BTreeSet<String>, depth: u32) {
        self.out.commands.push(SimpleCommand {
            program: what.to_string(),
            family: what.to_string(),
            path: what.to_string(),
            opaque_code: true,
            depth,
            substitution_programs: programs.clone(),
            ..SimpleCommand::default()
        });
    }

    /// A `git -c key=value` setting: code-bearing keys are checked as commands.
    pub(crate) fn git_setting(
        &mut self,
        cmd: &mut SimpleCommand,
        setting: &Field,
        follow: &mut Vec<Follow>,
    ) {
        let Some((key, _)) = setting.text.split_once('=') else {
            return;
        };
        let key = key.to_ascii_lowercase();
        let code = GIT_CODE_KEYS.contains(&key.as_str())
            || key.starts_with("pager.")
            || (key.starts_with("filter.")
                && (key.ends_with(".clean")
                    || key.ends_with(".smudge")
                    || key.ends_with(".process")))
            || (key.starts_with("diff.")
                && (key.ends_with(".textconv") || key.ends_with(".command")))
            || (key.starts_with("merge.") && key.ends_with(".driver"));
        if !code {
            return;
        }
        let value = setting.tail(key.chars().count() + 1);
        let value_text = value.text.trim_start_matches('!').to_string();
        if value.dynamic {
            cmd.opaque_code = true;
        } else {
            follow.push(script(&value_text, Input::none()));
        }
    }

    /// Code in the options of programs that run a command given there.
    pub(crate) fn option_code(
        &mut self,
        cmd: &mut SimpleCommand,
        argv: &[Field],
        parsed: &ParsedArgs,
        input: &Input,
        st: &ShellState,
        follow: &mut Vec<Follow>,
    ) {
        let family = cmd.family.clone();
        let mut code: Vec<Field> = Vec::new();
        let mut programs: Vec<Field> = Vec::new();
        match family.as_str() {
            "ssh" | "scp" | "sftp" => {
                for option in parsed.values_of(&["-o"]) {
                    let text = option.text.replace('\t', " ");
                    let (key, value_at) = match text.find(['=', ' ']) {
                        Some(pos) => (text[..pos].to_ascii_lowercase(), pos + 1),
                        None => continue,
                    };
                    if matches!(
                        key.as_str(),
                        "proxycommand" | "localcommand" | "knownhostscommand"
                    ) {
                        code.push(option.tail(value_at));
                    }
                }
                if family == "scp" {
                    programs.extend(parsed.values_of(&["-S"]).cloned());
                }
            }
            "rsync" => code.extend(parsed.values_of(&["-e", "--rsh"]).cloned()),
            "zip" => code.extend(option_values(argv, &["-TT", "--unzip-command"])),
            "man" => code.extend(option_values(argv, &["-P", "--pager"])),
            "gdb" => {
                for value in option_values(
                    argv,
                    &[
                        "-ex",
                        "--ex",
                        "-eval-command",
                        "--eval-command",
                        "-iex",
                        "--init-eval-command",
                    ],
                ) {
                    let text = value.text.trim_start();
                    if let Some(rest) = text.strip_prefix("shell ").or(text.strip_prefix('!')) {
                        code.push(Field {
                            text: rest.to_string(),
                            ..value.clone()
                        });
                    } else if text.starts_with("python") || text.starts_with("pipe") {
                        cmd.opaque_code = true;
                    }
                }
            }
            "vi" | "vim" | "nvim" | "view" | "ex" | "gvim" | "vimdiff" | "rvim" => {
                let spec = OptionSpec {
                    short_value: "cTSiuUw",
                    long_value: &["cmd"],
                    ..OptionSpec::GENERIC
                };
                let reparsed = argv::parse_options(argv, 1, &spec);
                let mut commands: Vec<Field> = reparsed
                    .values_of(&["-c", "--cmd", "-S"])
                    .cloned()
                    .collect();
                for operand in &reparsed.operands {
                    if operand.text.starts_with('+') {
                        commands.push(operand.tail(1));
                    } else {
                        self.access(operand, st, FileOperation::Write, false, &cmd.program);
                    }
                }
                for command in commands {
                    let text = command.text.trim_start_matches([':', ' ']);
                    if let Some(rest) = text.strip_prefix('!') {
                        code.push(Field {
                            text: rest.to_string(),
                            ..command.clone()
                        });
                    } else if text.contains("system(") || text.contains('!') || command.dynamic {
                        cmd.opaque_code = true;
                    }
                }
            }
            "nano" | "emacs" | "ed" | "joe" | "micro" | "kak" | "hx" | "mcedit" | "pico" => {
                for operand in &parsed.operands {
                    if !operand.text.starts_with('+') {
                        self.access(operand, st, FileOperation::Write, false, &cmd.program);
                    }
                }
            }
            "parallel" => self.parallel(cmd, argv, input, follow),
            "sed" | "gsed" => self.sed_script(cmd, parsed, st, follow),
            _ => {}
        }
        for value in code {
            if value.dynamic {
                cmd.opaque_code = true;
            } else {
                follow.push(script(&value.text, Input::none()));
            }
        }
        for program in programs {
            follow.push(Follow::Argv {
                argv: vec![program],
                input: Input::none(),
                taint: BTreeSet::new(),
                wrapper: cmd.program.clone(),
                cwd: None,
            });
        }
        if let Some(language) = Language::of(&family) {
            self.inline_code(cmd, language, argv, input, st, follow);
        }
    }

    /// `parallel CMD ::: ARGS`: the command is shell code with `{}` replaced by each argument.
    fn parallel(
        &mut self,
        cmd: &mut SimpleCommand,
        argv: &[Field],
        input: &Input,
        follow: &mut Vec<Follow>,
    ) {
        let split = argv
            .iter()
            .position(|f| f.text == ":::" || f.text == "::::");
        let (command_words, args): (&[Field], Vec<Field>) = match split {
            Some(at) => (&argv[1..at], argv[at + 1..].to_vec()),
            None => (&argv[1..], vec![Field::unknown("<stdin>")]),
        };
        let words: Vec<&Field> = command_words
            .iter()
            .skip_while(|f| f.text.starts_with('-'))
            .collect();
        if words.iter().any(|f| f.dynamic) {
            cmd.opaque_code = true;
            return;
        }
        let template = words
            .iter()
            .map(|f| f.text.clone())
            .collect::<Vec<_>>()
            .join(" ");
        if template.is_empty() {
            // Without a command, parallel runs the lines of its input as commands.
            if split.is_none() && input.is_piped() {
                cmd.opaque_code = true;
            }
            return;
        }
        cmd.wraps = true;
        for arg in args {
            if arg.dynamic {
                let filled = if template.contains("{}") {
                    template.replace("{}", "\"$1\"")
                } else {
                    format!("{template} \"$1\"")
                };
                follow.push(Follow::Script {
                    text: filled,
                    positional: Some(vec![Field::literal("sh"), Field::unknown("<stdin>")]),
                    input: input.clone(),
                });
            } else {
                let quoted = format!("'{}'", arg.text.replace('\'', "'\\''"));
                let filled = if template.contains("{}") {
                    template.replace("{}", &quoted)
                } else {
                    format!("{template} {quoted}")
                };
                follow.push(script(&filled, input.clone()));
            }
        }
    }

    fn sed_script(
        &mut self,
        cmd: &mut SimpleCommand,
        parsed: &ParsedArgs,
        st: &ShellState,
        follow: &mut Vec<Follow>,
    ) {
        let mut scripts: Vec<&Field> = parsed.values_of(&["-e", "--expression"]).collect();
        if scripts.is_empty() && !parsed.has(&["-f", "--file"]) {
            scripts.extend(parsed.operands.first());
        }
        for field in scripts {
            if field.dynamic {
                cmd.opaque_code = true;
                continue;
            }
            let found = sed::scan_sed(&field.text);
            cmd.opaque_code |= found.opaque;
            for text in found.scripts {
                follow.push(script(&text, Input::none()));
            }
            for path in found.writes {
                self.access(&literal_path(&path), st, FileOperation::Write, false, "sed");
            }
            for path in found.reads {
                self.access(&literal_path(&path), st, FileOperation::Read, false, "sed");
            }
        }
    }

    /// Records what a command wrote to its standard output into `places`, when that is known,
    /// so a later `bash places` in the same line can be checked.
    pub(crate) fn remember_written(&mut self, command_index: usize, places: &[PathInfo]) {
        if let Some(text) = self.outputs.get(&command_index).cloned() {
            for place in places {
                self.written.insert(place.display.clone(), text.clone());
            }
        }
    }

    /// The content written earlier in the line to one of `places`, if known.
    pub(crate) fn written_script(&self, places: &[PathInfo]) -> Option<String> {
        places
            .iter()
            .find_map(|p| self.written.get(&p.display).cloned())
    }

    /// `ln [-s] TARGET LINK`: later paths through LINK reach TARGET.
    pub(crate) fn remember_link(&mut self, target: &Field, link: &Field, st: &ShellState) {
        if target.dynamic || link.dynamic {
            return;
        }
        for link_place in self.resolve(link, st) {
            if !matches!(link_place.location, Location::Workspace | Location::Scratch) {
                continue;
            }
            let link_abs = if link_place.location == Location::Workspace {
                format!("{WORKSPACE_ROOT}/{}", link_place.display)
            } else {
                link_place.display.clone()
            };
            let parent = link_abs
                .rsplit_once('/')
                .map_or("/", |(p, _)| if p.is_empty() { "/" } else { p });
            if let Some(target_abs) = paths::join_dir(parent, &target.text) {
                self.links.push((link_place.display.clone(), target_abs));
            }
        }
    }

    /// The places `places` also reach through links made earlier in the line.
    pub(crate) fn through_links(&self, places: &[PathInfo], st: &ShellState) -> Vec<PathInfo> {
        let mut extra = Vec::new();
        for place in places {
            for (link, target) in &self.links {
                let rest = if place.display == *link {
                    Some("")
                } else {
                    place.display.strip_prefix(&format!("{link}/"))
                };
                if let Some(rest) = rest {
                    let text = if rest.is_empty() {
                        target.clone()
                    } else {
                        format!("{target}/{rest}")
                    };
                    let cwd = st.cwds().and_then(|c| c.first().cloned());
                    extra.extend(paths::resolve(&text, &[], cwd.as_deref(), st.dotglob));
                }
            }
        }
        extra
    }
}

pub(crate) fn script(text: &str, input: Input) -> Follow {
    Follow::Script {
        text: text.to_string(),
        positional: Some(vec![Field::literal("sh")]),
        input,
    }
}
