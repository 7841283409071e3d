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
            eprintln!("journeyd: error: {}", describe(&err));
            if cli::is_usage_error(&err) {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

/// The error and its causes, each said once: most of journeyd's errors already quote their
/// cause in their own message.
fn describe(err: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in err.chain() {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&cause);
        }
    }
    text
}
