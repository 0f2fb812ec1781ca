//! A run's identity: when it started, its id, and where its snapshot goes;
//! an interrupted run's own when it is resumed.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use crate::job::Job;
use crate::sink;
use crate::state::{Checkpoint, Pointer, StateError};

use super::{RunError, RunOptions};

/// `20261122T043000Z-` plus six random hex digits.
pub fn new_run_id(started: DateTime<Utc>) -> String {
    use std::hash::BuildHasher;
    let random = std::collections::hash_map::RandomState::new().hash_one(std::process::id()) & 0xff_ffff;
    format!("{}-{random:06x}", started.format("%Y%m%dT%H%M%SZ"))
}

/// Fill the output path template and put it under `out_dir` when relative
/// (an `s3://` URL is taken as it is).
pub fn resolve_target(template: &str, job: &str, started: DateTime<Utc>, run_id: &str, out_dir: &Path) -> PathBuf {
    let path = template
        .replace("{job}", job)
        .replace("{date}", &started.format("%Y-%m-%d").to_string())
        .replace("{time}", &started.format("%H%M%S").to_string())
        .replace("{run_id}", run_id);
    if sink::object::scheme(&path).is_some() {
        return PathBuf::from(path);
    }
    let path = PathBuf::from(path);
    if path.is_absolute() { path } else { out_dir.join(path) }
}

/// An interrupted run being continued: its checkpoint, verified against the job.
pub(crate) struct Resumed {
    pub(crate) pointer: Pointer,
    pub(crate) checkpoint: Checkpoint,
}

/// The run's identity: start, id and target (the interrupted run's when
/// resuming, else `fresh`: this process's start and a new run id).
pub(crate) fn identity(
    job: &Job,
    options: &RunOptions,
    resumed: Option<&Resumed>,
    fresh: (DateTime<Utc>, String),
) -> Result<(DateTime<Utc>, String, PathBuf), RunError> {
    if let Some(r) = resumed {
        let started = r.checkpoint.started().map_err(|reason| StateError::BadCheckpoint {
            path: r.pointer.temp_dir.join(crate::state::CHECKPOINT_FILE),
            reason,
        })?;
        return Ok((started, r.checkpoint.run_id.clone(), r.checkpoint.target.clone()));
    }
    let (started, run_id) = fresh;
    let target = resolve_target(&job.output.path, &job.name, started, &run_id, &options.out_dir);
    Ok((started, run_id, target))
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
            ("s3://bucket/x/{job}/{date}", "s3://bucket/x/fi/2026-11-22"),
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
