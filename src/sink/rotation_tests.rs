//! Tests of `rotation.rs`: how many records go into a part, part names, how
//! pages and decoded batches are cut across parts, the empty snapshot's one
//! part, and a failed piece. A fake writer (parts in memory, an encoder
//! that only logs what it was given) stands in for both real writers.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use arrow_array::{ArrayRef, Int64Array, RecordBatch};
use proptest::prelude::*;
use serde_json::json;

use super::*;
use crate::decode::DecodePath;
use crate::job::Compression;
use crate::schema::{ColumnType, OnTypeError, TypeErrors};
use crate::sink::compress::SinkSummary;

/// What a fake encoder was given: (part number, API offset of the first
/// record or row, how many).
type Log = Arc<Mutex<Vec<(usize, u64, usize)>>>;

/// Writes nothing; logs each call. A record `{"fail": true}` fails it.
struct FakeEncoder {
    part: usize,
    log: Log,
}

impl PartEncoder for FakeEncoder {
    fn write(&mut self, records: &[Value], first: u64, _errors: &mut TypeErrors) -> Result<(), SinkError> {
        if records.iter().any(|r| r.get("fail").is_some()) {
            return Err(SinkError::BadRowsPerFile { rows_per_file: 0 });
        }
        self.log.lock().unwrap().push((self.part, first, records.len()));
        Ok(())
    }

    fn write_batch(&mut self, decoded: &DecodedBatch) -> Result<(), SinkError> {
        let rows = decoded.batch.num_rows();
        self.log.lock().unwrap().push((self.part, decoded.first_offset, rows));
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<SinkSummary, SinkError> {
        Ok(SinkSummary {
            path: PathBuf::new(),
            bytes: 0,
            sha256: String::new(),
        })
    }
}

struct FakeWriter {
    parts: Rotation,
    opened: usize,
    log: Log,
}

impl Rotate for FakeWriter {
    fn rotation(&mut self) -> &mut Rotation {
        &mut self.parts
    }

    fn open_part(&mut self, index: usize) -> Result<OpenPart, SinkError> {
        self.opened += 1;
        let encoder = FakeEncoder {
            part: index,
            log: self.log.clone(),
        };
        Ok(OpenPart {
            name: format!("part-{index}"),
            records: 0,
            encoder: Box::new(encoder),
        })
    }

    fn finish_part(&mut self, part: OpenPart) -> Result<PartFile, SinkError> {
        part.finish()
    }
}

fn options(rows_per_file: u64) -> SnapshotOptions {
    SnapshotOptions {
        format: Format::Jsonl,
        compression: Compression::None,
        rows_per_file,
        columns: vec![Column::for_field("n", ColumnType::Int64)],
        on_type_error: OnTypeError::Fail,
    }
}

fn writer(rows_per_file: u64) -> FakeWriter {
    FakeWriter {
        parts: Rotation::new(&options(rows_per_file)).unwrap(),
        opened: 0,
        log: Log::default(),
    }
}

fn records(n: usize) -> Vec<Value> {
    (0..n).map(|i| json!({ "n": i })).collect()
}

/// Records per finished part after writing `pages` from offset 100 and
/// closing the last part; and what the encoders were given.
fn cut(rows_per_file: u64, pages: &[usize]) -> (Vec<u64>, Vec<(usize, u64, usize)>) {
    let mut w = writer(rows_per_file);
    let mut first = 100;
    for &n in pages {
        write_at(&mut w, &records(n), first).unwrap();
        first += n as u64;
    }
    close_last(&mut w).unwrap();
    assert_eq!(w.opened, w.parts.files().len(), "every part opened is closed once");
    let log = w.log.lock().unwrap().clone();
    (w.parts.files().iter().map(|f| f.records).collect(), log)
}

#[test]
fn fit_table() {
    let cases: &[(u64, usize, usize)] = &[
        // (room, items left, items into this part)
        (0, 5, 0),
        (3, 5, 3),
        (5, 5, 5),
        (10, 5, 5),
        (1, 0, 0),
        (u64::MAX, 7, 7),
    ];
    for &(room, left, want) in cases {
        assert_eq!(fit(room, left), want, "room {room}, left {left}");
    }
}

#[test]
fn part_name_table() {
    let cases: &[(Format, Compression, &str, usize, &str)] = &[
        (Format::Parquet, Compression::Zstd, "part-", 0, "part-00000.parquet"),
        (Format::Parquet, Compression::None, "part-", 7, "part-00007.parquet"),
        (Format::Csv, Compression::Gzip, "part-", 12, "part-00012.csv.gz"),
        (Format::Csv, Compression::None, "part-", 3, "part-00003.csv"),
        (
            Format::Jsonl,
            Compression::Zstd,
            "part-r1-",
            100_000,
            "part-r1-100000.jsonl.zst",
        ),
    ];
    for &(format, compression, prefix, index, want) in cases {
        let opts = SnapshotOptions {
            format,
            compression,
            ..options(1)
        };
        assert_eq!(part_name(&opts, prefix, index), want);
    }
}

#[test]
fn rotation_table() {
    type Case<'a> = (u64, &'a [usize], &'a [u64], &'a [(usize, u64, usize)]);
    let cases: &[Case] = &[
        // (rows_per_file, page sizes, records per part, encoder calls (part, first offset, n))
        (3, &[5], &[3, 2], &[(0, 100, 3), (1, 103, 2)]),
        (3, &[3, 3], &[3, 3], &[(0, 100, 3), (1, 103, 3)]),
        (2, &[1, 1, 1], &[2, 1], &[(0, 100, 1), (0, 101, 1), (1, 102, 1)]),
        (1, &[0, 2], &[1, 1], &[(0, 100, 1), (1, 101, 1)]),
        (5, &[], &[0], &[]),
        (5, &[0, 0], &[0], &[]),
        (u64::MAX, &[4, 4], &[8], &[(0, 100, 4), (0, 104, 4)]),
    ];
    for &(rows_per_file, pages, parts, calls) in cases {
        let (got_parts, got_calls) = cut(rows_per_file, pages);
        assert_eq!(got_parts, parts, "rows_per_file {rows_per_file}, pages {pages:?}");
        assert_eq!(got_calls, calls, "rows_per_file {rows_per_file}, pages {pages:?}");
    }
}

#[test]
fn room_and_close_open() {
    let mut w = writer(4);
    assert_eq!(w.parts.room(), 4);
    write_at(&mut w, &records(3), 0).unwrap();
    assert_eq!((w.parts.room(), w.parts.records(), w.parts.files().len()), (1, 3, 0));
    close_open(&mut w).unwrap();
    assert_eq!((w.parts.room(), w.parts.files().len()), (4, 1));
    close_open(&mut w).unwrap();
    assert_eq!(w.parts.files().len(), 1, "nothing open: nothing closed");
    close_last(&mut w).unwrap();
    assert_eq!(w.parts.files().len(), 1, "a snapshot with parts gets no empty one");
}

#[test]
fn a_failed_piece_leaves_the_part_open_and_uncounted() {
    let mut w = writer(10);
    write_at(&mut w, &records(4), 0).unwrap();
    let mut page = records(3);
    page[1] = json!({ "fail": true });
    assert!(write_at(&mut w, &page, 4).is_err());
    assert_eq!((w.parts.records(), w.parts.room(), w.opened), (4, 6, 1));
    write_at(&mut w, &records(2), 4).unwrap();
    close_last(&mut w).unwrap();
    let got: Vec<u64> = w.parts.files().iter().map(|f| f.records).collect();
    assert_eq!(got, [6]);
}

#[test]
fn decoded_rows_are_cut_like_records_and_their_nulls_counted() {
    let mut w = writer(3);
    let values: ArrayRef = Arc::new(Int64Array::from(vec![Some(1), None, Some(3), None, None]));
    let decoded = DecodedBatch {
        batch: RecordBatch::try_from_iter([("n", values)]).unwrap(),
        key_hashes: None,
        first_offset: 40,
        count: None,
        path: DecodePath::Scanned,
    };
    write_rows(&mut w, &decoded).unwrap();
    close_last(&mut w).unwrap();
    let parts: Vec<u64> = w.parts.files().iter().map(|f| f.records).collect();
    assert_eq!(parts, [3, 2]);
    assert_eq!(*w.log.lock().unwrap(), [(0, 40, 3), (1, 43, 2)]);
    assert_eq!(w.parts.records(), 5);
    let nulls = w.parts.null_counts(&options(3).columns);
    assert_eq!(nulls.get("n"), Some(&3));
}

#[test]
fn take_over_keeps_the_earlier_parts_and_counts() {
    let mut w = writer(3);
    let done = FinishedParts {
        files: vec![PartFile {
            name: "part-00000.jsonl".into(),
            records: 3,
            bytes: 10,
            sha256: String::new(),
        }],
        records: 3,
        type_errors: [("n".to_string(), u64::MAX)].into(),
        null_counts: [("n".to_string(), 2)].into(),
    };
    w.parts.take_over(done);
    write_at(&mut w, &records(1), 3).unwrap();
    close_last(&mut w).unwrap();
    assert_eq!(w.parts.files().iter().map(|f| f.records).collect::<Vec<_>>(), [3, 1]);
    assert_eq!(w.parts.files()[1].name, "part-1", "numbered after the parts taken over");
    assert_eq!(*w.log.lock().unwrap(), [(1, 3, 1)]);
    assert_eq!(w.parts.records(), 4);
    assert_eq!(w.parts.type_errors().get("n"), Some(&u64::MAX));
    assert_eq!(w.parts.null_counts(&options(3).columns).get("n"), Some(&2));
}

#[test]
fn zero_rows_per_file_is_refused() {
    assert!(matches!(
        Rotation::new(&options(0)),
        Err(SinkError::BadRowsPerFile { rows_per_file: 0 })
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any `rows_per_file` (from a job file) and any pages: every part but
    /// the last is full, none is over, every record is written once, in
    /// order, at its offset; nothing panics.
    #[test]
    fn cuts_cover_every_record_once(
        rows_per_file in prop_oneof![1u64..40, Just(u64::MAX)],
        pages in proptest::collection::vec(0usize..60, 0..12),
    ) {
        let (parts, calls) = cut(rows_per_file, &pages);
        let total: usize = pages.iter().sum();
        prop_assert_eq!(parts.iter().sum::<u64>(), total as u64);
        prop_assert!(parts.iter().all(|&n| n <= rows_per_file));
        if let Some((_, full)) = parts.split_last() {
            prop_assert!(full.iter().all(|&n| n == rows_per_file));
        }
        let mut next = 100;
        for (_, first, n) in calls {
            prop_assert_eq!(first, next);
            next += n as u64;
        }
        prop_assert_eq!(next, 100 + total as u64);
    }
}
