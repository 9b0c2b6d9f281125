//! Errors and JSON output.

use std::process::ExitCode;

use serde::Serialize;

use crate::exit;

/// An error that ends a command, with its exit code.
#[derive(Debug)]
pub struct CliError {
    /// The exit code.
    pub code: u8,
    /// What went wrong and what to do.
    pub message: String,
}

impl CliError {
    /// Bad input (exit 2).
    pub fn input(message: impl Into<String>) -> Self {
        Self {
            code: exit::BAD_INPUT,
            message: message.into(),
        }
    }

    /// A failure of drydock itself (exit 5).
    pub fn internal(message: impl Into<String>) -> Self {
        Self {
            code: exit::INTERNAL,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<drydock_store::StoreError> for CliError {
    fn from(err: drydock_store::StoreError) -> Self {
        match err {
            drydock_store::StoreError::NotFound { .. }
            | drydock_store::StoreError::Ambiguous { .. } => CliError::input(err.to_string()),
            other => CliError::internal(other.to_string()),
        }
    }
}

/// Prints an error (as JSON with `--json`) and returns its exit code.
pub fn fail(err: &CliError, json: bool) -> ExitCode {
    if json {
        print_json(&serde_json::json!({ "error": err.message, "exit_code": err.code }));
    } else {
        eprintln!("drydock: {}", err.message);
    }
    ExitCode::from(err.code)
}

/// Prints one JSON document on stdout.
pub fn print_json<T: Serialize>(value: &T) {
    match serde_json::to_string_pretty(value) {
        Ok(text) => write_stdout(format_args!("{text}\n")),
        Err(err) => eprintln!("drydock: cannot encode the output as JSON: {err}"),
    }
}

/// Writes to stdout; when the reader has gone away (`drydock show | head`), exits quietly.
pub fn write_stdout(args: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    if let Err(err) = stdout.write_fmt(args) {
        if err.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("drydock: cannot write to stdout: {err}");
        std::process::exit(i32::from(exit::INTERNAL));
    }
}

/// `println!` that survives a closed stdout.
#[macro_export]
macro_rules! outln {
    () => { $crate::output::write_stdout(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::output::write_stdout(format_args!("{}\n", format_args!($($arg)*))) };
}

/// `print!` that survives a closed stdout.
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => { $crate::output::write_stdout(format_args!($($arg)*)) };
}
