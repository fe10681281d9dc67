//! The `ssegate` binary: the command line (`cli`), logging set-up, signals and the runtime,
//! around the library's [`ssegate::Server`] and client.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = cli::parse();
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
