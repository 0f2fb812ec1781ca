//! One job through the pipeline: check the target, authenticate, count,
//! page, write (checkpointing after each finished part), publish, then
//! record the run in the job's state file.

use std::sync::atomic::Ordering;
use std::time::Instant;

use serde_json::Value;

use crate::fetch::{self, ApiClient, FetchError, Pager, PagerPlan};
use crate::job::Job;
use crate::progress::Progress;
use crate::schema::{Column, OnTypeError, infer};
use crate::sink::{
    self, FinishedParts, KEYS_FILE, Manifest, ManifestApi, ManifestRequest, SchemaColumn, SnapshotOptions,
    SnapshotWriter, Stats,
};
use crate::state::{
    self, CHECKPOINT_VERSION, Checkpoint, Checkpointer, Dedup, Fingerprint, LastRun, Pointer, StateError,
};

use super::identity::{Resumed, identity};
use super::request::{effective_filter, request_body, sha256_hex};
use super::{JobOutcome, ProgressMode, RunError, RunOptions, Session, Summary};

/// The columns of a snapshot and the type-error policy: the schema file's,
/// or the job's fields with types inferred from the first page (strict:
/// a later value that does not fit fails the run rather than vanish).
fn snapshot_columns(job: &Job, first_page: &[Value]) -> (Vec<Column>, OnTypeError) {
    match &job.schema {
        Some(schema) => (schema.columns.clone(), schema.on_type_error),
        None => (infer(&job.query.fields, first_page), OnTypeError::Fail),
    }
}

fn snapshot_options(job: &Job, columns: Vec<Column>, on_type_error: OnTypeError) -> SnapshotOptions {
    SnapshotOptions {
        format: job.output.format,
        compression: job.output.compression,
        rows_per_file: job.output.rows_per_file,
        columns,
        on_type_error,
    }
}

/// The stats of this process plus those of the run's earlier processes.
fn run_stats(client: &ApiClient, clock: Instant, earlier: &Stats) -> Stats {
    let counters = &client.counters;
    Stats {
        requests: earlier.requests + counters.requests.load(Ordering::Relaxed),
        retries: earlier.retries + counters.retries.load(Ordering::Relaxed),
        throttled: earlier.throttled + counters.throttled.load(Ordering::Relaxed),
        token_requests: earlier.token_requests + client.tokens().requests(),
        elapsed_secs: earlier.elapsed_secs + clock.elapsed().as_secs_f64(),
    }
}

pub async fn run_job(job: &Job, options: &RunOptions) -> Result<JobOutcome, RunError> {
    let clock = Instant::now();
    let state_dir = state::state_dir(&options.out_dir);
    let last = LastRun::load(&state_dir, &job.name)?;
    let previous_to = match (&job.incremental, &last) {
        (Some(inc), Some(last)) => last.watermark(&inc.field),
        _ => None,
    };
    let resumed = match options.resume && !options.dry_run {
        true => match state::find_checkpoint(&state_dir, &job.name)? {
            Some((pointer, checkpoint)) => Some(Resumed { pointer, checkpoint }),
            None => {
                tracing::info!("--resume: no checkpoint of an interrupted run; starting a fresh run");
                None
            }
        },
        false => None,
    };
    let (started, run_id, target) = identity(job, options, resumed.as_ref())?;
    if !options.dry_run {
        sink::check_target(&target, options.overwrite)?;
    }

    let effective = effective_filter(job, started, previous_to);
    let body = request_body(job, &effective.filter);
    let body_json = Value::Object(body.clone());
    let body_sha = sha256_hex(body_json.to_string().as_bytes());
    let print = Fingerprint::of(job, &body_sha);
    if let Some(r) = &resumed {
        r.checkpoint.check(&print)?;
        state::verify_parts(&r.pointer.temp_dir, &r.checkpoint.files)?;
        tracing::info!(
            run_id = %run_id,
            target = %target.display(),
            next_offset = r.checkpoint.next_offset,
            records = r.checkpoint.records,
            parts = r.checkpoint.files.len(),
            "resuming an interrupted run"
        );
    } else {
        tracing::info!(run_id = %run_id, target = %target.display(), "job started");
    }

    let session = Session::connect(job).await?;
    let client = session.client;
    let expected = match fetch::count(&client, job, &effective.filter).await {
        Ok(n) => Some(n),
        Err(e) if options.dry_run => return Err(e.into()),
        // Credentials, or a query the API says is malformed: paging would fail the same way.
        Err(e @ (FetchError::Auth(_) | FetchError::Unauthorized { .. })) => return Err(e.into()),
        Err(e @ FetchError::Rejected { status, .. }) if status == reqwest::StatusCode::BAD_REQUEST => {
            return Err(e.into());
        }
        Err(e) => {
            tracing::warn!(error = %e, "count unavailable; running without a total");
            resumed.as_ref().and_then(|r| r.checkpoint.expected_records)
        }
    };
    if options.dry_run {
        return Ok(JobOutcome::DryRun {
            count: expected,
            target,
        });
    }

    let mut progress = match options.progress {
        ProgressMode::Hidden => Progress::hidden(),
        mode => Progress::start(&job.name, expected, mode == ProgressMode::Forced),
    };
    let start_offset = resumed.as_ref().map_or(0, |r| r.checkpoint.next_offset);
    let mut pager = Pager::new(
        client.clone(),
        PagerPlan {
            url: job.api.endpoint(),
            body,
            page_size: u64::from(job.query.page_size),
            concurrency: job.rate_limit.concurrency.get(),
            records_at: job.api.records.clone(),
            // --max-records counts from the start of the run, not of this process.
            max_records: options.max_records.map(|m| m.saturating_sub(start_offset)),
            expected,
            start_offset,
        },
    );
    let earlier_stats = resumed.as_ref().map(|r| r.checkpoint.stats.clone()).unwrap_or_default();
    let abs_target = std::path::absolute(&target).unwrap_or_else(|_| target.clone());
    let template = |columns: &[Column], on_type_error: OnTypeError| Checkpoint {
        version: CHECKPOINT_VERSION,
        job: job.name.clone(),
        run_id: run_id.clone(),
        started_at: started.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
        target: abs_target.clone(),
        request_sha256: body_sha.clone(),
        format: print.format.clone(),
        compression: print.compression.clone(),
        rows_per_file: print.rows_per_file,
        key: print.key.clone(),
        on_type_error: on_type_error.name().to_string(),
        schema: columns.iter().map(SchemaColumn::from).collect(),
        schema_file: job.schema.is_some(),
        incremental: effective.window.clone(),
        next_offset: 0,
        records: 0,
        files: Vec::new(),
        duplicates_dropped: 0,
        type_errors: Default::default(),
        dedup_keys: None,
        expected_records: expected,
        stats: Stats::default(),
    };

    // A fresh run opens its writer at the first page (without a schema file
    // the column types are inferred from it); a resumed one reopens the
    // interrupted run's folder with the checkpoint's columns now.
    let mut dedup = None;
    let mut writer: Option<(SnapshotWriter, Checkpointer)> = None;
    let mut columns = Vec::new();
    if let Some(r) = resumed {
        let cp = r.checkpoint;
        let bad = |reason| StateError::BadCheckpoint {
            path: r.pointer.temp_dir.join(sink::CHECKPOINT_FILE),
            reason,
        };
        columns = cp.columns().map_err(bad)?;
        let on_type_error = cp.on_type_error().map_err(bad)?;
        if let Some(key) = job.query.key.as_deref() {
            let keys = state::read_keys(&r.pointer.temp_dir.join(KEYS_FILE), cp.dedup_keys.unwrap_or(0))?;
            dedup = Some(Dedup::restore(key, keys, cp.duplicates_dropped));
        }
        let w = SnapshotWriter::resume(
            &target,
            snapshot_options(job, columns.clone(), on_type_error),
            FinishedParts {
                files: cp.files.clone(),
                records: cp.records,
                type_errors: cp.type_errors.clone(),
            },
        )?;
        progress.resumed(cp.next_offset);
        let c = Checkpointer::new(state_dir.clone(), template(&columns, on_type_error), r.pointer, true);
        writer = Some((w, c));
    } else {
        dedup = job.query.key.as_deref().map(Dedup::new);
    }
    let mut envelope_count = None;
    loop {
        // On an error the writer is dropped: its folder stays if a
        // checkpoint refers to it (resume continues), else it is removed.
        let page = pager.next().await.transpose()?;
        let (w, c) = match writer.as_mut() {
            Some(open) => open,
            None => {
                let (cols, on_type_error) = snapshot_columns(job, page.as_ref().map_or(&[][..], |p| &p.records));
                columns = cols;
                state::drop_checkpoint(&state_dir, &job.name)?;
                let w = SnapshotWriter::create(&target, snapshot_options(job, columns.clone(), on_type_error))?;
                let pointer = Pointer {
                    job: job.name.clone(),
                    run_id: run_id.clone(),
                    target: abs_target.clone(),
                    temp_dir: std::path::absolute(w.temp_dir()).unwrap_or_else(|_| w.temp_dir().to_path_buf()),
                };
                let c = Checkpointer::new(state_dir.clone(), template(&columns, on_type_error), pointer, false);
                writer.insert((w, c))
            }
        };
        let Some(page) = page else { break };
        envelope_count = envelope_count.or(page.envelope_count);
        let fetched = page.records.len() as u64;
        state::write_page::<RunError, _>(w, page.offset, page.records, dedup.as_mut(), |w, next, d| {
            Ok(c.save(w, next, d, run_stats(&client, clock, &earlier_stats))?)
        })?;
        progress.page(fetched);
    }
    drop(progress);
    let (writer, _) = writer.expect("the writer opens before the loop ends");
    let duplicates = dedup.as_ref().map_or(0, Dedup::dropped);
    let records = writer.records();
    let expected = expected.or(envelope_count);
    if options.max_records.is_none()
        && let Some(n) = expected
        && n != records
    {
        tracing::warn!(
            expected = n,
            written = records,
            duplicates,
            "record count differs from the API's count (records changed during the run?)"
        );
    }

    let stats = run_stats(&client, clock, &earlier_stats);
    let manifest = Manifest {
        job: job.name.clone(),
        run_id: run_id.clone(),
        orgsync_version: env!("CARGO_PKG_VERSION").to_string(),
        started_at: started.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        finished_at: String::new(),
        api: ManifestApi {
            base_url: job.api.base_url.to_string(),
            path: job.api.path.clone(),
            database: job.query.database.clone(),
        },
        request: ManifestRequest {
            body: body_json,
            sha256: body_sha,
        },
        incremental: effective.window.clone(),
        format: job.output.format.extension().to_string(),
        compression: print.compression.clone(),
        records,
        expected_records: expected,
        duplicates_dropped: duplicates,
        type_errors: writer.type_errors(),
        files: Vec::new(),
        schema: columns.iter().map(Into::into).collect(),
        stats: stats.clone(),
    };
    let published = writer.finish(manifest, options.overwrite)?;
    let path = std::path::absolute(&published.path).unwrap_or_else(|_| published.path.clone());
    let trial = options.max_records.is_some();
    state::record_success(&state_dir, &published.manifest, &path, trial).map_err(|source| {
        RunError::StateAfterPublish {
            path: path.clone(),
            source,
        }
    })?;
    let summary = Summary {
        path,
        records,
        expected,
        files: published.manifest.files.len(),
        bytes: published.manifest.files.iter().map(|f| f.bytes).sum(),
        elapsed: clock.elapsed(),
        requests: stats.requests,
        retries: stats.retries,
        throttled: stats.throttled,
        duplicates,
    };
    Ok(JobOutcome::Published(summary))
}
