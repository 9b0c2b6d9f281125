//! What file tools do to the files they name: delete, move, copy, link, write in place,
//! change modes, extract archives.

use super::argv::{self, ParsedArgs};
use super::effects::Follow;
use super::programs;
use super::specs;
use super::state::{Input, ShellState};
use super::walk::Analyzer;
use super::walk::basename;
use super::word::Field;
use super::{FileOperation, SimpleCommand};

impl Analyzer {
    /// File effects of `cmd`; false when it is not a file tool.
    pub(crate) fn file_effects(
        &mut self,
        cmd: &mut SimpleCommand,
        argv: &[Field],
        parsed: &ParsedArgs,
        input: &Input,
        st: &mut ShellState,
        follow: &mut Vec<Follow>,
    ) -> bool {
        let program = cmd.program.clone();
        let prog = program.as_str();
        match prog {
            "rm" | "rmdir" | "unlink" | "shred" | "srm" | "wipe" | "rimraf" | "del-cli"
            | "trash" | "trash-put" => {
                let recursive = matches!(prog, "rimraf" | "del-cli" | "trash" | "trash-put")
                    || (prog != "rmdir" && prog != "unlink" && cmd.flags.contains("-r"));
                for field in &parsed.operands {
                    self.access(field, st, FileOperation::Delete, recursive, prog);
                }
            }
            "mv" => {
                let (sources, dest) = split_destination(parsed);
                let mut downloaded = false;
                for field in &sources {
                    let places = self.access(field, st, FileOperation::Delete, true, prog);
                    downloaded |= self.is_downloaded(&places);
                }
                if let Some(dest) = dest {
                    let places = self.access(&dest, st, FileOperation::Write, true, prog);
                    // A downloaded file keeps being one when moved.
                    if downloaded {
                        self.downloads.extend(places);
                    }
                }
            }
            "cp" | "install" | "ln" | "link" => {
                let recursive = cmd.flags.contains("-r");
                if prog == "install" && cmd.flags.contains("-d") {
                    for field in &parsed.operands {
                        self.access(field, st, FileOperation::Write, false, prog);
                    }
                } else if prog == "ln" && parsed.operands.len() == 1 && !parsed.has(&["-t"]) {
                    let target = &parsed.operands[0];
                    let name = Field::literal(&basename(&target.text));
                    self.access(&name, st, FileOperation::Write, false, prog);
                    self.remember_link(target, &name, st);
                } else {
                    let (sources, dest) = split_destination(parsed);
                    let mut downloaded = false;
                    for field in &sources {
                        let places = self.access(field, st, FileOperation::Read, recursive, prog);
                        downloaded |= self.is_downloaded(&places);
                    }
                    if let Some(dest) = &dest {
                        let places = self.access(dest, st, FileOperation::Write, recursive, prog);
                        if downloaded {
                            self.downloads.extend(places);
                        }
                    }
                    if matches!(prog, "ln" | "link")
                        && let (Some(dest), [target]) = (&dest, sources.as_slice())
                    {
                        self.remember_link(target, dest, st);
                    }
                }
            }
            "tee" | "touch" | "mkdir" | "mkfifo" | "mknod" | "truncate" | "sponge" => {
                let downloaded = input
                    .programs
                    .iter()
                    .any(|p| programs::is_fetcher(&programs::family(p)));
                let operands: &[Field] = if prog == "mknod" {
                    &parsed.operands[..parsed.operands.len().min(1)]
                } else {
                    &parsed.operands
                };
                for field in operands {
                    let places = self.access(field, st, FileOperation::Write, false, prog);
                    if prog == "tee"
                        && let Some(text) = &input.text
                    {
                        for place in &places {
                            self.written.insert(place.display.clone(), text.clone());
                        }
                    }
                    if downloaded {
                        self.downloads.extend(places);
                    }
                }
            }
            "chmod" | "chown" | "chgrp" | "chattr" | "setfacl" | "chcon" => {
                let recursive = cmd.flags.contains("-R");
                let skip_first = matches!(prog, "chmod" | "chown" | "chgrp" | "chcon")
                    && !parsed.has(&["--reference"]);
                for (i, field) in parsed.operands.iter().enumerate() {
                    if (skip_first && i == 0)
                        || (prog == "chattr" && field.text.starts_with(['+', '=']))
                    {
                        continue;
                    }
                    self.access(field, st, FileOperation::Metadata, recursive, prog);
                }
            }
            "dd" => {
                for field in &argv[1..] {
                    if field.text.starts_with("of=") {
                        self.access(&field.tail(3), st, FileOperation::Write, false, prog);
                    } else if field.text.starts_with("if=") {
                        self.access(&field.tail(3), st, FileOperation::Read, false, prog);
                    }
                }
            }
            "sed" | "gsed" | "perl" | "ruby" => {
                if cmd.flags.contains("-i") || cmd.flags.contains("--in-place") {
                    let script_given = parsed.has(&["-e", "-f", "-E", "--expression", "--file"]);
                    let skip = usize::from(!script_given);
                    for field in parsed.operands.iter().skip(skip) {
                        self.access(field, st, FileOperation::Write, false, prog);
                    }
                }
            }
            "tar" | "bsdtar" | "gtar" => self.tar(cmd, argv, st, follow),
            "unzip" => {
                let dest = parsed
                    .values_of(&["-d"])
                    .next()
                    .cloned()
                    .unwrap_or_else(|| Field::literal("."));
                self.access(&dest, st, FileOperation::Write, true, prog);
            }
            "zip" => {
                if let Some(archive) = parsed.operands.first() {
                    self.access(archive, st, FileOperation::Write, false, prog);
                }
            }
            "rsync" | "scp" => {
                let (sources, dest) = split_destination(parsed);
                let remote = |f: &Field| is_remote_spec(&f.text);
                if let Some(dest) = &dest {
                    if !remote(dest) {
                        self.access(dest, st, FileOperation::Write, true, prog);
                        if cmd.flags.iter().any(|f| f.starts_with("--delete")) {
                            self.access(dest, st, FileOperation::Delete, true, prog);
                        }
                    } else if sources.iter().any(|s| !remote(s)) {
                        cmd.uploads_file = true;
                    }
                }
            }
            "patch" => {
                for value in parsed.values_of(&["-o", "--output"]) {
                    self.access(value, st, FileOperation::Write, false, prog);
                }
            }
            _ => return false,
        }
        true
    }

    pub(crate) fn tar(
        &mut self,
        cmd: &mut SimpleCommand,
        argv: &[Field],
        st: &ShellState,
        follow: &mut Vec<Follow>,
    ) {
        let spec = specs::spec_of("tar");
        // Old style: `tar xzf a.tgz` is `tar -xzf a.tgz`.
        let mut words = argv.to_vec();
        if let Some(first) = words.get(1)
            && !first.dynamic
            && !first.text.starts_with('-')
            && !first.text.is_empty()
            && first.text.chars().all(|c| c.is_ascii_alphabetic())
        {
            let mut text = String::from("-");
            text.push_str(&first.text);
            words[1] = Field::literal(&text);
        }
        let parsed = argv::parse_options(&words, 1, &spec);
        cmd.flags.extend(parsed.flags.iter().cloned());
        let extracting = parsed.flags.contains("-x");
        let creating = parsed.has(&["-c", "-r", "-u", "-A"]);
        if extracting {
            let dest = parsed
                .values_of(&["-C", "--directory"])
                .last()
                .cloned()
                .unwrap_or_else(|| Field::literal("."));
            self.access(&dest, st, FileOperation::Write, true, "tar");
        }
        if creating {
            for archive in parsed.values_of(&["-f", "--file"]) {
                if archive.text != "-" {
                    self.access(archive, st, FileOperation::Write, false, "tar");
                }
            }
        }
        for option in [
            "--to-command",
            "--use-compress-program",
            "-I",
            "--info-script",
            "-F",
            "--new-volume-script",
        ] {
            for script in parsed.values_of(&[option]) {
                self.script_value(cmd, script, follow);
            }
        }
        for action in parsed.values_of(&["--checkpoint-action"]) {
            if action.text.starts_with("exec=") {
                self.script_value(cmd, &action.tail(5), follow);
            }
        }
    }
}

/// `(sources, destination)` of cp/mv/ln/install/rsync/scp: `-t DIR` or the last operand.
fn split_destination(parsed: &ParsedArgs) -> (Vec<Field>, Option<Field>) {
    if let Some(dir) = parsed.values_of(&["-t", "--target-directory"]).next() {
        return (parsed.operands.clone(), Some(dir.clone()));
    }
    match parsed.operands.split_last() {
        Some((last, rest)) if !rest.is_empty() => (rest.to_vec(), Some(last.clone())),
        _ => (parsed.operands.clone(), None),
    }
}

/// `host:path` or `user@host:path` (scp and rsync syntax), or an rsync URL.
pub(crate) fn is_remote_spec(text: &str) -> bool {
    if text.contains("://") {
        return true;
    }
    match text.split_once(':') {
        Some((host, _)) => !host.is_empty() && !host.contains('/') && !text.starts_with(['/', '.']),
        None => false,
    }
}
