//! Where a path points, as the sandbox sees it: the workspace is mounted at [`WORKSPACE_ROOT`];
//! `~` is a home directory (never the host's, but treated as a credential store anyway).

use globset::{GlobBuilder, GlobMatcher};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Where the sandbox mounts the task's working tree; commands start in it.
pub const WORKSPACE_ROOT: &str = "/workspace";

/// Stands for "the home directory" inside expanded words (tilde, `$HOME`).
pub(crate) const HOME: char = '\u{E000}';
/// Stands for a part of a word the analysis cannot know (a variable, a command substitution).
pub(crate) const DYNAMIC: char = '\u{E001}';
/// Stands for "any path below" (what `find` visits), `.git` included.
pub(crate) const FIND_ANY: char = '\u{E002}';
/// Stands for "paths below that match a name filter", `.git` excluded by the filter.
pub(crate) const FIND_NOT_GIT: char = '\u{E003}';
/// Stands for "paths below that match a name filter" that may match `.git`.
pub(crate) const FIND_FILTERED: char = '\u{E004}';

/// The kind of place a path names.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Location {
    /// Inside the workspace, outside any `.git` directory.
    Workspace,
    /// Inside a `.git` directory of the workspace (hooks and config run on the host).
    Git,
    /// Private scratch space: `/tmp`, `/var/tmp`, `/dev/shm`, `/dev/null` and the std streams.
    Scratch,
    /// A home directory (`~`, `$HOME`, `/root`, `/home/*`).
    Home,
    /// Anywhere else on the file system.
    System,
    /// A device node (`/dev/sda`, `/dev/tcp/...`).
    Device,
    /// Not statically known (a variable, a command substitution, an unknown working directory).
    Unknown,
}

impl Location {
    /// The name policies compare against.
    pub fn as_str(self) -> &'static str {
        match self {
            Location::Workspace => "workspace",
            Location::Git => "git",
            Location::Scratch => "scratch",
            Location::Home => "home",
            Location::System => "system",
            Location::Device => "device",
            Location::Unknown => "unknown",
        }
    }
}

/// A path as the policy sees it.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
pub struct PathInfo {
    /// Normalised: workspace-relative inside the workspace (`.` for its root), `~/...` under a
    /// home directory, absolute elsewhere, as written when unknown.
    pub display: String,
    /// What kind of place it is.
    pub location: Location,
    /// True when the path is, or may be, an ancestor of the workspace's `.git` (`/`, the
    /// workspace root, a glob that can match them): deleting it deletes `.git`.
    pub contains_git: bool,
    /// True when the path is, or may be, inside a credential store.
    pub credential: bool,
    /// True when the path holds unquoted glob characters.
    pub glob: bool,
}

/// One path component: a literal name or a shell pattern.
#[derive(Debug, Clone, PartialEq)]
struct Component {
    name: String,
    pattern: Option<String>,
    /// "Any path below": `Some(true)` when it may be `.git`.
    descendant: Option<bool>,
}

impl Component {
    fn literal(name: &str) -> Self {
        Self {
            name: name.to_string(),
            pattern: None,
            descendant: None,
        }
    }

    /// True when this component may name `candidate` (`*` in an entry matches anything).
    fn may_match(&self, candidate: &str, dotglob: bool) -> bool {
        if let Some(may_be_git) = self.descendant {
            return candidate != ".." && (may_be_git || !candidate.eq_ignore_ascii_case(".git"));
        }
        if candidate == "*" {
            return true;
        }
        match &self.pattern {
            None => self.name == candidate,
            Some(pattern) => pattern_may_match(pattern, candidate, dotglob, false),
        }
    }

    fn may_match_git(&self, dotglob: bool) -> bool {
        if let Some(may_be_git) = self.descendant {
            return may_be_git;
        }
        match &self.pattern {
            None => self.name.eq_ignore_ascii_case(".git"),
            Some(pattern) => pattern_may_match(pattern, ".git", dotglob, true),
        }
    }
}

/// Bash filename-pattern semantics for one component: a leading `.` must be matched by a literal
/// `.` unless `dotglob` is set. Patterns globset cannot express (extglob) match anything.
fn pattern_may_match(
    pattern: &str,
    candidate: &str,
    dotglob: bool,
    case_insensitive: bool,
) -> bool {
    if candidate.starts_with('.') && !dotglob && !pattern.starts_with('.') {
        return false;
    }
    if pattern.contains('(') {
        return true;
    }
    match compiled(pattern, case_insensitive) {
        Some(matcher) => matcher.is_match(candidate),
        None => true,
    }
}

thread_local! {
    /// Compiled component patterns: one pattern is matched against many candidates.
    static MATCHERS: std::cell::RefCell<std::collections::HashMap<(String, bool), Option<GlobMatcher>>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
}

/// `pattern` as a matcher, `None` when globset cannot compile it.
fn compiled(pattern: &str, case_insensitive: bool) -> Option<GlobMatcher> {
    const MAX_CACHED: usize = 512;
    let key = (pattern.to_string(), case_insensitive);
    if let Some(found) = MATCHERS.with(|m| m.borrow().get(&key).cloned()) {
        return found;
    }
    let matcher = GlobBuilder::new(&bash_class_negation(pattern))
        .literal_separator(true)
        .backslash_escape(true)
        .case_insensitive(case_insensitive)
        .build()
        .ok()
        .map(|g| g.compile_matcher());
    MATCHERS.with(|m| {
        let mut map = m.borrow_mut();
        if map.len() >= MAX_CACHED {
            map.clear();
        }
        map.insert(key, matcher.clone());
    });
    matcher
}

/// Bash accepts `[^...]` as well as `[!...]` for a negated class; globset only the latter.
pub(crate) fn bash_class_negation(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    let mut chars = pattern.chars().peekable();
    let mut escaped = false;
    while let Some(c) = chars.next() {
        out.push(c);
        if escaped {
            escaped = false;
            continue;
        }
        if c == '\\' {
            escaped = true;
        } else if c == '[' && chars.peek() == Some(&'^') {
            chars.next();
            out.push('!');
        }
    }
    out
}

/// The anchor of a normalised path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Anchor {
    Root,
    Home,
}

/// A credential store: a home-relative or absolute prefix; `*` stands for any one component.
struct CredentialEntry {
    anchor: Anchor,
    components: &'static [&'static str],
}

const fn home(components: &'static [&'static str]) -> CredentialEntry {
    CredentialEntry {
        anchor: Anchor::Home,
        components,
    }
}

const fn root(components: &'static [&'static str]) -> CredentialEntry {
    CredentialEntry {
        anchor: Anchor::Root,
        components,
    }
}

/// Credential stores of the tools an agent may meet. Reading any of them is never needed to
/// change code, and each can hold a token that outlives the task.
const CREDENTIAL_STORES: &[CredentialEntry] = &[
    home(&[".ssh"]),
    home(&[".aws"]),
    home(&[".config", "gh"]),
    home(&[".config", "hub"]),
    home(&[".config", "gcloud"]),
    home(&[".config", "git", "credentials"]),
    home(&[".config", "op"]),
    home(&[".azure"]),
    home(&[".docker", "config.json"]),
    home(&[".kube"]),
    home(&[".gnupg"]),
    home(&[".netrc"]),
    home(&[".git-credentials"]),
    home(&[".npmrc"]),
    home(&[".yarnrc.yml"]),
    home(&[".pypirc"]),
    home(&[".cargo", "credentials"]),
    home(&[".cargo", "credentials.toml"]),
    home(&[".gem", "credentials"]),
    home(&[".vault-token"]),
    home(&[".terraform.d", "credentials.tfrc.json"]),
    home(&[".password-store"]),
    home(&[".local", "share", "keyrings"]),
    root(&["proc", "*", "environ"]),
    root(&["proc", "*", "task", "*", "environ"]),
    root(&["etc", "shadow"]),
    root(&["etc", "gshadow"]),
    root(&["run", "secrets"]),
    root(&["var", "run", "secrets"]),
];

/// File names that hold credentials wherever they are, the workspace included.
const CREDENTIAL_FILE_NAMES: &[&str] = &[".netrc", "_netrc", ".git-credentials"];

/// Devices that are as harmless as scratch space.
const SCRATCH_DEVICES: &[&str] = &[
    "null", "zero", "full", "random", "urandom", "stdin", "stdout", "stderr", "tty", "fd",
];

/// A path split into components, before normalisation.
#[derive(Debug, Clone, PartialEq)]
struct RawPath {
    anchor: Anchor,
    components: Vec<Component>,
    /// `..` went above the home directory: the place is some unknown ancestor of `~`.
    above_home: bool,
}

/// Resolves a path word to the places it may name.
///
/// `text` may hold [`HOME`] (an expanded `~`) and [`DYNAMIC`]; `glob` marks, per character of
/// `text`, whether it is an unquoted pattern character (`*`, `?`, `[`); empty means none are.
/// `cwd` is the working directory (absolute or starting with [`HOME`]), `None` when unknown.
pub(crate) fn resolve(
    text: &str,
    glob: &[bool],
    cwd: Option<&str>,
    dotglob: bool,
) -> Vec<PathInfo> {
    let unknown = |display: String| PathInfo {
        display,
        location: Location::Unknown,
        contains_git: false,
        credential: false,
        glob: false,
    };
    if text.contains('\0') {
        return vec![unknown(shown(text))];
    }
    if text.contains(DYNAMIC) {
        // Where it lands is unknown, but `/proc/$$/environ` still names a credential store:
        // unknown parts are matched as wildcards.
        let wildcard: String = text
            .chars()
            .map(|c| if c == DYNAMIC { FIND_ANY } else { c })
            .collect();
        let split_path = split(&wildcard, &[]);
        let credential = match (split_path.anchor_known, cwd) {
            (true, _) => is_credential(&normalise(split_path.path), dotglob),
            (false, Some(cwd)) => {
                let mut base = split(cwd, &[]).path;
                base.components.extend(split_path.path.components);
                is_credential(&normalise(base), dotglob)
            }
            (false, None) => false,
        };
        let mut info = unknown(shown(text));
        info.credential = credential;
        return vec![info];
    }
    let has_glob =
        glob.iter().any(|g| *g) || text.contains([FIND_ANY, FIND_NOT_GIT, FIND_FILTERED]);
    let own = split(text, glob);
    let raw = match own.anchor_known {
        true => own.path,
        false => match cwd {
            None => return vec![unknown(shown(text))],
            Some(cwd) => {
                let mut base = split(cwd, &[]).path;
                base.components.extend(own.path.components);
                base
            }
        },
    };
    // Old shells let `.*` match `..`; follow the first component that may do so upwards too.
    let upwards = raw.components.iter().position(|c| {
        c.pattern
            .as_deref()
            .is_some_and(|p| p.starts_with('.') && pattern_may_match(p, "..", true, false))
    });
    let mut variants = Vec::with_capacity(2);
    if let Some(index) = upwards {
        let mut up = raw.clone();
        up.components[index] = Component::literal("..");
        variants.push(up);
    }
    variants.push(raw);
    let mut out: Vec<PathInfo> = variants
        .into_iter()
        .map(|v| classify(normalise(v), has_glob, dotglob))
        .collect();
    out.sort();
    out.dedup();
    out
}

#[derive(Debug, PartialEq)]
struct Split {
    anchor_known: bool,
    path: RawPath,
}

fn split(text: &str, glob: &[bool]) -> Split {
    let (anchor, anchor_known, rest, mut index) = match text.chars().next() {
        Some('/') => (Anchor::Root, true, text, 0),
        Some(HOME) => (Anchor::Home, true, &text[HOME.len_utf8()..], 1),
        _ => (Anchor::Root, false, text, 0),
    };
    let mut components = Vec::new();
    // `index` counts characters, as `glob` does.
    for name in rest.split('/') {
        let length = name.chars().count();
        if !name.is_empty() {
            components.push(component(name, glob, index, length));
        }
        index += length + 1;
    }
    Split {
        anchor_known,
        path: RawPath {
            anchor,
            components,
            above_home: false,
        },
    }
}

/// The component `name`, whose first character is character `start` of the word `glob`
/// describes.
fn component(name: &str, glob: &[bool], start: usize, length: usize) -> Component {
    let descendant = if name.contains(FIND_ANY) || name.contains(FIND_FILTERED) {
        Some(true)
    } else if name.contains(FIND_NOT_GIT) {
        Some(false)
    } else {
        None
    };
    let special = |i: usize| glob.get(start + i).copied().unwrap_or(false);
    let is_pattern = descendant.is_none() && (0..length).any(special);
    // Characters that are not unquoted pattern characters match themselves: escaped.
    let pattern = is_pattern.then(|| {
        let mut pattern = String::with_capacity(name.len() + 4);
        for (i, c) in name.chars().enumerate() {
            if !special(i) && matches!(c, '*' | '?' | '[' | ']' | '{' | '}' | '\\' | '!') {
                pattern.push('\\');
            }
            pattern.push(c);
        }
        pattern
    });
    Component {
        name: name.to_string(),
        pattern,
        descendant,
    }
}

fn normalise(raw: RawPath) -> RawPath {
    let mut out: Vec<Component> = Vec::with_capacity(raw.components.len());
    let mut above_home = raw.above_home;
    for component in raw.components {
        let literal = component.pattern.is_none() && component.descendant.is_none();
        match (literal, component.name.as_str()) {
            (true, ".") => {}
            (true, "..") => {
                if out.pop().is_none() && raw.anchor == Anchor::Home {
                    above_home = true;
                }
            }
            _ => out.push(component),
        }
    }
    RawPath {
        anchor: raw.anchor,
        components: out,
        above_home,
    }
}

fn classify(path: RawPath, glob: bool, dotglob: bool) -> PathInfo {
    let shown_names: Vec<String> = path.components.iter().map(|c| shown(&c.name)).collect();
    let names: Vec<&str> = shown_names.iter().map(|n| n.as_str()).collect();
    let credential = is_credential(&path, dotglob);
    if path.anchor == Anchor::Home {
        let display = if path.above_home {
            format!("~/../{}", names.join("/"))
        } else if names.is_empty() {
            "~".to_string()
        } else {
            format!("~/{}", names.join("/"))
        };
        return PathInfo {
            display,
            location: if path.above_home {
                Location::System
            } else {
                Location::Home
            },
            // Above home may be `/`, which holds the workspace.
            contains_git: path.above_home,
            credential,
            glob,
        };
    }
    let absolute = format!("/{}", names.join("/"));
    let first = path.components.first();
    let first_is_pattern = first.is_some_and(|c| c.pattern.is_some() || c.descendant.is_some());
    let under_workspace = first
        .is_some_and(|c| c.pattern.is_none() && c.descendant.is_none() && c.name == "workspace");
    let contains_git = match path.components.len() {
        0 => true,
        1 => path.components[0].may_match("workspace", dotglob),
        _ => false,
    };
    if under_workspace {
        let rest = &path.components[1..];
        // "Anything below" reaches `.git` only from the workspace root; nested repositories
        // are not considered there (a literal or pattern `.git` anywhere still counts).
        let in_git = rest.iter().enumerate().any(|(i, c)| {
            if c.descendant.is_some() {
                i == 0 && c.may_match_git(dotglob)
            } else {
                c.may_match_git(dotglob)
            }
        });
        let display = if rest.is_empty() {
            ".".to_string()
        } else {
            names[1..].join("/")
        };
        return PathInfo {
            display,
            location: if in_git {
                Location::Git
            } else {
                Location::Workspace
            },
            contains_git,
            credential,
            glob,
        };
    }
    let location = if names.is_empty() || first_is_pattern {
        Location::System
    } else {
        match names.as_slice() {
            ["tmp", ..] | ["var", "tmp", ..] | ["dev", "shm", ..] => Location::Scratch,
            ["dev", device, ..] if SCRATCH_DEVICES.contains(device) => Location::Scratch,
            ["proc", "self", "fd", ..] => Location::Scratch,
            ["dev", ..] => Location::Device,
            ["root", ..] | ["home", ..] => Location::Home,
            _ => Location::System,
        }
    };
    PathInfo {
        display: absolute,
        location,
        contains_git,
        credential,
        glob,
    }
}

fn is_credential(path: &RawPath, dotglob: bool) -> bool {
    // A bare `*` may name a `_netrc` anywhere; only patterns that spell part of the name count.
    if let Some(last) = path.components.last()
        && last.descendant.is_none()
        && (last.pattern.is_none()
            || last.name.to_ascii_lowercase().contains("netrc")
            || last.name.to_ascii_lowercase().contains("cred"))
        && CREDENTIAL_FILE_NAMES
            .iter()
            .any(|name| last.may_match(name, dotglob))
    {
        return true;
    }
    // Home-relative components: `~/x`, `/root/x`, `/home/<user>/x`.
    let home_relative: Option<&[Component]> = match path.anchor {
        Anchor::Home if !path.above_home => Some(&path.components),
        Anchor::Home => None,
        Anchor::Root => match path.components.as_slice() {
            [first, rest @ ..] if first.may_match("root", dotglob) => Some(rest),
            [first, _, rest @ ..] if first.may_match("home", dotglob) => Some(rest),
            _ => None,
        },
    };
    CREDENTIAL_STORES.iter().any(|entry| {
        let components: &[Component] = match entry.anchor {
            Anchor::Home => match home_relative {
                Some(c) => c,
                None => return false,
            },
            Anchor::Root => {
                if path.anchor != Anchor::Root {
                    return false;
                }
                &path.components
            }
        };
        components.len() >= entry.components.len()
            && entry
                .components
                .iter()
                .zip(components)
                .all(|(want, have)| have.may_match(want, dotglob))
    })
}

/// The previous implementation of [`split`], to check the faster one against.
#[cfg(test)]
fn split_reference(text: &str, glob: &[bool]) -> Split {
    let chars: Vec<char> = text.chars().collect();
    let (anchor, anchor_known, start) = match chars.first() {
        Some('/') => (Anchor::Root, true, 0),
        Some(&c) if c == HOME => (Anchor::Home, true, 1),
        _ => (Anchor::Root, false, 0),
    };
    let mut components = Vec::new();
    let mut name = String::new();
    let mut pattern = String::new();
    let mut is_pattern = false;
    let flush = |name: &mut String,
                 pattern: &mut String,
                 is_pattern: &mut bool,
                 components: &mut Vec<Component>| {
        if !name.is_empty() {
            let descendant = if name.contains(FIND_ANY) || name.contains(FIND_FILTERED) {
                Some(true)
            } else if name.contains(FIND_NOT_GIT) {
                Some(false)
            } else {
                None
            };
            components.push(Component {
                name: std::mem::take(name),
                pattern: (*is_pattern && descendant.is_none()).then(|| std::mem::take(pattern)),
                descendant,
            });
        }
        pattern.clear();
        *is_pattern = false;
    };
    for (i, &c) in chars.iter().enumerate().skip(start) {
        if c == '/' {
            flush(&mut name, &mut pattern, &mut is_pattern, &mut components);
            continue;
        }
        name.push(c);
        let special = glob.get(i).copied().unwrap_or(false);
        if special {
            is_pattern = true;
            pattern.push(c);
        } else {
            if matches!(c, '*' | '?' | '[' | ']' | '{' | '}' | '\\' | '!') {
                pattern.push('\\');
            }
            pattern.push(c);
        }
    }
    flush(&mut name, &mut pattern, &mut is_pattern, &mut components);
    Split {
        anchor_known,
        path: RawPath {
            anchor,
            components,
            above_home: false,
        },
    }
}

/// Shows a path word to people: sentinels become `~`, `…` and `<found>`.
pub(crate) fn shown(text: &str) -> String {
    if !text.contains([HOME, DYNAMIC, FIND_ANY, FIND_NOT_GIT, FIND_FILTERED]) {
        return text.to_string();
    }
    text.replace(HOME, "~")
        .replace(DYNAMIC, "…")
        .replace(FIND_ANY, "<found>")
        .replace([FIND_NOT_GIT, FIND_FILTERED], "<matching>")
}

/// The directory `cd target` leads to from `cwd`, normalised (absolute or [`HOME`]-anchored);
/// `None` when it cannot be known.
pub(crate) fn join_dir(cwd: &str, target: &str) -> Option<String> {
    if target.contains([DYNAMIC, FIND_ANY, FIND_NOT_GIT, FIND_FILTERED, '\0']) {
        return None;
    }
    let own = split(target, &[]);
    let raw = if own.anchor_known {
        own.path
    } else {
        let mut base = split(cwd, &[]).path;
        base.components.extend(own.path.components);
        base
    };
    let normal = normalise(raw);
    if normal.above_home {
        return None;
    }
    let joined: Vec<&str> = normal.components.iter().map(|c| c.name.as_str()).collect();
    Some(match normal.anchor {
        Anchor::Root => format!("/{}", joined.join("/")),
        Anchor::Home if joined.is_empty() => HOME.to_string(),
        Anchor::Home => format!("{HOME}/{}", joined.join("/")),
    })
}

/// Resolves a path given to a file tool: relative to the workspace root, taken literally (no
/// globs), except that a leading `~` or `$HOME` is treated as the home directory.
pub fn resolve_tool_path(path: &str) -> PathInfo {
    let expanded = if let Some(rest) = path.strip_prefix("$HOME").or(path.strip_prefix("${HOME}")) {
        format!("{HOME}{rest}")
    } else if path == "~" || path.starts_with("~/") {
        format!("{HOME}{}", &path[1..])
    } else {
        path.to_string()
    };
    let expanded = expanded.replace([DYNAMIC, FIND_ANY, FIND_NOT_GIT, FIND_FILTERED], "\u{FFFD}");
    resolve(&expanded, &[], Some(WORKSPACE_ROOT), false)
        .into_iter()
        .next()
        .unwrap_or(PathInfo {
            display: path.to_string(),
            location: Location::Unknown,
            contains_git: false,
            credential: false,
            glob: false,
        })
}

pub use crate::protected::ProtectedPaths;

#[cfg(test)]
#[path = "paths_tests.rs"]
mod tests;
