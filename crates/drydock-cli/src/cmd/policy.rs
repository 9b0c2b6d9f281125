//! `drydock policy check` and `drydock policy test`.

use std::process::ExitCode;

use drydock_core::{AuthorAssociation, Principal, TaskKind};
use drydock_forge::LocalRepo;
use drydock_policy::{PolicyEngine, RepoPolicy, check_command, test_rules};

use crate::cli::{GlobalArgs, PolicyCheckArgs, PolicyTestArgs};
use crate::context;
use crate::output::{CliError, print_json};

pub async fn check(global: &GlobalArgs, args: PolicyCheckArgs) -> Result<ExitCode, CliError> {
    let (config, _) = context::config(global)?;
    let association = parse_association(&args.author)?;
    let (repo_policy, repo_name) = match &args.repo {
        Some(dir) => {
            let repo = LocalRepo::open(dir)
                .await
                .map_err(|err| CliError::input(err.to_string()))?;
            let name = repo
                .root()
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            (repo_policy_at_head(&repo).await?, name)
        }
        None => (None, "repo".to_string()),
    };
    let engine = PolicyEngine::new(&config.policy, repo_policy.as_ref())
        .map_err(|err| CliError::input(format!("policy: {err}")))?;
    let principal = Principal {
        task_kind: TaskKind::NewTask,
        author_association: association,
        repo: repo_name,
        branch: "drydock/check".into(),
    };
    let command = args.command.join(" ");
    let report = check_command(&engine, &principal, &command);
    if global.json {
        print_json(&report);
    } else {
        crate::out!("{}", report.to_text());
    }
    Ok(ExitCode::from(u8::try_from(report.exit_code).unwrap_or(1)))
}

pub async fn test(global: &GlobalArgs, args: PolicyTestArgs) -> Result<ExitCode, CliError> {
    let (config, _) = context::config(global)?;
    let report = test_rules(&config.policy, None, &args.files);
    if global.json {
        print_json(&report);
    } else {
        crate::out!("{}", report.to_text());
    }
    Ok(if report.passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn repo_policy_at_head(repo: &LocalRepo) -> Result<Option<RepoPolicy>, CliError> {
    let bytes = repo
        .read_file_at_head(".drydock.toml")
        .await
        .map_err(|err| CliError::input(err.to_string()))?;
    let Some(bytes) = bytes else { return Ok(None) };
    let text = String::from_utf8(bytes)
        .map_err(|_| CliError::input(".drydock.toml at HEAD is not UTF-8 text"))?;
    RepoPolicy::from_drydock_toml(&text)
        .map(Some)
        .map_err(|err| CliError::input(err.to_string()))
}

fn parse_association(text: &str) -> Result<AuthorAssociation, CliError> {
    serde_json::from_value(serde_json::Value::String(text.to_ascii_lowercase())).map_err(|_| {
        CliError::input(format!(
            "unknown author association {text:?}: owner, member, collaborator, contributor, none or bot"
        ))
    })
}
