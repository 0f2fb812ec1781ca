//! `make bench-keyset`: the cost of one de-duplication key, in process:
//! `Dedup::keep_hash` (the bounded key set: Bloom filter, recent keys,
//! sorted runs on disk in a temp folder) against `before`, a copy of the
//! set it replaced (every key in memory: a sorted Vec<u64> plus a HashSet
//! of the last 64 Ki keys, merged into it). Keys are random 64-bit hashes
//! (as sha256 gives them), 1 % of them repeats of an earlier key (exact
//! checks against the runs). Prints ns per key (wall and CPU, medians of
//! ORGSYNC_BENCH_RUNS = 3 runs of ORGSYNC_BENCH_KEYS = 5 000 000 keys) and
//! the memory each keeps per key, and the process's peak RSS (run one
//! variant at a time with ORGSYNC_BENCH_ONLY=before / after to compare).
//! Under `cargo test` (no `--bench`) a smoke run of 20 000 keys (or
//! ORGSYNC_BENCH_KEYS) checks both agree.

use std::collections::HashSet;
use std::time::Instant;

use orgsync::state::Dedup;

mod common;
use common::{cpu, env_or, median};

/// This process's peak resident set (`VmHWM` of /proc/self/status), KiB.
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// SplitMix64: random-looking keys, the same every run.
fn keys(n: u64) -> Vec<u64> {
    let mut state = 0x5EED_u64;
    let mut next = move || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let mut out = Vec::with_capacity(n as usize);
    for i in 0..n {
        // Every 100th key repeats one seen about 1000 keys earlier.
        if i % 100 == 99 && i > 1000 {
            out.push(out[(i - 1000) as usize]);
        } else {
            out.push(next());
        }
    }
    out
}

/// The key set before this change (src/state/dedup.rs at 47847d6).
#[derive(Default)]
struct Before {
    sorted: Vec<u64>,
    recent: HashSet<u64>,
}

impl Before {
    fn insert(&mut self, key: u64) -> bool {
        if self.sorted.binary_search(&key).is_ok() || !self.recent.insert(key) {
            return false;
        }
        if self.recent.len() >= 1 << 16 {
            let mut tail: Vec<u64> = self.recent.drain().collect();
            tail.sort_unstable();
            let n = self.sorted.len();
            self.sorted.resize(n + tail.len(), 0);
            let (mut i, mut j, mut k) = (n, tail.len(), n + tail.len());
            while j > 0 {
                if i > 0 && self.sorted[i - 1] > tail[j - 1] {
                    self.sorted[k - 1] = self.sorted[i - 1];
                    i -= 1;
                } else {
                    self.sorted[k - 1] = tail[j - 1];
                    j -= 1;
                }
                k -= 1;
            }
        }
        true
    }
}

/// (wall ns/key, CPU ns/key, keys kept) of one pass over `keys`.
fn measure(keys: &[u64], mut insert: impl FnMut(u64) -> bool) -> (f64, f64, u64) {
    let (wall0, cpu0) = (Instant::now(), cpu());
    let mut kept = 0u64;
    for &k in keys {
        kept += u64::from(insert(k));
    }
    let n = keys.len().max(1) as f64;
    (
        wall0.elapsed().as_nanos() as f64 / n,
        (cpu() - cpu0).as_nanos() as f64 / n,
        kept,
    )
}

fn main() {
    let smoke = !std::env::args().any(|a| a == "--bench");
    let (n, runs) = match smoke {
        // ORGSYNC_BENCH_KEYS also here: memory can be measured in a debug build.
        true => (env_or("ORGSYNC_BENCH_KEYS", 20_000), 1),
        false => (
            env_or("ORGSYNC_BENCH_KEYS", 5_000_000),
            env_or("ORGSYNC_BENCH_RUNS", 3).max(1),
        ),
    };
    let keys = keys(n);
    let only = std::env::var("ORGSYNC_BENCH_ONLY").ok();
    let wants = |v: &str| only.as_deref().is_none_or(|o| o.split(',').any(|p| p.trim() == v));
    println!("keyset bench: {n} keys (1% repeats), {runs} runs, medians");
    let mut kept_by = Vec::new();
    if wants("before") {
        let (mut wall, mut cpu_ns) = (Vec::new(), Vec::new());
        for _ in 0..runs {
            let mut set = Before::default();
            let (w, c, kept) = measure(&keys, |k| set.insert(k));
            wall.push(w);
            cpu_ns.push(c);
            kept_by.push(kept);
            let bytes = set.sorted.capacity() * 8 + set.recent.capacity() * 9;
            println!(
                "  before  run: {w:.1} ns/key wall, {c:.1} CPU; keeps {kept}; {:.2} bytes/key in memory",
                bytes as f64 / kept.max(1) as f64
            );
        }
        println!(
            "before: {:.1} ns/key wall, {:.1} ns/key CPU (median)",
            median(wall),
            median(cpu_ns)
        );
    }
    if wants("after") {
        let (mut wall, mut cpu_ns) = (Vec::new(), Vec::new());
        for _ in 0..runs {
            let dir = tempfile::tempdir().expect("temp dir");
            let mut d = Dedup::new("id").in_dir(dir.path());
            let (w, c, kept) = measure(&keys, |k| d.keep_hash(k));
            wall.push(w);
            cpu_ns.push(c);
            kept_by.push(kept);
            let (_, filter, runs_on_disk) = d.memory();
            println!(
                "  after   run: {w:.1} ns/key wall, {c:.1} CPU; keeps {kept}; filter {:.2} bytes/key, {runs_on_disk} runs",
                filter as f64 / kept.max(1) as f64
            );
            d.close().expect("close");
        }
        println!(
            "after:  {:.1} ns/key wall, {:.1} ns/key CPU (median)",
            median(wall),
            median(cpu_ns)
        );
    }
    println!(
        "process peak RSS (VmHWM, keys vector included: {:.1} MiB): {:.1} MiB",
        (n * 8) as f64 / 1048576.0,
        peak_rss_kib() as f64 / 1024.0
    );
    kept_by.dedup();
    assert!(kept_by.len() <= 1, "the two sets disagree: {kept_by:?}");
}
