//! One job through the pipeline: lock the job and its target, check the
//! target, authenticate, check the field paths against the API's fields
//! catalog (`catalog/`), count, page, write (checkpointing after each
//! finished part, the last one included), publish, then record the run in
//! the job's state file and release the locks. `mode = "export"` runs
//! through `export.rs` (one async export instead of pages) and shares the
//! rest.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::catalog::{self, Catalog};
use crate::fetch::{self, ApiClient, FetchError, PagerPlan};
use crate::job::{Job, OnCountMismatch, QueryMode};
use crate::progress::Progress;
use crate::schema::{Column, OnTypeError, infer_with};
use crate::sink::{
    self, FinishedParts, Manifest, ManifestApi, ManifestRequest, SchemaColumn, SnapshotOptions, SnapshotWriter, Stats,
};
use crate::state::{
    self, CHECKPOINT_VERSION, Checkpoint, Checkpointer, Dedup, Fingerprint, Holder, KEYS_FILE, LastRun, LockError,
    LockGuard, LockKey, Pointer, RemoteLock, RemoteState, StateError,
};

use super::identity::{Resumed, identity};
use super::read::{RunReader, rows_of};
use super::request::{Effective, effective_filter, request_body, sha256_hex};
use super::windows::Windows;
use super::{JobOutcome, PageRows, ProgressMode, RunError, RunOptions, Session, Summary};
use crate::decode::PageDecoder;

#[path = "object.rs"]
mod object;

#[path = "export.rs"]
mod export;

/// The columns of a snapshot and the type-error policy: the schema file's,
/// or the job's fields with the fields catalog's types, and types inferred
/// from the first page where the catalog has none (strict: a later value
/// that does not fit fails the run rather than vanish).
fn snapshot_columns(job: &Job, first_page: &[Value], catalog: Option<&Catalog>) -> (Vec<Column>, OnTypeError) {
    match &job.schema {
        Some(schema) => (schema.columns.clone(), schema.on_type_error),
        None => {
            let known = |path: &str| catalog.and_then(|c| c.column_type(path));
            let columns = infer_with(&job.query.fields, first_page, &known);
            (columns.into_iter().map(|(c, _)| c).collect(), OnTypeError::Fail)
        }
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

/// What a run knows before its first request.
struct Plan {
    state_dir: PathBuf,
    resumed: Option<Resumed>,
    started: DateTime<Utc>,
    run_id: String,
    target: PathBuf,
    effective: Effective,
    body: Map<String, Value>,
    body_sha: String,
    print: Fingerprint,
    /// The job's and the target's locks (none for a dry run), held until
    /// the run's state is recorded.
    _locks: Vec<LockGuard>,
    /// The schema of the last successful run, for the drift report.
    previous_schema: Option<Vec<SchemaColumn>>,
    /// An `s3://` target, connected and checked (`object.rs`).
    object: Option<object::ObjectTarget>,
    /// The async export the records came from, for the manifest (`export.rs`).
    export: Option<sink::ManifestExport>,
    /// The state's bucket copy (`--state-dir s3://...`): `state_dir` is its
    /// working copy, mirrored after each state write.
    remote: Option<Arc<RemoteState>>,
    /// The lock objects in the state's bucket (job, target), renewed while held.
    remote_locks: Vec<RemoteLock>,
}

/// What a run's lock files say about it.
fn holder(job: &Job, run_id: &str, started: DateTime<Utc>) -> Holder {
    Holder {
        pid: std::process::id(),
        run_id: run_id.to_string(),
        started_at: started.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        job: job.name.clone(),
    }
}

/// The job's lock (first of all: a second run of the job stops here with
/// exit 5, touching nothing), the state, the checkpoint to resume (if asked
/// and there is one), the run's identity, the target's lock and the target
/// check (before any request), the request.
fn plan(job: &Job, options: &RunOptions) -> Result<Plan, RunError> {
    let state_dir = options.state_dir.clone();
    let now = Utc::now();
    let fresh = (now, super::new_run_id(now));
    let mut locks = Vec::new();
    let mut remote_locks = Vec::new();
    let mut object = None;
    let remote = options.remote_state.clone();
    if !options.dry_run {
        let job_lock = LockKey::Job(job.name.clone());
        if let Some(r) = &remote {
            // The bucket's lock first: the working copy is this process's own.
            remote_locks.push(r.lock(&job_lock, &holder(job, &fresh.1, now))?);
        }
        locks.push(state::acquire(&state_dir, &job_lock, &holder(job, &fresh.1, now))?);
    }
    if let Some(r) = &remote {
        r.hydrate(&job.name)?;
    }
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
    let (started, run_id, target) = identity(job, options, resumed.as_ref(), fresh)?;
    if !options.dry_run {
        let holder = holder(job, &run_id, started);
        if let (Some(job_lock), Some(_)) = (locks.first_mut(), &resumed) {
            job_lock.set_holder(&holder)?;
        }
        if let (Some(job_lock), Some(_)) = (remote_locks.first(), &resumed) {
            job_lock.set_holder(&holder);
        }
        let target_lock = LockKey::Target(target.clone());
        if let Some(r) = &remote {
            remote_locks.push(r.lock(&target_lock, &holder)?);
        }
        locks.push(state::acquire(&state_dir, &target_lock, &holder)?);
        object = object::check(&target, options.overwrite)?;
        if object.is_none() {
            sink::check_target(&target, options.overwrite)?;
        }
    }
    let effective = effective_filter(job, started, previous_to);
    let body = request_body(job, &effective.filter);
    let body_sha = sha256_hex(Value::Object(body.clone()).to_string().as_bytes());
    let print = Fingerprint::of(job, &body_sha);
    if let Some(r) = &resumed {
        r.checkpoint.check(&print)?;
        // A bucket target's parts are checked by HEAD when it reopens them.
        if object.is_none() {
            state::verify_parts(&r.pointer.temp_dir, &r.checkpoint.files)?;
        }
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
    Ok(Plan {
        state_dir,
        resumed,
        started,
        run_id,
        target,
        effective,
        body,
        body_sha,
        print,
        _locks: locks,
        previous_schema: last.and_then(|l| l.schema),
        object,
        export: None,
        remote,
        remote_locks,
    })
}

impl Plan {
    /// The target as checkpoints and pointers name it: absolute, or the
    /// `s3://` URL as it is.
    fn absolute_target(&self) -> PathBuf {
        if self.target.to_str().and_then(sink::object::scheme).is_some() {
            return self.target.clone();
        }
        std::path::absolute(&self.target).unwrap_or_else(|_| self.target.clone())
    }

    /// Mirrors `job`'s state files to the bucket, when the state is there,
    /// unless a lock object is no longer ours (exit 5): a run that lost its
    /// lock must not write over the new holder's checkpoint.
    fn sync(&self, job: &str) -> Result<(), RunError> {
        self.check_locks()?;
        Ok(self.mirror(job)?)
    }

    /// Mirrors `job`'s state files to the bucket, when the state is there.
    fn mirror(&self, job: &str) -> Result<(), StateError> {
        match &self.remote {
            Some(r) => r.sync(job),
            None => Ok(()),
        }
    }

    /// Fails (exit 5) if a lock object in the bucket is no longer ours.
    fn check_locks(&self) -> Result<(), LockError> {
        self.remote_locks.iter().try_for_each(RemoteLock::check)
    }

    /// The checkpoint every finished part of this run saves, before the
    /// first part.
    fn checkpoint(
        &self,
        job: &Job,
        columns: &[Column],
        on_type_error: OnTypeError,
        expected: Option<u64>,
    ) -> Checkpoint {
        Checkpoint {
            version: CHECKPOINT_VERSION,
            job: job.name.clone(),
            run_id: self.run_id.clone(),
            started_at: self.started.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
            target: self.absolute_target(),
            request_sha256: self.body_sha.clone(),
            format: self.print.format.clone(),
            compression: self.print.compression.clone(),
            rows_per_file: self.print.rows_per_file,
            key: self.print.key.clone(),
            on_type_error: on_type_error.name().to_string(),
            schema: columns.iter().map(SchemaColumn::from).collect(),
            schema_file: job.schema.is_some(),
            incremental: self.effective.window.clone(),
            next_offset: 0,
            window: None,
            records: 0,
            files: Vec::new(),
            duplicates_dropped: 0,
            type_errors: Default::default(),
            null_counts: None,
            dedup_keys: None,
            expected_records: expected,
            stats: Stats::default(),
            export: None,
        }
    }
}

/// The count first: the progress total and the completeness check. A
/// failure is a warning, unless it is the credentials or a malformed query
/// (paging would fail the same way) or this is a dry run.
async fn count_first(
    client: &ApiClient,
    job: &Job,
    options: &RunOptions,
    plan: &Plan,
) -> Result<Option<u64>, RunError> {
    match fetch::count(client, job, &plan.effective.filter).await {
        Ok(n) => Ok(Some(n)),
        Err(e) if options.dry_run => Err(e.into()),
        Err(e @ (FetchError::Auth(_) | FetchError::Unauthorized { .. })) => Err(e.into()),
        Err(e @ FetchError::Rejected { status, .. }) if status == reqwest::StatusCode::BAD_REQUEST => Err(e.into()),
        Err(e) => {
            tracing::warn!(error = %e, "count unavailable; running without a total");
            Ok(plan.resumed.as_ref().and_then(|r| r.checkpoint.expected_records))
        }
    }
}

/// An open snapshot: the writer, its checkpointer, the de-duplication
/// state and the columns.
struct Open {
    writer: SnapshotWriter,
    checkpointer: Checkpointer,
    dedup: Option<Dedup>,
    columns: Vec<Column>,
}

/// A resumed run reopens the interrupted run's folder with the
/// checkpoint's columns, parts and de-duplication keys.
fn reopen(job: &Job, plan: &Plan, resumed: Resumed, expected: Option<u64>) -> Result<Open, RunError> {
    let (pointer, cp) = (resumed.pointer, resumed.checkpoint);
    let bad = |reason| StateError::BadCheckpoint {
        path: pointer.temp_dir.join(state::CHECKPOINT_FILE),
        reason,
    };
    let columns = cp.columns().map_err(bad)?;
    let on_type_error = cp.on_type_error().map_err(bad)?;
    let writer = SnapshotWriter::resume(
        &plan.target,
        snapshot_options(job, columns.clone(), on_type_error),
        FinishedParts {
            files: cp.files,
            records: cp.records,
            type_errors: cp.type_errors,
            null_counts: cp.null_counts.unwrap_or_else(|| {
                tracing::warn!(
                    "the checkpoint comes from an orgsync without null counts: the manifest's null_count \
                     covers only the records this run writes"
                );
                Default::default()
            }),
        },
    )?;
    // After the writer reopened the folder (it removes what is not a
    // checkpoint file or a finished part, such as stale key runs).
    let dedup = resumed_dedup(job, &pointer.temp_dir, cp.dedup_keys, cp.duplicates_dropped)?;
    let template = plan.checkpoint(job, &columns, on_type_error, expected);
    let checkpointer = Checkpointer::new(plan.state_dir.clone(), template, pointer, true);
    Ok(Open {
        writer,
        checkpointer,
        dedup,
        columns,
    })
}

/// A fresh run opens its snapshot at the first page: without a schema file
/// the column types are inferred from it. An older checkpoint is dropped.
/// The key set of a resumed run: the first `keys` keys of the checkpoint's
/// keys file (in its folder `dir`) streamed into a fresh set that spills
/// into `dir`, with the `dropped` duplicates so far; `None` without
/// `[query] key`.
fn resumed_dedup(job: &Job, dir: &Path, keys: Option<u64>, dropped: u64) -> Result<Option<Dedup>, StateError> {
    job.query
        .key
        .as_deref()
        .map(|key| {
            Dedup::new(key)
                .in_dir(dir)
                .resume(&dir.join(KEYS_FILE), keys.unwrap_or(0), dropped)
        })
        .transpose()
}

fn open(
    job: &Job,
    plan: &Plan,
    first_page: &[Value],
    catalog: Option<&Catalog>,
    expected: Option<u64>,
) -> Result<Open, RunError> {
    let (columns, on_type_error) = snapshot_columns(job, first_page, catalog);
    state::drop_checkpoint(&plan.state_dir, &job.name)?;
    plan.sync(&job.name)?;
    let writer = SnapshotWriter::create(&plan.target, snapshot_options(job, columns.clone(), on_type_error))?;
    let pointer = Pointer {
        job: job.name.clone(),
        run_id: plan.run_id.clone(),
        target: plan.absolute_target(),
        temp_dir: std::path::absolute(writer.temp_dir()).unwrap_or_else(|_| writer.temp_dir().to_path_buf()),
    };
    let template = plan.checkpoint(job, &columns, on_type_error, expected);
    let checkpointer = Checkpointer::new(plan.state_dir.clone(), template, pointer, false);
    let dedup = job
        .query
        .key
        .as_deref()
        .map(|k| Dedup::new(k).in_dir(writer.temp_dir()));
    Ok(Open {
        writer,
        checkpointer,
        dedup,
        columns,
    })
}

pub async fn run_job(job: &Job, options: &RunOptions) -> Result<JobOutcome, RunError> {
    let clock = Instant::now();
    let mut plan = plan(job, options)?;
    let client = Session::connect(job).await?.client;
    // Before the first page: one catalog request, inside the run's rate budget.
    let catalog = catalog::check_before_run(&client, job).await?;
    let expected = count_first(&client, job, options, &plan).await?;
    if options.dry_run {
        return Ok(JobOutcome::DryRun {
            count: expected,
            target: plan.target,
        });
    }
    if job.query.mode == QueryMode::Export {
        if plan.object.is_some() {
            return Err(RunError::Setup(
                "mode = \"export\" cannot write to an s3:// target yet: use a local [output] path, or mode = \"pages\""
                    .into(),
            ));
        }
        let connected = export::Connected {
            client,
            catalog: catalog.as_ref(),
            expected,
        };
        return export::run(job, options, &mut plan, connected, clock).await;
    }
    if let Some(target) = plan.object.take() {
        let connected = object::Connected {
            client,
            catalog: catalog.as_ref(),
            expected,
            resumed: plan.resumed.take(),
        };
        return object::run(job, options, &plan, target, connected, clock).await;
    }

    let mut progress = progress(job, options, expected);
    let start_offset = plan.resumed.as_ref().map_or(0, |r| r.checkpoint.next_offset);
    let resumed = plan.resumed.as_ref().map(|r| &r.checkpoint);
    let mut pager = windows(job, options, &plan, &client, expected, start_offset, resumed);
    let earlier_stats = plan
        .resumed
        .as_ref()
        .map(|r| r.checkpoint.stats.clone())
        .unwrap_or_default();
    let mut snapshot = match plan.resumed.take() {
        Some(resumed) => {
            progress.resumed(pager.position());
            Some(reopen(job, &plan, resumed, expected)?)
        }
        None => None,
    };
    let mut envelope_count = None;
    // The API offset after the last record fetched: where a resume of a
    // run that fails while publishing would continue (nothing left).
    let mut next_offset = start_offset;
    // Columns known before the first page (a resumed run's, a schema
    // file's): every page is decoded in its own task from the start.
    let known = match (&snapshot, &job.schema) {
        (Some(open), _) => Some(open.columns.as_slice()),
        (None, Some(schema)) => Some(schema.columns.as_slice()),
        (None, None) => None,
    };
    if let Some(columns) = known {
        reader_for(&pager, job, columns);
    }
    loop {
        // On an error the writer is dropped: its folder stays if a
        // checkpoint refers to it (resume continues), else it is removed.
        let page = pager.next().await.transpose()?;
        let window = pager.mark();
        let open_now = match snapshot.as_mut() {
            Some(open) => open,
            None => {
                // Types are inferred from the first page's records: the
                // one page read as `serde_json::Value`s.
                let first = match (&page, &job.schema) {
                    (Some(p), None) => {
                        fetch::page_records(&p.body, &job.api.records).map_err(|reason| RunError::Decode {
                            offset: p.offset,
                            reason,
                        })?
                    }
                    _ => Vec::new(),
                };
                snapshot.insert(open(job, &plan, &first, catalog.as_ref(), expected)?)
            }
        };
        let Some(mut page) = page else { break };
        envelope_count = envelope_count.or(page.envelope_count);
        next_offset = page.offset.saturating_add(page.records);
        let Open {
            writer,
            checkpointer,
            dedup,
            columns,
        } = open_now;
        checkpointer.set_window(window);
        // The pages in flight from now on are decoded in their own tasks.
        let reader = match pager.reader() {
            Some(reader) => reader.clone(),
            None => reader_for(&pager, job, columns),
        };
        let save = |w: &mut SnapshotWriter, next, d: Option<&mut Dedup>| {
            checkpointer.save(w, next, d, run_stats(&client, clock, &earlier_stats))?;
            plan.sync(&job.name)
        };
        match rows_of(reader.decoder(), &mut page, &job.api.records)? {
            PageRows::Decoded(rows) => super::write_decoded::<RunError, _, _>(writer, &rows, dedup.as_mut(), save)?,
            PageRows::Values(records) => {
                super::write_page::<RunError, _>(writer, page.offset, records, dedup.as_mut(), save)?
            }
        }
        progress.page(page.records);
    }
    drop(progress);
    let mut snapshot = snapshot.expect("the snapshot opens before the loop ends");
    let expected = expected.or(envelope_count);
    let stats = run_stats(&client, clock, &earlier_stats);
    let duplicates = snapshot.dedup.as_ref().map_or(0, Dedup::dropped);
    completeness(job, options, expected, snapshot.writer.records(), duplicates)?;
    close_last_part(&mut snapshot, next_offset, stats.clone())?;
    plan.sync(&job.name)?;
    plan.check_locks()?;
    publish(job, options, &plan, snapshot, expected, stats, clock)
}

/// Sets the run's page reader (the decoder of `columns`) into `pager`'s
/// slot (where none is yet), and returns it.
fn reader_for(pager: &Windows, job: &Job, columns: &[Column]) -> RunReader {
    let decoder = PageDecoder::new(columns, job.query.key.as_deref(), job.api.records.clone());
    let reader = RunReader::new(Arc::new(decoder), job.api.records.clone());
    pager.set_reader(reader.clone());
    reader
}

/// The run's pages, window after window (`windows.rs`), from `start_offset`
/// inside the window of the checkpoint a resumed run continues.
fn windows(
    job: &Job,
    options: &RunOptions,
    plan: &Plan,
    client: &std::sync::Arc<ApiClient>,
    expected: Option<u64>,
    start_offset: u64,
    resumed: Option<&Checkpoint>,
) -> Windows {
    let mark = resumed.and_then(|cp| cp.window.clone());
    Windows::new(
        client.clone(),
        job,
        pager_plan(job, options, plan, expected, start_offset),
        &plan.effective.filter,
        options.max_records,
        mark,
    )
}

/// The progress bar of a run (hidden with `-q` or `--progress never`).
fn progress(job: &Job, options: &RunOptions, expected: Option<u64>) -> Progress {
    match options.progress {
        ProgressMode::Hidden => Progress::hidden(),
        mode => Progress::start(&job.name, expected, mode == ProgressMode::Forced),
    }
}

/// What the pager of a run asks for, from `start_offset` on.
fn pager_plan(job: &Job, options: &RunOptions, plan: &Plan, expected: Option<u64>, start_offset: u64) -> PagerPlan {
    PagerPlan {
        url: job.api.endpoint(),
        body: plan.body.clone(),
        page_size: u64::from(job.query.page_size),
        concurrency: job.rate_limit.concurrency.get(),
        records_at: job.api.records.clone(),
        // --max-records counts from the start of the run, not of this process.
        max_records: options.max_records.map(|m| m.saturating_sub(start_offset)),
        expected,
        start_offset,
    }
}

/// The completeness check: records written against the API's count (none
/// with `--max-records`). A mismatch is a warning, or with
/// `on_count_mismatch = "fail"` the run's error: it comes before the last
/// part is checkpointed, so `--resume` refetches the records after the last
/// finished part (where a record that went missing on a short page may be)
/// instead of publishing the same short snapshot again.
fn completeness(
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
fn close_last_part(open: &mut Open, next_offset: u64, stats: Stats) -> Result<(), RunError> {
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
struct Written {
    records: u64,
    expected: Option<u64>,
    duplicates: u64,
    type_errors: std::collections::BTreeMap<String, u64>,
    null_counts: std::collections::BTreeMap<String, u64>,
}

/// The manifest of a run (the writer fills in files, records, schema with
/// null counts and times as it publishes), with the quality report: columns
/// null in every record and changes against the last successful run's
/// schema, each also a warning. Local and bucket targets share it.
fn manifest(job: &Job, plan: &Plan, columns: &[Column], written: &Written, stats: &Stats) -> Manifest {
    let schema = sink::schema_with_nulls(columns, &written.null_counts);
    let records = written.records;
    let empty_columns = super::quality::empty_columns(&schema, &written.null_counts, records);
    for column in &empty_columns {
        tracing::warn!(
            column = %column,
            records,
            "column is null in every record: the field may be misspelt or need a permission \
             (check it with `orgsync validate --online` or `orgsync fields --search`)"
        );
    }
    let schema_changes = match &plan.previous_schema {
        Some(before) => super::quality::schema_changes(before, &schema),
        None => Vec::new(),
    };
    if !schema_changes.is_empty() {
        tracing::warn!(
            changes = %super::quality::describe(&schema_changes),
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
fn recorded(
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
fn publish(
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
