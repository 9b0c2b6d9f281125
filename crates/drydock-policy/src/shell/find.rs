//! `find`: where it looks, what its tests can match, and what `-delete` and `-exec` do there.

use super::effects::Follow;
use super::state::{Input, ShellState};
use super::walk::Analyzer;
use super::word::Field;
use super::{FileOperation, SimpleCommand};
use crate::paths::{FIND_ANY, FIND_FILTERED, FIND_NOT_GIT};

/// `find` tests whose value names files; if none could match `.git`, `find` stays out of it.
const FIND_NAME_TESTS: &[&str] = &[
    "-name",
    "-iname",
    "-lname",
    "-ilname",
    "-path",
    "-ipath",
    "-wholename",
    "-iwholename",
    "-regex",
    "-iregex",
];

/// `find` primaries that take one value.
const FIND_VALUE_PRIMARIES: &[&str] = &[
    "-type",
    "-xtype",
    "-user",
    "-group",
    "-perm",
    "-size",
    "-mtime",
    "-atime",
    "-ctime",
    "-mmin",
    "-amin",
    "-cmin",
    "-newer",
    "-anewer",
    "-cnewer",
    "-maxdepth",
    "-mindepth",
    "-samefile",
    "-inum",
    "-links",
    "-uid",
    "-gid",
    "-fstype",
    "-printf",
    "-context",
    "-used",
    "-regextype",
    "-files0-from",
    "-newermt",
    "-newerat",
    "-newerct",
    "-newermm",
    "-fprint",
    "-fprint0",
    "-fls",
];

thread_local! {
    /// Whether a name filter may match a name in `.git`, by filter: compiling and running the
    /// pattern costs more than the rest of a `find` command's analysis.
    static NAME_FILTERS: std::cell::RefCell<std::collections::HashMap<String, bool>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
}

/// Whether the `find -name` pattern `filter` may match one of the names in a `.git` directory
/// (a pattern that does not compile may match anything).
fn name_filter_reaches_git(filter: &str) -> bool {
    const MAX_CACHED: usize = 256;
    if let Some(known) = NAME_FILTERS.with(|cache| cache.borrow().get(filter).copied()) {
        return known;
    }
    let reaches = match globset::GlobBuilder::new(filter)
        .case_insensitive(true)
        .build()
    {
        Ok(glob) => {
            let matcher = glob.compile_matcher();
            GIT_DIR_NAMES.iter().any(|name| matcher.is_match(name))
        }
        Err(_) => true,
    };
    NAME_FILTERS.with(|cache| {
        let mut cache = cache.borrow_mut();
        if cache.len() >= MAX_CACHED {
            cache.clear();
        }
        cache.insert(filter.to_string(), reaches);
    });
    reaches
}

/// Names found in a `.git` directory; a `find -name` pattern matching one may reach into it.
const GIT_DIR_NAMES: &[&str] = &[
    ".git",
    "HEAD",
    "config",
    "description",
    "index",
    "packed-refs",
    "hooks",
    "pre-commit",
    "pre-push",
    "post-checkout",
    "post-merge",
    "commit-msg",
    "prepare-commit-msg",
    "pre-commit.sample",
    "info",
    "exclude",
    "logs",
    "objects",
    "refs",
    "heads",
    "main",
    "master",
    "FETCH_HEAD",
    "ORIG_HEAD",
    "COMMIT_EDITMSG",
    "pack-0.pack",
    "pack-0.idx",
];

impl Analyzer {
    pub(crate) fn find(
        &mut self,
        cmd: &mut SimpleCommand,
        argv: &[Field],
        st: &ShellState,
        follow: &mut Vec<Follow>,
    ) {
        let mut i = 1;
        // Leading options: -H -L -P -O<level> -D <debug>.
        while let Some(f) = argv.get(i) {
            match f.text.as_str() {
                "-H" | "-L" | "-P" => i += 1,
                "-D" => i += 2,
                t if t.starts_with("-O") => i += 1,
                _ => break,
            }
        }
        let mut roots = Vec::new();
        while let Some(f) = argv.get(i) {
            if !f.dynamic && (f.text.starts_with('-') || matches!(f.text.as_str(), "(" | "!" | ","))
            {
                break;
            }
            roots.push(f.clone());
            i += 1;
        }
        if roots.is_empty() {
            roots.push(Field::literal("."));
        }
        let expression = &argv[i.min(argv.len())..];
        let mut name_filters: Vec<&Field> = Vec::new();
        let mut deletes = false;
        let mut execs: Vec<Vec<Field>> = Vec::new();
        let mut writes: Vec<Field> = Vec::new();
        let mut k = 0;
        while k < expression.len() {
            let token = expression[k].text.as_str();
            cmd.flags.insert(token.to_string());
            if FIND_NAME_TESTS.contains(&token) {
                if let Some(v) = expression.get(k + 1) {
                    name_filters.push(v);
                }
                k += 2;
                continue;
            }
            match token {
                "-delete" => deletes = true,
                "-exec" | "-execdir" | "-ok" | "-okdir" => {
                    let mut inner = Vec::new();
                    k += 1;
                    while k < expression.len() {
                        let t = expression[k].text.as_str();
                        if t == ";"
                            || (t == "+"
                                && inner.last().is_some_and(|f: &Field| f.text.ends_with("{}")))
                        {
                            break;
                        }
                        inner.push(expression[k].clone());
                        k += 1;
                    }
                    execs.push(inner);
                }
                "-fprint" | "-fprint0" | "-fls" | "-fprintf" => {
                    if let Some(v) = expression.get(k + 1) {
                        writes.push(v.clone());
                    }
                    k += if token == "-fprintf" { 2 } else { 1 };
                }
                t if FIND_VALUE_PRIMARIES.contains(&t) => k += 1,
                _ => {}
            }
            k += 1;
        }
        let reaches_git = name_filters.is_empty()
            || name_filters.iter().any(|f| {
                f.dynamic
                    || f.text.to_ascii_lowercase().contains("git")
                    || name_filter_reaches_git(&f.text)
            });
        let marker = if name_filters.is_empty() {
            FIND_ANY
        } else if reaches_git {
            FIND_FILTERED
        } else {
            FIND_NOT_GIT
        };
        let found: Vec<Field> = roots
            .iter()
            .map(|root| {
                if root.dynamic {
                    return Field::unknown(&root.raw);
                }
                let text = format!("{}/{marker}", root.text.trim_end_matches('/'));
                let mut glob = root.glob.clone();
                glob.resize(text.chars().count(), false);
                Field {
                    text,
                    glob,
                    dynamic: false,
                    raw: root.raw.clone(),
                    plain: false,
                }
            })
            .collect();
        for field in &writes {
            self.access(field, st, FileOperation::Write, false, "find");
        }
        if deletes {
            for target in &found {
                self.access(target, st, FileOperation::Delete, true, "find");
            }
        }
        for inner in execs {
            if inner.is_empty() {
                continue;
            }
            cmd.wraps = true;
            for target in &found {
                let argv: Vec<Field> = inner
                    .iter()
                    .map(|f| {
                        if f.text.contains("{}") && !f.dynamic {
                            let text = f.text.replace("{}", &target.text);
                            let mut glob = f.glob.clone();
                            glob.resize(text.chars().count(), false);
                            Field {
                                dynamic: target.dynamic,
                                text,
                                glob,
                                raw: f.raw.clone(),
                                plain: false,
                            }
                        } else {
                            f.clone()
                        }
                    })
                    .collect();
                follow.push(Follow::Argv {
                    argv,
                    input: Input::none(),
                    taint: cmd.substitution_programs.clone(),
                    wrapper: "find".to_string(),
                    cwd: None,
                });
            }
        }
    }
}
