//! `orgsync count JOB`: how many records the job's query matches, from the
//! count endpoint (which never gets `order`).

use crate::cli::SingleJobArgs;
use crate::exit::{Exit, ExitStatus};

use super::{open_single_job, report_error};

pub async fn count(args: SingleJobArgs) -> Exit {
    let Some((job, _sandbox)) = open_single_job(&args).await else {
        return Exit::Invalid;
    };
    let result = async {
        let session = crate::run::Session::connect(&job).await?;
        let filter = crate::run::effective_filter(&job, chrono::Utc::now(), None).filter;
        Ok::<_, crate::run::RunError>(crate::fetch::count(&session.client, &job, &filter).await?)
    }
    .await;
    match result {
        Ok(n) => {
            println!("{n}");
            Exit::Ok
        }
        Err(e) => {
            report_error(Some(&job.source), &e);
            e.exit()
        }
    }
}
