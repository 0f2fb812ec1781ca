//! What each subcommand does: load jobs, call the pipeline, print results,
//! pick the exit code. Logging setup lives here too.

mod auth;
mod count;
mod fields;
mod logging;
mod run;
mod sandbox;
mod schema;
mod signals;
mod validate;

pub use logging::init_logging;

use crate::cli::{AuthCommand, Cli, Command, SchemaCommand};
use crate::exit::Exit;

/// The async runtime a command runs on. A client command (`run`, `count`,
/// `fields`, ...) runs on one thread: its work is a few requests in flight
/// and the decoding and writing of what they bring, and tokio's
/// work-stealing scheduler spent more CPU handing that work between threads
/// (futex wake-ups, context switches) than the second thread saved.
/// Measured (README, Performance, "One thread"): client CPU 0.70-0.97x
/// across `make bench`'s scenarios, 0.59x for reqwest alone; wall time
/// unchanged, since the API or the network sets it. The sandbox serves
/// many clients at once and keeps the multi-threaded scheduler.
fn runtime_for(command: &Command) -> tokio::runtime::Builder {
    match command {
        Command::Sandbox(_) => tokio::runtime::Builder::new_multi_thread(),
        _ => tokio::runtime::Builder::new_current_thread(),
    }
}

/// Run the command; every error has been printed by the time this returns.
pub fn dispatch(cli: Cli) -> Exit {
    let runtime = match runtime_for(&cli.command).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("orgsync: cannot start the async runtime: {e}");
            return Exit::Failed;
        }
    };
    match cli.command {
        Command::Run(args) => runtime.block_on(run::run(args, cli.log.quiet)),
        Command::Validate { jobs, online: false } => validate::validate(&jobs),
        Command::Validate { jobs, online: true } => runtime.block_on(validate::validate_online(&jobs)),
        Command::Fields(args) => runtime.block_on(fields::fields(args)),
        Command::Auth {
            command: AuthCommand::Check(args),
        } => runtime.block_on(auth::check(args)),
        Command::Count(args) => runtime.block_on(count::count(args)),
        Command::Schema {
            command: SchemaCommand::Infer { job, sample },
        } => runtime.block_on(schema::infer(job, sample)),
        Command::Sandbox(args) => runtime.block_on(sandbox::serve(args)),
    }
}

/// Print an error the one way orgsync prints errors.
pub(crate) fn report_error(context: Option<&std::path::Path>, error: &dyn std::fmt::Display) {
    match context {
        Some(path) => eprintln!("orgsync: {}: {error}", path.display()),
        None => eprintln!("orgsync: {error}"),
    }
}

/// Load the one job of `auth check` / `count`, starting the sandbox and
/// pointing the job at it with `--sandbox`. Problems are printed here.
async fn open_single_job(
    args: &crate::cli::SingleJobArgs,
) -> Option<(crate::job::Job, Option<crate::sandbox::Sandbox>)> {
    let options = crate::job::LoadOptions { sandbox: args.sandbox };
    let mut job = match crate::job::load(&args.job, &options) {
        Ok(job) => job,
        Err(e) => {
            eprintln!("{e}");
            return None;
        }
    };
    if !args.sandbox {
        return Some((job, None));
    }
    let sandbox = start_sandbox().await?;
    point_at_sandbox(&mut job, &sandbox);
    Some((job, Some(sandbox)))
}

/// The in-process sandbox of `--sandbox`, on an ephemeral port.
async fn start_sandbox() -> Option<crate::sandbox::Sandbox> {
    match crate::sandbox::Sandbox::start(crate::sandbox::SandboxConfig::default(), 0).await {
        Ok(s) => {
            tracing::info!(base_url = %s.base_url(), "sandbox API started");
            Some(s)
        }
        Err(e) => {
            eprintln!("orgsync: cannot start the sandbox API on 127.0.0.1: {e}");
            None
        }
    }
}

/// Aim a job at the sandbox: its base URL and the default token path of
/// the job's auth method. (Credentials were set at load time.)
fn point_at_sandbox(job: &mut crate::job::Job, sandbox: &crate::sandbox::Sandbox) {
    use crate::job::Auth;
    let base: reqwest::Url = sandbox.base_url().parse().expect("the sandbox's URL parses");
    let token_path = match &job.auth {
        Auth::ClientCredentials { .. } => "/api/oauth/token/",
        Auth::JwtRefresh { .. } => "/api/token_authentication/refresh/",
    };
    let token = base.join(token_path).expect("a fixed path joins");
    match &mut job.auth {
        Auth::ClientCredentials { token_url, .. } | Auth::JwtRefresh { token_url, .. } => *token_url = token,
    }
    job.api.base_url = base;
}

/// Resolves on Ctrl-C or SIGTERM, with the exit code that signal means.
pub(crate) async fn shutdown_signal() -> Exit {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return Exit::Interrupted;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => Exit::Interrupted,
            _ = term.recv() => Exit::Terminated,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        Exit::Interrupted
    }
}
