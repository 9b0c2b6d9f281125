#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Parser differentials: for tricky inputs, every command bash really runs must be one the
//! analysis found. Each case runs under `bash` with a harmless `mark` function; the marks it
//! prints must all be among the analysis's commands.

use std::process::Command;

use drydock_policy::shell;

/// Inputs where tree-sitter-bash and bash could disagree about what is a command.
const CASES: &[&str] = &[
    "cat <<EOF\n  EOF\nmark a\nEOF\nmark b",
    "cat <<EOF\nx\nEOF \nmark a\nEOF\nmark b",
    "cat <<-EOF\n\tx\n\tEOF\nmark a",
    "cat <<'EOF'\n$(mark a)\nEOF\nmark b",
    "cat <<\"E\"OF\nmark a\nEOF\nmark b",
    "cat <<EOF; mark a\nbody\nEOF\nmark b",
    "cat <<A <<B\nmark a\nA\nmark b\nB\nmark c",
    "echo a#b; mark a # mark b",
    "echo x\\\nmark a",
    "mar\\\nk a",
    "echo 'x\\\n'; mark a",
    "echo $'x\\'y'; mark a",
    "echo \"a\\\"b\"; mark a",
    "case x in x) mark a;; esac; mark b",
    "f() { mark a; }; f",
    "echo ${x:-'}'}; mark a",
    "echo $(echo ')'); mark a",
    "echo `echo \\`mark a\\``",
    "x=$( mark a ); echo $x",
    "[[ a == a ]] && mark a",
    "(( 1 )) && mark a",
    "echo {a,b}; mark a",
    "mark a |& cat",
    "! mark a",
    "time mark a",
    "mark a & mark b",
    "if mark a; then mark b; fi",
    "while mark a; do break; done",
    "for i in 1; do mark a; done",
    "echo \"$(mark a)\"",
    "cat <(mark a)",
    "echo x >(mark a) >/dev/null",
    "echo $((1 + $(mark a)))",
    "a=1 mark a",
    "mark a;# mark b",
    "mark a\r\nmark b",
    "echo \"$(echo \"$(mark a)\")\"",
    "echo ${x/a/$(mark a)}",
    ": ${x:=$(mark a)}",
    "cat <<< $(mark a)",
    "exec 3< <(mark a)",
    "{ mark a; } 2>&1",
    "mark a >& /dev/null",
    "m\\ark a",
    "\"mark\" a; 'mark' b; $'mark' c; m''ark d",
    "eval mark a; eval 'mark b'",
    "coproc mark a",
    "function f() { mark a; }; f",
    "f() ( mark a ); f",
    "x=mark; $x a",
    "IFS=:; x=mark:a; $x",
    "set -- mark a; \"$@\"",
    "trap 'mark a' EXIT",
    "mark a <<EOF\nEOF",
    "cat <<EOF | mark a\nx\nEOF",
    "cat <<EOF && mark a\nx\nEOF",
    "cat <<EOF\n${x:-$(mark a)}\nEOF",
    "echo \"${x:-\"$(mark a)\"}\"",
    "echo x#$(mark a)",
    "echo \\#$(mark a)",
    "echo $(: '(' ) $(mark a)",
    "echo $( case x in x) mark a;; esac )",
    "echo $(cat <<EOF\n)\nEOF\n); mark a",
    "mark \\\na",
    "echo \"\\\n$(mark a)\"",
    "until mark a; do :; done",
    "select x in 1; do mark a; break; done <<< 1",
    "x=(a $(mark a)); echo ${x[0]}",
    "declare y=$(mark a)",
    "local z=$(mark a) 2>/dev/null; mark b",
    "export w=`mark a`",
    "echo $(mark a)$(mark b)",
    "echo \"`mark a`\"",
    "[ \"$(mark a)\" = x ]",
    "test -n \"$(mark a)\"",
    "printf '%s' \"$(mark a)\" | cat",
    "{ mark a; mark b; } | cat",
    "(mark a) && (mark b)",
    "mark a; mark b & wait",
    "echo ok; # $(mark a)\nmark b",
    "for x in $(mark a); do :; done",
    "case $(mark a) in *) mark b;; esac",
    "while read l; do mark \"$l\"; done <<< a",
];

fn bash_marks(case: &str) -> Vec<String> {
    let script = format!("mark() {{ echo \"MARK:$1\" >&2; }}\n{case}\n");
    let output = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .current_dir(std::env::temp_dir())
        .output()
        .expect("bash runs");
    String::from_utf8_lossy(&output.stderr)
        .lines()
        .filter_map(|l| l.strip_prefix("MARK:"))
        .map(|m| m.trim_end_matches('\r').to_string())
        .collect()
}

#[test]
fn every_command_bash_runs_is_found_by_the_analysis() {
    let mut misses = Vec::new();
    for case in CASES {
        let ran = bash_marks(case);
        match shell::analyze(case) {
            // What cannot be analysed is denied: no differential can hide behind it.
            Err(_) => continue,
            Ok(analysis) => {
                // A program or code the analysis cannot know is denied whatever it is.
                if analysis
                    .commands
                    .iter()
                    .any(|c| c.dynamic_program || c.opaque_code)
                {
                    continue;
                }
                let marks: Vec<_> = analysis
                    .commands
                    .iter()
                    .filter(|c| c.program == "mark")
                    .collect();
                // A mark whose argument the analysis cannot know still counts as found.
                if marks.iter().any(|c| c.dynamic_args) {
                    continue;
                }
                let found: Vec<String> = marks
                    .iter()
                    .filter_map(|c| c.args.first().map(|a| a.trim_end_matches('\r').to_string()))
                    .collect();
                for mark in ran {
                    if !found.contains(&mark) {
                        misses.push(format!(
                            "{case:?}: bash ran `mark {mark}`, analysis found {found:?}"
                        ));
                    }
                }
            }
        }
    }
    assert!(misses.is_empty(), "{}", misses.join("\n"));
}

/// Syntactic contexts a command can sit in; `{}` is where it goes.
const CONTEXTS: &[&str] = &[
    "{}",
    "( {} )",
    "{ {}; }",
    "echo $( {} )",
    "echo \"$( {} )\"",
    "if true; then {}; fi",
    "if false; then :; else {}; fi",
    "true && {}",
    "false || {}",
    "{} | cat",
    "echo | {}",
    "for i in 1; do {}; done",
    "while true; do {}; break; done",
    "case x in x) {};; esac",
    "f() { {}; }; f",
    "x=$( {} )",
    "echo ${x:-$( {} )}",
    "[[ -n $( {} ) ]]",
    "cat <<EOF\n$( {} )\nEOF",
    "cat <( {} )",
    "cat <<< \"$( {} )\"",
    ": $(( $( {} ) + 1 ))",
    "! {}",
    "time {}",
    "{} 2>/dev/null",
    "{} & wait",
    "nohup {} >/dev/null",
    "env {}",
    "command {}",
    "builtin eval \"{}\"",
    "until false; do {}; break; done",
    "time { {}; }",
    "time ( {} )",
    "coproc {}",
    "{}; :",
    "x=1 {}",
    "( ( {} ) )",
    "echo $( ( {} ) )",
    "if {}; then :; fi",
    "while {}; do break; done",
    "case $( {} ) in *) :;; esac",
    "for x in $( {} ); do :; done",
    "{} <<EOF\nbody\nEOF",
    "cat <<EOF | {}\nbody\nEOF",
    "echo \"${x:-\"$( {} )\"}\"",
    "exec 3>/dev/null; {}",
    "! ! {}",
    "time {}",
];

/// How many nested cases the generator tries.
const CASES_TO_GENERATE: usize = 600;

/// Commands nested two and three contexts deep, chosen by a fixed pseudo-random sequence.
#[test]
fn nested_contexts_agree_with_bash() {
    let mut state: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut misses = Vec::new();
    let mut compared = 0;
    for case_number in 0..CASES_TO_GENERATE {
        let depth = 2 + (next() % 2) as usize;
        let mut text = format!("mark m{case_number}");
        for _ in 0..depth {
            let context = CONTEXTS[(next() % CONTEXTS.len() as u64) as usize];
            // `eval "..."` cannot hold double quotes or a here-document.
            if context.contains("eval") && (text.contains('"') || text.contains('\n')) {
                continue;
            }
            text = context.replacen("{}", &text, 1);
        }
        let ran = bash_marks(&text);
        let Ok(analysis) = shell::analyze(&text) else {
            continue;
        };
        if analysis
            .commands
            .iter()
            .any(|c| c.dynamic_program || c.opaque_code)
        {
            continue;
        }
        compared += 1;
        let found: Vec<String> = analysis
            .commands
            .iter()
            .filter(|c| c.program == "mark")
            .filter_map(|c| c.args.first().cloned())
            .collect();
        for mark in ran {
            if !found.contains(&mark) {
                misses.push(format!(
                    "{text:?}: bash ran `mark {mark}`, analysis found {found:?}"
                ));
            }
        }
    }
    assert!(misses.is_empty(), "{}", misses.join("\n"));
    assert!(
        compared * 10 >= CASES_TO_GENERATE * 6,
        "only {compared} of {CASES_TO_GENERATE} compared"
    );
}

/// Words as bash expands them: the arguments bash passes must be the ones the analysis
/// resolved, whenever the analysis claims to know them.
const WORDS: &[&str] = &[
    "a'b'\"c\"d",
    "\\r\\m \\-\\r\\f",
    "$'\\x72\\x6d' $'\\162' $'a\\tb' $'\\u00e9' $'x\\cAy' $'a\\0b'",
    "{a,b}{1,2} x{,y} {a..c} {1..7..3} {05..7} {c..a}",
    "'{a,b}' \\{a,b\\} {a} {} {a,}",
    "x=1; y=$x$x; echo_ $y ${y} \"$y\"",
    "v='a b'; echo_ $v \"$v\"",
    "IFS=,; v=a,b,,c; echo_ $v",
    "IFS=; v='a b'; echo_ $v",
    "v=; echo_ $v x \"$v\"",
    "echo_ ${unset_var:-default} ${x-dflt}",
    "set -- p q; echo_ \"$1\" $2",
    "f() { echo_ \"$1\"; }; f arg",
    "for w in one two; do echo_ $w; done",
    "echo_ \"a\\\"b\" 'a\\b' \"a\\$b\" \"a\\`b\"",
    "echo_ a\\ b c\\\\d",
    "echo_ $((1+2)) x$((3))y",
    "echo_ \"\"a '' ''b",
    "{a,'b c'} {a,{b,c}} x{a,b}y{1,2} {a,b}\\{c\\}",
    "v=Z; echo_ {a,b}$v ${v}{1,2}",
    "v='  a  b  '; echo_ $v",
    "IFS=': '; v='a: b :c  d::e'; echo_ $v",
    "IFS=,; v=',a,,b,'; echo_ $v",
    "v=$'x\\ny'; echo_ $v",
    "echo_ $'\\e[1m' $'\\101\\102' $'\\x4' $'\\q'",
    "f() { echo_ \"$@\" \"$#\"; }; f a 'b c'",
    "a=b; a+=c; echo_ $a",
    "echo_ -- -x --y=z",
    "echo_ \"$(echo ignored)\"x",
];

#[test]
fn words_expand_as_bash_expands_them() {
    let mut misses = Vec::new();
    let mut compared = 0;
    for words in WORDS {
        // Each argument of `mark` on its own line, so spaces inside arguments stay visible.
        let case = if words.contains("echo_") {
            words.replace("echo_", "mark")
        } else {
            format!("mark {words}")
        };
        let script = format!("mark() {{ printf 'ARG:%s\\n' \"$@\" >&2; }}\n{case}\n");
        let output = Command::new("bash")
            .arg("-c")
            .arg(&script)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("LC_ALL", "C.UTF-8")
            .output()
            .expect("bash runs");
        let bash_args: Vec<String> = String::from_utf8_lossy(&output.stderr)
            .lines()
            .filter_map(|l| l.strip_prefix("ARG:"))
            .map(str::to_string)
            .collect();
        // What cannot be analysed is denied: nothing to compare.
        let Ok(analysis) = shell::analyze(&case) else {
            continue;
        };
        let marks: Vec<_> = analysis
            .commands
            .iter()
            .filter(|c| c.program == "mark")
            .collect();
        if marks.iter().any(|c| c.dynamic_args) {
            continue;
        }
        compared += 1;
        let ours: Vec<String> = marks.iter().flat_map(|c| c.args.iter().cloned()).collect();
        if ours != bash_args {
            misses.push(format!(
                "{case:?}:\n  bash     {bash_args:?}\n  analysis {ours:?}"
            ));
        }
    }
    assert!(misses.is_empty(), "{}", misses.join("\n"));
    // The comparison must have covered most cases, not skipped them.
    assert!(
        compared * 4 >= WORDS.len() * 3,
        "only {compared} of {} compared",
        WORDS.len()
    );
}
