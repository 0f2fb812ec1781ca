//! One job whose `[output] path` is an `s3://` URL: the target check
//! before any API request (exit 2 for an existing snapshot), then the same
//! paging and de-duplication as a local run, with parts streamed into the
//! bucket and published by `sink::object`. Each finished part is
//! checkpointed like a local run's, into `<state>/<job>.orgsync-tmp/`
//! (mirrored to the bucket when the state is there): the parts' object
//! names (with the run id that wrote them), sizes and sha256, the next API
//! offset, the de-duplication keys. `--resume` checks the listed parts by
//! HEAD (size), keeps them, numbers the next part after them and publishes
//! a manifest listing all. A failure while publishing removes the run's
//! parts (checkpointed ones too) and drops its checkpoint: nothing to
//! resume. A child of `job.rs` (it shares its private plan).
//! Not here: the killed run's open multipart upload (the object store API
//! cannot list it; the bucket's lifecycle rule aborts it, see the README).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use serde_json::Value;

use super::{Plan, Written, completeness, manifest, progress, recorded, run_stats, snapshot_columns, snapshot_options};
use crate::catalog::Catalog;
use crate::fetch::{self, ApiClient};
use crate::job::Job;
use crate::run::identity::Resumed;
use crate::run::{JobOutcome, PageRows, RunError, RunOptions};
use crate::schema::Column;
use crate::sink::object::{self, Bucket, Existing, ObjectSnapshotWriter, ObjectUrl};
use crate::sink::{FinishedParts, KEYS_FILE, SinkError, Stats};
use crate::state::{self, Checkpoint, Dedup, Pointer, StateError};

/// An object target, connected and checked before the first request.
pub(super) struct ObjectTarget {
    bucket: Bucket,
    existing: Option<Existing>,
}

/// The bucket of `target` if it is an `s3://` URL, checked (exit 2 if a
/// snapshot is there and not `overwrite`); `None` for a local target.
pub(super) fn check(target: &Path, overwrite: bool) -> Result<Option<ObjectTarget>, RunError> {
    let Some(url) = ObjectUrl::from_target(target) else {
        return Ok(None);
    };
    let url = url.map_err(|reason| SinkError::StoreConfig {
        url: target.display().to_string(),
        reason,
    })?;
    let bucket = object::connect(&url)?;
    let existing = object::check_object_target(&bucket, overwrite)?;
    Ok(Some(ObjectTarget { bucket, existing }))
}

/// What a run has once it is connected: its client, the fields catalog (if
/// it could be had), the API's count (if known) and the run it resumes.
pub(super) struct Connected<'a> {
    pub client: Arc<ApiClient>,
    pub catalog: Option<&'a Catalog>,
    pub expected: Option<u64>,
    pub resumed: Option<Resumed>,
}

/// The open snapshot of a bucket run with its checkpoint.
struct ObjectRun {
    writer: ObjectSnapshotWriter,
    columns: Vec<Column>,
    dedup: Option<Dedup>,
    marks: Marks,
}

/// Where and how a bucket run's checkpoints are saved.
struct Marks {
    /// `<state>/<job>.orgsync-tmp`.
    dir: PathBuf,
    template: Checkpoint,
    pointer: Pointer,
    pointer_saved: bool,
}

impl ObjectRun {
    /// [`Marks::save`] of this run.
    fn checkpoint(&mut self, job: &Job, plan: &Plan, next_offset: u64, stats: Stats) -> Result<(), RunError> {
        self.marks
            .save(&mut self.writer, self.dedup.as_mut(), job, plan, next_offset, stats)
    }
}

impl Marks {
    /// Writes the checkpoint (keys, `_checkpoint.json`, the pointer once),
    /// keeps the finished parts from now on, and mirrors the state.
    fn save(
        &mut self,
        writer: &mut ObjectSnapshotWriter,
        dedup: Option<&mut Dedup>,
        job: &Job,
        plan: &Plan,
        next_offset: u64,
        stats: Stats,
    ) -> Result<(), RunError> {
        std::fs::create_dir_all(&self.dir).map_err(StateError::write(&self.dir))?;
        let (dedup_keys, duplicates_dropped) = match dedup {
            Some(d) => (Some(d.flush(&self.dir.join(KEYS_FILE))?), d.dropped()),
            None => (None, 0),
        };
        let cp = Checkpoint {
            next_offset,
            records: writer.records(),
            files: writer.files().to_vec(),
            duplicates_dropped,
            type_errors: writer.type_errors(),
            null_counts: Some(writer.null_counts()),
            dedup_keys,
            stats,
            ..self.template.clone()
        };
        cp.save(&self.dir)?;
        if !self.pointer_saved {
            self.pointer.save(&plan.state_dir)?;
            self.pointer_saved = true;
        }
        writer.keep_finished();
        plan.sync(&job.name)?;
        tracing::debug!(
            next_offset,
            records = cp.records,
            parts = cp.files.len(),
            "checkpoint saved"
        );
        Ok(())
    }
}

/// A fresh run: drops an older checkpoint, opens the writer with the
/// columns of the first page.
fn open(
    job: &Job,
    plan: &Plan,
    target: &mut ObjectTarget,
    first_page: &[Value],
    catalog: Option<&Catalog>,
    expected: Option<u64>,
) -> Result<ObjectRun, RunError> {
    let (columns, on_type_error) = snapshot_columns(job, first_page, catalog);
    state::drop_checkpoint(&plan.state_dir, &job.name)?;
    plan.sync(&job.name)?;
    let opts = snapshot_options(job, columns.clone(), on_type_error);
    let writer = ObjectSnapshotWriter::create(target.bucket.clone(), &plan.run_id, opts, target.existing.take())?;
    let dir = checkpoint_dir(plan, job);
    Ok(ObjectRun {
        writer,
        // Key runs spill into the checkpoint's folder (`_dedup_runs/`, never
        // mirrored: the keys file is the checkpoint's record of them).
        dedup: job.query.key.as_deref().map(|k| Dedup::new(k).in_dir(&dir)),
        marks: Marks {
            template: plan.checkpoint(job, &columns, on_type_error, expected),
            pointer: Pointer {
                job: job.name.clone(),
                run_id: plan.run_id.clone(),
                target: plan.absolute_target(),
                temp_dir: dir.clone(),
            },
            pointer_saved: false,
            dir,
        },
        columns,
    })
}

fn checkpoint_dir(plan: &Plan, job: &Job) -> PathBuf {
    let dir = state::checkpoint_dir(&plan.state_dir, &job.name);
    std::path::absolute(&dir).unwrap_or(dir)
}

/// A resumed run: the checkpoint's columns, parts (checked by HEAD) and keys.
fn reopen(
    job: &Job,
    plan: &Plan,
    target: &mut ObjectTarget,
    resumed: Resumed,
    expected: Option<u64>,
) -> Result<ObjectRun, RunError> {
    let (pointer, cp) = (resumed.pointer, resumed.checkpoint);
    let bad = |reason| StateError::BadCheckpoint {
        path: pointer.temp_dir.join(crate::sink::CHECKPOINT_FILE),
        reason,
    };
    let columns = cp.columns().map_err(bad)?;
    let on_type_error = cp.on_type_error().map_err(bad)?;
    // Its first spill replaces the killed run's key runs.
    let dedup = super::resumed_dedup(job, &pointer.temp_dir, cp.dedup_keys, cp.duplicates_dropped)?;
    let parts = cp.files.len();
    let writer = ObjectSnapshotWriter::resume(
        target.bucket.clone(),
        &plan.run_id,
        snapshot_options(job, columns.clone(), on_type_error),
        target.existing.take(),
        FinishedParts {
            files: cp.files,
            records: cp.records,
            type_errors: cp.type_errors,
            null_counts: cp.null_counts.unwrap_or_default(),
        },
    )?;
    writer.check_complete().map_err(|e| match e {
        SinkError::Incomplete { path, problems } => RunError::State(StateError::DamagedPart { path, reason: problems }),
        e => e.into(),
    })?;
    tracing::info!(
        parts,
        "the interrupted run's parts are in the bucket with their sizes; keeping them"
    );
    Ok(ObjectRun {
        writer,
        dedup,
        marks: Marks {
            template: plan.checkpoint(job, &columns, on_type_error, expected),
            dir: pointer.temp_dir.clone(),
            pointer,
            pointer_saved: true,
        },
        columns,
    })
}

/// Writes one page (at API offset `offset`) record by record, dropping
/// duplicates; whenever the current part fills up it is closed and
/// `checkpoint` is called with the offset of the first record after it.
/// Records go to the writer in runs of consecutive API offsets (a dropped
/// duplicate ends a run), so a type error names the record's API offset.
fn write_page(
    run: &mut ObjectRun,
    offset: u64,
    records: Vec<Value>,
    mut checkpoint: impl FnMut(&mut ObjectRun, u64) -> Result<(), RunError>,
) -> Result<(), RunError> {
    let mut buf = Vec::new();
    // The API offset of `buf[0]`.
    let mut first = offset;
    for (i, record) in records.into_iter().enumerate() {
        let at = offset.saturating_add(i as u64);
        if let Some(d) = run.dedup.as_mut()
            && !d.keep(&record)
        {
            if !buf.is_empty() {
                run.writer.write_at(&buf, first)?;
                buf.clear();
            }
            continue;
        }
        if buf.is_empty() {
            first = at;
        }
        buf.push(record);
        if buf.len() as u64 >= run.writer.room() {
            run.writer.write_at(&buf, first)?;
            buf.clear();
            run.writer.close_part()?;
            checkpoint(run, at.saturating_add(1))?;
        }
    }
    if !buf.is_empty() {
        run.writer.write_at(&buf, first)?;
    }
    Ok(())
}

pub(super) async fn run(
    job: &Job,
    options: &RunOptions,
    plan: &Plan,
    mut target: ObjectTarget,
    connected: Connected<'_>,
    clock: Instant,
) -> Result<JobOutcome, RunError> {
    let Connected {
        client,
        catalog,
        expected,
        resumed,
    } = connected;
    let mut progress = progress(job, options, expected);
    let start_offset = resumed.as_ref().map_or(0, |r| r.checkpoint.next_offset);
    let earlier = resumed.as_ref().map(|r| r.checkpoint.stats.clone()).unwrap_or_default();
    let checkpoint = resumed.as_ref().map(|r| &r.checkpoint);
    let mut pager = super::windows(job, options, plan, &client, expected, start_offset, checkpoint);
    let mut snapshot = match resumed {
        Some(r) => {
            progress.resumed(start_offset);
            Some(reopen(job, plan, &mut target, r, expected)?)
        }
        None => None,
    };
    let mut envelope_count = None;
    let mut next_offset = start_offset;
    loop {
        // On an error the writer is dropped: it aborts its open upload and
        // removes the objects it created that no checkpoint lists.
        let page = pager.next().await.transpose()?;
        let window = pager.mark();
        // The first page of a fresh run opens the snapshot (its records
        // give the columns without a schema file) and goes the `Value` way;
        // later pages are decoded straight to columns.
        let records = match (&page, &snapshot) {
            (Some(p), None) => fetch::page_records(&p.body, &job.api.records).map_err(|reason| RunError::Decode {
                offset: p.offset,
                reason,
            })?,
            _ => Vec::new(),
        };
        let opened_now = snapshot.is_none();
        let run = match snapshot.as_mut() {
            Some(run) => run,
            None => snapshot.insert(open(job, plan, &mut target, &records, catalog, expected)?),
        };
        let Some(mut page) = page else { break };
        envelope_count = envelope_count.or(page.envelope_count);
        let fetched = page.records;
        next_offset = page.offset.saturating_add(fetched);
        run.marks.template.window = window;
        // The pages in flight from now on are decoded in their own tasks.
        let reader = match pager.reader() {
            Some(reader) => reader.clone(),
            None => super::reader_for(&pager, job, &run.columns),
        };
        let rows = match opened_now {
            true => PageRows::Values(records),
            false => crate::run::rows_of(reader.decoder(), &mut page, &job.api.records)?,
        };
        let stats = || run_stats(&client, clock, &earlier);
        match rows {
            PageRows::Decoded(rows) => {
                let ObjectRun {
                    writer, dedup, marks, ..
                } = run;
                crate::run::write_decoded::<RunError, _, _>(writer, &rows, dedup.as_mut(), |w, next, d| {
                    marks.save(w, d, job, plan, next, stats())
                })?
            }
            PageRows::Values(records) => write_page(run, page.offset, records, |run, next| {
                run.checkpoint(job, plan, next, stats())
            })?,
        }
        progress.page(fetched);
    }
    drop(progress);
    let mut run = snapshot.expect("the writer opens before the loop ends");
    let stats = run_stats(&client, clock, &earlier);
    let written = Written {
        records: run.writer.records(),
        expected: expected.or(envelope_count),
        duplicates: run.dedup.as_ref().map_or(0, Dedup::dropped),
        type_errors: run.writer.type_errors(),
        null_counts: run.writer.null_counts(),
    };
    // Nothing is uploaded as the snapshot until `finish`: a mismatch that
    // fails the run keeps the checkpointed parts for --resume.
    completeness(job, options, written.expected, written.records, written.duplicates)?;
    run.writer.close_part()?;
    if !run.writer.files().is_empty() {
        run.checkpoint(job, plan, next_offset, stats.clone())?;
    }
    // Never publish beside a run that took the lock over.
    plan.check_locks()?;
    // The key runs live in the checkpoint's folder; fails if they went wrong.
    if let Some(d) = run.dedup.take() {
        d.close()?;
    }
    let manifest = manifest(job, plan, &run.columns, &written, &stats);
    let ObjectRun { writer, marks, .. } = run;
    let published = match writer.finish(manifest) {
        Ok(p) => p,
        Err(e) => {
            // `finish` removed this run's parts: its checkpoint names
            // nothing any more; the next run starts over.
            let dropped = Pointer::remove(&plan.state_dir, &job.name)
                .and_then(|()| remove_dir(&marks.dir))
                .and_then(|()| plan.mirror(&job.name));
            if let Err(d) = dropped {
                tracing::warn!(error = %d, "could not drop the checkpoint of the failed run");
            }
            return Err(e.into());
        }
    };
    if let Err(e) = remove_dir(&marks.dir) {
        tracing::warn!(error = %e, "could not remove the checkpoint folder");
    }
    recorded(options, plan, published, &written, &stats, clock)
}

/// Removes a checkpoint folder (none is fine).
fn remove_dir(dir: &Path) -> Result<(), StateError> {
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(StateError::write(dir)(e)),
        _ => Ok(()),
    }
}
