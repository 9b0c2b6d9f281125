//! Inline code given to interpreters (`python -c`, `perl -e`, `node -e`, awk and sed programs)
//! is not shell, but the ways it reaches the shell and the file system are few and recognisable:
//! `os.system("...")`, `subprocess.run([...])`, `shutil.rmtree("...")`, `open("...", "w")`,
//! awk's `system()` and pipes, sed's `e` and `w`. Literal arguments are followed; anything else
//! passed to a shell is code that cannot be checked.

/// What a piece of inline code does that the analysis can follow.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct InlineFindings {
    /// Shell command lines it runs.
    pub scripts: Vec<String>,
    /// Shell command lines it runs with its own output as their input (awk `print | "sh"`).
    pub piped_scripts: Vec<String>,
    /// Programs it runs with an argument vector.
    pub argvs: Vec<Vec<String>>,
    /// Paths it deletes, with whether recursively.
    pub deletes: Vec<(String, bool)>,
    /// Paths it writes.
    pub writes: Vec<String>,
    /// Paths it names (string literals that look like paths).
    pub reads: Vec<String>,
    /// It runs a command built at run time.
    pub opaque: bool,
}

/// The languages whose inline code is scanned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Language {
    Python,
    Perl,
    Ruby,
    Node,
    Php,
    Awk,
}

impl InlineFindings {
    fn merge(&mut self, other: InlineFindings) {
        self.scripts.extend(other.scripts);
        self.piped_scripts.extend(other.piped_scripts);
        self.argvs.extend(other.argvs);
        self.deletes.extend(other.deletes);
        self.writes.extend(other.writes);
        self.reads.extend(other.reads);
        self.opaque |= other.opaque;
    }
}

impl Language {
    /// The language of an interpreter family, if scanned.
    pub fn of(family: &str) -> Option<Self> {
        Some(match family {
            "python" | "pypy" => Language::Python,
            "perl" => Language::Perl,
            "ruby" => Language::Ruby,
            "node" | "nodejs" | "deno" | "bun" => Language::Node,
            "php" => Language::Php,
            "awk" | "gawk" | "mawk" | "nawk" | "busybox-awk" => Language::Awk,
            _ => return None,
        })
    }
}

/// Calls that hand a string to the shell (or a list to exec), whatever they are called on.
const SHELL_CALLS: &[&str] = &[
    "system",
    "popen",
    "getoutput",
    "getstatusoutput",
    "check_output",
    "check_call",
    "Popen",
    "spawnSync",
    "execSync",
    "execFile",
    "execFileSync",
    "shell_exec",
    "passthru",
    "proc_open",
    "execv",
    "execvp",
    "execvpe",
    "execl",
    "execlp",
    "execle",
    "execve",
    "capture2",
    "capture2e",
    "capture3",
    "popen2",
    "popen3",
    "spawnv",
    "spawnvp",
    "spawnl",
    "spawnlp",
];

/// Calls with common names that run a command only on a process module (`subprocess.run`,
/// `child_process.exec`) or bare in Perl, Ruby and PHP (`exec "..."`).
const AMBIGUOUS_SHELL_CALLS: &[&str] = &["run", "call", "exec", "spawn"];

/// Modules whose presence makes the ambiguous calls count.
const PROCESS_MODULES: &[&str] = &[
    "subprocess",
    "child_process",
    "Open3",
    "Process",
    "Kernel",
    "pty",
    "commands",
    "os.",
];

/// Calls that delete their first argument, and whether recursively.
const DELETE_CALLS: &[(&str, bool)] = &[
    ("rmtree", true),
    ("rm_rf", true),
    ("rm_r", true),
    ("remove_tree", true),
    ("removedirs", true),
    ("rmSync", true),
    ("rm", true),
    ("remove", false),
    ("unlink", false),
    ("unlinkSync", false),
    ("rmdir", false),
    ("rmdirSync", false),
    ("delete", false),
    ("remove_dir", true),
];

/// Calls that write their first argument.
const WRITE_CALLS: &[&str] = &[
    "writeFileSync",
    "appendFileSync",
    "writeFile",
    "appendFile",
    "write_text",
    "write_bytes",
    "file_put_contents",
    "chmod",
    "chown",
    "symlink",
    "symlinkSync",
    "copyFileSync",
    "renameSync",
    "rename",
    "replace",
    "copyfile",
    "copy",
    "copy2",
    "copytree",
    "move",
];

/// Writers whose name leaves no doubt: with a computed path they write somewhere unknown.
const DISTINCTIVE_WRITERS: &[&str] = &[
    "writeFileSync",
    "appendFileSync",
    "writeFile",
    "appendFile",
    "file_put_contents",
    "copyFileSync",
    "symlinkSync",
    "copyfile",
    "copytree",
];

/// pathlib methods that act on the path they are called on.
const PATH_METHODS: &[&str] = &[
    "write_text",
    "write_bytes",
    "touch",
    "mkdir",
    "unlink",
    "rmdir",
    "chmod",
    "symlink_to",
    "hardlink_to",
];

/// `Path("lit")` (or `pathlib.Path`, `PosixPath`) right before `.method` at `dot_end`.
fn path_receiver(chars: &[char], method_start: usize) -> Option<String> {
    let dot = method_start.checked_sub(1)?;
    if chars.get(dot) != Some(&'.') || dot == 0 || chars[dot - 1] != ')' {
        return None;
    }
    // Find the `(` matching the `)` before the dot.
    let mut depth = 0i32;
    let mut open = None;
    for i in (0..dot).rev() {
        match chars[i] {
            ')' => depth += 1,
            '(' => {
                depth -= 1;
                if depth == 0 {
                    open = Some(i);
                    break;
                }
            }
            _ => {}
        }
    }
    let open = open?;
    let name_start = chars[..open]
        .iter()
        .rposition(|c| !(c.is_ascii_alphanumeric() || *c == '_'))
        .map_or(0, |p| p + 1);
    let callee: String = chars[name_start..open].iter().collect();
    if !matches!(
        callee.as_str(),
        "Path" | "PosixPath" | "PurePath" | "PurePosixPath"
    ) {
        return None;
    }
    match first_argument(chars, skip_space(chars, open + 1)) {
        Argument::Literal(path) => Some(path),
        _ => Some("\u{E001}".to_string()),
    }
}

/// Scans `code` in `language`.
pub(crate) fn scan(language: Language, code: &str) -> InlineFindings {
    let mut out = InlineFindings::default();
    let chars: Vec<char> = code.chars().collect();
    for literal in string_literals(&chars) {
        if looks_like_path(&literal) {
            out.reads.push(literal);
        }
    }
    if language == Language::Awk {
        scan_awk(&chars, &mut out);
        return out;
    }
    // Backticks run shell in Perl, Ruby and PHP.
    if matches!(language, Language::Perl | Language::Ruby | Language::Php) {
        let mut i = 0;
        while i < chars.len() {
            if chars[i] == '`' {
                match read_quoted(&chars, i) {
                    Some((text, end)) => {
                        push_script(&mut out, &text);
                        i = end;
                        continue;
                    }
                    None => out.opaque = true,
                }
            }
            i += 1;
        }
    }
    let process_module = PROCESS_MODULES.iter().any(|m| code.contains(m))
        || matches!(language, Language::Perl | Language::Ruby | Language::Php);
    for (name, start) in identifiers(&chars) {
        // `exec`/`eval` of code in the same language.
        if matches!(name.as_str(), "eval" | "exec")
            && language != Language::Php
            && !(language == Language::Perl && name == "exec")
            && !(language == Language::Ruby && name == "exec")
        {
            let after = skip_space(&chars, start);
            let arg_start = if chars.get(after) == Some(&'(') {
                skip_space(&chars, after + 1)
            } else {
                after
            };
            match first_argument(&chars, arg_start) {
                Argument::Literal(inner) => {
                    let nested = scan(language, &inner);
                    out.merge(nested);
                }
                Argument::List(_) => {}
                Argument::Other => {
                    if name == "eval" || language == Language::Python {
                        out.opaque = true;
                    }
                }
            }
            continue;
        }
        let after = skip_space(&chars, start);
        let opens_call = chars.get(after) == Some(&'(')
            || (matches!(language, Language::Perl | Language::Ruby)
                && (chars.get(after).is_some_and(|c| matches!(c, '"' | '\''))
                    || (chars.get(after) == Some(&'q') && chars.get(after + 1) == Some(&'w'))));
        if name == "qx" || (name == "x" && chars.get(start.wrapping_sub(2)) == Some(&'%')) {
            if let Some((text, _)) = read_quoted(&chars, after) {
                push_script(&mut out, &text);
            } else {
                out.opaque = true;
            }
            continue;
        }
        if !opens_call {
            continue;
        }
        let arg_start = if chars.get(after) == Some(&'(') {
            skip_space(&chars, after + 1)
        } else {
            after
        };
        let ambiguous = AMBIGUOUS_SHELL_CALLS.contains(&name.as_str());
        if SHELL_CALLS.contains(&name.as_str()) || (ambiguous && process_module) {
            // `open(F, "cmd |")` in Perl is handled below; a bare `run(` could be anything, so
            // only non-literal arguments of the distinctive names count as opaque.
            // execFile/execv/spawn take a program and its arguments; the others a command
            // line, or (with several arguments, Perl and Ruby) an argument vector.
            let program_only = name.starts_with("execv")
                || name.starts_with("execl")
                || name.starts_with("spawnv")
                || name.starts_with("spawnl")
                || name.starts_with("execFile")
                || (language == Language::Node && name.starts_with("spawn"));
            let arguments = arguments(&chars, arg_start, 16);
            match arguments.first() {
                Some(Argument::Literal(text)) => {
                    let mut words = vec![text.clone()];
                    for argument in &arguments[1..] {
                        match argument {
                            Argument::Literal(word) => words.push(word.clone()),
                            Argument::List(items) => words.extend(items.iter().cloned()),
                            Argument::Other => {}
                        }
                    }
                    // os.execv("/bin/rm", ["rm", ...]): the list starts with argv[0] again.
                    if words.len() > 2 && super::walk::basename(&words[0]) == words[1] {
                        words.remove(1);
                    }
                    if program_only || words.len() > 1 && language != Language::Python {
                        out.argvs.push(words);
                    } else {
                        push_script(&mut out, text);
                    }
                }
                Some(Argument::List(items)) => out.argvs.push(items.clone()),
                Some(Argument::Other) | None => out.opaque = true,
            }
            continue;
        }
        if PATH_METHODS.contains(&name.as_str())
            && let Some(path) = path_receiver(&chars, start - name.chars().count())
        {
            // pathlib: Path("x").write_text(...), Path("x").unlink().
            match name.as_str() {
                "unlink" | "rmdir" => out.deletes.push((path, false)),
                _ => out.writes.push(path),
            }
            continue;
        }
        if let Some(&(_, recursive)) = DELETE_CALLS.iter().find(|(n, _)| *n == name) {
            match first_argument(&chars, arg_start) {
                Argument::Literal(path) => out.deletes.push((path, recursive)),
                Argument::List(items) => out
                    .deletes
                    .extend(items.into_iter().map(|p| (p, recursive))),
                Argument::Other => {
                    if !matches!(
                        name.as_str(),
                        "remove" | "delete" | "replace" | "rm" | "copy" | "move"
                    ) {
                        out.deletes.push(("\u{E001}".to_string(), recursive));
                    }
                }
            }
            continue;
        }
        if WRITE_CALLS.contains(&name.as_str()) {
            match first_argument(&chars, arg_start) {
                Argument::Literal(path) => out.writes.push(path),
                Argument::List(_) => {}
                // Distinctive writers with a computed path write somewhere unknown.
                Argument::Other => {
                    if DISTINCTIVE_WRITERS.contains(&name.as_str()) {
                        out.writes.push("\u{E001}".to_string());
                    }
                }
            }
            continue;
        }
        if name == "open" {
            open_call(language, &chars, arg_start, &mut out);
        }
    }
    out
}

fn push_script(out: &mut InlineFindings, text: &str) {
    if text.contains("#{") || text.contains("${") && !text.contains("$${") {
        // Interpolated: built at run time.
        out.opaque = true;
    }
    out.scripts.push(text.to_string());
}

/// `open(path, "w")` (Python, Ruby), `open(F, ">", path)` / `open(F, ">path")` / `open(F,
/// "cmd |")` (Perl).
fn open_call(language: Language, chars: &[char], start: usize, out: &mut InlineFindings) {
    let args = arguments(chars, start, 3);
    match language {
        Language::Perl => {
            let literal = |i: usize| match args.get(i) {
                Some(Argument::Literal(t)) => Some(t.clone()),
                _ => None,
            };
            if let (Some(mode), Some(path)) = (literal(1), literal(2)) {
                if mode.contains('>') || mode.contains('+') {
                    out.writes.push(path);
                } else if mode.contains('|') {
                    push_script(out, &path);
                }
            } else if let Some(spec) = literal(1) {
                let trimmed = spec.trim();
                if let Some(path) = trimmed.strip_prefix(">>").or(trimmed.strip_prefix('>')) {
                    out.writes.push(path.trim().to_string());
                } else if let Some(cmd) = trimmed.strip_suffix('|') {
                    push_script(out, cmd);
                } else if let Some(cmd) = trimmed.strip_prefix('|') {
                    push_script(out, cmd);
                }
            }
        }
        _ => {
            if let (Some(Argument::Literal(path)), Some(Argument::Literal(mode))) =
                (args.first(), args.get(1))
                && mode.contains(['w', 'a', 'x', '+'])
            {
                out.writes.push(path.clone());
            }
        }
    }
}

fn scan_awk(chars: &[char], out: &mut InlineFindings) {
    for (name, start) in identifiers(chars) {
        if name != "system" {
            continue;
        }
        let after = skip_space(chars, start);
        let arg_start = if chars.get(after) == Some(&'(') {
            skip_space(chars, after + 1)
        } else {
            after
        };
        match first_argument(chars, arg_start) {
            Argument::Literal(text) => push_script(out, &text),
            _ => out.opaque = true,
        }
    }
    // `print ... | "cmd"`, `"cmd" | getline`, and the same with a command held in a variable.
    let mut i = 0;
    while i < chars.len() {
        if matches!(chars[i], '"') {
            i = read_quoted(chars, i).map_or(chars.len(), |(_, end)| end);
            continue;
        }
        let single_pipe =
            chars[i] == '|' && chars.get(i + 1) != Some(&'|') && (i == 0 || chars[i - 1] != '|');
        if !single_pipe {
            i += 1;
            continue;
        }
        let next = skip_space(chars, i + 1 + usize::from(chars.get(i + 1) == Some(&'&')));
        if chars.get(next) == Some(&'"')
            && let Some((text, _)) = read_quoted(chars, next)
        {
            // `print ... | "cmd"`: cmd reads what awk prints.
            out.piped_scripts.push(text);
        } else if let Some(text) = literal_before(chars, i) {
            push_script(out, &text);
        } else {
            out.opaque = true;
        }
        i += 1;
    }
}

/// The string literal ending just before `at` (ignoring blanks), if any.
fn literal_before(chars: &[char], at: usize) -> Option<String> {
    let mut end = at;
    while end > 0 && chars[end - 1].is_whitespace() {
        end -= 1;
    }
    if end == 0 || chars[end - 1] != '"' {
        return None;
    }
    let mut start = end - 1;
    while start > 0 {
        start -= 1;
        if chars[start] == '"' && (start == 0 || chars[start - 1] != '\\') {
            return read_quoted(chars, start).map(|(text, _)| text);
        }
    }
    None
}

enum Argument {
    Literal(String),
    List(Vec<String>),
    Other,
}

fn first_argument(chars: &[char], start: usize) -> Argument {
    // Perl's qw(a b c) word list.
    if chars.get(start) == Some(&'q') && chars.get(start + 1) == Some(&'w') {
        let open = skip_space(chars, start + 2);
        if let Some(&delimiter) = chars.get(open)
            && !delimiter.is_alphanumeric()
        {
            let close = match delimiter {
                '(' => ')',
                '[' => ']',
                '{' => '}',
                '<' => '>',
                other => other,
            };
            if let Some(end) = chars[open + 1..].iter().position(|c| *c == close) {
                let words: String = chars[open + 1..open + 1 + end].iter().collect();
                return Argument::List(words.split_whitespace().map(str::to_string).collect());
            }
        }
    }
    arguments(chars, start, 1)
        .into_iter()
        .next()
        .unwrap_or(Argument::Other)
}

/// Up to `max` comma-separated arguments starting at `start`.
fn arguments(chars: &[char], start: usize, max: usize) -> Vec<Argument> {
    let mut out = Vec::new();
    let mut i = skip_space(chars, start);
    while out.len() < max && i < chars.len() {
        let (argument, end) = match chars[i] {
            '"' | '\'' | '`' => match read_quoted(chars, i) {
                Some((text, end)) => {
                    // Concatenation or formatting makes it something else.
                    let after = skip_space(chars, end);
                    if matches!(chars.get(after), Some('+' | '.' | '%' | '[')) {
                        (Argument::Other, end)
                    } else {
                        (Argument::Literal(text), end)
                    }
                }
                None => (Argument::Other, chars.len()),
            },
            '[' => {
                let mut items = Vec::new();
                let mut j = skip_space(chars, i + 1);
                let mut ok = true;
                while j < chars.len() && chars[j] != ']' {
                    match read_quoted(chars, j) {
                        Some((text, end)) if matches!(chars[j], '"' | '\'') => {
                            items.push(text);
                            j = skip_space(chars, end);
                            if chars.get(j) == Some(&',') {
                                j = skip_space(chars, j + 1);
                            }
                        }
                        _ => {
                            ok = false;
                            break;
                        }
                    }
                }
                if ok && !items.is_empty() {
                    (Argument::List(items), j + 1)
                } else {
                    (Argument::Other, j + 1)
                }
            }
            _ => (Argument::Other, i),
        };
        out.push(argument);
        // Next argument after a comma at this nesting level.
        let mut depth = 0i32;
        let mut j = end;
        while j < chars.len() {
            match chars[j] {
                '(' | '[' | '{' => depth += 1,
                ')' | ']' | '}' if depth == 0 => return out,
                ')' | ']' | '}' => depth -= 1,
                ',' if depth == 0 => break,
                '"' | '\'' => {
                    j = read_quoted(chars, j).map_or(chars.len(), |(_, e)| e);
                    continue;
                }
                _ => {}
            }
            j += 1;
        }
        i = skip_space(chars, j + 1);
    }
    out
}

/// A quoted string starting at `start` (with `'`, `"` or `` ` ``), unescaped, and the index
/// after it. Python's triple quotes are handled.
fn read_quoted(chars: &[char], start: usize) -> Option<(String, usize)> {
    let quote = *chars.get(start)?;
    if !matches!(quote, '"' | '\'' | '`') {
        return None;
    }
    let triple = chars.get(start + 1) == Some(&quote) && chars.get(start + 2) == Some(&quote);
    let mut i = start + if triple { 3 } else { 1 };
    let mut out = String::new();
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' && i + 1 < chars.len() {
            let next = chars[i + 1];
            out.push(match next {
                'n' => '\n',
                't' => '\t',
                other => other,
            });
            i += 2;
            continue;
        }
        if c == quote {
            if !triple {
                return Some((out, i + 1));
            }
            if chars.get(i + 1) == Some(&quote) && chars.get(i + 2) == Some(&quote) {
                return Some((out, i + 3));
            }
        }
        out.push(c);
        i += 1;
    }
    None
}

fn string_literals(chars: &[char]) -> Vec<String> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if matches!(chars[i], '"' | '\'') {
            if let Some((text, end)) = read_quoted(chars, i) {
                out.push(text);
                i = end;
                continue;
            }
            break;
        }
        i += 1;
    }
    out
}

/// Identifiers and the index just after each.
fn identifiers(chars: &[char]) -> Vec<(String, usize)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if matches!(chars[i], '"' | '\'') {
            i = read_quoted(chars, i).map_or(chars.len(), |(_, end)| end);
            continue;
        }
        if chars[i].is_ascii_alphabetic() || chars[i] == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push((chars[start..i].iter().collect(), i));
            continue;
        }
        i += 1;
    }
    out
}

fn skip_space(chars: &[char], mut i: usize) -> usize {
    while i < chars.len() && chars[i].is_whitespace() {
        i += 1;
    }
    i
}

fn looks_like_path(text: &str) -> bool {
    !text.is_empty()
        && text.len() < 4096
        && !text.contains(['\n', ' '])
        && !text.contains("://")
        && (text.starts_with(['/', '~'])
            || text.starts_with("./")
            || text.starts_with("../")
            || text.contains("/."))
}
