use pretty_assertions::assert_eq;

use super::*;
use crate::fixtures::{FakeRng, expand};
use crate::{KnownSecret, RuleSet};

fn redactor() -> Redactor {
    Redactor::new(
        RuleSet::builtin(),
        vec![KnownSecret::new("FORGE_TOKEN", "zQ7vX2pL9kR4mN8wT1yB6cF3")],
    )
    .unwrap()
}

fn finding(path: &str, line: usize, rule: &str, kind: FindingKind) -> DiffFinding {
    DiffFinding {
        path: path.into(),
        line: Some(line),
        rule: rule.into(),
        kind,
    }
}

#[test]
fn only_added_lines_count_with_new_file_line_numbers() {
    let diff = expand(
        "diff --git a/app/config.py b/app/config.py
index 1111111..2222222 100644
--- a/app/config.py
+++ b/app/config.py
@@ -10,7 +10,8 @@ import os
 DEBUG = False
-OLD_TOKEN = \"ghp_{{alnum:36}}\"
+GITHUB_TOKEN = os.environ[\"GITHUB_TOKEN\"]
 
+FORGE = \"zQ7vX2pL9kR4mN8wT1yB6cF3\"
 x = 1
@@ -40,3 +41,4 @@ def f():
     pass
+    api_key = \"ghp_{{alnum:36}}\"
     return 1
diff --git a/README.md b/README.md
deleted file mode 100644
--- a/README.md
+++ /dev/null
@@ -1,2 +0,0 @@
-password = \"hT8kZ2pQ9wXv3LmN\"
-bye
diff --git \"a/d\\303\\251j\\303\\240 vu.env\" \"b/d\\303\\251j\\303\\240 vu.env\"
new file mode 100644
--- /dev/null
+++ \"b/d\\303\\251j\\303\\240 vu.env\"
@@ -0,0 +1,2 @@
+SAFE=1
+DB_PASSWORD=hT8kZ2pQ9wXv3LmN
",
        &mut FakeRng::new(1),
    )
    .text;
    let findings = redactor().scan_diff(&diff);
    assert_eq!(
        findings,
        vec![
            finding("app/config.py", 13, "FORGE_TOKEN", FindingKind::KnownValue),
            finding("app/config.py", 42, "github-pat", FindingKind::Rule),
            finding("déjà vu.env", 2, "generic-secret", FindingKind::Rule),
        ]
    );
}

#[test]
fn added_lines_that_look_like_headers_are_content() {
    let diff = "diff --git a/x.txt b/x.txt
--- a/x.txt
+++ b/x.txt
@@ -1 +1,3 @@
-old
+++ b/not-a-header password=\"hT8kZ2pQ9wXv3LmN\"
+--- also content
+@@ -1 +1 @@ token: \"Zq8xYyw3kLp0Tr0ub4\"
";
    let findings = redactor().scan_diff(diff);
    assert_eq!(
        findings,
        vec![
            finding("x.txt", 1, "generic-secret", FindingKind::Rule),
            finding("x.txt", 3, "generic-secret", FindingKind::Rule),
        ]
    );
}

#[test]
fn a_private_key_added_across_lines_is_one_finding() {
    let key = expand(
        "-----BEGIN OPENSSH PRIVATE KEY-----\n{{b64:70}}\n{{b64:70}}\n-----END OPENSSH PRIVATE KEY-----",
        &mut FakeRng::new(3),
    )
    .text;
    let added: String = key.lines().map(|line| format!("+{line}\n")).collect();
    let diff = format!(
        "diff --git a/id_ed25519 b/id_ed25519\nnew file mode 100600\n--- /dev/null\n+++ b/id_ed25519\n@@ -0,0 +1,4 @@\n{added}"
    );
    assert_eq!(
        redactor().scan_diff(&diff),
        vec![finding("id_ed25519", 1, "private-key", FindingKind::Rule)]
    );
}

#[test]
fn plain_unified_diffs_and_garbage_do_not_panic() {
    let plain = "--- config.env\t2024-01-01\n+++ config.env\t2024-01-02\n@@ -1 +1 @@\n-A=1\n+GITHUB_TOKEN=zQ7vX2pL9kR4mN8wT1yB6cF3\n";
    assert_eq!(
        redactor().scan_diff(plain),
        vec![finding(
            "config.env",
            1,
            "FORGE_TOKEN",
            FindingKind::KnownValue
        )]
    );
    for garbage in [
        "",
        "\n\n",
        "@@ nonsense @@\n+x",
        "+++ \n",
        "diff --git\n",
        "@@ -1,99999999999999999999 +1 @@\n+a",
    ] {
        let _ = redactor().scan_diff(garbage);
    }
    let bytes = b"diff --git a/b.bin b/b.bin\n--- a/b.bin\n+++ b/b.bin\n@@ -1 +1 @@\n-\xff\n+\xfe zQ7vX2pL9kR4mN8wT1yB6cF3\n";
    assert_eq!(redactor().scan_diff_bytes(bytes).len(), 1);
}

#[test]
fn path_parsing() {
    assert_eq!(parse_path(b"b/src/main.rs"), Some("src/main.rs".into()));
    assert_eq!(parse_path(b"/dev/null"), None);
    assert_eq!(parse_path(b"\"b/tab\\there\""), Some("tab\there".into()));
    assert_eq!(parse_hunk_header(b"@@ -3 +4,0 @@ fn x"), Some((1, 0, 4)));
    assert_eq!(
        git_header_new_path(b"a/some file.txt b/some file.txt"),
        Some("some file.txt".into())
    );
    assert_eq!(
        binary_line_path(b"Binary files a/x.png and b/y z.png differ"),
        Some("y z.png".into())
    );
}
