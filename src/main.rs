//! The `ssegate` binary: the command line (`cli`), logging set-up, signals and the runtime,
//! around the library's [`ssegate::Server`] and client.

mod cli;

use std::process::ExitCode;

/// jemalloc rather than glibc's malloc: see `return_freed_memory`.
#[cfg(feature = "jemalloc")]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    #[cfg(feature = "jemalloc")]
    return_freed_memory();
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

#[cfg(feature = "jemalloc")]
/// How long freed pages stay resident before jemalloc gives them back (its default is 10 s).
const DIRTY_DECAY_MS: isize = 1000;

#[cfg(feature = "jemalloc")]
/// Lets jemalloc's background threads give freed pages back to the system within about
/// `DIRTY_DECAY_MS`, even while the server is idle. With glibc's malloc, the memory of a
/// burst of connections (slowloris, churn) stayed resident: glibc returns only the top of a
/// heap, and long-lived allocations pin it (measured: 300 slowloris connections, RSS 30 ->
/// 43 MiB, still 38 MiB 10 s later; `MALLOC_ARENA_MAX` and `MALLOC_TRIM_THRESHOLD_` did
/// not help).
fn return_freed_memory() {
    use tikv_jemalloc_ctl::{background_thread, Access, AsName};
    // Set before the runtime starts threads: arena 0 exists, later ones take the default.
    // A failure costs memory, never correctness, so it is reported and not fatal.
    let set = background_thread::write(true)
        .and_then(|()| b"arenas.dirty_decay_ms\0".name().write(DIRTY_DECAY_MS))
        .and_then(|()| b"arena.0.dirty_decay_ms\0".name().write(DIRTY_DECAY_MS));
    if let Err(e) = set {
        eprintln!("ssegate: jemalloc settings not applied ({e}); freed memory returns later");
    }
}
