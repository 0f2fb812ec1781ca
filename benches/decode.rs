//! `make bench-decode`: client CPU per record of the page-to-Parquet step,
//! in process, old path against the streaming decoder, side by side. Pages
//! of 100 records of the sandbox's data set projected to the 14 columns of
//! schemas/organizations.toml (key `business_id`), as bare JSON arrays, and
//! the same records as one JSON Lines stream; each variant writes zstd
//! Parquet (the sink's `writer_properties`) into memory. CPU is this
//! process's user+system time (getrusage); medians of ORGSYNC_BENCH_RUNS
//! (5) runs of ORGSYNC_BENCH_RECORDS (100000) records.
//!
//! Variants: `values` = serde_json::from_slice -> extract_records ->
//! BatchBuilder + key hash (today's page path; the pager's own parse_body
//! is private to fetch/ and ~8% cheaper than from_slice by its own note);
//! `decoder` = PageDecoder::decode_page; `jsonl` = PageDecoder::decode_lines
//! over 1000-line chunks; each also `-only` without Parquet. `run` is what
//! a run does per page: its page task's one walk (`run::read_body`: the
//! strict `decode_page`, the shape check only for a body the decoder
//! refuses or an envelope with an unbelieved `count`), with the decoded
//! batches merged to 8192 rows before the Parquet writer (as the sink's
//! Parquet encoder does); `jsonl-merged` the same for JSON Lines;
//! `check-only` is the shape check alone (`fetch::check_page`, which a run
//! paid on every page before it decoded in the page task).
//!
//! With ORGSYNC_BENCH_DUMP_PAGES=<dir> it only writes the pages there, one
//! file each, for `make bench-parsers` (benches/parsers).

use arrow_array::RecordBatch;
use orgsync::decode::{DecodePath, PageDecoder, decode_values};
use orgsync::job::{Compression, RecordsAt};
use orgsync::schema::{FieldPath, OnTypeError, TypeErrors};
use orgsync::sink::writer_properties;
use parquet::arrow::ArrowWriter;
use serde_json::Value;

mod common;
use common::{cpu, env_or, median};

const PAGE: usize = 100;
const LINES_CHUNK: usize = 1000;

fn main() {
    // `cargo bench` passes `--bench`. Without it this is `cargo test
    // --all-targets` (`make test`): a smoke run of every variant on a few
    // records, so the bench keeps working without costing the test run.
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
    let pages: Vec<Vec<u8>> = projected
        .chunks(PAGE)
        .map(|page| serde_json::to_vec(page).unwrap())
        .collect();
    let lines: Vec<Vec<u8>> = projected
        .chunks(LINES_CHUNK)
        .map(|chunk| {
            let mut out = Vec::new();
            for r in chunk {
                serde_json::to_writer(&mut out, r).unwrap();
                out.push(b'\n');
            }
            out
        })
        .collect();
    if let (false, Ok(dir)) = (smoke, std::env::var("ORGSYNC_BENCH_DUMP_PAGES")) {
        // For `make bench-parsers`: the same pages, one file each.
        std::fs::create_dir_all(&dir).unwrap();
        for (i, page) in pages.iter().enumerate() {
            std::fs::write(format!("{dir}/page-{i:05}.json"), page).unwrap();
        }
        println!("wrote {} pages to {dir}", pages.len());
        return;
    }
    let bytes: usize = pages.iter().map(Vec::len).sum();
    println!(
        "{records} records, {} pages, {:.0} bytes a record, {} columns, key business_id, {runs} runs",
        pages.len(),
        bytes as f64 / records as f64,
        columns.len()
    );
    let key = FieldPath::parse("business_id");
    let decoder = PageDecoder::new(&columns, Some("business_id"), RecordsAt::Auto);

    let values = |bytes: &[u8], offset: u64, errors: &mut TypeErrors| {
        let body: Value = serde_json::from_slice(bytes).unwrap();
        let page = orgsync::fetch::extract_records(body, &RecordsAt::Auto).unwrap();
        decode_values(&columns, Some(&key), &page.records, offset, errors).unwrap()
    };
    type Step<'a> = Box<dyn Fn(&[u8], u64, &mut TypeErrors) -> orgsync::decode::DecodedBatch + 'a>;
    /// (name, chunks, records a chunk, decode step, write Parquet)
    type Variant<'a> = (&'a str, &'a [Vec<u8>], usize, Step<'a>, bool);
    let empty = br"[]";
    let variants: Vec<Variant> = vec![
        ("values", &pages, PAGE, Box::new(values), true),
        (
            "run",
            &pages,
            PAGE,
            Box::new(|b: &[u8], o, _: &mut TypeErrors| {
                match orgsync::run::read_body(&decoder, b, o, &RecordsAt::Auto) {
                    Ok((_, Ok(orgsync::run::PageRows::Decoded(decoded)))) => decoded,
                    other => panic!("a clean page is decoded: {other:?}"),
                }
            }),
            true,
        ),
        (
            "jsonl-merged",
            &lines,
            LINES_CHUNK,
            Box::new(|b: &[u8], o, e: &mut TypeErrors| decoder.decode_lines(b, o, e).unwrap()),
            true,
        ),
        (
            "check-only",
            &pages,
            PAGE,
            Box::new(|b: &[u8], o, e: &mut TypeErrors| {
                std::hint::black_box(orgsync::fetch::check_page(b, &RecordsAt::Auto).unwrap());
                decoder.decode_page(empty, o, e).unwrap()
            }),
            false,
        ),
        (
            "decoder",
            &pages,
            PAGE,
            Box::new(|b: &[u8], o, e: &mut TypeErrors| decoder.decode_page(b, o, e).unwrap()),
            true,
        ),
        (
            "jsonl",
            &lines,
            LINES_CHUNK,
            Box::new(|b: &[u8], o, e: &mut TypeErrors| decoder.decode_lines(b, o, e).unwrap()),
            true,
        ),
        ("values-only", &pages, PAGE, Box::new(values), false),
        (
            "decoder-only",
            &pages,
            PAGE,
            Box::new(|b: &[u8], o, e: &mut TypeErrors| decoder.decode_page(b, o, e).unwrap()),
            false,
        ),
        (
            "jsonl-only",
            &lines,
            LINES_CHUNK,
            Box::new(|b: &[u8], o, e: &mut TypeErrors| decoder.decode_lines(b, o, e).unwrap()),
            false,
        ),
    ];
    let mut results: Vec<(String, Vec<f64>)> = Vec::new();
    let mut sizes = Vec::new();
    for run in 0..runs {
        for (name, chunks, per, step, parquet) in &variants {
            if only.as_deref().is_some_and(|o| !o.split(',').any(|p| p == *name)) {
                continue;
            }
            let start = cpu();
            let mut errors = TypeErrors::new(OnTypeError::Fail);
            let mut writer = parquet.then(|| {
                ArrowWriter::try_new(Vec::new(), decoder.schema(), Some(writer_properties(Compression::Zstd))).unwrap()
            });
            let (mut streamed, mut scanned) = (0usize, 0usize);
            let merge = matches!(*name, "run" | "jsonl-merged");
            let mut pending: Vec<RecordBatch> = Vec::new();
            let mut pending_rows = 0;
            let flush = |w: &mut ArrowWriter<Vec<u8>>, pending: &mut Vec<RecordBatch>| {
                if !pending.is_empty() {
                    let merged = arrow_select::concat::concat_batches(&pending[0].schema(), pending.iter()).unwrap();
                    w.write(&merged).unwrap();
                    pending.clear();
                }
            };
            for (i, chunk) in chunks.iter().enumerate() {
                let decoded = step(chunk, (i * per) as u64, &mut errors);
                streamed += usize::from(decoded.path != DecodePath::Values);
                scanned += usize::from(decoded.path == DecodePath::Scanned);
                let batch: &RecordBatch = &decoded.batch;
                if let Some(w) = writer.as_mut() {
                    if merge {
                        pending_rows += batch.num_rows();
                        pending.push(batch.clone());
                        if pending_rows >= 8192 {
                            flush(w, &mut pending);
                            pending_rows = 0;
                        }
                    } else {
                        w.write(batch).unwrap();
                    }
                }
                std::hint::black_box(&decoded.key_hashes);
            }
            if let Some(w) = writer.as_mut() {
                flush(w, &mut pending);
            }
            let out = writer.map(|w| w.into_inner().unwrap().len()).unwrap_or(0);
            let secs = (cpu() - start).as_secs_f64();
            if run == 0 {
                sizes.push(format!(
                    "{name}: {out} Parquet bytes, {streamed}/{} chunks streamed ({scanned} by the scanner)",
                    chunks.len()
                ));
            }
            match results.iter_mut().find(|(n, _)| n == name) {
                Some((_, v)) => v.push(records as f64 / secs),
                None => results.push((name.to_string(), vec![records as f64 / secs])),
            }
        }
    }
    for s in sizes {
        println!("  {s}");
    }
    let base = results
        .iter()
        .find(|(n, _)| n == "values")
        .map(|(_, v)| median(v.clone()));
    println!(
        "{:<14} {:>16} {:>12} {:>10}",
        "variant", "records/CPU-s", "CPU-s/100k", "vs values"
    );
    for (name, v) in &results {
        let m = median(v.clone());
        let ratio = base.map(|b| format!("{:.2}x", m / b)).unwrap_or_default();
        println!("{name:<14} {m:>16.0} {:>12.3} {ratio:>10}", 100_000.0 / m);
    }
}
