//! The end of a run: the completeness check against the API's count, the
//! last part closed and checkpointed, the manifest with its quality report,
//! the snapshot published and the run recorded in the job's state file.
//! Local and bucket targets share it; it sends no request.

use std::time::Instant;

use serde_json::Value;

use super::Open;
use super::plan::Plan;
use crate::job::{Job, OnCountMismatch};
use crate::run::{JobOutcome, RunError, RunOptions, Summary};
use crate::schema::Column;
use crate::sink::{self, Manifest, ManifestApi, ManifestRequest, Stats};
use crate::state::{self, Dedup};

/// The completeness check: records written against the API's count (none
/// with `--max-records`). A mismatch is a warning, or with
/// `on_count_mismatch = "fail"` the run's error: it comes before the last
/// part is checkpointed, so `--resume` refetches the records after the last
/// finished part (where a record that went missing on a short page may be)
/// instead of publishing the same short snapshot again.
pub(super) fn completeness(
    job: &Job,
    options: &RunOptions,
    expected: Option<u64>,
    records: u64,
    duplicates: u64,
) -> Result<(), RunError> {
    let Some(n) = expected.filter(|&n| options.max_records.is_none() && n != records) else {
        return Ok(());
    };
    if job.output.on_count_mismatch == OnCountMismatch::Fail {
        // Nothing is published; the writer's folder stays if a checkpoint
        // refers to it (--resume).
        return Err(RunError::CountMismatch {
            written: records,
            expected: n,
        });
    }
    tracing::warn!(
        expected = n,
        written = records,
        missing = n.saturating_sub(records),
        duplicates,
        "record count differs from the API's count (records changed during the run?)"
    );
    Ok(())
}

/// Closes the last part and checkpoints it like every other, so a failure
/// from here on (manifest, publishing) keeps every
/// finished part and `--resume` only has to publish. A run with no part
/// (no records) has nothing to keep.
pub(super) fn close_last_part(open: &mut Open, next_offset: u64, stats: Stats) -> Result<(), RunError> {
    sink::fault_at("last-part").map_err(|source| sink::SinkError::Io {
        path: open.writer.temp_dir().to_path_buf(),
        source,
    })?;
    open.writer.close_part()?;
    if !open.writer.files().is_empty() {
        open.checkpointer
            .save(&mut open.writer, next_offset, open.dedup.as_mut(), stats)?;
    }
    Ok(())
}

/// What a finished run wrote, for its manifest and summary.
pub(super) struct Written {
    pub(super) records: u64,
    pub(super) expected: Option<u64>,
    pub(super) duplicates: u64,
    pub(super) type_errors: std::collections::BTreeMap<String, u64>,
    pub(super) null_counts: std::collections::BTreeMap<String, u64>,
}

/// The manifest of a run (the writer fills in files, records, schema with
/// null counts and times as it publishes), with the quality report: columns
/// null in every record and changes against the last successful run's
/// schema, each also a warning. Local and bucket targets share it.
pub(super) fn manifest(job: &Job, plan: &Plan, columns: &[Column], written: &Written, stats: &Stats) -> Manifest {
    let schema = sink::schema_with_nulls(columns, &written.null_counts);
    let records = written.records;
    let empty_columns = crate::run::quality::empty_columns(&schema, &written.null_counts, records);
    for column in &empty_columns {
        tracing::warn!(
            column = %column,
            records,
            "column is null in every record: the field may be misspelt or need a permission \
             (check it with `orgsync validate --online` or `orgsync fields --search`)"
        );
    }
    let schema_changes = match &plan.previous_schema {
        Some(before) => crate::run::quality::schema_changes(before, &schema),
        None => Vec::new(),
    };
    if !schema_changes.is_empty() {
        tracing::warn!(
            changes = %crate::run::quality::describe(&schema_changes),
            "the schema differs from the last successful run's"
        );
    }
    Manifest {
        job: job.name.clone(),
        run_id: plan.run_id.clone(),
        orgsync_version: env!("CARGO_PKG_VERSION").to_string(),
        started_at: plan.started.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        finished_at: String::new(),
        api: ManifestApi {
            base_url: job.api.base_url.to_string(),
            path: job.api.path.clone(),
            database: job.query.database.clone(),
        },
        request: ManifestRequest {
            body: Value::Object(plan.body.clone()),
            sha256: plan.body_sha.clone(),
        },
        incremental: plan.effective.window.clone(),
        format: job.output.format.extension().to_string(),
        compression: plan.print.compression.clone(),
        records,
        expected_records: written.expected,
        duplicates_dropped: written.duplicates,
        type_errors: written.type_errors.clone(),
        files: Vec::new(),
        schema,
        empty_columns,
        schema_changes,
        stats: stats.clone(),
        mode: job.query.mode.name().to_string(),
        export: plan.export.clone(),
    }
}

/// After publishing: the run in the job's state file, and the summary.
pub(super) fn recorded(
    options: &RunOptions,
    plan: &Plan,
    published: sink::Published,
    written: &Written,
    stats: &Stats,
    clock: Instant,
) -> Result<JobOutcome, RunError> {
    // A bucket's URL as it is (made "absolute" it would name a local folder "s3:").
    let path = match published.path.to_str().and_then(sink::object::scheme) {
        Some(_) => published.path.clone(),
        None => std::path::absolute(&published.path).unwrap_or_else(|_| published.path.clone()),
    };
    let trial = options.max_records.is_some();
    state::record_success(&plan.state_dir, &published.manifest, &path, trial)
        .and_then(|()| plan.mirror(&published.manifest.job))
        .map_err(|source| RunError::StateAfterPublish {
            path: path.clone(),
            source,
        })?;
    Ok(JobOutcome::Published(Summary {
        path,
        records: written.records,
        expected: written.expected,
        files: published.manifest.files.len(),
        bytes: published.manifest.files.iter().map(|f| f.bytes).sum(),
        elapsed: clock.elapsed(),
        requests: stats.requests,
        retries: stats.retries,
        throttled: stats.throttled,
        duplicates: written.duplicates,
    }))
}

/// Write the manifest, publish the snapshot, record the run in the state
/// file; the summary.
pub(super) fn publish(
    job: &Job,
    options: &RunOptions,
    plan: &Plan,
    snapshot: Open,
    expected: Option<u64>,
    stats: Stats,
    clock: Instant,
) -> Result<JobOutcome, RunError> {
    let Open {
        writer, dedup, columns, ..
    } = snapshot;
    let written = Written {
        records: writer.records(),
        expected,
        duplicates: dedup.as_ref().map_or(0, Dedup::dropped),
        type_errors: writer.type_errors(),
        null_counts: writer.null_counts(),
    };
    // The key runs live in the snapshot's folder: gone before it is published.
    if let Some(d) = dedup {
        d.close()?;
    }
    let manifest = manifest(job, plan, &columns, &written, &stats);
    let published = writer.finish(manifest, options.overwrite)?;
    recorded(options, plan, published, &written, &stats, clock)
}
