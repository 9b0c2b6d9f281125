use std::fs;

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

#[test]
fn walks_directories_honouring_gitignore_and_skipping_binaries() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    fs::create_dir_all(root.join("src")).unwrap();
    fs::create_dir_all(root.join("target")).unwrap();
    fs::create_dir_all(root.join(".git")).unwrap();
    fs::write(root.join(".gitignore"), "target/\n").unwrap();
    let token = expand("ghp_{{alnum:36}}", &mut FakeRng::new(1)).text;
    fs::write(
        root.join("src/lib.rs"),
        format!("// nothing\nconst T: &str = \"{token}\";\n"),
    )
    .unwrap();
    fs::write(root.join(".env"), "DB_PASSWORD=hT8kZ2pQ9wXv3LmN\n").unwrap();
    fs::write(root.join("target/out.txt"), format!("{token}\n")).unwrap();
    fs::write(root.join(".git/config"), format!("{token}\n")).unwrap();
    fs::write(
        root.join("image.png"),
        [0x89, b'P', b'N', b'G', 0, 0, b'g', b'h', b'p'],
    )
    .unwrap();
    fs::write(
        root.join("Cargo.lock"),
        "checksum = \"3f1c5a4f9a2b7e7d0f1e2d3c4b5a69788796a5b4c3d2e1f0a1b2c3d4e5f60718\"\n",
    )
    .unwrap();

    let report = redactor().scan_paths(&[root.to_path_buf()]).unwrap();
    let found: Vec<(String, Option<usize>, &str)> = report
        .findings
        .iter()
        .map(|f| {
            (
                f.path
                    .strip_prefix(&*root.to_string_lossy())
                    .unwrap_or(&f.path)
                    .to_string(),
                f.line,
                f.rule.as_str(),
            )
        })
        .collect();
    assert_eq!(
        found,
        vec![
            ("/.env".to_string(), Some(1), "generic-secret"),
            ("/src/lib.rs".to_string(), Some(2), "github-pat"),
        ]
    );
    assert!(report.found_any());
    assert_eq!(report.skipped.len(), 1);
    assert!(report.skipped[0].path.ends_with("image.png") && report.skipped[0].reason == "binary");
    assert_eq!(report.files_scanned, 4);
    let json = serde_json::to_string(&report).unwrap();
    assert!(!json.contains(&token) && !json.contains("hT8kZ2"), "{json}");
}

#[test]
fn single_files_missing_paths_and_allowlisted_paths() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("notes.txt");
    fs::write(&file, "the token is zQ7vX2pL9kR4mN8wT1yB6cF3\n").unwrap();
    let report = redactor().scan_paths(std::slice::from_ref(&file)).unwrap();
    assert_eq!(report.findings.len(), 1);
    assert_eq!(report.findings[0].rule, "FORGE_TOKEN");

    let missing = dir.path().join("nope");
    let error = redactor().scan_paths(&[missing]).unwrap_err().to_string();
    assert!(error.contains("nope"), "{error}");

    let config = crate::SecretsConfig {
        allowlist: crate::AllowlistConfig {
            paths: vec!["**/notes.txt".into()],
            ..Default::default()
        },
        ..Default::default()
    };
    let allowlisted = Redactor::new(config.rule_set(dir.path()).unwrap(), Vec::new()).unwrap();
    let report = allowlisted.scan_paths(&[file]).unwrap();
    assert!(report.findings.is_empty());
    assert_eq!(report.skipped[0].reason, "allowlisted");
}

#[test]
fn copy_redacted_streams_and_counts() {
    let redactor = redactor();
    let mut input = Vec::new();
    for i in 0..20_000 {
        input
            .extend_from_slice(format!("line {i} token zQ7vX2pL9kR4mN8wT1yB6cF3 end\n").as_bytes());
    }
    input.extend_from_slice(&[0xff, 0xfe, b'\n']);
    let mut output = Vec::new();
    let summary = redactor.copy_redacted(&input[..], &mut output).unwrap();
    assert_eq!(summary.bytes_in, input.len() as u64);
    assert_eq!(summary.bytes_out, output.len() as u64);
    assert_eq!(summary.counts.get("FORGE_TOKEN"), Some(&20_000));
    assert_eq!(output, redactor.redact_bytes(&input).bytes);
    assert!(output.ends_with(&[0xff, 0xfe, b'\n']));
}

#[test]
fn copy_redacted_reports_write_errors() {
    struct Broken;
    impl std::io::Write for Broken {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::new(
                std::io::ErrorKind::BrokenPipe,
                "closed",
            ))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let error = redactor()
        .copy_redacted(&b"x\n".repeat(100_000)[..], Broken)
        .unwrap_err();
    assert!(error.to_string().contains("writing"), "{error}");
}
