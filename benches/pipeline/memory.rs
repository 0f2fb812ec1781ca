//! The opt-in memory scenario (`ORGSYNC_BENCH_ONLY=memory`): one big pull,
//! ORGSYNC_BENCH_MEM_RECORDS (5 000 000) records, zstd Parquet with `key`
//! (`business_id`), concurrency 8, against a sandbox of that size; prints
//! records, wall, client CPU-s, records per CPU-second and client peak RSS
//! (wait4's ru_maxrss) per run and as medians, interleaved with
//! ORGSYNC_BENCH_BASELINE if set, and the verdict "peak RSS < 64 MiB".
//! Not part of a default `make bench`: a run takes minutes.

use std::path::Path;

use crate::report::{mib, verdict};
use crate::sandbox::SandboxProcess;
use crate::scenario::{JobSpec, Measured};
use crate::{BIN, CONCURRENCY, Config, repeat};

/// The highest budget a job file accepts (validation caps it at 10 000).
const MAX_RPS: f64 = 10_000.0;

fn line(label: &str, m: &Measured) {
    println!(
        "  {label:<22} {:>9.0} records, {:>7.1} s wall, {:>7.1} client CPU-s ({:>7.0} records/CPU-s), \
         peak RSS {:>6.1} MiB",
        m.records,
        m.wall_secs,
        m.cpu_secs,
        m.records_per_cpu_sec,
        mib(m.peak_rss)
    );
}

pub async fn run(cfg: &Config, schema: &Path) -> Result<(), String> {
    let records = cfg.mem_records;
    println!(
        "== memory: {records} records, parquet (zstd) with key = business_id, concurrency {CONCURRENCY}, \
         {} runs ==",
        cfg.runs
    );
    let sandbox = SandboxProcess::start(BIN, records, None)?;
    let spec = JobSpec::paging("parquet", true, MAX_RPS, CONCURRENCY);
    let label = format!("parquet {records} key");
    let (m, base) = repeat(cfg, &label, schema, &sandbox, &spec, None, cfg.baseline.as_deref()).await?;
    sandbox.stop();
    if let Some(b) = &base {
        line("baseline (median)", b);
    }
    line("this build (median)", &m);
    verdict(
        &format!("peak RSS < 64 MiB at {records} records, parquet with key, concurrency {CONCURRENCY}"),
        mib(m.peak_rss) < 64.0,
        format!("{:.1} MiB", mib(m.peak_rss)),
    );
    Ok(())
}
