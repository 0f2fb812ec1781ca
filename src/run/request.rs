//! The request a job sends: its filter (with the incremental `?RANGE`
//! window), the organizations body without `offset`/`limit`, and the hash
//! that identifies it in the manifest and the checkpoint.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::job::{BodyFor, Job};
use crate::sink::Window;

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

/// The organizations request body without `offset`/`limit` (the pages
/// body of [`crate::job::body`]).
pub fn request_body(job: &Job, filter: &Value) -> Map<String, Value> {
    crate::job::body(job, filter, BodyFor::Pages)
}

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    crate::sink::hex(&digest)
}
