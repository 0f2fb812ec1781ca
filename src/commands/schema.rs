//! `orgsync schema infer JOB [--sample N]`: sample the job's first records
//! and print a schema file that `validate` accepts and that reproduces the
//! types a schema-less run would infer from the same records.

use crate::cli::SingleJobArgs;
use crate::exit::{Exit, ExitStatus};
use crate::fetch::{Pager, PagerPlan};
use crate::run::{RunError, Session, effective_filter, request_body};
use crate::schema::{OnTypeError, infer as infer_columns, to_toml};

use super::{open_single_job, report_error};

pub async fn infer(args: SingleJobArgs, sample: u64) -> Exit {
    let Some((job, _sandbox)) = open_single_job(&args).await else {
        return Exit::Invalid;
    };
    let result = async {
        let session = Session::connect(&job).await?;
        let filter = effective_filter(&job, chrono::Utc::now(), None).filter;
        let mut pager = Pager::new(
            session.client.clone(),
            PagerPlan {
                url: job.api.endpoint(),
                body: request_body(&job, &filter),
                page_size: u64::from(job.query.page_size),
                concurrency: 1,
                records_at: job.api.records.clone(),
                max_records: Some(sample),
                expected: None,
                start_offset: 0,
            },
        );
        let mut records = Vec::new();
        while let Some(page) = pager.next().await {
            records.extend(page?.records);
        }
        Ok::<_, RunError>(records)
    }
    .await;
    match result {
        Ok(records) => {
            let columns = infer_columns(&job.query.fields, &records);
            println!(
                "# Inferred by `orgsync schema infer` from {} records of job {:?}.\n# Check the types, then point [output] schema at this file.",
                records.len(),
                job.name
            );
            let text = to_toml(&columns, OnTypeError::Fail);
            print!("{text}");
            if !text.ends_with('\n') {
                println!();
            }
            Exit::Ok
        }
        Err(e) => {
            report_error(Some(&job.source), &e);
            e.exit()
        }
    }
}
