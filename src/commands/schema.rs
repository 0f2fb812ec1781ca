//! `orgsync schema infer JOB [--sample N]`: sample the job's first records
//! and print a schema file that `validate` accepts and that reproduces the
//! types a schema-less run would infer from the same records: the API's
//! fields catalog's types first (unless `check_fields = false`), the sample's
//! where the catalog has none. A comment says which came from where.

use crate::cli::SingleJobArgs;
use crate::exit::{Exit, ExitStatus};
use crate::fetch::{Pager, PagerPlan};
use crate::run::{RunError, Session, effective_filter, request_body};
use crate::schema::{OnTypeError, TypeSource, infer_with, to_toml};

use super::{open_single_job, report_error};

pub async fn infer(args: SingleJobArgs, sample: u64) -> Exit {
    let Some((job, _sandbox)) = open_single_job(&args).await else {
        return Exit::Invalid;
    };
    let result = async {
        let session = Session::connect(&job).await?;
        let catalog = match job.query.check_fields {
            true => {
                let url = crate::catalog::catalog_url(&job);
                match crate::catalog::fetch_catalog(&session.client, &url).await {
                    Ok(c) => Some(c),
                    Err(e) if e.is_unavailable() => {
                        tracing::warn!(error = %e, "fields catalog unavailable: every type comes from the sample");
                        None
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            false => None,
        };
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
            let page = page?;
            let read = crate::fetch::page_records(&page.body, &job.api.records).map_err(|reason| RunError::Decode {
                offset: page.offset,
                reason,
            })?;
            records.extend(read);
        }
        Ok::<_, RunError>((records, catalog))
    }
    .await;
    match result {
        Ok((records, catalog)) => {
            let known = |path: &str| catalog.as_ref().and_then(|c| c.column_type(path));
            let inferred = infer_with(&job.query.fields, &records, &known);
            let from = |source| -> Vec<&str> {
                inferred
                    .iter()
                    .filter(|(_, s)| *s == source)
                    .map(|(c, _)| c.name.as_str())
                    .collect()
            };
            let (by_catalog, by_sample) = (from(TypeSource::Catalog), from(TypeSource::Sample));
            println!(
                "# Inferred by `orgsync schema infer` from {} records of job {:?}.\n# Check the types, then point [output] schema at this file.",
                records.len(),
                job.name
            );
            println!(
                "# Types from the API's fields catalog: {}",
                if by_catalog.is_empty() {
                    "none".to_string()
                } else {
                    by_catalog.join(", ")
                }
            );
            println!(
                "# Types from the sampled records: {}",
                if by_sample.is_empty() {
                    "none".to_string()
                } else {
                    by_sample.join(", ")
                }
            );
            let columns: Vec<_> = inferred.into_iter().map(|(c, _)| c).collect();
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
