//! What the in-process benches share (`decode`, `parquet_write`, `keyset`):
//! this process's CPU time, the knobs from the environment, the median of
//! runs, and the bench data (sandbox records projected to a schema's
//! paths). Included with `mod common;`; not a bench itself.

use std::path::Path;
use std::time::Duration;

use orgsync::schema::{Column, load_schema};
use serde_json::Value;

/// User + system CPU of this process so far (getrusage).
pub fn cpu() -> Duration {
    // SAFETY: rusage is plain data; all zeroes is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes the struct it is given.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let tv = |t: libc::timeval| Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// The environment variable `name` as a number, else `default`.
pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The columns of `schemas/organizations.toml` and `records` sandbox
/// records (FI, seed 1) projected to their paths, as the API sends them.
#[allow(dead_code)] // `keyset` reads no records
pub fn organizations(records: usize) -> (Vec<Column>, Vec<Value>) {
    let schema = load_schema(Path::new("schemas/organizations.toml"), &[]).expect("schemas/organizations.toml");
    let fields: Vec<String> = schema.columns.iter().map(|c| c.path.as_str().to_string()).collect();
    let data = orgsync::sandbox::Dataset::new(1, records as u64);
    let projected = (0..records as u64)
        .map(|i| orgsync::sandbox::project(&data.record("FI", i), &fields))
        .collect();
    (schema.columns, projected)
}
