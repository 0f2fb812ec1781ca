//! The edge: parse the command line, set up logging, run the command, print
//! the error once and exit with its code (SPEC section 2).

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    limit_malloc_arenas();
    let cli = orgsync::cli::Cli::parse();
    orgsync::commands::init_logging(&cli.log);
    orgsync::commands::dispatch(cli).into()
}

/// A run decodes and writes on one thread, but the object-store runtime
/// (bucket uploads), the sandbox and tokio's blocking pool have threads of
/// their own; with glibc's default of one arena per thread, memory freed by
/// one thread would sit in several arenas at once. Two arenas hold it in
/// fewer places (`make bench`: lower peak RSS at equal CPU when pages were
/// decoded on worker threads; see README, Performance). `MALLOC_ARENA_MAX`
/// in the environment still wins: glibc reads it first.
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: mallopt only sets a tunable of the allocator; it is called
        // before any other thread exists.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 2);
        }
    }
}
