//! Tests of `snapshot.rs`: rotation, empty runs, compression, manifest
//! contents against the files on disk, publish, overwrite, abort and drop.

use std::collections::BTreeMap;
use std::io::Read;

use serde_json::json;
use sha2::{Digest, Sha256};

use super::*;
use crate::schema::ColumnType;
use crate::sink::compress::{compression_name, hex};
use crate::sink::encoder::{PartEncoder, open_encoder};
use crate::sink::manifest::{ManifestApi, ManifestRequest, Stats};
use crate::state::KEYS_FILE;

fn columns() -> Vec<Column> {
    [
        "business_id",
        "name",
        "financial_data.revenue",
        "official_industries.code",
    ]
    .iter()
    .map(|p| match *p {
        "business_id" | "name" => Column::for_field(p, ColumnType::String),
        _ => Column::for_field(p, ColumnType::Json),
    })
    .collect()
}

fn opts(format: Format, compression: Compression, rows_per_file: u64) -> SnapshotOptions {
    SnapshotOptions {
        format,
        compression,
        rows_per_file,
        columns: columns(),
        on_type_error: crate::schema::OnTypeError::Fail,
    }
}

fn record(i: u64) -> Value {
    json!({
        "business_id": format!("FI{i:07}"),
        "name": format!("Yritys {i}, \"Äö\"\nOy"),
        "financial_data": {"revenue": i * 1000, "employees": null},
        "official_industries": [{"code": "62"}, {"code": format!("{}", i % 7)}],
    })
}

fn manifest() -> Manifest {
    Manifest {
        job: "fi_software".into(),
        run_id: "20261122T043000Z-abcdef".into(),
        orgsync_version: "0.1.0".into(),
        started_at: "2026-11-22T04:30:00Z".into(),
        finished_at: String::new(),
        api: ManifestApi {
            base_url: "http://127.0.0.1:1".into(),
            path: "/api/v3/organizations/".into(),
            database: "FI".into(),
        },
        request: ManifestRequest {
            body: json!({"query": {}}),
            sha256: String::new(),
        },
        incremental: None,
        format: String::new(),
        compression: String::new(),
        records: 0,
        expected_records: None,
        duplicates_dropped: 0,
        type_errors: BTreeMap::new(),
        files: Vec::new(),
        schema: Vec::new(),
        empty_columns: Vec::new(),
        schema_changes: Vec::new(),
        stats: Stats::default(),
        mode: "pages".into(),
        export: None,
    }
}

/// Writes `total` records in pages of `page`, publishes at `<dir>/snap`.
fn run(dir: &Path, o: SnapshotOptions, total: u64, page: u64) -> Published {
    let target = dir.join("snap");
    let mut w = SnapshotWriter::create(&target, o).unwrap();
    let mut next = 0;
    while next < total {
        let end = (next + page).min(total);
        let records: Vec<Value> = (next..end).map(record).collect();
        w.write(&records).unwrap();
        next = end;
    }
    assert_eq!(w.records(), total);
    w.finish(manifest(), false).unwrap()
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn decompress(raw: &[u8], compression: Compression) -> String {
    match compression {
        Compression::Gzip => {
            let mut s = String::new();
            flate2::read::GzDecoder::new(raw).read_to_string(&mut s).unwrap();
            s
        }
        Compression::Zstd => String::from_utf8(zstd::decode_all(raw).unwrap()).unwrap(),
        _ => String::from_utf8(raw.to_vec()).unwrap(),
    }
}

#[test]
fn rotation_table() {
    // (total, page, rows_per_file, expected records per part)
    let cases: &[(u64, u64, u64, &[u64])] = &[
        (1000, 100, 250, &[250, 250, 250, 250]),
        (1001, 100, 250, &[250, 250, 250, 250, 1]),
        (10, 3, 4, &[4, 4, 2]),
        (5, 100, 1, &[1, 1, 1, 1, 1]),
        (7, 7, 7, &[7]),
    ];
    for &(total, page, rpf, want) in cases {
        let dir = tempfile::tempdir().unwrap();
        let published = run(dir.path(), opts(Format::Csv, Compression::None, rpf), total, page);
        let got: Vec<u64> = published.manifest.files.iter().map(|f| f.records).collect();
        assert_eq!(got, want, "total {total} page {page} rpf {rpf}");
        assert_eq!(published.manifest.records, total);
        let mut expected_names: Vec<String> = (0..want.len()).map(|i| format!("part-{i:05}.csv")).collect();
        expected_names.extend(["_SUCCESS".to_string(), "_manifest.json".to_string()]);
        expected_names.sort();
        assert_eq!(names(&published.path), expected_names);
        // Every part holds its own header plus its records, in order.
        let mut next = 0;
        for f in &published.manifest.files {
            let mut reader = csv::Reader::from_path(published.path.join(&f.name)).unwrap();
            for row in reader.records() {
                assert_eq!(&row.unwrap()[0], format!("FI{next:07}"));
                next += 1;
            }
        }
        assert_eq!(next, total);
    }
}

#[test]
fn empty_run_writes_one_part_manifest_and_success() {
    for (format, want) in [
        (
            Format::Csv,
            "business_id,name,financial_data_revenue,official_industries_code\n",
        ),
        (Format::Jsonl, ""),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let published = run(dir.path(), opts(format, Compression::None, 10), 0, 10);
        let part = format!("part-00000.{}", format.extension());
        assert_eq!(names(&published.path), ["_SUCCESS", "_manifest.json", part.as_str()]);
        assert_eq!(fs::read_to_string(published.path.join(&part)).unwrap(), want);
        assert_eq!(fs::read(published.path.join("_SUCCESS")).unwrap(), b"");
        assert_eq!(published.manifest.records, 0);
        assert_eq!(published.manifest.files.len(), 1);
        assert_eq!(published.manifest.files[0].records, 0);
    }
}

#[test]
fn compressed_parts_decompress_to_the_plain_text() {
    for format in [Format::Csv, Format::Jsonl] {
        let plain_dir = tempfile::tempdir().unwrap();
        let plain = run(plain_dir.path(), opts(format, Compression::None, 40), 100, 30);
        for compression in [Compression::Gzip, Compression::Zstd] {
            let dir = tempfile::tempdir().unwrap();
            let packed = run(dir.path(), opts(format, compression, 40), 100, 30);
            assert_eq!(packed.manifest.files.len(), 3);
            for (p, c) in plain.manifest.files.iter().zip(&packed.manifest.files) {
                assert_eq!(c.name, format!("{}{}", p.name, compression.suffix()));
                let want = fs::read_to_string(plain.path.join(&p.name)).unwrap();
                let raw = fs::read(packed.path.join(&c.name)).unwrap();
                assert_eq!(
                    decompress(&raw, compression),
                    want,
                    "{format:?} {compression:?} {}",
                    c.name
                );
            }
            assert_eq!(packed.manifest.compression, compression_name(compression));
        }
    }
}

#[test]
fn manifest_matches_the_files_on_disk() {
    for compression in [Compression::None, Compression::Gzip, Compression::Zstd] {
        let dir = tempfile::tempdir().unwrap();
        let published = run(dir.path(), opts(Format::Jsonl, compression, 64), 200, 50);
        let on_disk: Manifest =
            serde_json::from_str(&fs::read_to_string(published.path.join(MANIFEST_FILE)).unwrap()).unwrap();
        assert_eq!(on_disk, published.manifest);
        assert_eq!(on_disk.records, 200);
        assert_eq!(on_disk.format, "jsonl");
        assert_eq!(on_disk.schema.len(), 4);
        assert_eq!(on_disk.schema[2].name, "financial_data_revenue");
        assert_eq!(on_disk.schema[2].path, "financial_data.revenue");
        assert!(
            chrono::DateTime::parse_from_rfc3339(&on_disk.finished_at).is_ok(),
            "{}",
            on_disk.finished_at
        );
        assert!(on_disk.finished_at.ends_with('Z'));
        for f in &on_disk.files {
            let bytes = fs::read(published.path.join(&f.name)).unwrap();
            assert_eq!(f.bytes, bytes.len() as u64, "{}", f.name);
            assert_eq!(f.sha256, hex(&Sha256::digest(&bytes)), "{}", f.name);
            let lines = decompress(&bytes, compression).lines().count() as u64;
            assert_eq!(f.records, lines, "{}", f.name);
        }
        assert_eq!(on_disk.files.iter().map(|f| f.records).sum::<u64>(), 200);
    }
}

#[test]
fn publish_leaves_no_temporary_folder() {
    let dir = tempfile::tempdir().unwrap();
    run(dir.path(), opts(Format::Csv, Compression::None, 10), 25, 10);
    assert_eq!(names(dir.path()), ["snap"]);
}

#[test]
fn creates_missing_parents_and_clears_a_leftover_temp() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("exports/job/2026-11-22");
    let leftover = dir.path().join("exports/job/.2026-11-22.orgsync-tmp");
    fs::create_dir_all(&leftover).unwrap();
    fs::write(leftover.join("part-00000.csv"), b"stale").unwrap();
    let w = SnapshotWriter::create(&target, opts(Format::Csv, Compression::None, 10)).unwrap();
    assert_eq!(w.temp_dir(), leftover);
    assert!(names(&leftover).is_empty(), "leftover content removed");
    assert!(!target.exists());
    w.finish(manifest(), false).unwrap();
    assert!(target.join(SUCCESS_FILE).exists());
    assert!(!leftover.exists());
}

#[test]
fn existing_target_without_overwrite_is_refused_and_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("snap");
    fs::create_dir(&target).unwrap();
    fs::write(target.join("keep.txt"), b"previous").unwrap();
    let mut w = SnapshotWriter::create(&target, opts(Format::Csv, Compression::None, 10)).unwrap();
    w.write(&[record(1)]).unwrap();
    let err = w.finish(manifest(), false).err().unwrap();
    assert!(
        matches!(&err, SinkError::TargetExists { path } if *path == target),
        "{err}"
    );
    assert_eq!(names(&target), ["keep.txt"]);
    assert_eq!(fs::read(target.join("keep.txt")).unwrap(), b"previous");
    assert_eq!(names(dir.path()), ["snap"], "temporary folder removed");
}

#[test]
fn overwrite_replaces_and_leaves_no_old_folder() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("snap");
    fs::create_dir(&target).unwrap();
    fs::write(target.join("keep.txt"), b"previous").unwrap();
    let mut w = SnapshotWriter::create(&target, opts(Format::Jsonl, Compression::None, 10)).unwrap();
    w.write(&[record(1), record(2)]).unwrap();
    let published = w.finish(manifest(), true).unwrap();
    assert_eq!(published.path, target);
    assert_eq!(names(&target), ["_SUCCESS", "_manifest.json", "part-00000.jsonl"]);
    assert_eq!(names(dir.path()), ["snap"], "no temporary or old folder left");
}

#[test]
fn overwrite_of_a_plain_file_target() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("snap");
    fs::write(&target, b"not a folder").unwrap();
    let w = SnapshotWriter::create(&target, opts(Format::Csv, Compression::None, 10)).unwrap();
    w.finish(manifest(), true).unwrap();
    assert!(target.join(SUCCESS_FILE).exists());
    assert_eq!(names(dir.path()), ["snap"]);
}

#[test]
fn abort_and_drop_remove_the_temporary_folder() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("snap");

    let mut w = SnapshotWriter::create(&target, opts(Format::Csv, Compression::Gzip, 2)).unwrap();
    w.write(&[record(1), record(2), record(3)]).unwrap();
    assert_eq!(names(w.temp_dir()), ["part-00000.csv.gz", "part-00001.csv.gz"]);
    w.abort();
    assert!(names(dir.path()).is_empty(), "abort: {:?}", names(dir.path()));

    let mut w = SnapshotWriter::create(&target, opts(Format::Jsonl, Compression::Zstd, 2)).unwrap();
    w.write(&[record(1)]).unwrap();
    drop(w);
    assert!(names(dir.path()).is_empty(), "drop: {:?}", names(dir.path()));
}

#[test]
fn unsupported_options_create_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("snap");
    let cases = [
        opts(Format::Parquet, Compression::Zstd, 0),
        opts(Format::Csv, Compression::Snappy, 10),
        opts(Format::Jsonl, Compression::None, 0),
    ];
    for o in cases {
        let what = format!("{:?} {:?} {}", o.format, o.compression, o.rows_per_file);
        let err = SnapshotWriter::create(&target, o).err().unwrap();
        assert!(
            matches!(err, SinkError::Unsupported { .. } | SinkError::BadRowsPerFile { .. }),
            "{what}: {err}"
        );
        assert!(names(dir.path()).is_empty(), "{what}");
    }
}

#[test]
fn disk_full_names_the_file_and_drop_removes_the_temp_folder() {
    let Ok(full) = OpenOptions::new().write(true).open("/dev/full") else {
        return; // no /dev/full here: nothing to simulate a full disk with
    };
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("snap");
    let o = opts(Format::Csv, Compression::Zstd, 100_000);
    let mut w = SnapshotWriter::create(&target, o.clone()).unwrap();
    // Point the current part at a device that always answers ENOSPC.
    let sink = PartSink::from_file(full, Path::new("/dev/full"));
    w.parts.current = Some(OpenPart {
        name: "part-00000.csv.zst".into(),
        records: 0,
        encoder: open_encoder(o.format, o.compression, &o.columns, sink).unwrap(),
    });
    let records: Vec<Value> = (0..5000).map(record).collect();
    let err = match w.write(&records) {
        Ok(()) => w.finish(manifest(), false).map(|_| ()),
        Err(e) => {
            drop(w);
            Err(e)
        }
    };
    match err {
        Err(SinkError::Io { path, source }) => {
            assert_eq!(path, Path::new("/dev/full"));
            assert_eq!(source.kind(), std::io::ErrorKind::StorageFull);
        }
        other => panic!("expected an Io error naming the file, got {other:?}"),
    }
    assert!(names(dir.path()).is_empty(), "{:?}", names(dir.path()));
}

#[test]
fn writer_can_move_between_threads() {
    fn assert_send<T: Send>() {}
    assert_send::<SnapshotWriter>();
    assert_send::<Box<dyn PartEncoder>>();
}

#[test]
fn room_and_close_part_cut_parts_where_asked() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = SnapshotWriter::create(&dir.path().join("snap"), opts(Format::Jsonl, Compression::None, 3)).unwrap();
    let cases: &[(u64, bool, u64, usize)] = &[
        // (records to write, close the part after, room after, finished parts)
        (0, false, 3, 0),
        (2, false, 1, 0),
        (1, true, 3, 1),
        (1, true, 3, 2),
        (0, true, 3, 2),
    ];
    let mut next = 0;
    for (i, &(n, close, room, parts)) in cases.iter().enumerate() {
        let records: Vec<Value> = (next..next + n).map(record).collect();
        next += n;
        w.write(&records).unwrap();
        if close {
            w.close_part().unwrap();
        }
        assert_eq!((w.room(), w.files().len()), (room, parts), "step {i}");
    }
    let counts: Vec<u64> = w.files().iter().map(|f| f.records).collect();
    assert_eq!(counts, [3, 1], "a part closed early holds what it had");
}

#[test]
fn keep_on_drop_leaves_the_folder_and_resume_continues_it() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("snap");
    let o = opts(Format::Jsonl, Compression::Gzip, 2);
    let mut w = SnapshotWriter::create(&target, o.clone()).unwrap();
    w.write(&(0..3).map(record).collect::<Vec<_>>()).unwrap();
    w.close_part().unwrap();
    w.write(&[record(3)]).unwrap();
    // Part 0 = records 0,1; part 1 = record 2; part 2 is unfinished.
    let finished = FinishedParts {
        files: w.files().to_vec(),
        records: 3,
        type_errors: BTreeMap::from([("name".to_string(), 2)]),
        null_counts: BTreeMap::new(),
    };
    let tmp = w.temp_dir().to_path_buf();
    fs::write(tmp.join(CHECKPOINT_FILE), b"{}").unwrap();
    fs::write(tmp.join(KEYS_FILE), b"12345678").unwrap();
    w.set_keep_on_drop(true);
    drop(w);
    assert_eq!(
        names(&tmp),
        [
            "_checkpoint.json",
            "_checkpoint.keys",
            "part-00000.jsonl.gz",
            "part-00001.jsonl.gz",
            "part-00002.jsonl.gz"
        ]
    );

    let mut w = SnapshotWriter::resume(&target, o, finished).unwrap();
    assert_eq!(
        names(&tmp),
        [
            "_checkpoint.json",
            "_checkpoint.keys",
            "part-00000.jsonl.gz",
            "part-00001.jsonl.gz"
        ],
        "the unfinished part is discarded"
    );
    assert_eq!(w.records(), 3);
    w.write(&(3..6).map(record).collect::<Vec<_>>()).unwrap();
    assert_eq!(
        w.type_errors(),
        BTreeMap::from([("name".to_string(), 2)]),
        "earlier counts kept"
    );
    let published = w.finish(manifest(), false).unwrap();
    assert_eq!(
        names(&target),
        [
            "_SUCCESS",
            "_manifest.json",
            "part-00000.jsonl.gz",
            "part-00001.jsonl.gz",
            "part-00002.jsonl.gz",
            "part-00003.jsonl.gz"
        ],
        "checkpoint files are not published"
    );
    let m = &published.manifest;
    assert_eq!(m.records, 6);
    assert_eq!(m.files.iter().map(|f| f.records).collect::<Vec<_>>(), [2, 1, 2, 1]);
    assert_eq!(m.type_errors.get("name"), Some(&2));
    assert_eq!(names(dir.path()), ["snap"]);
}

#[test]
fn a_leftover_checkpoint_is_dropped_by_a_fresh_writer_and_keep_leaves_all() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("snap");
    let o = opts(Format::Csv, Compression::None, 10);
    let mut w = SnapshotWriter::create(&target, o.clone()).unwrap();
    w.write(&[record(1)]).unwrap();
    let tmp = w.keep();
    fs::write(tmp.join(CHECKPOINT_FILE), b"{}").unwrap();
    assert_eq!(names(&tmp), ["_checkpoint.json", "part-00000.csv"]);
    let w = SnapshotWriter::create(&target, o).unwrap();
    assert!(names(w.temp_dir()).is_empty(), "a fresh writer starts over");
    w.abort();
    assert!(names(dir.path()).is_empty());
}
