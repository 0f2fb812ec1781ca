//! One job whose `[output] path` is an `s3://` URL: the target check
//! before any API request (exit 2 for an existing snapshot), then the same
//! paging and de-duplication as a local run, with parts streamed into the
//! bucket and published by `sink::object`. A child of `job.rs` (it shares
//! its private plan). Not here: checkpoints and `--resume` (a killed run
//! leaves only unlisted objects behind; the next run starts over), state in
//! a bucket.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use serde_json::Value;

use super::{
    Plan, Written, completeness, manifest, pager_plan, progress, recorded, run_stats, snapshot_columns,
    snapshot_options,
};
use crate::catalog::Catalog;
use crate::fetch::{self, ApiClient, Pager};
use crate::job::Job;
use crate::run::{JobOutcome, RunError, RunOptions};
use crate::sink::object::{self, Bucket, Existing, ObjectSnapshotWriter, ObjectUrl};
use crate::sink::{SinkError, Stats};
use crate::state::Dedup;

/// An object target, connected and checked before the first request.
pub(super) struct ObjectTarget {
    bucket: Bucket,
    existing: Option<Existing>,
}

/// The bucket of `target` if it is an `s3://` URL, checked (exit 2 if a
/// snapshot is there and not `overwrite`); `None` for a local target.
pub(super) fn check(target: &Path, overwrite: bool, resume: bool) -> Result<Option<ObjectTarget>, RunError> {
    let Some(url) = ObjectUrl::from_target(target) else {
        return Ok(None);
    };
    let url = url.map_err(|reason| SinkError::StoreConfig {
        url: target.display().to_string(),
        reason,
    })?;
    if resume {
        tracing::warn!(url = %url, "--resume is not supported for s3:// targets yet; starting a fresh run");
    }
    let bucket = object::connect(&url)?;
    let existing = object::check_object_target(&bucket, overwrite)?;
    Ok(Some(ObjectTarget { bucket, existing }))
}

/// What a run has once it is connected: its client, the fields catalog (if
/// it could be had) and the API's count (if known).
pub(super) struct Connected<'a> {
    pub client: Arc<ApiClient>,
    pub catalog: Option<&'a Catalog>,
    pub expected: Option<u64>,
}

pub(super) async fn run(
    job: &Job,
    options: &RunOptions,
    plan: &Plan,
    target: ObjectTarget,
    connected: Connected<'_>,
    clock: Instant,
) -> Result<JobOutcome, RunError> {
    let Connected {
        client,
        catalog,
        expected,
    } = connected;
    let mut progress = progress(job, options, expected);
    let mut pager = Pager::new(client.clone(), pager_plan(job, options, plan, expected, 0));
    let ObjectTarget { bucket, mut existing } = target;
    let mut dedup = job.query.key.as_deref().map(Dedup::new);
    let mut writer: Option<(ObjectSnapshotWriter, Vec<crate::schema::Column>)> = None;
    let mut envelope_count = None;
    loop {
        // On an error the writer is dropped: it aborts its upload and
        // removes the objects it created.
        let page = pager.next().await.transpose()?;
        // Bucket targets still write through `serde_json::Value` records.
        let records = match &page {
            Some(p) => fetch::page_records(&p.body, &job.api.records).map_err(|reason| RunError::Decode {
                offset: p.offset,
                reason,
            })?,
            None => Vec::new(),
        };
        let (w, _) = match writer.as_mut() {
            Some(w) => w,
            None => {
                let (columns, on_type_error) = snapshot_columns(job, &records, catalog);
                let opts = snapshot_options(job, columns.clone(), on_type_error);
                writer.insert((
                    ObjectSnapshotWriter::create(bucket.clone(), &plan.run_id, opts, existing.take())?,
                    columns,
                ))
            }
        };
        let Some(page) = page else { break };
        envelope_count = envelope_count.or(page.envelope_count);
        let fetched = page.records;
        let kept: Vec<Value> = match dedup.as_mut() {
            Some(d) => records.into_iter().filter(|r| d.keep(r)).collect(),
            None => records,
        };
        w.write(&kept)?;
        progress.page(fetched);
    }
    drop(progress);
    let (writer, columns) = writer.expect("the writer opens before the loop ends");
    let stats = run_stats(&client, clock, &Stats::default());
    let written = Written {
        records: writer.records(),
        expected: expected.or(envelope_count),
        duplicates: dedup.as_ref().map_or(0, Dedup::dropped),
        type_errors: writer.type_errors(),
        null_counts: writer.null_counts(),
    };
    // Nothing is uploaded as the snapshot until `finish`: a mismatch that
    // fails the run drops the writer, which removes what it created.
    completeness(job, options, written.expected, written.records, written.duplicates)?;
    let manifest = manifest(job, plan, &columns, &written, &stats);
    let published = writer.finish(manifest)?;
    recorded(options, plan, published, &written, &stats, clock)
}
