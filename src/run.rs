//! One job through the pipeline: resolve the target, check it, authenticate,
//! count, page, write (checkpointing after each finished part), publish,
//! then record the run in the job's state file. Owns the run's identity
//! (run id, start time, or the interrupted run's with `--resume`), the
//! request body and its hash, and the manifest. What the state and
//! checkpoint files hold is `state`'s; the command line is `commands`'.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::auth::{AuthError, TokenEndpoint, Tokens};
use crate::exit::{Exit, ExitStatus};
use crate::fetch::{self, ApiClient, FetchError, Gate, Pager, PagerPlan, RetryPolicy};
use crate::job::Job;
use crate::progress::Progress;
use crate::schema::{Column, OnTypeError, infer};
use crate::sink::{
    self, FinishedParts, KEYS_FILE, Manifest, ManifestApi, ManifestRequest, SchemaColumn, SinkError, SnapshotOptions,
    SnapshotWriter, Stats, Window,
};
use crate::state::{
    self, CHECKPOINT_VERSION, Checkpoint, Checkpointer, Dedup, Fingerprint, LastRun, Pointer, StateError,
};

#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Root for relative output paths.
    pub out_dir: PathBuf,
    pub max_records: Option<u64>,
    pub dry_run: bool,
    pub overwrite: bool,
    /// Continue the job's interrupted run from its checkpoint, if it has one.
    pub resume: bool,
    pub progress: ProgressMode,
}

/// Whether a job shows a progress bar on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressMode {
    Hidden,
    /// Only when stderr is a terminal.
    Terminal,
    /// Even when stderr is not a terminal.
    Forced,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error(transparent)]
    Sink(#[from] SinkError),
    #[error(transparent)]
    State(#[from] StateError),
    /// The snapshot is out, but the state file could not be updated.
    #[error(
        "snapshot published at {}, but the state file could not be updated: {source}; \
         the next incremental run will fetch this window again",
        path.display()
    )]
    StateAfterPublish { path: PathBuf, source: StateError },
    #[error("{0}")]
    Setup(String),
}

impl ExitStatus for RunError {
    fn exit(&self) -> Exit {
        match self {
            RunError::Auth(e) => e.exit(),
            RunError::Fetch(e) => e.exit(),
            RunError::Sink(e) => e.exit(),
            RunError::State(e) => e.exit(),
            RunError::StateAfterPublish { .. } | RunError::Setup(_) => Exit::Failed,
        }
    }
}

/// What a finished job reports.
#[derive(Debug)]
pub enum JobOutcome {
    DryRun { count: Option<u64>, target: PathBuf },
    Published(Summary),
}

/// The one-line summary of a published snapshot.
#[derive(Debug, Clone)]
pub struct Summary {
    pub path: PathBuf,
    pub records: u64,
    pub expected: Option<u64>,
    pub files: usize,
    pub bytes: u64,
    pub elapsed: Duration,
    pub requests: u64,
    pub retries: u64,
    pub throttled: u64,
    pub duplicates: u64,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} records -> {} ({} files, {} bytes, {:.1} s, {} requests, {} retries, {} throttled",
            self.records,
            self.path.display(),
            self.files,
            self.bytes,
            self.elapsed.as_secs_f64(),
            self.requests,
            self.retries,
            self.throttled
        )?;
        if self.duplicates > 0 {
            write!(f, ", {} duplicates dropped", self.duplicates)?;
        }
        f.write_str(")")
    }
}

/// A connected client: HTTP, tokens, rate gate, retry policy of one job.
pub struct Session {
    pub client: Arc<ApiClient>,
}

impl Session {
    /// Build the client and get the run's first token (wrong credentials
    /// fail here, before anything else).
    pub async fn connect(job: &Job) -> Result<Session, RunError> {
        let http = fetch::build_http_client(job.api.timeout).map_err(RunError::Setup)?;
        let policy = RetryPolicy::from(&job.retry);
        let tokens = Arc::new(Tokens::new(
            TokenEndpoint::new(http.clone(), job.auth.clone()),
            policy.clone(),
        ));
        tokens.get().await?;
        let client = ApiClient::new(http, tokens, Gate::new(&job.rate_limit), policy);
        Ok(Session {
            client: Arc::new(client),
        })
    }
}

/// The filter a run sends, and its incremental window if the job has one.
pub struct Effective {
    pub filter: Value,
    pub window: Option<Window>,
}

/// The job's filter, combined under `?ALL` with the incremental `?RANGE`
/// from `previous_to` (or the job's `start`) to `started - lag`.
pub fn effective_filter(job: &Job, started: DateTime<Utc>, previous_to: Option<NaiveDateTime>) -> Effective {
    let Some(inc) = &job.incremental else {
        return Effective {
            filter: job.query.filter.clone(),
            window: None,
        };
    };
    let from = previous_to.unwrap_or(inc.start);
    let lag = chrono::Duration::from_std(inc.lag).unwrap_or_default();
    let to = (started - lag).naive_utc();
    let fmt = |t: NaiveDateTime| t.format("%Y-%m-%dT%H:%M:%S%.6f").to_string();
    let range = json!({ "?RANGE": { inc.field.clone(): [fmt(from), fmt(to)] } });
    Effective {
        filter: json!({ "?ALL": [job.query.filter.clone(), range] }),
        window: Some(Window {
            field: inc.field.clone(),
            from: fmt(from),
            to: fmt(to),
        }),
    }
}

/// The organizations request body without `offset`/`limit`.
pub fn request_body(job: &Job, filter: &Value) -> Map<String, Value> {
    let mut body = Map::new();
    body.insert("query".into(), filter.clone());
    body.insert("database".into(), Value::String(job.query.database.clone()));
    body.insert("fields".into(), Value::from(job.query.fields.clone()));
    if let Some(order) = &job.query.order {
        body.insert("order".into(), Value::String(order.clone()));
    }
    for (k, v) in &job.query.extra {
        body.insert(k.clone(), v.clone());
    }
    body
}

fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// `20261122T043000Z-` plus six random hex digits.
pub fn new_run_id(started: DateTime<Utc>) -> String {
    use std::hash::BuildHasher;
    let random = std::collections::hash_map::RandomState::new().hash_one(std::process::id()) & 0xff_ffff;
    format!("{}-{random:06x}", started.format("%Y%m%dT%H%M%SZ"))
}

/// Fill the output path template and put it under `out_dir` when relative.
pub fn resolve_target(template: &str, job: &str, started: DateTime<Utc>, run_id: &str, out_dir: &Path) -> PathBuf {
    let path = template
        .replace("{job}", job)
        .replace("{date}", &started.format("%Y-%m-%d").to_string())
        .replace("{time}", &started.format("%H%M%S").to_string())
        .replace("{run_id}", run_id);
    let path = PathBuf::from(path);
    if path.is_absolute() { path } else { out_dir.join(path) }
}

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

/// An interrupted run being continued: its checkpoint, verified against the job.
struct Resumed {
    pointer: Pointer,
    checkpoint: Checkpoint,
}

/// The run's identity: start, id and target (the interrupted run's when resuming).
fn identity(
    job: &Job,
    options: &RunOptions,
    resumed: Option<&Resumed>,
) -> Result<(DateTime<Utc>, String, PathBuf), RunError> {
    if let Some(r) = resumed {
        let started = r.checkpoint.started().map_err(|reason| StateError::BadCheckpoint {
            path: r.pointer.temp_dir.join(sink::CHECKPOINT_FILE),
            reason,
        })?;
        return Ok((started, r.checkpoint.run_id.clone(), r.checkpoint.target.clone()));
    }
    let started = Utc::now();
    let run_id = new_run_id(started);
    let target = resolve_target(&job.output.path, &job.name, started, &run_id, &options.out_dir);
    Ok((started, run_id, target))
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

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn target_template_table() {
        let started = Utc.with_ymd_and_hms(2026, 11, 22, 4, 30, 0).unwrap();
        let out = Path::new("/data");
        let cases = [
            ("exports/{job}/{date}", "/data/exports/fi/2026-11-22"),
            ("exports/{job}/{date}T{time}", "/data/exports/fi/2026-11-22T043000"),
            ("{run_id}", "/data/20261122T043000Z-abcdef"),
            ("/abs/{job}", "/abs/fi"),
        ];
        for (template, want) in cases {
            assert_eq!(
                resolve_target(template, "fi", started, "20261122T043000Z-abcdef", out),
                PathBuf::from(want),
                "{template}"
            );
        }
    }

    #[test]
    fn run_ids_have_the_documented_shape() {
        let started = Utc.with_ymd_and_hms(2026, 11, 22, 4, 30, 0).unwrap();
        let id = new_run_id(started);
        assert!(id.starts_with("20261122T043000Z-"), "{id}");
        let hex = &id["20261122T043000Z-".len()..];
        assert_eq!(hex.len(), 6);
        assert!(hex.chars().all(|c| c.is_ascii_hexdigit()), "{id}");
    }
}
