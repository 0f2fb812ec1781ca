//! `orgsync run`: every job of the command line in turn, each reported on
//! stdout (or its error on stderr); `--fail-fast` stops at the first
//! failure; the exit code is the first failed job's. On SIGINT / SIGTERM the
//! running job is stopped (its checkpoint stays, nothing is published), the
//! rest are not started, and the exit code is 130 / 143; one listener serves
//! the whole invocation, so a signal that comes while a job is publishing
//! stops the run before the next job. After a failure or
//! a signal, a job with finished parts kept says how to resume it.

use tracing::Instrument;

use std::path::Path;

use crate::cli::{ProgressArg, RunArgs};
use crate::exit::{Exit, ExitStatus};
use crate::job::{self, LoadOptions};
use crate::run::{JobOutcome, ProgressMode, RunOptions, run_job};

use super::signals::{Signals, signal_name};
use super::{point_at_sandbox, report_error, start_sandbox};

/// `quiet`: `-q` was given, so no progress bar either.
pub async fn run(args: RunArgs, quiet: bool) -> Exit {
    let paths = match job::expand_paths(&args.jobs) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            return Exit::Invalid;
        }
    };
    let state_dir = args
        .state_dir
        .clone()
        .unwrap_or_else(|| crate::state::state_dir(&args.out_dir));
    let (state_dir, remote_state) = match state_dir.to_str().and_then(crate::sink::object::scheme) {
        None => (state_dir, None),
        Some(_) => match crate::state::RemoteState::open(&state_dir.to_string_lossy()) {
            Ok(r) => (r.root().to_path_buf(), Some(std::sync::Arc::new(r))),
            Err(e) => {
                eprintln!("orgsync: {e}");
                return e.exit();
            }
        },
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
        state_dir,
        remote_state,
        max_records: args.max_records,
        dry_run: args.dry_run,
        overwrite: args.overwrite,
        resume: args.resume,
        progress: match args.progress {
            _ if quiet => ProgressMode::Hidden,
            ProgressArg::Never => ProgressMode::Hidden,
            ProgressArg::Auto => ProgressMode::Terminal,
            ProgressArg::Always => ProgressMode::Forced,
        },
    };
    // One listener for the whole invocation, before the first job: a signal
    // that arrives while a job finishes still stops the run before the next.
    let mut signals = match Signals::install() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("orgsync: cannot listen for SIGINT / SIGTERM: {e}");
            return Exit::Failed;
        }
    };
    let load = LoadOptions { sandbox: args.sandbox };
    let mut first_failure: Option<Exit> = None;
    let mut failed = 0usize;
    let total = paths.len();
    for (index, path) in paths.iter().enumerate() {
        if let Some(signal) = signals.received() {
            let rest: Vec<String> = paths[index..].iter().map(|p| p.display().to_string()).collect();
            eprintln!(
                "orgsync: interrupted by {}; {} job(s) not started: {}",
                signal_name(signal),
                rest.len(),
                rest.join(", ")
            );
            return signal;
        }
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
                    // A job that ended (published) as the signal came is reported
                    // as what it is; the signal then stops the run before the next.
                    biased;
                    outcome = run_job(&job, &options).instrument(tracing::info_span!("job", name = %job.name)) => outcome,
                    signal = signals.wait() => {
                        // The job future is dropped here: fetching stops, and the
                        // snapshot writer keeps its folder if a checkpoint refers to it.
                        let name = signal_name(signal);
                        eprintln!("orgsync: {}: interrupted by {name}; nothing was published", path.display());
                        report_kept(path, &options.state_dir, &job.name);
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
                        let exit = e.exit();
                        // Exit 2 is something to fix first (a resume refused, a bad
                        // state file): "run again with --resume" would mislead; so
                        // would it with exit 5 (another run is writing).
                        if exit != Exit::Invalid && exit != Exit::Busy {
                            report_kept(path, &options.state_dir, &job.name);
                        }
                        exit
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

/// Says how to continue when an interrupted run of `job` left finished parts.
fn report_kept(path: &Path, state_dir: &Path, job: &str) {
    if let Some(p) = crate::state::pending(state_dir, job) {
        eprintln!(
            "orgsync: {}: {} records in finished parts kept; run again with --resume to continue",
            path.display(),
            p.records
        );
    }
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
