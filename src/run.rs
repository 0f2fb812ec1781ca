//! One job through the pipeline: resolve the target, check it, authenticate,
//! count, page, write, publish. Owns the run's identity (run id, start
//! time), the request body and its hash, de-duplication by key, and the
//! manifest. Knows nothing of the command line.

use std::collections::HashSet;
use std::fmt;
use std::hash::{Hash, Hasher};
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
use crate::schema::{Column, FieldPath, OnTypeError, infer};
use crate::sink::{
    self, Manifest, ManifestApi, ManifestRequest, SinkError, SnapshotOptions, SnapshotWriter, Stats, Window,
};

#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Root for relative output paths.
    pub out_dir: PathBuf,
    pub max_records: Option<u64>,
    pub dry_run: bool,
    pub overwrite: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error(transparent)]
    Sink(#[from] SinkError),
    #[error("{0}")]
    Setup(String),
}

impl ExitStatus for RunError {
    fn exit(&self) -> Exit {
        match self {
            RunError::Auth(e) => e.exit(),
            RunError::Fetch(e) => e.exit(),
            RunError::Sink(e) => e.exit(),
            RunError::Setup(_) => Exit::Failed,
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

/// Drops records whose key was already written, by a 64-bit hash of the
/// key's JSON text (8 bytes a record; a collision needs ~4e9 records).
struct Dedup {
    key: FieldPath,
    seen: HashSet<u64>,
    dropped: u64,
}

impl Dedup {
    fn retain(&mut self, records: &mut Vec<Value>) {
        let before = records.len();
        records.retain(|r| {
            let value = self.key.extract(r);
            if value.is_null() {
                return true;
            }
            let mut h = std::collections::hash_map::DefaultHasher::new();
            value.into_value().to_string().hash(&mut h);
            self.seen.insert(h.finish())
        });
        self.dropped += (before - records.len()) as u64;
    }
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

pub async fn run_job(job: &Job, options: &RunOptions) -> Result<JobOutcome, RunError> {
    let clock = Instant::now();
    let started = Utc::now();
    let run_id = new_run_id(started);
    let target = resolve_target(&job.output.path, &job.name, started, &run_id, &options.out_dir);
    if !options.dry_run {
        sink::check_target(&target, options.overwrite)?;
    }
    tracing::info!(run_id = %run_id, target = %target.display(), "job started");

    let session = Session::connect(job).await?;
    let client = session.client;
    let effective = effective_filter(job, started, None);
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
            None
        }
    };
    if options.dry_run {
        return Ok(JobOutcome::DryRun {
            count: expected,
            target,
        });
    }

    let body = request_body(job, &effective.filter);
    let body_json = Value::Object(body.clone());
    let body_sha = sha256_hex(body_json.to_string().as_bytes());
    let mut pager = Pager::new(
        client.clone(),
        PagerPlan {
            url: job.api.endpoint(),
            body,
            page_size: u64::from(job.query.page_size),
            concurrency: job.rate_limit.concurrency.get(),
            records_at: job.api.records.clone(),
            max_records: options.max_records,
            expected,
            start_offset: 0,
        },
    );
    let mut dedup = job.query.key.as_deref().map(|k| Dedup {
        key: FieldPath::parse(k),
        seen: HashSet::new(),
        dropped: 0,
    });
    let mut envelope_count = None;
    // The writer opens at the first page: without a schema file its column
    // types are inferred from that page.
    let mut writer: Option<SnapshotWriter> = None;
    let mut columns = Vec::new();
    loop {
        let page = match pager.next().await {
            None => None,
            Some(Ok(page)) => Some(page),
            Some(Err(e)) => {
                if let Some(w) = writer {
                    w.abort();
                }
                return Err(e.into());
            }
        };
        let w = match writer.as_mut() {
            Some(w) => w,
            None => {
                let (cols, on_type_error) = snapshot_columns(job, page.as_ref().map_or(&[][..], |p| &p.records));
                columns = cols;
                let opened = SnapshotWriter::create(
                    &target,
                    SnapshotOptions {
                        format: job.output.format,
                        compression: job.output.compression,
                        rows_per_file: job.output.rows_per_file,
                        columns: columns.clone(),
                        on_type_error,
                    },
                )?;
                writer.insert(opened)
            }
        };
        let Some(mut page) = page else { break };
        envelope_count = envelope_count.or(page.envelope_count);
        if let Some(d) = dedup.as_mut() {
            d.retain(&mut page.records);
        }
        if let Err(e) = w.write(&page.records) {
            pager.stop();
            if let Some(w) = writer {
                w.abort();
            }
            return Err(e.into());
        }
    }
    let writer = writer.expect("the writer opens before the loop ends");
    let duplicates = dedup.as_ref().map_or(0, |d| d.dropped);
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

    let counters = &client.counters;
    let stats = Stats {
        requests: counters.requests.load(Ordering::Relaxed),
        retries: counters.retries.load(Ordering::Relaxed),
        throttled: counters.throttled.load(Ordering::Relaxed),
        token_requests: client.tokens().requests(),
        elapsed_secs: clock.elapsed().as_secs_f64(),
    };
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
        incremental: effective.window,
        format: job.output.format.extension().to_string(),
        compression: format!("{:?}", job.output.compression).to_lowercase(),
        records,
        expected_records: expected,
        duplicates_dropped: duplicates,
        type_errors: writer.type_errors().clone(),
        files: Vec::new(),
        schema: columns.iter().map(Into::into).collect(),
        stats: stats.clone(),
    };
    let published = writer.finish(manifest, options.overwrite)?;
    let summary = Summary {
        path: std::path::absolute(&published.path).unwrap_or_else(|_| published.path.clone()),
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

    #[test]
    fn dedup_drops_repeated_keys_across_pages() {
        let mut d = Dedup {
            key: FieldPath::parse("id"),
            seen: HashSet::new(),
            dropped: 0,
        };
        let mut page1 = vec![json!({"id": "a"}), json!({"id": "b"}), json!({"id": null})];
        let mut page2 = vec![json!({"id": "b"}), json!({"id": "c"}), json!({})];
        d.retain(&mut page1);
        d.retain(&mut page2);
        assert_eq!(page1.len(), 3, "records without a key are kept");
        assert_eq!(page2, vec![json!({"id": "c"}), json!({})]);
        assert_eq!(d.dropped, 1);
    }
}
