//! Network tools: what curl and wget download, read and upload, and the hosts commands name.

use std::collections::BTreeSet;

use super::argv::ParsedArgs;
use super::files::is_remote_spec;
use super::state::{Input, ShellState};
use super::walk::Analyzer;
use super::word::Field;
use super::{FileOperation, SimpleCommand};
use crate::paths::HOME;

impl Analyzer {
    /// Network effects of `cmd`; false when it is not a network tool.
    pub(crate) fn network_effects(
        &mut self,
        cmd: &mut SimpleCommand,
        argv: &[Field],
        parsed: &ParsedArgs,
        input: &Input,
        st: &mut ShellState,
    ) -> bool {
        let program = cmd.program.clone();
        let prog = program.as_str();
        match prog {
            "curl" => self.curl(cmd, parsed, st),
            "wget" => self.wget(cmd, parsed, st),
            "http" | "https" | "xh" | "xhs" => {
                for field in &parsed.operands {
                    if let Some((_, file)) = field.text.split_once('@')
                        && !file.is_empty()
                        && !field.text.contains("://")
                    {
                        cmd.uploads_file = true;
                    }
                }
            }
            "nc" | "ncat" | "netcat" | "telnet" => {
                if !input.files.is_empty() {
                    cmd.uploads_file = true;
                }
            }
            "socat" => {
                for field in &argv[1..] {
                    let lower = field.text.to_ascii_lowercase();
                    for kind in ["exec:", "system:"] {
                        if lower.contains(kind) {
                            cmd.flags.insert(kind.to_string());
                        }
                    }
                    if lower.starts_with("open:") || lower.starts_with("file:") {
                        cmd.uploads_file = true;
                    }
                }
            }
            _ => return false,
        }
        true
    }

    pub(crate) fn curl(&mut self, cmd: &mut SimpleCommand, parsed: &ParsedArgs, st: &ShellState) {
        for out in parsed.values_of(&["-o", "--output"]) {
            if out.text != "-" {
                let places = self.access(out, st, FileOperation::Write, false, "curl");
                self.downloads.extend(places);
            }
        }
        if parsed.has(&["-O", "--remote-name", "--remote-name-all"]) {
            let dir = parsed
                .values_of(&["--output-dir"])
                .next()
                .map(|d| d.text.clone());
            for url in parsed.operands.iter().chain(parsed.values_of(&["--url"])) {
                let name = url_file_name(&url.text);
                let path = match &dir {
                    Some(d) => format!("{d}/{name}"),
                    None => name,
                };
                let places = self.access(
                    &Field::literal(&path),
                    st,
                    FileOperation::Write,
                    false,
                    "curl",
                );
                self.downloads.extend(places);
            }
        }
        for written in parsed.values_of(&[
            "-D",
            "--dump-header",
            "-c",
            "--cookie-jar",
            "--trace",
            "--trace-ascii",
            "--stderr",
            "--libcurl",
        ]) {
            if written.text != "-" {
                self.access(written, st, FileOperation::Write, false, "curl");
            }
        }
        if parsed.has(&["-n", "--netrc", "--netrc-optional"]) {
            let netrc = Field::literal(&format!("{HOME}/.netrc"));
            self.access(&netrc, st, FileOperation::Read, false, "curl");
        }
        for (option, value) in &parsed.values {
            let data = matches!(
                option.as_str(),
                "-d" | "--data" | "--data-ascii" | "--data-binary" | "--data-urlencode" | "--json"
            );
            let form = matches!(option.as_str(), "-F" | "--form");
            let upload = matches!(option.as_str(), "-T" | "--upload-file");
            let file = if upload {
                Some(value.clone())
            } else if data {
                value
                    .text
                    .find('@')
                    .filter(|&at| {
                        option != "--data-urlencode" || at == 0 || !value.text[..at].contains('=')
                    })
                    .map(|at| value.tail(value.text[..at].chars().count() + 1))
            } else if form {
                value
                    .text
                    .find(['@', '<'])
                    .map(|at| value.tail(value.text[..at].chars().count() + 1))
            } else {
                None
            };
            if let Some(file) = file {
                cmd.uploads_file = true;
                let file_text = file.text.split(';').next().unwrap_or("").to_string();
                if file_text != "-" && file_text != "." && !file_text.is_empty() {
                    let mut trimmed = file.clone();
                    trimmed.text = file_text;
                    trimmed.glob.truncate(trimmed.text.chars().count());
                    self.access(&trimmed, st, FileOperation::Read, false, "curl");
                }
            }
        }
    }

    pub(crate) fn wget(&mut self, cmd: &mut SimpleCommand, parsed: &ParsedArgs, st: &ShellState) {
        let mut explicit_output = false;
        for out in parsed.values_of(&["-O", "--output-document"]) {
            explicit_output = true;
            if out.text != "-" {
                let places = self.access(out, st, FileOperation::Write, false, "wget");
                self.downloads.extend(places);
            }
        }
        if !explicit_output {
            let dir = parsed
                .values_of(&["-P", "--directory-prefix"])
                .next()
                .map(|d| d.text.clone());
            for url in &parsed.operands {
                let name = url_file_name(&url.text);
                let path = match &dir {
                    Some(d) => format!("{d}/{name}"),
                    None => name,
                };
                let places = self.access(
                    &Field::literal(&path),
                    st,
                    FileOperation::Write,
                    false,
                    "wget",
                );
                self.downloads.extend(places);
            }
        }
        for log in parsed.values_of(&["-o", "--output-file", "-a", "--append-output"]) {
            self.access(log, st, FileOperation::Write, false, "wget");
        }
        for file in parsed.values_of(&["--post-file", "--body-file"]) {
            cmd.uploads_file = true;
            self.access(file, st, FileOperation::Read, false, "wget");
        }
    }
}

/// The file name a download of `url` is saved as.
fn url_file_name(url: &str) -> String {
    let path = url
        .split(['?', '#'])
        .next()
        .unwrap_or(url)
        .split("://")
        .last()
        .unwrap_or(url);
    let name = path.rsplit('/').next().unwrap_or("");
    if name.is_empty() || !path.contains('/') {
        "index.html".to_string()
    } else {
        name.to_string()
    }
}

/// Hosts named by URLs and remote specs in the arguments, normalised the way a browser (and the
/// egress proxy) would: `http://2852039166/` names `169.254.169.254`.
pub(crate) fn hosts_in(argv: &[Field], family: &str) -> BTreeSet<String> {
    let mut hosts = BTreeSet::new();
    for field in argv.iter().skip(1) {
        if field.dynamic {
            continue;
        }
        let candidate = if let Some(pos) = field.text.find("://") {
            let start = field.text[..pos]
                .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '+' || c == '-' || c == '.'))
                .map_or(0, |p| p + 1);
            Some(field.text[start..].to_string())
        } else {
            None
        };
        if let Some(candidate) = candidate {
            if let Ok(url) = url::Url::parse(&candidate)
                && let Some(host) = url.host_str()
            {
                hosts.insert(host.trim_matches(['[', ']']).to_ascii_lowercase());
            }
            continue;
        }
        if matches!(family, "ssh" | "scp" | "sftp" | "rsync" | "git") && is_remote_spec(&field.text)
        {
            let host = field.text.split(':').next().unwrap_or("");
            let host = host.rsplit('@').next().unwrap_or(host);
            if !host.is_empty() {
                hosts.insert(normalise_host(host));
            }
        }
        if matches!(family, "nc" | "ncat" | "netcat" | "telnet") && !field.text.starts_with('-') {
            if field.text.chars().all(|c| c.is_ascii_digit()) {
                continue;
            }
            hosts.insert(normalise_host(&field.text));
        }
        if family == "socat" {
            let lower = field.text.to_ascii_lowercase();
            for prefix in ["tcp:", "tcp4:", "tcp6:", "udp:", "openssl:", "ssl:"] {
                if let Some(rest) = lower.strip_prefix(prefix) {
                    let host = rest.split([':', ',']).next().unwrap_or("");
                    hosts.insert(normalise_host(host));
                }
            }
        }
    }
    hosts
}

/// A host name or address as the proxy resolves it.
pub(crate) fn normalise_host(host: &str) -> String {
    let trimmed = host.trim_matches(['[', ']']);
    match url::Url::parse(&format!("http://{}/", bracket_ipv6(trimmed))) {
        Ok(url) => url
            .host_str()
            .map(|h| h.trim_matches(['[', ']']).to_ascii_lowercase())
            .unwrap_or_else(|| trimmed.to_ascii_lowercase()),
        Err(_) => trimmed.to_ascii_lowercase(),
    }
}

fn bracket_ipv6(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}
