//! The edge: parse the command line, set up logging, run the command, print
//! the error once and exit with its code (SPEC section 2).

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = orgsync::cli::Cli::parse();
    orgsync::commands::init_logging(&cli.log);
    orgsync::commands::dispatch(cli).into()
}
