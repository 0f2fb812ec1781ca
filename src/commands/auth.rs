//! `orgsync auth check JOB`: get one token and say what it is, never what it
//! says.

use crate::cli::SingleJobArgs;
use crate::exit::{Exit, ExitStatus};

use super::{open_single_job, report_error};

pub async fn check(args: SingleJobArgs) -> Exit {
    let Some((job, _sandbox)) = open_single_job(&args).await else {
        return Exit::Invalid;
    };
    let session = match crate::run::Session::connect(&job).await {
        Ok(s) => s,
        Err(e) => {
            report_error(Some(&job.source), &e);
            return e.exit();
        }
    };
    let token = match session.client.tokens().get().await {
        Ok(t) => t,
        Err(e) => {
            report_error(Some(&job.source), &e);
            return e.exit();
        }
    };
    println!("token endpoint: {}", job.auth.token_url());
    println!("token type: {}", token.token_type);
    println!("scope: {}", token.scope.as_deref().unwrap_or("(not stated)"));
    match token.expires_in {
        Some(l) => println!(
            "lifetime: {} s (renewed after {} s)",
            l.as_secs(),
            token.lifetime().mul_f64(0.9).as_secs()
        ),
        None => println!(
            "lifetime: not stated; assumed {} s (renewed after {} s)",
            token.lifetime().as_secs(),
            token.lifetime().mul_f64(0.9).as_secs()
        ),
    }
    Exit::Ok
}
