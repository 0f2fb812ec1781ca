//! The state file of a job: its last successful run (run id, start and
//! finish, the published snapshot, records, its schema for the next run's
//! drift report, and the incremental window whose `to` is the next run's
//! `from`). Written only after a snapshot is
//! published; a failed or interrupted run never touches it. Parsing and
//! writing only; the run decides when.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};

use super::atomic::write_json_atomic;
use super::error::StateError;
use super::paths::last_run_path;
use super::pointer::Pointer;
use crate::sink::{Manifest, SchemaColumn, Window};

/// The `version` this orgsync writes and reads.
pub const LAST_RUN_VERSION: u32 = 1;

/// `<out-dir>/.orgsync/state/<job>.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LastRun {
    pub version: u32,
    pub job: String,
    pub run_id: String,
    /// RFC 3339, UTC.
    pub started_at: String,
    /// RFC 3339, UTC.
    pub finished_at: String,
    /// The published snapshot folder (absolute).
    pub snapshot: PathBuf,
    pub records: u64,
    /// The window the run covered; `to` is where the next run starts.
    pub incremental: Option<Window>,
    /// The run's columns (name, path, type, nullable): the next run reports
    /// how its schema differs. Absent in state files of older orgsyncs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<Vec<SchemaColumn>>,
}

impl LastRun {
    /// The state of `job` in `state_dir`, or `None` before its first
    /// successful run.
    pub fn load(state_dir: &Path, job: &str) -> Result<Option<LastRun>, StateError> {
        let path = last_run_path(state_dir, job);
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(StateError::read(&path)(e)),
        };
        LastRun::parse(&text, job)
            .map(Some)
            .map_err(|reason| StateError::BadState { path, reason })
    }

    /// Parses a state file's text and checks it belongs to `job`.
    pub fn parse(text: &str, job: &str) -> Result<LastRun, String> {
        let state: LastRun = serde_json::from_str(text).map_err(|e| e.to_string())?;
        if state.version != LAST_RUN_VERSION {
            return Err(format!(
                "version {} is not {LAST_RUN_VERSION}, the one this orgsync reads",
                state.version
            ));
        }
        if state.job != job {
            return Err(format!("it is the state of job {:?}, not {job:?}", state.job));
        }
        if let Some(w) = &state.incremental {
            parse_watermark(&w.to).map_err(|e| format!("incremental.to {:?}: {e}", w.to))?;
        }
        Ok(state)
    }

    /// Writes the state file atomically.
    pub fn save(&self, state_dir: &Path) -> Result<(), StateError> {
        write_json_atomic(&last_run_path(state_dir, &self.job), self)
    }

    /// Where the next incremental run on `field` starts: this run's `to`.
    /// `None` when the last run had no window or one on another field (the
    /// job's `field` changed: the next run starts at `start` again).
    pub fn watermark(&self, field: &str) -> Option<NaiveDateTime> {
        let w = self.incremental.as_ref()?;
        if w.field != field {
            tracing::warn!(
                previous = %w.field,
                now = %field,
                "the incremental field changed since the last run; starting at [incremental] start"
            );
            return None;
        }
        parse_watermark(&w.to).ok()
    }
}

/// After a snapshot is published: writes the job's state file (not for a
/// `--max-records` `trial`, which must not move the watermark), then removes
/// the checkpoint pointer (a failure there is only a warning).
pub fn record_success(state_dir: &Path, manifest: &Manifest, snapshot: &Path, trial: bool) -> Result<(), StateError> {
    if trial {
        tracing::info!("--max-records: a trial run; the state file (and incremental watermark) is not updated");
    } else {
        LastRun {
            version: LAST_RUN_VERSION,
            job: manifest.job.clone(),
            run_id: manifest.run_id.clone(),
            started_at: manifest.started_at.clone(),
            finished_at: manifest.finished_at.clone(),
            snapshot: snapshot.to_path_buf(),
            records: manifest.records,
            incremental: manifest.incremental.clone(),
            schema: Some(
                manifest
                    .schema
                    .iter()
                    .map(|c| SchemaColumn {
                        null_count: None,
                        ..c.clone()
                    })
                    .collect(),
            ),
        }
        .save(state_dir)?;
    }
    if let Err(e) = Pointer::remove(state_dir, &manifest.job) {
        tracing::warn!(error = %e, "snapshot published, but the checkpoint pointer could not be removed");
    }
    Ok(())
}

fn parse_watermark(text: &str) -> Result<NaiveDateTime, chrono::ParseError> {
    NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn state() -> Value {
        json!({
            "version": 1,
            "job": "fi",
            "run_id": "20261122T043000Z-abcdef",
            "started_at": "2026-11-22T04:30:00.000Z",
            "finished_at": "2026-11-22T04:31:00Z",
            "snapshot": "/data/exports/fi/2026-11-22",
            "records": 12,
            "incremental": {"field": "modifications.basic", "from": "2024-01-01T00:00:00.000000", "to": "2026-11-22T04:29:50.123456"}
        })
    }
    use serde_json::Value;

    fn with(mut v: Value, key: &str, value: Value) -> String {
        v[key] = value;
        v.to_string()
    }

    #[test]
    fn parse_table() {
        let cases: Vec<(String, Result<(), &str>)> = vec![
            (state().to_string(), Ok(())),
            (with(state(), "incremental", Value::Null), Ok(())),
            (with(state(), "version", json!(2)), Err("version 2")),
            (with(state(), "job", json!("se")), Err("job \"se\"")),
            (with(state(), "records", json!("many")), Err("invalid type")),
            (with(state(), "extra", json!(1)), Err("unknown field")),
            (
                with(
                    state(),
                    "incremental",
                    json!({"field": "m", "from": "x", "to": "yesterday"}),
                ),
                Err("incremental.to \"yesterday\""),
            ),
            ("{".to_string(), Err("EOF")),
            ("".to_string(), Err("EOF")),
        ];
        for (text, want) in cases {
            match (LastRun::parse(&text, "fi"), want) {
                (Ok(_), Ok(())) => {}
                (Err(e), Err(part)) => assert!(e.contains(part), "{e} lacks {part}"),
                (got, want) => panic!("{text}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn watermark_is_the_last_to_on_the_same_field() {
        let s = LastRun::parse(&state().to_string(), "fi").unwrap();
        let want = NaiveDateTime::parse_from_str("2026-11-22T04:29:50.123456", "%Y-%m-%dT%H:%M:%S%.f").unwrap();
        assert_eq!(s.watermark("modifications.basic"), Some(want));
        assert_eq!(s.watermark("modifications.financial_statements"), None);
        let none = LastRun::parse(&with(state(), "incremental", Value::Null), "fi").unwrap();
        assert_eq!(none.watermark("modifications.basic"), None);
    }

    #[test]
    fn save_then_load_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            LastRun::load(dir.path(), "fi").unwrap(),
            None,
            "no state before the first run"
        );
        let s = LastRun::parse(&state().to_string(), "fi").unwrap();
        s.save(dir.path()).unwrap();
        assert_eq!(LastRun::load(dir.path(), "fi").unwrap(), Some(s));
        fs::write(last_run_path(dir.path(), "fi"), "garbage").unwrap();
        let err = LastRun::load(dir.path(), "fi").err().unwrap();
        assert!(matches!(err, StateError::BadState { .. }), "{err}");
    }
}
