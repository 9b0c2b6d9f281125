//! `git`: global options, aliases given with `-c`, pushes and their refspecs, writes to the
//! repository's configuration, local ref rewrites.

use super::argv::{self, OptionSpec};
use super::effects::Follow;
use super::specs;
use super::state::{Input, ShellState};
use super::walk::Analyzer;
use super::word::Field;
use super::{AnalysisError, FileOperation, PushIntent, SimpleCommand};
use crate::paths::HOME;

/// `git push` options.
const PUSH_SPEC: OptionSpec = OptionSpec {
    short_value: "o",
    short_optional: "",
    short_flags: "fdunqv46",
    long_value: &["repo", "receive-pack", "exec", "push-option"],
    long_flags: &[
        "force",
        "force-with-lease",
        "force-if-includes",
        "delete",
        "all",
        "branches",
        "mirror",
        "tags",
        "prune",
        "set-upstream",
        "dry-run",
        "porcelain",
        "atomic",
        "follow-tags",
        "no-verify",
        "verify",
        "thin",
        "no-thin",
        "progress",
        "quiet",
        "verbose",
        "signed",
        "no-signed",
        "recurse-submodules",
        "no-recurse-submodules",
        "ipv4",
        "ipv6",
        "no-force-with-lease",
        "no-force-if-includes",
    ],
    aliases: &[
        ("-f", "--force"),
        ("-d", "--delete"),
        ("-u", "--set-upstream"),
        ("--force-with-lease", "--force"),
        ("--force-if-includes", "--force"),
    ],
    stop_at_operand: false,
};

/// Options of subcommands whose operands are parsed here.
const SUBCOMMAND_SPEC: OptionSpec = OptionSpec {
    short_value: "mFtbBcCe",
    long_value: &["message", "file", "track", "set-upstream-to", "file"],
    ..OptionSpec::GENERIC
};

impl Analyzer {
    pub(crate) fn git(
        &mut self,
        cmd: &mut SimpleCommand,
        argv: &[Field],
        input: &Input,
        st: &mut ShellState,
        follow: &mut Vec<Follow>,
    ) -> Result<(), AnalysisError> {
        let global = argv::parse_options(argv, 1, &specs::spec_of("git"));
        // `git -C dir` runs in dir.
        let mut git_state = st.clone();
        for dir in global.values_of(&["-C"]) {
            let value = self.dir_value(dir, &git_state);
            git_state.change_dir(value);
        }
        let Some(sub_field) = argv.get(global.rest) else {
            return Ok(());
        };
        if sub_field.dynamic {
            // An unknown subcommand may be a push.
            self.out.pushes.push(unknown_push(""));
            cmd.opaque_code = true;
            return Ok(());
        }
        let sub = sub_field.text.clone();
        cmd.subcommand = sub.clone();
        let args = &argv[global.rest + 1..];
        for setting in global.values_of(&["-c"]) {
            self.git_setting(cmd, setting, follow);
        }
        // `git -c alias.x='push --force' x`
        for setting in global.values_of(&["-c"]) {
            let Some((key, value)) = setting.text.split_once('=') else {
                continue;
            };
            if !key.eq_ignore_ascii_case(&format!("alias.{sub}")) {
                continue;
            }
            if setting.dynamic {
                cmd.opaque_code = true;
                continue;
            }
            if let Some(shell) = value.strip_prefix('!') {
                let rest: Vec<String> = args.iter().map(|f| f.raw.clone()).collect();
                follow.push(Follow::Script {
                    text: format!("{shell} {}", rest.join(" ")),
                    positional: None,
                    input: input.clone(),
                });
            } else {
                let mut expanded = vec![Field::literal("git")];
                expanded.extend(value.split_whitespace().map(Field::literal));
                expanded.extend_from_slice(args);
                follow.push(Follow::Argv {
                    argv: expanded,
                    input: input.clone(),
                    taint: cmd.substitution_programs.clone(),
                    wrapper: "git".to_string(),
                    cwd: None,
                });
            }
            return Ok(());
        }
        let parsed = argv::parse_options(args, 0, &SUBCOMMAND_SPEC);
        cmd.flags.extend(parsed.flags.iter().cloned());
        cmd.positionals = parsed.operands.iter().map(Field::shown).collect();
        self.git_subcommand_code(cmd, &sub, args, input, follow);
        match sub.as_str() {
            "push" | "send-pack" | "http-push" => {
                let pushes = parse_push(args, sub != "push");
                for push in &pushes {
                    if push.force {
                        cmd.flags.insert("--force".to_string());
                    }
                }
                self.out.pushes.extend(pushes);
            }
            "config" => {
                if let Some(target) = config_write_target(args) {
                    self.access(&target, &git_state, FileOperation::Write, false, "git");
                }
            }
            "remote" | "submodule" | "worktree" => {
                let writes = parsed.operands.first().is_some_and(|f| {
                    matches!(
                        f.text.as_str(),
                        "add"
                            | "set-url"
                            | "remove"
                            | "rm"
                            | "rename"
                            | "set-head"
                            | "set-branches"
                            | "init"
                            | "deinit"
                            | "sync"
                            | "prune"
                            | "move"
                    )
                });
                if writes {
                    let config = Field::literal(".git/config");
                    self.access(&config, &git_state, FileOperation::Write, false, "git");
                }
            }
            "init" => {
                let dir = parsed
                    .operands
                    .first()
                    .map(|f| f.text.clone())
                    .unwrap_or_else(|| ".".to_string());
                let git_dir = Field::literal(&format!("{}/.git", dir.trim_end_matches('/')));
                self.access(&git_dir, &git_state, FileOperation::Write, true, "git");
            }
            "clone" => {
                if let Some(dest) = parsed.operands.get(1) {
                    self.access(dest, &git_state, FileOperation::Write, true, "git");
                }
            }
            "update-ref" => {
                let mut operands = parsed.operands.iter();
                if parsed.flags.contains("--stdin") {
                    cmd.refs_updated.insert("*".to_string());
                } else if let Some(reference) = operands.next() {
                    cmd.refs_updated.insert(short_ref(&reference.shown()));
                }
            }
            "branch" => {
                let has = |flags: &[&str]| flags.iter().any(|f| parsed.flags.contains(*f));
                let names: Vec<String> = parsed
                    .operands
                    .iter()
                    .map(|f| short_ref(&f.shown()))
                    .collect();
                // Deleting a local branch rewrites nothing anyone else sees; moving one over
                // another (`-f`, `-M`, `-C`) does.
                let deleting = has(&["-d", "-D", "--delete"]);
                if has(&["-m", "-M", "--move", "-c", "-C", "--copy"]) {
                    cmd.refs_updated.extend(names);
                } else if has(&["-f", "--force"]) && !deleting {
                    // `branch -f NAME [START]`: only NAME moves.
                    cmd.refs_updated.extend(names.into_iter().take(1));
                }
            }
            "checkout" | "switch" => {
                for name in parsed.values_of(&["-B", "-C"]) {
                    cmd.refs_updated.insert(short_ref(&name.shown()));
                }
            }
            "filter-branch" | "filter-repo" => {
                cmd.refs_updated.insert("*".to_string());
            }
            _ => {}
        }
        Ok(())
    }
}

impl Analyzer {
    /// Options of git subcommands that run commands: `--upload-pack`, `--receive-pack`,
    /// `rebase --exec`, `difftool --extcmd`, `submodule foreach`, `bisect run`.
    fn git_subcommand_code(
        &mut self,
        cmd: &mut SimpleCommand,
        sub: &str,
        args: &[Field],
        input: &Input,
        follow: &mut Vec<Follow>,
    ) {
        let names: &[&str] = match sub {
            "clone" => &["--upload-pack", "-u"],
            "fetch" | "pull" | "ls-remote" | "fetch-pack" => &["--upload-pack"],
            "archive" => &["--exec"],
            "push" | "send-pack" => &["--receive-pack", "--exec"],
            "rebase" => &["--exec", "-x"],
            "difftool" => &["--extcmd", "-x"],
            _ => &[],
        };
        let mut code: Vec<Field> = Vec::new();
        let mut i = 0;
        while i < args.len() {
            let text = args[i].text.as_str();
            if names.contains(&text) {
                code.extend(args.get(i + 1).cloned());
                i += 2;
                continue;
            }
            if let Some((name, _)) = text.split_once('=')
                && names.contains(&name)
            {
                code.push(args[i].tail(name.chars().count() + 1));
            } else if let Some(short) = names
                .iter()
                .find(|n| n.len() == 2 && text.len() > 2 && text.starts_with(**n))
            {
                code.push(args[i].tail(short.len()));
            }
            i += 1;
        }
        if sub == "submodule" && args.first().is_some_and(|f| f.text == "foreach") {
            let words: Vec<&Field> = args[1..]
                .iter()
                .skip_while(|f| f.text.starts_with('-'))
                .collect();
            let text = words
                .iter()
                .map(|f| f.text.clone())
                .collect::<Vec<_>>()
                .join(" ");
            if words.iter().any(|f| f.dynamic) {
                cmd.opaque_code = true;
            } else if !text.is_empty() {
                code.push(Field::literal(&text));
            }
        }
        if sub == "bisect" && args.first().is_some_and(|f| f.text == "run") && args.len() > 1 {
            follow.push(Follow::Argv {
                argv: args[1..].to_vec(),
                input: input.clone(),
                taint: cmd.substitution_programs.clone(),
                wrapper: "git".to_string(),
                cwd: None,
            });
        }
        for value in code {
            if value.dynamic {
                cmd.opaque_code = true;
            } else {
                follow.push(Follow::Script {
                    text: value.text.clone(),
                    positional: Some(vec![Field::literal("sh")]),
                    input: Input::none(),
                });
            }
        }
    }
}

fn unknown_push(remote: &str) -> PushIntent {
    PushIntent {
        remote: remote.to_string(),
        remote_is_url: false,
        source: String::new(),
        destination: None,
        force: false,
        delete: false,
        all_refs: false,
    }
}

/// `refs/heads/main` → `main`; other refs stay whole.
fn short_ref(name: &str) -> String {
    name.strip_prefix("refs/heads/").unwrap_or(name).to_string()
}

/// A remote given as a URL or a path rather than a configured name.
fn is_url_remote(remote: &str) -> bool {
    remote.contains("://")
        || remote.starts_with(['/', '.', '~', HOME])
        || remote.contains('@')
        || remote
            .split_once(':')
            .is_some_and(|(host, _)| !host.is_empty() && !host.contains('/'))
}

/// The destinations of `git push ARGS` (`low_level` for `send-pack`/`http-push`, whose
/// refspecs are never trusted).
pub(crate) fn parse_push(args: &[Field], low_level: bool) -> Vec<PushIntent> {
    let parsed = argv::parse_options(args, 0, &PUSH_SPEC);
    let force = parsed.has(&["--force"]);
    let delete = parsed.has(&["--delete"]);
    let all_refs = parsed.has(&["--all", "--branches", "--mirror", "--tags", "--prune"]);
    let mut operands = parsed.operands.iter();
    let remote_field = parsed
        .values_of(&["--repo"])
        .next()
        .cloned()
        .or_else(|| operands.next().cloned());
    let (remote, remote_is_url) = match &remote_field {
        None => (String::new(), false),
        Some(f) if f.dynamic => (f.display(), true),
        Some(f) => (f.shown(), is_url_remote(&f.text)),
    };
    let refspecs: Vec<&Field> = operands.collect();
    let base = PushIntent {
        remote: remote.clone(),
        remote_is_url,
        source: String::new(),
        destination: None,
        force,
        delete,
        all_refs,
    };
    if refspecs.is_empty() || low_level {
        return vec![base];
    }
    let mut out = Vec::new();
    let mut iter = refspecs.into_iter().peekable();
    while let Some(field) = iter.next() {
        if field.dynamic {
            out.push(PushIntent {
                source: field.display(),
                ..base.clone()
            });
            continue;
        }
        // `git push origin tag v1` pushes refs/tags/v1.
        if field.text == "tag"
            && let Some(name) = iter.next()
        {
            out.push(PushIntent {
                source: name.shown(),
                destination: (!name.dynamic).then(|| format!("refs/tags/{}", name.text)),
                ..base.clone()
            });
            continue;
        }
        let mut intent = refspec_intent(&field.text, &base);
        if delete {
            intent.destination = Some(short_ref(&field.text));
            intent.delete = true;
        }
        if let Some(intent) = Some(intent).filter(|i| !i.source.starts_with('^')) {
            out.push(intent);
        }
    }
    if out.is_empty() {
        out.push(base);
    }
    out
}

/// One refspec: `[+]src[:dst]`.
pub(crate) fn refspec_intent(text: &str, base: &PushIntent) -> PushIntent {
    let (forced, spec) = match text.strip_prefix('+') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (source, destination) = match spec.split_once(':') {
        Some((src, dst)) => (src.to_string(), dst.to_string()),
        None => (spec.to_string(), spec.to_string()),
    };
    let glob = spec.contains('*');
    let unresolved = destination.is_empty()
        || matches!(destination.as_str(), "HEAD" | "@")
        || destination.starts_with("HEAD~")
        || destination.starts_with("HEAD^")
        || destination.starts_with("@{");
    let delete = source.is_empty() && !destination.is_empty();
    PushIntent {
        source,
        destination: (!unresolved || delete).then(|| short_ref(&destination)),
        force: base.force || forced,
        delete: base.delete || delete,
        all_refs: base.all_refs || glob,
        ..base.clone()
    }
}

/// Where `git config ARGS` writes, if it writes.
fn config_write_target(args: &[Field]) -> Option<Field> {
    let spec = OptionSpec {
        short_value: "f",
        long_value: &["file", "type", "blob", "default", "comment", "value", "url"],
        ..OptionSpec::GENERIC
    };
    let parsed = argv::parse_options(args, 0, &spec);
    let read_only = parsed.has(&[
        "--get",
        "--get-all",
        "--get-regexp",
        "--get-urlmatch",
        "--get-color",
        "--get-colorbool",
        "--list",
        "-l",
        "--show-origin",
        "--show-scope",
        "--name-only",
    ]);
    let first = parsed.operands.first().map(|f| f.text.as_str());
    let writes_by_subcommand = matches!(
        first,
        Some("set" | "unset" | "edit" | "rename-section" | "remove-section")
    );
    let reads_by_subcommand = matches!(first, Some("get" | "list"));
    let writes_by_option = parsed.has(&[
        "--add",
        "--unset",
        "--unset-all",
        "--replace-all",
        "--rename-section",
        "--remove-section",
        "--edit",
        "-e",
    ]);
    let writes = writes_by_subcommand
        || writes_by_option
        || (!read_only && !reads_by_subcommand && parsed.operands.len() >= 2)
        || parsed.dynamic;
    if !writes {
        return None;
    }
    if let Some(file) = parsed.values_of(&["-f", "--file"]).next() {
        return Some(file.clone());
    }
    Some(if parsed.has(&["--global"]) {
        Field::literal(&format!("{HOME}/.gitconfig"))
    } else if parsed.has(&["--system"]) {
        Field::literal("/etc/gitconfig")
    } else {
        Field::literal(".git/config")
    })
}
