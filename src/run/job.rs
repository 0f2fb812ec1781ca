//! One job through the pipeline: lock the job and its target, check the
//! target, authenticate, check the field paths against the API's fields
//! catalog (`catalog/`), count, page, write (checkpointing after each
//! finished part, the last one included), publish, then record the run in
//! the job's state file and release the locks. `mode = "export"` runs
//! through `export.rs` (one async export instead of pages) and shares the
//! rest; an `s3://` target is `object.rs`'s. What is settled before the
//! first request is `plan.rs`; the end of a run (completeness, manifest,
//! publish, state) is `publish.rs`.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use serde_json::Value;

use crate::catalog::{self, Catalog};
use crate::fetch::{self, ApiClient, FetchError, PagerPlan};
use crate::job::{Job, QueryMode};
use crate::progress::Progress;
use crate::schema::{Column, OnTypeError, infer_with};
use crate::sink::{FinishedParts, SnapshotOptions, SnapshotWriter, Stats};
use crate::state::{self, Checkpoint, Checkpointer, Dedup, KEYS_FILE, Pointer, StateError};

use super::identity::Resumed;
use super::read::{RunReader, rows_of};
use super::windows::Windows;
use super::{JobOutcome, PageRows, ProgressMode, RunError, RunOptions, Session};
use crate::decode::PageDecoder;

#[path = "object.rs"]
mod object;

#[path = "export.rs"]
mod export;

#[path = "plan.rs"]
mod plan;

#[path = "publish.rs"]
mod publish;

use plan::{Plan, plan};
use publish::{Written, close_last_part, completeness, manifest, publish, recorded};

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
