//! The checkpoint of a run in progress: `_checkpoint.json` in the snapshot's
//! temporary folder, rewritten atomically after each finished part file. It
//! holds the run's identity (run id, start, target: a resumed run keeps
//! them, so `{date}` and the incremental window stay the same), what the
//! parts were made from (request hash, output settings, schema), the next
//! API offset to fetch, the finished parts with their records, bytes and
//! sha256, and the counters a manifest needs. Parsing, compatibility and
//! part verification only; the run decides when to write it.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::atomic::write_json_atomic;
use super::error::StateError;
use super::files::CHECKPOINT_FILE;
use crate::job::Job;
use crate::schema::{Column, ColumnType, FieldPath, OnTypeError};
use crate::sink::{PartFile, SchemaColumn, Stats, Window, compression_name};

/// The `version` this orgsync writes and reads.
pub const CHECKPOINT_VERSION: u32 = 1;

/// What the finished parts were made from: a resumed run must match it.
#[derive(Debug, Clone, PartialEq)]
pub struct Fingerprint {
    /// sha256 of the request body without offset/limit (as in the manifest).
    pub request_sha256: String,
    pub format: String,
    pub compression: String,
    pub rows_per_file: u64,
    /// `[query] key`: the de-duplication keys saved are of this field.
    pub key: Option<String>,
    /// The schema file's columns and `on_type_error`; `None` without a
    /// schema file (the columns were inferred from fields the request holds).
    pub schema: Option<(Vec<SchemaColumn>, OnTypeError)>,
}

impl Fingerprint {
    /// What `job`'s parts are made from, with its request body's sha256.
    pub fn of(job: &Job, request_sha256: &str) -> Fingerprint {
        Fingerprint {
            request_sha256: request_sha256.to_string(),
            format: job.output.format.extension().to_string(),
            compression: compression_name(job.output.compression).to_string(),
            rows_per_file: job.output.rows_per_file,
            key: job.query.key.clone(),
            schema: job
                .schema
                .as_ref()
                .map(|s| (s.columns.iter().map(SchemaColumn::from).collect(), s.on_type_error)),
        }
    }
}

/// Where a keyset window starts: the records whose key is greater than
/// `after` (the last key written before it), `records_before` records into
/// the run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct KeysetWindow {
    /// The key value of the last record before the window (a string or a
    /// number, as the API sent it).
    pub after: serde_json::Value,
    /// Records paged through before the window (its offsets count from 0).
    pub records_before: u64,
}

/// `_checkpoint.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    pub version: u32,
    pub job: String,
    pub run_id: String,
    /// RFC 3339, UTC, to the nanosecond (the window's `to` derives from it).
    pub started_at: String,
    /// The snapshot folder this run publishes (absolute).
    pub target: PathBuf,
    pub request_sha256: String,
    pub format: String,
    pub compression: String,
    pub rows_per_file: u64,
    /// `[query] key`, when the job de-duplicates.
    pub key: Option<String>,
    /// `fail` or `null`.
    pub on_type_error: String,
    /// The columns of every part (a resumed run writes the same ones).
    pub schema: Vec<SchemaColumn>,
    /// Whether `schema` came from a schema file (else it was inferred).
    pub schema_file: bool,
    pub incremental: Option<Window>,
    /// API offset of the first record not in a finished part (inside
    /// `window` when there is one).
    pub next_offset: u64,
    /// The keyset window the run was in past an offset limit; `None`
    /// before the first limit (and in checkpoints of an orgsync without
    /// keyset windows, which still load).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<KeysetWindow>,
    /// Records in the finished parts.
    pub records: u64,
    pub files: Vec<PartFile>,
    pub duplicates_dropped: u64,
    pub type_errors: BTreeMap<String, u64>,
    /// Cells written as null in the finished parts, per column. `None` in
    /// a checkpoint of an orgsync before null counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub null_counts: Option<BTreeMap<String, u64>>,
    /// Valid keys in `_checkpoint.keys` when the job has `[query] key`.
    pub dedup_keys: Option<u64>,
    pub expected_records: Option<u64>,
    /// Requests etc. of the run so far, over all its processes.
    pub stats: Stats,
    /// `mode = "export"`: the async export the parts come from and how far
    /// its download got (`next_offset` then counts the export's records).
    /// Absent in pages mode and in checkpoints of an orgsync before it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub export: Option<super::export::ExportMark>,
}

impl Checkpoint {
    /// The checkpoint in temporary folder `dir`, `None` if it has none.
    pub fn load(dir: &Path) -> Result<Option<Checkpoint>, StateError> {
        let path = dir.join(CHECKPOINT_FILE);
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if matches!(e.kind(), io::ErrorKind::NotFound | io::ErrorKind::NotADirectory) => {
                return Ok(None);
            }
            Err(e) => return Err(StateError::read(&path)(e)),
        };
        Checkpoint::parse(&text)
            .map(Some)
            .map_err(|reason| StateError::BadCheckpoint { path, reason })
    }

    /// Parses `_checkpoint.json` and checks what the rest relies on.
    pub fn parse(text: &str) -> Result<Checkpoint, String> {
        let cp: Checkpoint = serde_json::from_str(text).map_err(|e| e.to_string())?;
        if cp.version != CHECKPOINT_VERSION {
            return Err(format!(
                "version {} is not {CHECKPOINT_VERSION}, the one this orgsync reads",
                cp.version
            ));
        }
        cp.started()?;
        cp.columns()?;
        cp.on_type_error()?;
        let in_files: u64 = cp.files.iter().map(|f| f.records).sum();
        if in_files != cp.records {
            return Err(format!("records {} but its files hold {in_files}", cp.records));
        }
        if let Some(bad) = cp.files.iter().find(|f| !is_part_name(&f.name)) {
            return Err(format!("{:?} is not a part file name", bad.name));
        }
        Ok(cp)
    }

    /// Writes `_checkpoint.json` into `dir` atomically.
    pub fn save(&self, dir: &Path) -> Result<(), StateError> {
        write_json_atomic(&dir.join(CHECKPOINT_FILE), self)
    }

    /// The run's start time.
    pub fn started(&self) -> Result<DateTime<Utc>, String> {
        DateTime::parse_from_rfc3339(&self.started_at)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| format!("started_at {:?}: {e}", self.started_at))
    }

    /// The columns the finished parts were written with.
    pub fn columns(&self) -> Result<Vec<Column>, String> {
        self.schema
            .iter()
            .map(|c| {
                let kind = ColumnType::parse(&c.kind)
                    .ok_or_else(|| format!("column {:?}: unknown type {:?}", c.name, c.kind))?;
                Ok(Column {
                    name: c.name.clone(),
                    path: FieldPath::parse(&c.path),
                    kind,
                    nullable: c.nullable,
                })
            })
            .collect()
    }

    pub fn on_type_error(&self) -> Result<OnTypeError, String> {
        OnTypeError::parse(&self.on_type_error).ok_or_else(|| format!("on_type_error {:?}", self.on_type_error))
    }

    /// Refuses (exit 2) when the job now would make different parts.
    pub fn check(&self, now: &Fingerprint) -> Result<(), StateError> {
        let changed = |what: &'static str, detail: String| StateError::Changed {
            job: self.job.clone(),
            run_id: self.run_id.clone(),
            what,
            detail,
            records: self.records,
        };
        if self.request_sha256 != now.request_sha256 {
            return Err(changed(
                "the request (query, fields, filter, order, database or extra)",
                format!(
                    "request sha256 {} then, {} now",
                    short(&self.request_sha256),
                    short(&now.request_sha256)
                ),
            ));
        }
        let output = [
            ("format", self.format.clone(), now.format.clone()),
            ("compression", self.compression.clone(), now.compression.clone()),
            (
                "rows_per_file",
                self.rows_per_file.to_string(),
                now.rows_per_file.to_string(),
            ),
        ];
        if let Some((key, then, now)) = output.into_iter().find(|(_, a, b)| a != b) {
            return Err(changed("[output]", format!("{key} {then} then, {now} now")));
        }
        if self.key != now.key {
            let show = |k: &Option<String>| k.clone().unwrap_or_else(|| "none".into());
            return Err(changed(
                "[query] key",
                format!("{} then, {} now", show(&self.key), show(&now.key)),
            ));
        }
        match &now.schema {
            None if self.schema_file => Err(changed("the schema", "a schema file then, none now".into())),
            Some(_) if !self.schema_file => Err(changed("the schema", "no schema file then, one now".into())),
            Some((columns, policy)) => {
                if *columns != self.schema {
                    let detail = describe_column_change(&self.schema, columns);
                    return Err(changed("the schema", detail));
                }
                if policy.name() != self.on_type_error {
                    return Err(changed(
                        "the schema",
                        format!("on_type_error {} then, {} now", self.on_type_error, policy.name()),
                    ));
                }
                Ok(())
            }
            None => Ok(()),
        }
    }
}

fn short(sha: &str) -> &str {
    sha.get(..12).unwrap_or(sha)
}

fn describe_column_change(then: &[SchemaColumn], now: &[SchemaColumn]) -> String {
    for (i, (a, b)) in then.iter().zip(now).enumerate() {
        if a != b {
            return format!(
                "column {} was {} {} ({}), is {} {} ({})",
                i + 1,
                a.name,
                a.kind,
                a.path,
                b.name,
                b.kind,
                b.path
            );
        }
    }
    format!("{} columns then, {} now", then.len(), now.len())
}

/// `part-NNNNN.<ext>[.gz|.zst]`: nothing that could leave the folder.
fn is_part_name(name: &str) -> bool {
    name.starts_with("part-") && !name.contains('/') && !name.contains('\\') && !name.contains("..")
}

/// Checks every finished part is in `dir` with the size and sha256 the
/// checkpoint recorded.
pub fn verify_parts(dir: &Path, files: &[PartFile]) -> Result<(), StateError> {
    for f in files {
        let path = dir.join(&f.name);
        let damaged = |reason: String| StateError::DamagedPart {
            path: path.clone(),
            reason,
        };
        let mut file = File::open(&path).map_err(|e| damaged(format!("cannot be opened ({e})")))?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 256 * 1024];
        let mut bytes = 0u64;
        loop {
            let n = file.read(&mut buf).map_err(StateError::read(&path))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            bytes += n as u64;
        }
        if bytes != f.bytes {
            return Err(damaged(format!("has {bytes} bytes, the checkpoint says {}", f.bytes)));
        }
        let sha = crate::sink::hex(&hasher.finalize());
        if sha != f.sha256 {
            return Err(damaged("does not have the sha256 the checkpoint recorded".into()));
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "checkpoint_tests.rs"]
mod tests;
