//! `orgsync run`: every job of the command line in turn, each reported on
//! stdout (or its error on stderr); `--fail-fast` stops at the first
//! failure; the exit code is the first failed job's.

use tracing::Instrument;

use crate::cli::RunArgs;
use crate::exit::{Exit, ExitStatus};
use crate::job::{self, LoadOptions};
use crate::run::{JobOutcome, RunOptions, run_job};

use super::{point_at_sandbox, report_error, start_sandbox};

pub async fn run(args: RunArgs) -> Exit {
    let paths = match job::expand_paths(&args.jobs) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            return Exit::Invalid;
        }
    };
    let sandbox = if args.sandbox {
        match start_sandbox().await {
            Some(s) => Some(s),
            None => return Exit::Failed,
        }
    } else {
        None
    };
    let options = RunOptions {
        out_dir: args.out_dir.clone(),
        max_records: args.max_records,
        dry_run: args.dry_run,
        overwrite: args.overwrite,
    };
    let load = LoadOptions { sandbox: args.sandbox };
    let mut first_failure: Option<Exit> = None;
    let mut failed = 0usize;
    let total = paths.len();
    for path in &paths {
        let exit = match job::load(path, &load) {
            Err(e) => {
                eprintln!("{e}");
                Exit::Invalid
            }
            Ok(mut job) => {
                if let Some(sandbox) = &sandbox {
                    point_at_sandbox(&mut job, sandbox);
                }
                let outcome = tokio::select! {
                    outcome = run_job(&job, &options).instrument(tracing::info_span!("job", name = %job.name)) => outcome,
                    signal = super::shutdown_signal() => {
                        eprintln!("orgsync: {}: interrupted; nothing was published", path.display());
                        return signal;
                    }
                };
                match outcome {
                    Ok(outcome) => {
                        print_outcome(&job.name, &outcome);
                        Exit::Ok
                    }
                    Err(e) => {
                        report_error(Some(path), &e);
                        e.exit()
                    }
                }
            }
        };
        if exit != Exit::Ok {
            failed += 1;
            first_failure.get_or_insert(exit);
            if args.fail_fast {
                break;
            }
        }
    }
    if let Some(sandbox) = sandbox {
        sandbox.shutdown().await;
    }
    if total > 1 && failed > 0 {
        eprintln!("orgsync: {failed} of {total} jobs failed");
    }
    first_failure.unwrap_or(Exit::Ok)
}

fn print_outcome(name: &str, outcome: &JobOutcome) {
    match outcome {
        JobOutcome::DryRun { count, target } => {
            let count = count.map_or_else(|| "unknown".to_string(), |n| n.to_string());
            println!(
                "{name}: dry run ok: {count} records match; would write {}",
                target.display()
            );
        }
        JobOutcome::Published(summary) => println!("{name}: {summary}"),
    }
}
