//! `drydock config schema` and `drydock config show`.

use std::process::ExitCode;

use drydock_orchestrator::config::{config_schema, repo_config_schema};

use crate::cli::GlobalArgs;
use crate::context;
use crate::output::{CliError, print_json};

pub fn schema(_global: &GlobalArgs) -> Result<ExitCode, CliError> {
    print_json(&serde_json::json!({
        "drydock.toml": config_schema(),
        ".drydock.toml": repo_config_schema(),
    }));
    Ok(ExitCode::SUCCESS)
}

pub fn show(global: &GlobalArgs) -> Result<ExitCode, CliError> {
    let (config, _) = context::config(global)?;
    if global.json {
        print_json(&config);
    } else {
        let text = toml::to_string_pretty(&config)
            .map_err(|err| CliError::internal(format!("cannot print the configuration: {err}")))?;
        crate::out!("{text}");
    }
    Ok(ExitCode::SUCCESS)
}
