//! The zstd level study: re-encode the same data (a Parquet part and a CSV
//! part the throughput runs produced) at zstd levels 1, 3 and 6, and print
//! size and CPU for each, so the level orgsync uses is a measured choice.
//! The Parquet writer settings are the sink's own (`writer_properties`:
//! row groups, statistics, bounded dictionaries, `created_by`), only the
//! codec (and zstd's level) changed, so the study measures what orgsync
//! writes. In-process and single-threaded; CPU is this thread's CPU time.

use std::path::Path;
use std::time::Duration;

use arrow_array::RecordBatch;
use orgsync::job::Compression as JobCompression;
use orgsync::sink::writer_properties;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{Compression, ZstdLevel};

pub const LEVELS: [i32; 3] = [1, 3, 6];

/// CPU time of the calling thread.
pub fn thread_cpu() -> Duration {
    // SAFETY: clock_gettime fills a local timespec.
    let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Best of `reps` CPU times of `f` (the least disturbed run), and its result.
fn timed<T>(reps: usize, mut f: impl FnMut() -> Result<T, String>) -> Result<(Duration, T), String> {
    let mut best: Option<(Duration, T)> = None;
    for _ in 0..reps {
        let t0 = thread_cpu();
        let out = f()?;
        let took = thread_cpu() - t0;
        if best.as_ref().is_none_or(|(b, _)| took < *b) {
            best = Some((took, out));
        }
    }
    best.ok_or_else(|| "no repetitions".to_string())
}

fn parquet_bytes(batches: &[RecordBatch], codec: Compression) -> Result<usize, String> {
    let Some(first) = batches.first() else { return Ok(0) };
    // The sink's settings for zstd Parquet; only the codec differs.
    let props = writer_properties(JobCompression::Zstd)
        .into_builder()
        .set_compression(codec)
        .build();
    let mut out = Vec::new();
    let mut w = ArrowWriter::try_new(&mut out, first.schema(), Some(props)).map_err(|e| e.to_string())?;
    for b in batches {
        w.write(b).map_err(|e| e.to_string())?;
    }
    w.close().map_err(|e| e.to_string())?;
    Ok(out.len())
}

/// Prints, per codec, bytes and the CPU to encode `parquet`'s rows and to
/// zstd-compress `csv`'s bytes.
pub fn study(parquet: &Path, csv: Option<&Path>) -> Result<(), String> {
    let file = std::fs::File::open(parquet).map_err(|e| format!("{}: {e}", parquet.display()))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|b| b.with_batch_size(8192).build())
        .map_err(|e| e.to_string())?;
    let batches: Vec<RecordBatch> = reader.collect::<Result<_, _>>().map_err(|e| e.to_string())?;
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    println!("zstd level study: Parquet encode of {rows} rows (Arrow -> Parquet, best of 3, one thread)");
    let (base_cpu, base_size) = timed(3, || parquet_bytes(&batches, Compression::UNCOMPRESSED))?;
    println!(
        "  {:<14} {:>10} bytes  {:>7.3} s cpu  ({:.3} s/100k rows)",
        "uncompressed",
        base_size,
        base_cpu.as_secs_f64(),
        base_cpu.as_secs_f64() / rows.max(1) as f64 * 1e5
    );
    let (snappy_cpu, snappy_size) = timed(3, || parquet_bytes(&batches, Compression::SNAPPY))?;
    println!(
        "  {:<14} {:>10} bytes  {:>7.3} s cpu  (+{:.3} s/100k over uncompressed)",
        "snappy",
        snappy_size,
        snappy_cpu.as_secs_f64(),
        (snappy_cpu.saturating_sub(base_cpu)).as_secs_f64() / rows.max(1) as f64 * 1e5
    );
    for level in LEVELS {
        let codec = Compression::ZSTD(ZstdLevel::try_new(level).map_err(|e| e.to_string())?);
        let (cpu, size) = timed(3, || parquet_bytes(&batches, codec))?;
        println!(
            "  {:<14} {:>10} bytes  {:>7.3} s cpu  (+{:.3} s/100k over uncompressed, {:.1}% of uncompressed size)",
            format!("zstd level {level}"),
            size,
            cpu.as_secs_f64(),
            (cpu.saturating_sub(base_cpu)).as_secs_f64() / rows.max(1) as f64 * 1e5,
            size as f64 / base_size.max(1) as f64 * 100.0
        );
    }
    if let Some(csv) = csv {
        let text = std::fs::read(csv).map_err(|e| format!("{}: {e}", csv.display()))?;
        println!(
            "zstd level study: CSV part of {} bytes, zstd stream compression",
            text.len()
        );
        for level in LEVELS {
            let (cpu, size) = timed(3, || {
                zstd::bulk::compress(&text, level)
                    .map(|c| c.len())
                    .map_err(|e| e.to_string())
            })?;
            println!(
                "  zstd level {level}: {:>10} bytes ({:.1}%)  {:.3} s cpu ({:.3} s/100k rows)",
                size,
                size as f64 / text.len().max(1) as f64 * 100.0,
                cpu.as_secs_f64(),
                cpu.as_secs_f64() / rows.max(1) as f64 * 1e5
            );
        }
    }
    Ok(())
}
