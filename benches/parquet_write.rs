//! `make bench-parquet`: the CPU of the Parquet write alone, and what each
//! `WriterProperties` setting buys or costs, side by side in one run. The
//! sandbox's records (the 14 columns of schemas/organizations.toml, as in
//! `benches/decode.rs`) are decoded ONCE by `PageDecoder` and merged into
//! batches of 8192 rows (what the sink's Parquet encoder hands the writer);
//! then every variant writes those same batches into memory with its own
//! properties, interleaved run by run. It prints, per variant, the median
//! CPU-s per 100k rows (this process's user+sys, getrusage; the writer is
//! single-threaded), the file size against today's settings, and whether
//! the file still has row-group min/max for every column (what warehouses
//! prune with). Knobs: ORGSYNC_BENCH_RECORDS (100000), ORGSYNC_BENCH_RUNS
//! (5), ORGSYNC_BENCH_ONLY (comma-separated variant names).
//!
//! Under `cargo test --all-targets` (no `--bench`) it makes a smoke run of
//! every variant on 2,000 records. It does not measure decoding (that is
//! `benches/decode.rs`) nor the CSV / JSON Lines writers.

use arrow_array::RecordBatch;
use bytes::Bytes;
use orgsync::decode::PageDecoder;
use orgsync::job::{Compression, RecordsAt};
use orgsync::schema::{OnTypeError, TypeErrors};
use orgsync::sink::writer_properties;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression as Codec, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties, WriterPropertiesBuilder};
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::schema::types::ColumnPath;

mod common;
use common::{cpu, env_or, median};

const PAGE: usize = 100;

/// Today's settings before this bench: zstd 1, page statistics, dictionary
/// on for every column, the crate's page and batch sizes.
fn old() -> WriterPropertiesBuilder {
    WriterProperties::builder()
        .set_compression(Codec::ZSTD(ZstdLevel::try_new(1).unwrap()))
        .set_max_row_group_row_count(Some(orgsync::sink::ROW_GROUP_ROWS))
        .set_statistics_enabled(EnabledStatistics::Page)
}

fn col(name: &str) -> ColumnPath {
    ColumnPath::new(vec![name.to_string()])
}

/// Merges `batches` into batches of `rows` rows (the last may be shorter).
fn merge(batches: &[RecordBatch], rows: usize) -> Vec<RecordBatch> {
    let mut out = Vec::new();
    let mut pending: Vec<RecordBatch> = Vec::new();
    let mut n = 0;
    for b in batches {
        n += b.num_rows();
        pending.push(b.clone());
        if n >= rows {
            out.push(arrow_select::concat::concat_batches(&pending[0].schema(), &pending).unwrap());
            pending.clear();
            n = 0;
        }
    }
    if !pending.is_empty() {
        out.push(arrow_select::concat::concat_batches(&pending[0].schema(), &pending).unwrap());
    }
    out
}

/// True when every column of every row group has min and max.
fn row_group_min_max(file: Vec<u8>) -> bool {
    let reader = SerializedFileReader::new(Bytes::from(file)).unwrap();
    reader.metadata().row_groups().iter().all(|rg| {
        rg.columns().iter().all(|c| {
            c.statistics()
                .is_some_and(|s| s.min_bytes_opt().is_some() && s.max_bytes_opt().is_some())
        })
    })
}

/// Per column of the first row group: encodings and compressed bytes of
/// the whole file, so the dictionary choice is visible.
fn column_detail(name: &str, file: &[u8]) {
    let reader = SerializedFileReader::new(Bytes::copy_from_slice(file)).unwrap();
    let meta = reader.metadata();
    println!("  {name}: per column (encodings of row group 0, compressed bytes of all row groups)");
    for (i, c) in meta.row_group(0).columns().iter().enumerate() {
        let bytes: i64 = meta.row_groups().iter().map(|rg| rg.column(i).compressed_size()).sum();
        let enc: Vec<String> = c.encodings().map(|e| format!("{e:?}")).collect();
        println!("    {:<32} {:>9} {}", c.column_path().string(), bytes, enc.join(","));
    }
}

type Props = Box<dyn Fn() -> WriterProperties>;

fn main() {
    let smoke = !std::env::args().any(|a| a == "--bench");
    let (records, runs) = match smoke {
        true => (2_000, 1),
        false => (
            env_or("ORGSYNC_BENCH_RECORDS", 100_000),
            env_or("ORGSYNC_BENCH_RUNS", 5).max(1),
        ),
    };
    let only = std::env::var("ORGSYNC_BENCH_ONLY").ok();
    let (columns, projected) = common::organizations(records);
    let decoder = PageDecoder::new(&columns, Some("business_id"), RecordsAt::Auto);
    let mut errors = TypeErrors::new(OnTypeError::Fail);
    let pages: Vec<RecordBatch> = projected
        .chunks(PAGE)
        .enumerate()
        .map(|(i, page)| {
            let bytes = serde_json::to_vec(page).unwrap();
            decoder
                .decode_page(&bytes, (i * PAGE) as u64, &mut errors)
                .unwrap()
                .batch
        })
        .collect();
    let schema = decoder.schema();
    let b8k = merge(&pages, 8192);

    // Unique-ish columns of this data set: the key, names, the json text.
    let unique = ["business_id", "name", "official_industries"];
    let zstd = |l: i32| Codec::ZSTD(ZstdLevel::try_new(l).unwrap());
    // (name, rows a write call, properties)
    let variants: Vec<(&str, usize, Props)> = vec![
        ("old", 8192, Box::new(|| old().build())),
        ("now", 8192, Box::new(|| writer_properties(Compression::Zstd))),
        (
            "dict-off",
            8192,
            Box::new(|| old().set_dictionary_enabled(false).build()),
        ),
        (
            "dict-off-json",
            8192,
            Box::new(|| {
                old()
                    .set_column_dictionary_enabled(col("official_industries"), false)
                    .build()
            }),
        ),
        (
            "dict-off-uniq",
            8192,
            Box::new(move || {
                unique
                    .iter()
                    .fold(old(), |b, c| b.set_column_dictionary_enabled(col(c), false))
                    .build()
            }),
        ),
        (
            "dict-64k",
            8192,
            Box::new(|| old().set_dictionary_page_size_limit(64 * 1024).build()),
        ),
        (
            "dict-16k",
            8192,
            Box::new(|| old().set_dictionary_page_size_limit(16 * 1024).build()),
        ),
        (
            "dict-32k",
            8192,
            Box::new(|| old().set_dictionary_page_size_limit(32 * 1024).build()),
        ),
        (
            "dict-128k",
            8192,
            Box::new(|| old().set_dictionary_page_size_limit(128 * 1024).build()),
        ),
        (
            "dict-256k",
            8192,
            Box::new(|| old().set_dictionary_page_size_limit(256 * 1024).build()),
        ),
        (
            "stats-chunk",
            8192,
            Box::new(|| old().set_statistics_enabled(EnabledStatistics::Chunk).build()),
        ),
        (
            "stats-none",
            8192,
            Box::new(|| old().set_statistics_enabled(EnabledStatistics::None).build()),
        ),
        (
            "stats-trunc16",
            8192,
            Box::new(|| {
                old()
                    .set_statistics_truncate_length(Some(16))
                    .set_column_index_truncate_length(Some(16))
                    .build()
            }),
        ),
        (
            "no-offset-idx",
            8192,
            Box::new(|| {
                old()
                    .set_statistics_enabled(EnabledStatistics::Chunk)
                    .set_offset_index_disabled(true)
                    .build()
            }),
        ),
        ("wbatch-8k", 8192, Box::new(|| old().set_write_batch_size(8192).build())),
        ("wbatch-256", 8192, Box::new(|| old().set_write_batch_size(256).build())),
        (
            "page-8m",
            8192,
            Box::new(|| {
                old()
                    .set_data_page_size_limit(8 << 20)
                    .set_data_page_row_count_limit(usize::MAX)
                    .build()
            }),
        ),
        (
            "page-64k",
            8192,
            Box::new(|| old().set_data_page_size_limit(64 << 10).build()),
        ),
        ("rows-1k", 1024, Box::new(|| old().build())),
        ("rows-16k", 16384, Box::new(|| old().build())),
        ("rows-32k", 32768, Box::new(|| old().build())),
        (
            "rg-16k",
            8192,
            Box::new(|| old().set_max_row_group_row_count(Some(16384)).build()),
        ),
        (
            "snappy",
            8192,
            Box::new(|| old().set_compression(Codec::SNAPPY).build()),
        ),
        (
            "uncompressed",
            8192,
            Box::new(|| old().set_compression(Codec::UNCOMPRESSED).build()),
        ),
        ("zstd3", 8192, Box::new(move || old().set_compression(zstd(3)).build())),
        (
            "chunk+dict64k",
            8192,
            Box::new(|| {
                old()
                    .set_statistics_enabled(EnabledStatistics::Chunk)
                    .set_dictionary_page_size_limit(64 * 1024)
                    .build()
            }),
        ),
        (
            "d64k+wb8k",
            8192,
            Box::new(|| {
                old()
                    .set_dictionary_page_size_limit(64 * 1024)
                    .set_write_batch_size(8192)
                    .build()
            }),
        ),
        (
            "d32k+wb8k",
            8192,
            Box::new(|| {
                old()
                    .set_dictionary_page_size_limit(32 * 1024)
                    .set_write_batch_size(8192)
                    .build()
            }),
        ),
        (
            "d64k+wb8k+16k",
            16384,
            Box::new(|| {
                old()
                    .set_dictionary_page_size_limit(64 * 1024)
                    .set_write_batch_size(8192)
                    .build()
            }),
        ),
        (
            "chunk+offuniq",
            8192,
            Box::new(move || {
                unique
                    .iter()
                    .fold(old().set_statistics_enabled(EnabledStatistics::Chunk), |b, c| {
                        b.set_column_dictionary_enabled(col(c), false)
                    })
                    .build()
            }),
        ),
    ];
    let batch_sets: Vec<(usize, Vec<RecordBatch>)> = [1024, 8192, 16384, 32768]
        .into_iter()
        .map(|n| (n, if n == 8192 { b8k.clone() } else { merge(&pages, n) }))
        .collect();
    println!(
        "Parquet write alone: {records} rows of the 14 columns of schemas/organizations.toml, {runs} runs, \
         medians (CPU-s per 100k rows, getrusage user+sys)"
    );
    let mut results: Vec<(String, Vec<f64>, usize, bool)> = Vec::new();
    for _ in 0..runs {
        for (name, rows, props) in &variants {
            if only.as_deref().is_some_and(|o| !o.split(',').any(|p| p == *name)) {
                continue;
            }
            let batches = &batch_sets.iter().find(|(n, _)| n == rows).unwrap().1;
            let props = props();
            let start = cpu();
            let mut w = ArrowWriter::try_new(Vec::new(), schema.clone(), Some(props)).unwrap();
            for b in batches {
                w.write(b).unwrap();
            }
            let file = w.into_inner().unwrap();
            let secs = (cpu() - start).as_secs_f64();
            let per100k = secs / records as f64 * 100_000.0;
            match results.iter_mut().find(|(n, ..)| n == name) {
                Some((_, v, ..)) => v.push(per100k),
                None => {
                    if matches!(*name, "old" | "now") {
                        column_detail(name, &file);
                    }
                    let size = file.len();
                    let stats = row_group_min_max(file);
                    results.push((name.to_string(), vec![per100k], size, stats))
                }
            }
        }
    }
    let base = results
        .iter()
        .find(|(n, ..)| n == "old")
        .map(|(_, v, s, _)| (median(v.clone()), *s));
    println!(
        "{:<15} {:>11} {:>8} {:>11} {:>7} {:>13}",
        "variant", "CPU-s/100k", "vs old", "bytes", "size", "rg min/max"
    );
    for (name, v, size, stats) in &results {
        let m = median(v.clone());
        let (cpu_ratio, size_ratio) = match base {
            Some((b, s)) => (format!("{:.2}x", m / b), format!("{:.3}x", *size as f64 / s as f64)),
            None => (String::new(), String::new()),
        };
        println!(
            "{name:<15} {m:>11.4} {cpu_ratio:>8} {size:>11} {size_ratio:>7} {:>13}",
            if *stats { "yes" } else { "NO" }
        );
    }
}
