//! Option syntax of the programs whose effects the analysis models.

use super::argv::OptionSpec;

/// Option syntax of the commands whose effects the analysis models.
pub(crate) fn spec_of(program: &str) -> OptionSpec {
    let base = OptionSpec::GENERIC;
    match program {
        "rm" => OptionSpec {
            aliases: &[
                ("-R", "-r"),
                ("--recursive", "-r"),
                ("--force", "-f"),
                ("--dir", "-d"),
            ],
            long_flags: &[
                "recursive",
                "force",
                "dir",
                "interactive",
                "one-file-system",
                "no-preserve-root",
                "preserve-root",
                "verbose",
            ],
            ..base
        },
        "cp" => OptionSpec {
            short_value: "tS",
            long_value: &["target-directory", "suffix"],
            long_flags: &[
                "recursive",
                "archive",
                "force",
                "no-target-directory",
                "parents",
            ],
            aliases: &[
                ("-R", "-r"),
                ("--recursive", "-r"),
                ("-a", "-r"),
                ("--archive", "-r"),
                ("--target-directory", "-t"),
                ("--no-target-directory", "-T"),
            ],
            ..base
        },
        "mv" | "ln" => OptionSpec {
            short_value: "tS",
            long_value: &["target-directory", "suffix"],
            long_flags: &["force", "no-target-directory", "symbolic"],
            aliases: &[
                ("--target-directory", "-t"),
                ("--no-target-directory", "-T"),
            ],
            ..base
        },
        "install" => OptionSpec {
            short_value: "gmoStZ",
            long_value: &[
                "group",
                "mode",
                "owner",
                "suffix",
                "target-directory",
                "strip-program",
            ],
            long_flags: &["directory", "no-target-directory"],
            aliases: &[
                ("--target-directory", "-t"),
                ("--directory", "-d"),
                ("--no-target-directory", "-T"),
            ],
            ..base
        },
        "chmod" | "chown" | "chgrp" => OptionSpec {
            long_value: &["reference", "from"],
            long_flags: &["recursive", "changes", "silent", "quiet", "verbose"],
            aliases: &[("--recursive", "-R"), ("-r", "-R")],
            ..base
        },
        "setfacl" => OptionSpec {
            short_value: "mMxX",
            aliases: &[("--recursive", "-R")],
            long_flags: &["recursive"],
            ..base
        },
        "chattr" => OptionSpec {
            short_value: "vp",
            ..base
        },
        "touch" => OptionSpec {
            short_value: "rtd",
            long_value: &["reference", "date", "time"],
            ..base
        },
        "mkdir" | "mkfifo" | "mknod" => OptionSpec {
            short_value: "mZ",
            long_value: &["mode", "context"],
            ..base
        },
        "truncate" => OptionSpec {
            short_value: "sr",
            long_value: &["size", "reference"],
            ..base
        },
        "shred" => OptionSpec {
            short_value: "ns",
            long_value: &["iterations", "size", "random-source"],
            aliases: &[("--remove", "-u")],
            long_flags: &["remove", "zero", "force", "exact", "verbose"],
            ..base
        },
        "tee" => OptionSpec {
            aliases: &[("--append", "-a")],
            long_flags: &["append", "ignore-interrupts", "output-error"],
            ..base
        },
        "sed" | "gsed" => OptionSpec {
            short_value: "efl",
            short_optional: "i",
            long_value: &["expression", "file", "line-length"],
            long_flags: &[
                "in-place",
                "quiet",
                "silent",
                "regexp-extended",
                "null-data",
                "separate",
            ],
            aliases: &[
                ("--in-place", "-i"),
                ("--expression", "-e"),
                ("--file", "-f"),
            ],
            ..base
        },
        "perl" => OptionSpec {
            short_value: "eEIMm",
            short_optional: "il0xdDC",
            ..base
        },
        "ruby" => OptionSpec {
            short_value: "eIrCEF",
            short_optional: "i0xTW",
            ..base
        },
        "curl" => OptionSpec {
            short_value: "AbcCdDEeFHKmoPQrtTuUwxXyYz",
            long_value: &[
                "data",
                "data-ascii",
                "data-binary",
                "data-raw",
                "data-urlencode",
                "form",
                "form-string",
                "upload-file",
                "output",
                "output-dir",
                "config",
                "cookie",
                "cookie-jar",
                "dump-header",
                "header",
                "request",
                "user",
                "user-agent",
                "referer",
                "url",
                "proxy",
                "cert",
                "key",
                "cacert",
                "capath",
                "max-time",
                "connect-timeout",
                "retry",
                "range",
                "write-out",
                "trace",
                "trace-ascii",
                "stderr",
                "libcurl",
                "netrc-file",
                "resolve",
                "connect-to",
                "json",
                "variable",
                "proxy-user",
                "oauth2-bearer",
                "unix-socket",
                "abstract-unix-socket",
                "interface",
                "local-port",
                "limit-rate",
                "max-filesize",
                "retry-delay",
                "retry-max-time",
                "expect100-timeout",
                "happy-eyeballs-timeout-ms",
                "keepalive-time",
                "noproxy",
                "proto",
                "proto-redir",
                "socks4",
                "socks4a",
                "socks5",
                "socks5-hostname",
            ],
            long_flags: &["netrc", "netrc-optional", "remote-name", "remote-name-all"],
            aliases: &[("--netrc", "-n"), ("--remote-name", "-O")],
            ..base
        },
        "wget" => OptionSpec {
            short_value: "OoaPiUTtwQeBDlARIX",
            long_value: &[
                "output-document",
                "output-file",
                "append-output",
                "directory-prefix",
                "input-file",
                "post-file",
                "post-data",
                "body-file",
                "body-data",
                "user-agent",
                "header",
                "method",
                "user",
                "password",
                "execute",
                "tries",
                "timeout",
                "wait",
                "quota",
                "base",
                "domains",
                "level",
                "accept",
                "reject",
                "include-directories",
                "exclude-directories",
                "load-cookies",
                "save-cookies",
                "ca-certificate",
                "certificate",
                "private-key",
            ],
            ..base
        },
        "xargs" => OptionSpec {
            short_value: "adEILnPs",
            short_optional: "iel",
            short_flags: "0oprtx",
            long_value: &[
                "arg-file",
                "delimiter",
                "max-args",
                "max-procs",
                "max-chars",
                "process-slot-var",
            ],
            long_flags: &[
                "null",
                "no-run-if-empty",
                "open-tty",
                "interactive",
                "verbose",
                "exit",
                "show-limits",
                "replace",
                "eof",
                "max-lines",
            ],
            aliases: &[],
            stop_at_operand: true,
        },
        "git" => OptionSpec {
            short_value: "Cc",
            short_flags: "pPhv",
            long_value: &[
                "git-dir",
                "work-tree",
                "namespace",
                "super-prefix",
                "config-env",
                "list-cmds",
                "attr-source",
            ],
            long_flags: &[
                "paginate",
                "no-pager",
                "bare",
                "no-replace-objects",
                "literal-pathspecs",
                "glob-pathspecs",
                "noglob-pathspecs",
                "icase-pathspecs",
                "no-optional-locks",
                "exec-path",
                "html-path",
                "man-path",
                "info-path",
                "version",
                "help",
            ],
            stop_at_operand: true,
            ..base
        },
        "cargo" => OptionSpec {
            short_value: "ZC",
            long_value: &["config", "color", "explain"],
            stop_at_operand: true,
            ..base
        },
        "docker" | "podman" | "nerdctl" => OptionSpec {
            short_value: "Hcl",
            long_value: &[
                "host",
                "context",
                "config",
                "log-level",
                "tlscacert",
                "tlscert",
                "tlskey",
                "connection",
                "url",
                "identity",
                "root",
                "runroot",
                "storage-driver",
            ],
            stop_at_operand: true,
            ..base
        },
        "python" | "pypy" => OptionSpec {
            short_value: "cmWX",
            stop_at_operand: true,
            ..base
        },
        "node" | "nodejs" | "deno" | "bun" => OptionSpec {
            short_value: "eprC",
            long_value: &["eval", "print", "require", "import", "loader", "conditions"],
            stop_at_operand: true,
            ..base
        },
        "ssh" => OptionSpec {
            short_value: "BbcDEeFIiJLlmOopQRSWw",
            stop_at_operand: true,
            ..base
        },
        "nc" | "ncat" | "netcat" => OptionSpec {
            short_value: "ceIiOpqsTVwxX",
            long_value: &[
                "exec",
                "sh-exec",
                "lua-exec",
                "source-port",
                "proxy",
                "wait",
            ],
            ..base
        },
        "tar" | "bsdtar" | "gtar" => OptionSpec {
            short_value: "fCbHIKLNTVXgF",
            long_value: &[
                "file",
                "directory",
                "blocking-factor",
                "format",
                "use-compress-program",
                "to-command",
                "checkpoint-action",
                "info-script",
                "new-volume-script",
                "exclude",
                "files-from",
                "exclude-from",
                "transform",
                "xform",
                "owner",
                "group",
                "mode",
                "mtime",
                "newer",
                "after-date",
                "label",
                "listed-incremental",
                "strip-components",
            ],
            aliases: &[
                ("--extract", "-x"),
                ("--get", "-x"),
                ("--create", "-c"),
                ("--append", "-r"),
                ("--update", "-u"),
                ("--file", "-f"),
                ("--directory", "-C"),
            ],
            ..base
        },
        "unzip" => OptionSpec {
            short_value: "dxP",
            ..base
        },
        "rsync" => OptionSpec {
            short_value: "eBfM",
            long_value: &[
                "rsh",
                "rsync-path",
                "filter",
                "exclude",
                "include",
                "exclude-from",
                "include-from",
                "files-from",
                "backup-dir",
                "suffix",
                "temp-dir",
                "chmod",
                "password-file",
                "log-file",
                "partial-dir",
                "compare-dest",
                "copy-dest",
                "link-dest",
                "out-format",
                "info",
                "debug",
            ],
            ..base
        },
        "scp" => OptionSpec {
            short_value: "cFiJloPS",
            ..base
        },
        "dd" => base,
        "patch" => OptionSpec {
            short_value: "BDdiFgopVrYz",
            long_value: &["input", "output", "directory", "reject-file", "strip"],
            ..base
        },
        _ => base,
    }
}

/// Option syntax of shells (`-o name`, `--rcfile file`).
pub(crate) const SHELL_SPEC: OptionSpec = OptionSpec {
    short_value: "oO",
    short_optional: "",
    short_flags: "abcefhiklmnprstuvxBCEHPT",
    long_value: &["rcfile", "init-file"],
    long_flags: &[
        "norc",
        "noprofile",
        "posix",
        "login",
        "noediting",
        "restricted",
        "verbose",
        "version",
        "help",
        "debugger",
        "dump-strings",
        "dump-po-strings",
        "pretty-print",
    ],
    aliases: &[],
    stop_at_operand: true,
};
