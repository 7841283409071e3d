//! The `journeyd` binary: parses the command line, loads configuration, runs one command.
//! Errors end here, printed with their causes; the exit status is 2 for bad configuration or
//! input, 1 for anything else.

mod cli;

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let args = cli::Cli::parse();
    match cli::execute(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("journeyd: error: {err:#}");
            if cli::is_usage_error(&err) {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
