//! `drydock scan` and `drydock redact`: the task's redactor, on files, diffs and streams.

use std::process::ExitCode;

use drydock_forge::Git;
use drydock_orchestrator::build_redactor;
use drydock_secrets::Redactor;

use crate::cli::{GlobalArgs, ScanArgs};
use crate::output::{CliError, print_json};
use crate::{context, exit};

fn redactor(global: &GlobalArgs) -> Result<Redactor, CliError> {
    let (config, config_dir) = context::config(global)?;
    build_redactor(&config, &config_dir, &|name: &str| std::env::var(name).ok())
        .map_err(|err| CliError::input(err.to_string()))
}

pub async fn scan(global: &GlobalArgs, args: ScanArgs) -> Result<ExitCode, CliError> {
    let redactor = redactor(global)?;
    let (findings, summary): (Vec<serde_json::Value>, String) = match &args.diff {
        Some(range) => {
            if range.starts_with('-') || !range.contains("..") {
                return Err(CliError::input(format!(
                    "--diff takes a range A..B, not {range:?}"
                )));
            }
            let repo = args.repo.clone().unwrap_or_else(|| ".".into());
            let git = Git::new().map_err(|err| CliError::input(format!("git is needed: {err}")))?;
            let output = git
                .run(
                    &repo,
                    ["diff", "--no-color", "--no-ext-diff", range.as_str(), "--"],
                )
                .await
                .map_err(|err| {
                    CliError::input(format!("git diff {range} in {}: {err}", repo.display()))
                })?;
            let found = redactor.scan_diff(&output.text());
            let summary = format!("scanned the lines added in {range}");
            (
                found.iter().map(|f| serde_json::json!(f)).collect(),
                summary,
            )
        }
        None => {
            let report = redactor
                .scan_paths(&args.paths)
                .map_err(|err| CliError::input(err.to_string()))?;
            for skipped in &report.skipped {
                if !global.json {
                    eprintln!("skipped {}: {}", skipped.path, skipped.reason);
                }
            }
            let summary = format!(
                "scanned {} files ({} bytes)",
                report.files_scanned, report.bytes_scanned
            );
            (
                report
                    .findings
                    .iter()
                    .map(|f| serde_json::json!(f))
                    .collect(),
                summary,
            )
        }
    };
    if global.json {
        print_json(&serde_json::json!({ "found": !findings.is_empty(), "findings": findings }));
    } else {
        for finding in &findings {
            let line = finding["line"]
                .as_u64()
                .map(|l| format!(":{l}"))
                .unwrap_or_default();
            crate::outln!(
                "{}{line}  {}",
                finding["path"].as_str().unwrap_or(""),
                finding["rule"].as_str().unwrap_or("")
            );
        }
        crate::outln!("{summary}: {} secrets found", findings.len());
    }
    Ok(ExitCode::from(if findings.is_empty() {
        exit::SUCCESS
    } else {
        exit::FAILED
    }))
}

pub async fn redact(global: &GlobalArgs) -> Result<ExitCode, CliError> {
    let redactor = redactor(global)?;
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    let summary = redactor
        .copy_redacted(stdin.lock(), stdout.lock())
        .map_err(|err| CliError::internal(format!("redacting stdin: {err}")))?;
    let total: u64 = summary.counts.values().sum();
    if total > 0 && !global.json {
        let rules: Vec<String> = summary
            .counts
            .iter()
            .map(|(rule, n)| format!("{rule} ×{n}"))
            .collect();
        eprintln!(
            "drydock redact: {total} secrets replaced ({})",
            rules.join(", ")
        );
    }
    Ok(ExitCode::SUCCESS)
}
