use pretty_assertions::assert_eq;

use super::*;

fn one(text: &str) -> PathInfo {
    let infos = resolve(text, &[], Some(WORKSPACE_ROOT), false);
    assert_eq!(infos.len(), 1, "{text}: {infos:?}");
    infos.into_iter().next().unwrap()
}

/// A word whose `*`, `?` and `[` are unquoted pattern characters.
fn glob(text: &str) -> Vec<PathInfo> {
    let mask: Vec<bool> = text.chars().map(|c| matches!(c, '*' | '?' | '[')).collect();
    resolve(text, &mask, Some(WORKSPACE_ROOT), false)
}

#[test]
fn workspace_paths_are_shown_relative_to_the_workspace() {
    assert_eq!(
        one("src/../README.md"),
        PathInfo {
            display: "README.md".to_string(),
            location: Location::Workspace,
            contains_git: false,
            credential: false,
            glob: false,
        }
    );
    assert_eq!(one("./src/./lib.rs").display, "src/lib.rs");
    assert_eq!(one("/workspace/src").display, "src");
    assert_eq!(one(".").display, ".");
}

#[test]
fn the_workspace_root_and_slash_contain_git() {
    assert!(one(".").contains_git);
    assert!(one("/workspace").contains_git);
    assert!(one("/").contains_git);
    assert!(one("..").contains_git);
    assert!(!one("src").contains_git);
    assert!(!one("/etc").contains_git);
}

#[test]
fn dot_git_in_any_case_and_at_any_depth_is_git() {
    for path in [
        ".git",
        ".git/hooks/pre-commit",
        ".GIT/config",
        "./.Git",
        "sub/.git/config",
    ] {
        assert_eq!(one(path).location, Location::Git, "{path}");
    }
    for path in [
        ".gitignore",
        ".github/workflows/x.yml",
        "git/config",
        ".git-blame-ignore-revs",
    ] {
        assert_eq!(one(path).location, Location::Workspace, "{path}");
    }
}

#[test]
fn escaping_the_workspace_is_outside_it() {
    assert_eq!(one("../etc").location, Location::System);
    assert_eq!(one("src/../../etc/passwd").display, "/etc/passwd");
    assert_eq!(one("../../../../").display, "/");
    assert_eq!(one("/workspace/../root").location, Location::Home);
}

#[test]
fn scratch_space_and_harmless_devices() {
    for path in [
        "/tmp/x",
        "/var/tmp",
        "/dev/shm/x",
        "/dev/null",
        "/dev/stderr",
        "/dev/fd/3",
        "/proc/self/fd/1",
    ] {
        assert_eq!(one(path).location, Location::Scratch, "{path}");
    }
    for path in [
        "/dev/sda",
        "/dev/nvme0n1",
        "/dev/tcp/example.com/80",
        "/dev/mem",
    ] {
        assert_eq!(one(path).location, Location::Device, "{path}");
    }
}

#[test]
fn home_anchored_paths() {
    let home = format!("{HOME}/.bashrc");
    assert_eq!(one(&home).display, "~/.bashrc");
    assert_eq!(one(&home).location, Location::Home);
    assert_eq!(one(&HOME.to_string()).display, "~");
    // Above the home directory is somewhere on the system, possibly `/`.
    let above = format!("{HOME}/../..");
    assert_eq!(one(&above).location, Location::System);
    assert!(one(&above).contains_git);
    assert_eq!(one("/root/x").location, Location::Home);
    assert_eq!(one("/home/dev/x").location, Location::Home);
}

#[test]
fn credential_stores_are_recognised_wherever_home_is() {
    for path in [
        format!("{HOME}/.ssh/id_rsa"),
        format!("{HOME}/.ssh"),
        format!("{HOME}/.aws/credentials"),
        format!("{HOME}/.config/gh/hosts.yml"),
        format!("{HOME}/.docker/config.json"),
        format!("{HOME}/.netrc"),
        format!("{HOME}/.git-credentials"),
        format!("{HOME}/.kube/config"),
        "/root/.ssh/id_ed25519".to_string(),
        "/home/agent/.aws/config".to_string(),
        "/proc/self/environ".to_string(),
        "/proc/1/environ".to_string(),
        "/proc/self/task/7/environ".to_string(),
        "/etc/shadow".to_string(),
        "/var/run/secrets/kubernetes.io/serviceaccount/token".to_string(),
        ".netrc".to_string(),
        "deep/dir/_netrc".to_string(),
    ] {
        assert!(one(&path).credential, "{path}");
    }
    for path in [
        format!("{HOME}/.bashrc"),
        format!("{HOME}/projects/ssh"),
        "/proc/cpuinfo".to_string(),
        "/proc/self/status".to_string(),
        "src/ssh.rs".to_string(),
        ".ssh".to_string(),
    ] {
        assert!(!one(&path).credential, "{path}");
    }
}

#[test]
fn globs_follow_bash_dot_rules() {
    // `*` does not match `.git`; `.*` and `.g*` do, and `.*` may match `..` in older shells.
    assert!(glob("*").iter().all(|p| p.location == Location::Workspace));
    assert!(glob(".g*").iter().any(|p| p.location == Location::Git));
    let dot_star = glob(".*");
    assert!(dot_star.iter().any(|p| p.location == Location::Git));
    assert!(
        dot_star
            .iter()
            .any(|p| p.location == Location::System && p.contains_git)
    );
    assert!(glob(".[g]it").iter().any(|p| p.location == Location::Git));
    assert!(glob("/w*").iter().all(|p| p.contains_git));
    assert!(glob("/*").iter().all(|p| p.location == Location::System));
    assert!(
        glob("build/*.o")
            .iter()
            .all(|p| p.location == Location::Workspace && p.glob)
    );
}

#[test]
fn globs_can_name_credential_stores() {
    let keys = format!("{HOME}/.s*/id_*");
    let mask: Vec<bool> = keys.chars().map(|c| c == '*').collect();
    assert!(
        resolve(&keys, &mask, Some(WORKSPACE_ROOT), false)
            .iter()
            .any(|p| p.credential)
    );
    assert!(glob("/proc/*/environ").iter().all(|p| p.credential));
    assert!(glob("/pro?/self/env*").iter().all(|p| p.credential));
    // A bare `*` is not taken for a `_netrc` file.
    assert!(glob("*").iter().all(|p| !p.credential));
}

#[test]
fn unknown_parts_make_the_place_unknown_but_keep_credential_shapes() {
    let dynamic = format!("/proc/{DYNAMIC}/environ");
    let info = one(&dynamic);
    assert_eq!(info.location, Location::Unknown);
    assert!(info.credential);
    assert_eq!(info.display, "/proc/…/environ");
    assert_eq!(one(&format!("build/{DYNAMIC}")).location, Location::Unknown);
    assert_eq!(
        resolve("x", &[], None, false)[0].location,
        Location::Unknown
    );
}

#[test]
fn find_descendants_reach_git_only_unfiltered_from_the_root() {
    let any = format!("/workspace/{FIND_ANY}");
    assert_eq!(one(&any).location, Location::Git);
    let filtered = format!("/workspace/{FIND_NOT_GIT}");
    assert_eq!(one(&filtered).location, Location::Workspace);
    let below = format!("/workspace/build/{FIND_ANY}");
    assert_eq!(one(&below).location, Location::Workspace);
    assert_eq!(one(&format!("/{FIND_ANY}")).location, Location::System);
}

#[test]
fn join_dir_follows_cd() {
    assert_eq!(
        join_dir("/workspace", "src").as_deref(),
        Some("/workspace/src")
    );
    assert_eq!(join_dir("/workspace", "../..").as_deref(), Some("/"));
    assert_eq!(join_dir("/workspace", "/etc").as_deref(), Some("/etc"));
    assert_eq!(
        join_dir("/workspace", &format!("{HOME}/x")),
        Some(format!("{HOME}/x"))
    );
    assert_eq!(join_dir(&HOME.to_string(), ".."), None);
    assert_eq!(join_dir("/workspace", &format!("{DYNAMIC}")), None);
}

#[test]
fn tool_paths_are_rechecked() {
    assert_eq!(
        resolve_tool_path("src/lib.rs").location,
        Location::Workspace
    );
    assert_eq!(resolve_tool_path("../x").location, Location::System);
    assert_eq!(resolve_tool_path("/etc/passwd").location, Location::System);
    assert_eq!(resolve_tool_path("~/.ssh/id_rsa").location, Location::Home);
    assert!(resolve_tool_path("~/.ssh/id_rsa").credential);
    assert!(resolve_tool_path("$HOME/.aws/credentials").credential);
    assert!(resolve_tool_path("${HOME}/.aws/credentials").credential);
    // A literal `*` in a tool path is a file name, not a pattern.
    assert!(!resolve_tool_path("*").glob);
    assert_eq!(resolve_tool_path("").display, ".");
}

#[test]
fn protected_paths_match_case_insensitively_and_through_directories() {
    let protected = ProtectedPaths::new(
        &crate::DEFAULT_PROTECTED_PATHS
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>(),
    )
    .unwrap();
    for path in [
        ".github/workflows/ci.yml",
        ".GitHub/Workflows/x.yml",
        "AGENTS.md",
        "docs/AGENTS.md",
        ".drydock.toml",
        "CLAUDE.md",
    ] {
        assert!(protected.is_protected(path, false), "{path}");
    }
    for path in [
        "README.md",
        ".github/ISSUE_TEMPLATE.md",
        "docs/agents-guide.md",
        "src/workflows.rs",
    ] {
        assert!(!protected.is_protected(path, false), "{path}");
    }
    assert!(protected.holds_protected(".github", false));
    assert!(protected.holds_protected(".", false));
    assert!(!protected.holds_protected("src", false));
    // Shell patterns: `*.md` may be AGENTS.md, `*.log` may not.
    assert!(protected.is_protected("*.md", true));
    assert!(!protected.is_protected("*.log", true));
    assert!(protected.holds_protected(".github/*", true));
    assert!(!protected.is_protected("src/<matching>", true));
    assert!(ProtectedPaths::new(&["[".to_string()]).is_err());
}

#[test]
fn splitting_matches_the_previous_implementation() {
    let words = [
        "",
        "/",
        "//",
        "a",
        "a/b",
        "/a//b/",
        "./x/../y",
        "\u{E000}",
        "\u{E000}/.ssh/id_rsa",
        "\u{E000}x/y",
        "*.rs",
        "src/*.r[sx]",
        "a\\*b/c?d/[!x]{1,2}!e",
        "dir/\u{E002}",
        "dir/\u{E003}/x*",
        "a/\u{E004}b*",
        "é/ü*/名前",
        "/proc/\u{E001}/environ",
    ];
    for word in words {
        let length = word.chars().count();
        // Every mask of the first 8 characters, the rest alternating.
        for bits in 0u32..256 {
            let mask: Vec<bool> = (0..length)
                .map(|i| {
                    if i < 8 {
                        bits & (1 << i) != 0
                    } else {
                        i % 2 == 0
                    }
                })
                .collect();
            for glob in [mask.as_slice(), &[]] {
                assert_eq!(
                    split(word, glob),
                    split_reference(word, glob),
                    "{word:?} {glob:?}"
                );
            }
        }
    }
}
