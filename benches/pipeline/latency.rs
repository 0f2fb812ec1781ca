//! The rate-under-latency scenario (issue 9, point 10): a sandbox that
//! answers every API request after 150 ms, a job with a budget of 10
//! requests/s, burst 1, concurrency 4, 150 requests (~15 s). The rate is
//! measured at the server: (API requests - 1) / the time from the first to
//! the last API request's arrival (`api_window_secs` of `/_sandbox/stats`),
//! so the client's start-up and publishing do not count. A fresh sandbox
//! (the current build) per run; with a baseline binary, its runs are
//! interleaved with the current one's, and medians are printed side by
//! side.

use std::path::Path;

use serde_json::Value;

use crate::report::median;
use crate::sandbox::{self, SandboxProcess};
use crate::scenario::{JobSpec, run_once};

const LATENCY_MS: &str = "150";
const BUDGET: f64 = 10.0;
const RECORDS: u64 = 15_000;

/// Requests/s at the server and the client's own requests / elapsed.
async fn once(bin: &str, sandbox_bin: &str, schema: &Path) -> Result<(f64, f64), String> {
    let sandbox = SandboxProcess::start_with(sandbox_bin, RECORDS, None, &["--latency-ms", LATENCY_MS])?;
    let spec = JobSpec::paging("csv", false, BUDGET, 4);
    let m = run_once(bin, schema, &sandbox, &spec, None).await?;
    let http = sandbox::http_client()?;
    let stats = sandbox::stats(&http, &sandbox.url).await?;
    sandbox.stop();
    let n = |v: &Value| v.as_f64().unwrap_or(0.0);
    let requests = n(&stats["organizations_requests"]) + n(&stats["count_requests"]);
    let window = n(&stats["api_window_secs"]);
    if window <= 0.0 {
        return Err("the sandbox reported no api_window_secs (an older sandbox binary?)".into());
    }
    Ok(((requests - 1.0) / window, m.requests_per_sec))
}

pub async fn run(bin: &str, baseline: Option<&str>, runs: usize, schema: &Path) -> Result<(), String> {
    println!(
        "== latency: sandbox --latency-ms {LATENCY_MS}, job requests_per_second = {BUDGET}, burst 1, \
         concurrency 4, {RECORDS} records, {runs} runs (rate measured at the server) =="
    );
    let mut current = Vec::new();
    let mut base = Vec::new();
    for i in 0..runs {
        if let Some(b) = baseline {
            let (server, client) = once(b, bin, schema).await?;
            println!(
                "  baseline run {}: {server:.3} req/s at the server, {client:.3} client-side",
                i + 1
            );
            base.push(server);
        }
        let (server, client) = once(bin, bin, schema).await?;
        println!(
            "  current  run {}: {server:.3} req/s at the server, {client:.3} client-side",
            i + 1
        );
        current.push(server);
    }
    let pct = |r: f64| r / BUDGET * 100.0;
    let now = median(current);
    match baseline {
        Some(_) => {
            let before = median(base);
            println!(
                "  median at the server: baseline {before:.3} req/s ({:.1}%) -> current {now:.3} req/s ({:.1}%)",
                pct(before),
                pct(now)
            );
        }
        None => println!("  median at the server: {now:.3} req/s ({:.1}% of {BUDGET})", pct(now)),
    }
    println!(
        "  target >= 97% of the budget: {}",
        if pct(now) >= 97.0 { "met" } else { "NOT met" }
    );
    Ok(())
}
