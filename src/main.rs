//! The `ssegate` binary: the command line (`cli`), logging set-up, signals and the runtime,
//! around the library's [`ssegate::Server`] and client.

mod cli;

use std::process::ExitCode;

use clap::Parser;

use cli::Cli;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let code = e.exit_code();
            let hint = e.hint();
            eprintln!("ssegate: {:#}", anyhow::Error::from(e));
            if let Some(hint) = hint {
                eprintln!("hint: {hint}");
            }
            code
        }
    }
}
