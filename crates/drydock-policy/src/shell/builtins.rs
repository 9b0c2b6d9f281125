//! Shell builtins that change what later commands mean: `cd`, `alias`, `eval`, `source`,
//! `trap`, `read`, `set`, `shopt`.

use super::argv::{self, OptionSpec, ParsedArgs};
use super::effects::Follow;
use super::state::{Input, ShellState, Value};
use super::walk::Analyzer;
use super::word::Field;
use super::{FileOperation, SimpleCommand};
use crate::paths::{self, HOME};

impl Analyzer {
    /// Shell builtins with effects on later commands; false when `cmd` is not one.
    pub(crate) fn builtin(
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
            "eval" => {
                if argv[1..].iter().any(|f| f.dynamic) {
                    cmd.opaque_code = true;
                } else {
                    let text: Vec<String> = argv[1..].iter().map(|f| f.text.clone()).collect();
                    follow.push(Follow::Script {
                        text: text.join(" "),
                        positional: None,
                        input: input.clone(),
                    });
                }
            }
            "source" | "." => {
                if let Some(file) = argv.get(1) {
                    let places = self.access(file, st, FileOperation::Read, false, prog);
                    cmd.runs_downloaded |= self.is_downloaded(&places);
                    if let Some(text) = self.written_script(&places) {
                        follow.push(Follow::Script {
                            text,
                            positional: None,
                            input: Input::none(),
                        });
                    }
                    let from_stream = file.text.starts_with("/dev/fd/")
                        || file.text == "/dev/stdin"
                        || file.text == "-";
                    if file.dynamic
                        || (from_stream
                            && (!cmd.substitution_programs.is_empty() || input.is_piped()))
                    {
                        cmd.opaque_code = true;
                    }
                }
                st.forget_vars();
            }
            "trap" => {
                if let Some(code) = argv.get(1)
                    && !code.text.starts_with('-')
                {
                    if code.dynamic {
                        cmd.opaque_code = true;
                    } else {
                        follow.push(Follow::Script {
                            text: code.text.clone(),
                            positional: None,
                            input: Input::none(),
                        });
                    }
                }
            }
            "alias" => {
                for field in &parsed.operands {
                    if let Some((name, value)) = field.text.split_once('=') {
                        st.aliases.insert(name.to_string(), value.to_string());
                    }
                }
            }
            "unalias" => {
                for field in &parsed.operands {
                    st.aliases.remove(&field.text);
                }
            }
            "cd" | "pushd" | "popd" | "chdir" => self.change_dir(prog, parsed, st),
            "shopt" => {
                if parsed.flags.contains("-s")
                    && parsed
                        .operands
                        .iter()
                        .any(|f| f.text == "dotglob" || f.dynamic)
                {
                    st.dotglob = true;
                }
            }
            "set" => {
                let operands: Vec<Field> = argv[1..]
                    .iter()
                    .skip_while(|f| f.text.starts_with(['-', '+']) && f.text != "--")
                    .skip_while(|f| f.text == "--")
                    .cloned()
                    .collect();
                if argv.len() > 1 && (argv.iter().any(|f| f.text == "--") || !operands.is_empty()) {
                    let mut args = vec![Field::literal("bash")];
                    args.extend(operands);
                    st.set_positional(&args);
                }
            }
            "read" | "mapfile" | "readarray" | "getopts" => {
                let spec = OptionSpec {
                    short_value: "adinNptuCcO",
                    ..OptionSpec::GENERIC
                };
                let reparsed = argv::parse_options(argv, 1, &spec);
                for field in &reparsed.operands {
                    st.set(&field.text, Value::unknown());
                }
                for value in reparsed.values_of(&["-a"]) {
                    st.set(&value.text, Value::unknown());
                }
                if prog == "read" && reparsed.operands.is_empty() {
                    st.set("REPLY", Value::unknown());
                }
            }
            "printf" => {
                let spec = OptionSpec {
                    short_value: "v",
                    ..OptionSpec::GENERIC
                };
                for value in argv::parse_options(argv, 1, &spec).values_of(&["-v"]) {
                    st.set(&value.text, Value::unknown());
                }
            }
            _ => return false,
        }
        true
    }

    pub(crate) fn change_dir(&mut self, prog: &str, parsed: &ParsedArgs, st: &mut ShellState) {
        let target = parsed
            .operands
            .iter()
            .find(|f| !(f.text.starts_with('+') || f.text.starts_with('-') && f.text.len() > 1));
        let to = match (prog, target) {
            ("popd", _) => st.pop_dir(),
            (_, None) if prog == "pushd" => Value::unknown(),
            (_, None) => Value::known(HOME.to_string()),
            (_, Some(dir)) if dir.text == "-" => Value::unknown(),
            // With CDPATH set, a relative `cd` may land anywhere on it.
            (_, Some(dir)) if st.is_set("CDPATH") && !dir.text.starts_with(['/', '.', HOME]) => {
                Value::unknown()
            }
            (_, Some(dir)) => self.dir_value(dir, st),
        };
        if prog == "pushd" {
            st.push_dir();
        }
        st.change_dir(to);
    }

    pub(crate) fn dir_value(&self, dir: &Field, st: &ShellState) -> Value {
        if dir.dynamic || dir.has_glob() {
            return Value::unknown();
        }
        match st.cwds() {
            None => Value::unknown(),
            Some(cwds) => {
                let mut values = Vec::new();
                for cwd in cwds {
                    match paths::join_dir(cwd, &dir.text) {
                        Some(d) => values.push(d),
                        None => return Value::unknown(),
                    }
                }
                Value::Known(values)
            }
        }
    }
}
