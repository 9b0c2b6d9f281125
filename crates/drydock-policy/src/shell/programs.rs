//! What the analysis knows about programs: option syntax, wrappers, interpreters.

use super::argv::OptionSpec;

/// How a wrapper finds the command it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WrapperKind {
    /// Options, then the command.
    Plain,
    /// Options, one operand (a duration, a directory, a user, a lock file), then the command.
    OperandThenCommand,
    /// Options, `NAME=VALUE` operands, then the command (`env`, `sudo`).
    Assignments,
}

/// A program that runs another program given in its arguments.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Wrapper {
    pub spec: OptionSpec,
    pub kind: WrapperKind,
    /// Options whose value is shell code (`su -c`, `flock -c`, `npx -c`).
    pub script_options: &'static [&'static str],
    /// Options after which nothing is run (`command -v`, `taskset -p`).
    pub no_command_options: &'static [&'static str],
}

const fn wrapper(spec: OptionSpec, kind: WrapperKind) -> Wrapper {
    Wrapper {
        spec,
        kind,
        script_options: &[],
        no_command_options: &[],
    }
}

const fn spec(
    short_value: &'static str,
    short_flags: &'static str,
    long_value: &'static [&'static str],
    long_flags: &'static [&'static str],
) -> OptionSpec {
    OptionSpec {
        short_value,
        short_optional: "",
        short_flags,
        long_value,
        long_flags,
        aliases: &[],
        stop_at_operand: true,
    }
}

/// The wrapper definition of `program`, if it is one.
pub(crate) fn wrapper_of(program: &str) -> Option<Wrapper> {
    use WrapperKind::*;
    let w = match program {
        "sudo" => Wrapper {
            no_command_options: &["-l", "--list", "-v", "--validate", "-k", "-K", "-V", "-h"],
            ..wrapper(
                spec(
                    "ugCDpRrtTU",
                    "AbEeHiKklnPSsVv",
                    &[
                        "user",
                        "group",
                        "close-from",
                        "chdir",
                        "host",
                        "prompt",
                        "chroot",
                        "role",
                        "type",
                        "command-timeout",
                        "other-user",
                    ],
                    &[
                        "askpass",
                        "background",
                        "preserve-env",
                        "edit",
                        "set-home",
                        "login",
                        "remove-timestamp",
                        "reset-timestamp",
                        "list",
                        "non-interactive",
                        "preserve-groups",
                        "stdin",
                        "shell",
                        "validate",
                        "version",
                        "help",
                    ],
                ),
                Assignments,
            )
        },
        "doas" => wrapper(spec("uC", "nLs", &[], &[]), Plain),
        "env" => wrapper(
            spec(
                "uCS",
                "i0v",
                &["unset", "chdir", "split-string"],
                &[
                    "ignore-environment",
                    "null",
                    "debug",
                    "default-signal",
                    "ignore-signal",
                    "block-signal",
                    "list-signal-handling",
                ],
            ),
            Assignments,
        ),
        "nice" => wrapper(spec("n", "0123456789", &["adjustment"], &[]), Plain),
        "ionice" => Wrapper {
            no_command_options: &["-p", "-P", "-u"],
            ..wrapper(
                spec(
                    "cnpPu",
                    "t",
                    &["class", "classdata", "pid", "pgid", "uid"],
                    &[],
                ),
                Plain,
            )
        },
        "timeout" => wrapper(
            spec(
                "ks",
                "v",
                &["kill-after", "signal"],
                &["preserve-status", "foreground", "verbose"],
            ),
            OperandThenCommand,
        ),
        "nohup" | "coproc" | "builtin" | "catchsegv" | "unbuffer" | "caffeinate" | "dumb-init"
        | "tini" | "setpriv" | "firejail" | "systemd-run" | "prlimit" | "valgrind" | "ltrace"
        | "dbus-run-session" | "torsocks" | "with-contenv" | "busybox" | "toybox"
        | "proxychains" | "proxychains4" | "eatmydata" | "fakechroot" => {
            wrapper(spec("", "", &[], &[]), Plain)
        }
        "setsid" => wrapper(spec("", "cfw", &[], &["ctty", "fork", "wait"]), Plain),
        "stdbuf" => wrapper(spec("ioe", "", &["input", "output", "error"], &[]), Plain),
        "time" => wrapper(
            spec(
                "fo",
                "apqv",
                &["format", "output"],
                &["append", "portability", "quiet", "verbose"],
            ),
            // The `time` keyword times a whole simple command, prefix assignments included.
            Assignments,
        ),
        "command" => Wrapper {
            no_command_options: &["-v", "-V"],
            ..wrapper(spec("", "pvV", &[], &[]), Plain)
        },
        "exec" => wrapper(spec("a", "cl", &[], &[]), Plain),
        "chroot" => wrapper(
            spec("", "", &["userspec", "groups"], &["skip-chdir"]),
            OperandThenCommand,
        ),
        "gosu" | "su-exec" => wrapper(spec("", "", &[], &[]), OperandThenCommand),
        "sg" => Wrapper {
            script_options: &["-c"],
            ..wrapper(spec("c", "", &[], &[]), OperandThenCommand)
        },
        "fakeroot" => wrapper(
            spec("lsib", "uvh", &["lib", "faked"], &["unknown-is-real"]),
            Plain,
        ),
        "chpst" => wrapper(spec("uUenlLmdopfcrt", "vP012", &[], &[]), Plain),
        "unshare" => wrapper(spec("SGRw", "mupinUCTrfcl", &[], &[]), Plain),
        "nsenter" => wrapper(spec("tSG", "mupinUCTFZa", &["target"], &[]), Plain),
        "taskset" => Wrapper {
            no_command_options: &["-p", "--pid"],
            ..wrapper(
                spec("", "acp", &[], &["all-tasks", "cpu-list", "pid"]),
                OperandThenCommand,
            )
        },
        "numactl" => wrapper(
            spec(
                "imNCpPw",
                "lsHa",
                &[
                    "interleave",
                    "membind",
                    "cpunodebind",
                    "physcpubind",
                    "preferred",
                ],
                &["localalloc", "show", "hardware", "all"],
            ),
            Plain,
        ),
        "chrt" => wrapper(spec("T", "abdfiopRmrv", &[], &[]), OperandThenCommand),
        "strace" => wrapper(
            spec("oepsSEIbaPUXu", "cCdDfFhiknqrtTvVwxyzZ", &["output"], &[]),
            Plain,
        ),
        "watch" => wrapper(
            spec(
                "nd",
                "bcegptwxrh",
                &["interval"],
                &[
                    "beep", "color", "errexit", "chgexit", "precise", "no-title", "no-wrap", "exec",
                ],
            ),
            Plain,
        ),
        "xvfb-run" => wrapper(spec("efnpsw", "a", &[], &["auto-servernum"]), Plain),
        "su" | "runuser" => Wrapper {
            script_options: &["-c", "--command", "--session-command"],
            ..wrapper(
                spec(
                    "cgGsuw",
                    "lmpfP",
                    &[
                        "command",
                        "session-command",
                        "group",
                        "supp-group",
                        "shell",
                        "user",
                        "whitelist-environment",
                    ],
                    &["login", "preserve-environment", "pty", "fast"],
                ),
                Plain,
            )
        },
        "npx" | "bunx" | "pnpx" => Wrapper {
            script_options: &["-c", "--call"],
            ..wrapper(
                spec("pc", "yq", &["package", "call"], &["yes", "no", "quiet"]),
                Plain,
            )
        },
        "uvx" => wrapper(
            spec(
                "p",
                "q",
                &["from", "with", "python", "index", "index-url"],
                &[],
            ),
            Plain,
        ),
        "script" => Wrapper {
            script_options: &["-c", "--command"],
            ..wrapper(
                spec(
                    "cEIOTBm",
                    "aefqk",
                    &["command", "log-io", "log-in", "log-out", "log-timing"],
                    &[],
                ),
                Plain,
            )
        },
        _ => return None,
    };
    Some(w)
}

/// Runners whose subcommand runs a program: `uv run`, `poetry run`, `bundle exec`, ...
pub(crate) fn runner_subcommand(program: &str, subcommand: &str) -> bool {
    matches!(
        (program, subcommand),
        (
            "uv" | "poetry"
                | "pipenv"
                | "pdm"
                | "hatch"
                | "rye"
                | "conda"
                | "mamba"
                | "micromamba"
                | "pipx"
                | "devbox",
            "run"
        ) | (
            "bundle"
                | "npm"
                | "pnpm"
                | "yarn"
                | "mise"
                | "asdf"
                | "rbenv"
                | "pyenv"
                | "nodenv"
                | "direnv"
                | "bun",
            "exec"
        ) | ("pnpm" | "yarn", "dlx")
            | ("mise", "x")
            | ("bun", "x")
    )
}

/// Shells: their `-c` argument and their standard input are shell code.
pub(crate) fn is_shell(family: &str) -> bool {
    matches!(
        family,
        "sh" | "bash"
            | "dash"
            | "zsh"
            | "ksh"
            | "mksh"
            | "pdksh"
            | "ash"
            | "yash"
            | "posh"
            | "rbash"
            | "fish"
            | "csh"
            | "tcsh"
            | "lksh"
    )
}

/// Programs that fetch from the network (their output is remote content).
pub(crate) fn is_fetcher(family: &str) -> bool {
    matches!(
        family,
        "curl"
            | "wget"
            | "fetch"
            | "aria2c"
            | "http"
            | "https"
            | "xh"
            | "xhs"
            | "httpie"
            | "lwp-request"
            | "lwp-download"
            | "GET"
            | "POST"
            | "nc"
            | "ncat"
            | "netcat"
            | "socat"
            | "openssl"
            | "ftp"
            | "tftp"
            | "sftp"
            | "scp"
            | "rsync"
            | "ssh"
            | "telnet"
            | "s3cmd"
            | "gsutil"
    )
}

/// Devices tools that wipe or repartition disks.
pub(crate) fn is_disk_tool(program: &str) -> bool {
    program.starts_with("mkfs")
        || matches!(
            program,
            "mke2fs"
                | "mkswap"
                | "wipefs"
                | "fdisk"
                | "sfdisk"
                | "cfdisk"
                | "parted"
                | "gdisk"
                | "sgdisk"
                | "blkdiscard"
                | "hdparm"
                | "badblocks"
                | "mkdosfs"
                | "mkntfs"
                | "cryptsetup"
                | "pvcreate"
                | "vgcreate"
                | "lvcreate"
                | "zpool"
                | "losetup"
        )
}

/// Drops a trailing version: `python3.11` → `python`, `pip3` → `pip`, `gcc-12` → `gcc`.
pub(crate) fn family(program: &str) -> String {
    let trimmed = program.trim_end_matches(|c: char| c.is_ascii_digit() || c == '.');
    let trimmed = trimmed.strip_suffix('-').unwrap_or(trimmed);
    if trimmed.is_empty() {
        program.to_string()
    } else {
        trimmed.to_string()
    }
}
