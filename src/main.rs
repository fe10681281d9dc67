//! The `ssegate` binary: parses the command line and runs the library's command.

use std::process::ExitCode;

use clap::Parser;
use ssegate::cli::{self, Cli};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let code = e.exit_code();
            eprintln!("ssegate: {:#}", anyhow::Error::from(e));
            code
        }
    }
}
