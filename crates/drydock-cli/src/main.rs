//! The `drydock` command.

mod bench;
mod cli;
mod cmd;
mod context;
mod demo;
mod exit;
mod output;
mod progress;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // The sandbox's inner stage is this same executable; it must take over before anything else
    // (no runtime, no threads) when drydock re-executes itself inside bubblewrap.
    drydock_sandbox::run_stage_if_requested();
    let cli = cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("drydock: cannot start the async runtime: {err}");
            return ExitCode::from(exit::INTERNAL);
        }
    };
    let json = cli.global.json;
    match runtime.block_on(cmd::dispatch(cli)) {
        Ok(code) => code,
        Err(err) => output::fail(&err, json),
    }
}
