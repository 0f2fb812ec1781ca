//! `make bench-parsers`: what faster JSON parsers than serde_json cost on
//! the page decoder's workload, next to the decoder itself (`make
//! bench-decode`'s `decoder-only` and `check-only`). Reads the pages
//! `make bench-decode` wrote with `ORGSYNC_BENCH_DUMP_PAGES` (100-record
//! bare arrays of the sandbox's data set, the 14 paths of
//! schemas/organizations.toml). Each variant walks every page
//! ORGSYNC_BENCH_REPS (10) times; CPU is this process's user+system time
//! (getrusage), the best of 5. Nothing is typed or written here: a parser's
//! walk is the part a decoder built on it could not avoid.

use std::time::Duration;

fn cpu() -> Duration {
    // SAFETY: rusage is plain data; all zeroes is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes the struct it is given.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let tv = |t: libc::timeval| Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

type Walk = fn(&mut Vec<u8>, &mut simd_json::Buffers) -> usize;

fn main() {
    let dir = std::env::args()
        .nth(1)
        .expect("usage: orgsync-bench-parsers <pages dir>");
    let reps: usize = std::env::var("ORGSYNC_BENCH_REPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .map(|e| e.expect("a directory entry").path())
        .collect();
    paths.sort();
    let pages: Vec<Vec<u8>> = paths.iter().map(|p| std::fs::read(p).expect("a page")).collect();
    let records: usize = pages
        .iter()
        .map(|p| {
            serde_json::from_slice::<Vec<serde::de::IgnoredAny>>(p)
                .expect("a bare array")
                .len()
        })
        .sum();
    println!(
        "{} pages, {records} records, {reps} walks of each, best of 5",
        pages.len()
    );
    let variants: [(&str, Walk); 6] = [
        ("std::str::from_utf8", |b, _| {
            usize::from(std::str::from_utf8(b).is_ok())
        }),
        ("serde_json IgnoredAny", |b, _| {
            usize::from(serde_json::from_slice::<serde::de::IgnoredAny>(b).is_ok())
        }),
        ("serde_json Value", |b, _| {
            serde_json::from_slice::<serde_json::Value>(b).map_or(0, |v| v.as_array().map_or(0, Vec::len))
        }),
        ("simd-json tape", |b, buffers| {
            simd_json::Deserializer::from_slice_with_buffers(b, buffers).map_or(0, |d| d.into_tape().0.len())
        }),
        ("sonic-rs IgnoredAny", |b, _| {
            usize::from(sonic_rs::from_slice::<serde::de::IgnoredAny>(b).is_ok())
        }),
        ("sonic-rs lazy records", |b, _| sonic_rs::to_array_iter(&b[..]).count()),
    ];
    println!("{:24} {:>12} {:>14}", "variant", "CPU-s/100k", "records/CPU-s");
    let mut buffers = simd_json::Buffers::default();
    for (name, walk) in variants {
        let mut best = f64::MAX;
        let mut seen = 0;
        for _ in 0..5 {
            // simd-json parses in place: every walk gets its own copy.
            let mut copies: Vec<Vec<u8>> = (0..reps).flat_map(|_| pages.iter().cloned()).collect();
            let start = cpu();
            for page in &mut copies {
                seen += walk(page, &mut buffers);
            }
            best = best.min((cpu() - start).as_secs_f64());
        }
        let walked = (records * reps) as f64;
        println!(
            "{name:24} {:>12.4} {:>14.0}   ({seen})",
            best / walked * 1e5,
            walked / best.max(1e-9)
        );
    }
}
