//! One module per command family.

mod approval;
mod config;
mod inspect;
mod policy;
mod run;
mod sandbox;
mod scan;

use std::process::ExitCode;

pub use run::demo_repo_in;

use crate::cli::{
    AuditCommand, Cli, Command, ConfigCommand, PolicyCommand, PrCommand, SandboxCommand,
};
use crate::output::CliError;

/// Runs the command the user asked for.
pub async fn dispatch(cli: Cli) -> Result<ExitCode, CliError> {
    let global = &cli.global;
    match cli.command {
        Command::Run(args) => run::run(global, args).await,
        Command::Demo(args) => run::demo(global, args).await,
        Command::Tasks(args) => inspect::tasks(global, args).await,
        Command::Show(args) => inspect::show(global, args).await,
        Command::Pr(PrCommand::Show(args)) => inspect::pr_show(global, args).await,
        Command::Audit(AuditCommand::Verify(args)) => inspect::audit_verify(global, args).await,
        Command::Approve(args) => approval::answer(global, args, true).await,
        Command::Deny(args) => approval::answer(global, args, false).await,
        Command::Cancel(args) => approval::cancel(global, args).await,
        Command::Sandbox(SandboxCommand::Exec(args)) => sandbox::exec(global, args).await,
        Command::Sandbox(SandboxCommand::Check) => sandbox::check(global).await,
        Command::Policy(PolicyCommand::Check(args)) => policy::check(global, args).await,
        Command::Policy(PolicyCommand::Test(args)) => policy::test(global, args).await,
        Command::Scan(args) => scan::scan(global, args).await,
        Command::Redact => scan::redact(global).await,
        Command::Config(ConfigCommand::Schema) => config::schema(global),
        Command::Config(ConfigCommand::Show) => config::show(global),
        Command::Bench(args) => crate::bench::bench(global, args).await,
    }
}
