//! What a run settles before its first request (`Plan`): the job's lock
//! (a second run of the job stops here), the state and the checkpoint to
//! resume, the run's identity, the target's lock and check, the request
//! and its fingerprint, and the state's bucket copy with its lock objects.
//! It sends nothing; `job.rs` runs the plan.

use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::object;
use crate::job::Job;
use crate::run::identity::{Resumed, identity};
use crate::run::request::{Effective, effective_filter, request_body, sha256_hex};
use crate::run::{RunError, RunOptions};
use crate::schema::{Column, OnTypeError};
use crate::sink::{self, SchemaColumn, Stats};
use crate::state::{
    self, CHECKPOINT_VERSION, Checkpoint, Fingerprint, Holder, LastRun, LockError, LockGuard, LockKey, RemoteLock,
    RemoteState, StateError,
};

/// What a run knows before its first request.
pub(super) struct Plan {
    pub(super) state_dir: PathBuf,
    pub(super) resumed: Option<Resumed>,
    pub(super) started: DateTime<Utc>,
    pub(super) run_id: String,
    pub(super) target: PathBuf,
    pub(super) effective: Effective,
    pub(super) body: Map<String, Value>,
    pub(super) body_sha: String,
    pub(super) print: Fingerprint,
    /// The job's and the target's locks (none for a dry run), held until
    /// the run's state is recorded.
    pub(super) _locks: Vec<LockGuard>,
    /// The schema of the last successful run, for the drift report.
    pub(super) previous_schema: Option<Vec<SchemaColumn>>,
    /// An `s3://` target, connected and checked (`object.rs`).
    pub(super) object: Option<object::ObjectTarget>,
    /// The async export the records came from, for the manifest (`export.rs`).
    pub(super) export: Option<sink::ManifestExport>,
    /// The state's bucket copy (`--state-dir s3://...`): `state_dir` is its
    /// working copy, mirrored after each state write.
    pub(super) remote: Option<Arc<RemoteState>>,
    /// The lock objects in the state's bucket (job, target), renewed while held.
    pub(super) remote_locks: Vec<RemoteLock>,
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
pub(super) fn plan(job: &Job, options: &RunOptions) -> Result<Plan, RunError> {
    let state_dir = options.state_dir.clone();
    let now = Utc::now();
    let fresh = (now, crate::run::new_run_id(now));
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
    pub(super) fn absolute_target(&self) -> PathBuf {
        if self.target.to_str().and_then(sink::object::scheme).is_some() {
            return self.target.clone();
        }
        std::path::absolute(&self.target).unwrap_or_else(|_| self.target.clone())
    }

    /// Mirrors `job`'s state files to the bucket, when the state is there,
    /// unless a lock object is no longer ours (exit 5): a run that lost its
    /// lock must not write over the new holder's checkpoint.
    pub(super) fn sync(&self, job: &str) -> Result<(), RunError> {
        self.check_locks()?;
        Ok(self.mirror(job)?)
    }

    /// Mirrors `job`'s state files to the bucket, when the state is there.
    pub(super) fn mirror(&self, job: &str) -> Result<(), StateError> {
        match &self.remote {
            Some(r) => r.sync(job),
            None => Ok(()),
        }
    }

    /// Fails (exit 5) if a lock object in the bucket is no longer ours.
    pub(super) fn check_locks(&self) -> Result<(), LockError> {
        self.remote_locks.iter().try_for_each(RemoteLock::check)
    }

    /// The checkpoint every finished part of this run saves, before the
    /// first part.
    pub(super) fn checkpoint(
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
