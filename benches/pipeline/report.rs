//! Medians over repeated runs and the bench's printed tables. Pure
//! formatting: no processes, no I/O beyond stdout.

use crate::scenario::Measured;

/// The median of `xs` (mean of the middle two for an even count).
pub fn median(mut xs: Vec<f64>) -> f64 {
    if xs.is_empty() {
        return f64::NAN;
    }
    xs.sort_by(f64::total_cmp);
    let mid = xs.len() / 2;
    if xs.len() % 2 == 1 {
        xs[mid]
    } else {
        (xs[mid - 1] + xs[mid]) / 2.0
    }
}

/// Field-wise medians of several runs of one configuration.
pub fn medians(runs: &[Measured]) -> Measured {
    let m = |f: fn(&Measured) -> f64| median(runs.iter().map(f).collect());
    Measured {
        records: m(|r| r.records),
        wall_secs: m(|r| r.wall_secs),
        records_per_sec: m(|r| r.records_per_sec),
        cpu_secs: m(|r| r.cpu_secs),
        cpu_per_100k: m(|r| r.cpu_per_100k),
        records_per_cpu_sec: m(|r| r.records_per_cpu_sec),
        peak_rss: m(|r| r.peak_rss),
        requests: m(|r| r.requests),
        requests_per_sec: m(|r| r.requests_per_sec),
        throttled_client: m(|r| r.throttled_client),
        throttled_server: m(|r| r.throttled_server),
        sandbox_cpu_per_100k: m(|r| r.sandbox_cpu_per_100k),
        bytes: m(|r| r.bytes),
    }
}

pub fn mib(bytes: f64) -> f64 {
    bytes / (1024.0 * 1024.0)
}

pub fn throughput_header() {
    println!(
        "{:<32} {:>5} {:>9} {:>10} {:>9} {:>11} {:>9} {:>8} {:>5} {:>9} {:>8}",
        "scenario (median of runs)",
        "runs",
        "records",
        "records/s",
        "cpu/100k",
        "rec/cpu-s",
        "peakRSS",
        "req/s",
        "429s",
        "srv/100k",
        "out MiB"
    );
}

pub fn throughput_row(label: &str, runs: usize, m: &Measured) {
    println!(
        "{:<32} {:>5} {:>9.0} {:>10.0} {:>8.3}s {:>11.0} {:>6.1}MiB {:>8.0} {:>5.0} {:>8.3}s {:>8.1}",
        label,
        runs,
        m.records,
        m.records_per_sec,
        m.cpu_per_100k,
        m.records_per_cpu_sec,
        mib(m.peak_rss),
        m.requests_per_sec,
        m.throttled_client.max(m.throttled_server),
        m.sandbox_cpu_per_100k,
        mib(m.bytes),
    );
}

/// One individual run, for the log (so outliers are visible).
pub fn run_line(label: &str, i: usize, m: &Measured) {
    println!(
        "  {label} run {i}: {:.0} rec in {:.2}s wall, {:.2}s cpu, rss {:.1} MiB, {:.0} req, 429 client/server {:.0}/{:.0}",
        m.records,
        m.wall_secs,
        m.cpu_secs,
        mib(m.peak_rss),
        m.requests,
        m.throttled_client,
        m.throttled_server
    );
}

/// "met" / "NOT met" with the numbers.
pub fn verdict(name: &str, ok: bool, detail: String) {
    println!("  [{}] {name}: {detail}", if ok { "met" } else { "NOT met" });
}
