//! Tests of `page.rs`: where parts close inside pages, and the offsets the
//! checkpoints carry (de-duplication drops records, offsets still advance).

use serde_json::json;

use super::*;
use crate::fetch::Page;
use crate::job::{Compression, Format};
use crate::schema::{Column, ColumnType, OnTypeError};
use crate::sink::{SnapshotOptions, SnapshotWriter};
use crate::state::KEYS_FILE;

fn writer(dir: &std::path::Path, rows_per_file: u64) -> SnapshotWriter {
    SnapshotWriter::create(
        &dir.join("snap"),
        SnapshotOptions {
            format: Format::Jsonl,
            compression: Compression::None,
            rows_per_file,
            columns: vec![Column::for_field("id", ColumnType::String)],
            on_type_error: OnTypeError::Fail,
        },
    )
    .unwrap()
}

fn page(ids: &[&str]) -> Vec<Value> {
    ids.iter().map(|id| json!({"id": id})).collect()
}

/// (next_offset, records written, parts, keys held by dedup at the checkpoint)
type Seen = (u64, u64, usize, Option<u64>);

/// What `feed` saw, and the bytes of every part file (the open one closed).
type Fed = (Vec<Seen>, Vec<Vec<u8>>);

/// Feeds `pages` through [`write_page`] (`decoded` false) or through the
/// decoder and [`write_decoded`] (`decoded` true).
fn feed(rows_per_file: u64, key: bool, pages: &[(u64, &[&str])], decoded: bool) -> Fed {
    let dir = tempfile::tempdir().unwrap();
    let mut w = writer(dir.path(), rows_per_file);
    let mut dedup = key.then(|| Dedup::new("id"));
    let columns = vec![Column::for_field("id", ColumnType::String)];
    let decoder = PageDecoder::new(&columns, key.then_some("id"), RecordsAt::Auto);
    let mut seen = Vec::new();
    for (offset, ids) in pages {
        let save = |w: &mut SnapshotWriter, next, d: Option<&mut Dedup>| {
            let keys = d.map(|d| d.flush(&w.temp_dir().join(KEYS_FILE)).unwrap());
            seen.push((next, w.records(), w.files().len(), keys));
            Ok::<(), SinkError>(())
        };
        if decoded {
            let body = serde_json::to_vec(&page(ids)).unwrap();
            let mut errors = TypeErrors::new(OnTypeError::Fail);
            let rows = decoder.decode_page(&body, *offset, &mut errors).unwrap();
            write_decoded::<SinkError, _, _>(&mut w, &rows, dedup.as_mut(), save).unwrap();
        } else {
            write_page::<SinkError, _>(&mut w, *offset, page(ids), dedup.as_mut(), save).unwrap();
        }
    }
    w.close_part().unwrap();
    let files = w
        .files()
        .iter()
        .map(|f| std::fs::read(w.temp_dir().join(&f.name)).unwrap())
        .collect();
    (seen, files)
}

#[test]
fn checkpoint_offsets_table() {
    type Case<'a> = (&'a str, u64, bool, Vec<(u64, &'a [&'a str])>, Vec<Seen>);
    let cases: Vec<Case> = vec![
        (
            "parts end on page ends",
            2,
            false,
            vec![(0, &["a", "b"]), (2, &["c", "d"]), (4, &["e"])],
            vec![(2, 2, 1, None), (4, 4, 2, None)],
        ),
        (
            "a part ends mid-page",
            3,
            false,
            vec![(0, &["a", "b"]), (2, &["c", "d"]), (4, &["e", "f"])],
            vec![(3, 3, 1, None), (6, 6, 2, None)],
        ),
        (
            "two parts inside one page",
            2,
            false,
            vec![(10, &["a", "b", "c", "d", "e"])],
            vec![(12, 2, 1, None), (14, 4, 2, None)],
        ),
        (
            // Offsets 0..6 = a b a c b d: a part of 2 fills at b (offset 1),
            // the next at d (offset 5); the dropped ones still advance the offset.
            "duplicates dropped",
            2,
            true,
            vec![(0, &["a", "b", "a"]), (3, &["c", "b", "d"])],
            vec![(2, 2, 1, Some(2)), (6, 4, 2, Some(4))],
        ),
        (
            // The part fills at b (offset 1); c at offset 2 is in no finished
            // part, so its key is not saved with that checkpoint.
            "keys after the boundary are not saved",
            2,
            true,
            vec![(0, &["a", "b", "c", "a"])],
            vec![(2, 2, 1, Some(2))],
        ),
    ];
    for (name, rows, key, pages, want) in cases {
        let (seen, files) = feed(rows, key, &pages, false);
        assert_eq!(seen, want, "{name}");
        let (seen_decoded, files_decoded) = feed(rows, key, &pages, true);
        assert_eq!(seen_decoded, want, "{name}: decoded");
        assert_eq!(files_decoded, files, "{name}: the same part files decoded");
    }
}

/// A page with a value that does not fit its column goes the `Value` way;
/// a clean one is decoded; a page whose record count is not the pager's is
/// an error naming the offset.
#[test]
fn page_rows_table() {
    let columns = vec![Column::for_field("n", ColumnType::Int64)];
    let decoder = PageDecoder::new(&columns, None, RecordsAt::Auto);
    let page = |body: &str, records: u64| Page {
        offset: 40,
        limit: 100,
        body: bytes::Bytes::from(body.to_string()),
        records,
        envelope_count: None,
        count_ignored: None,
        read: None::<()>,
    };
    let at = RecordsAt::Auto;
    match page_rows(&decoder, &page(r#"[{"n": 1}, {"n": null}]"#, 2), &at).unwrap() {
        PageRows::Decoded(d) => assert_eq!((d.batch.num_rows(), d.first_offset), (2, 40)),
        other => panic!("{other:?}"),
    }
    match page_rows(&decoder, &page(r#"[{"n": 1}, {"n": "x"}]"#, 2), &at).unwrap() {
        PageRows::Values(v) => assert_eq!(v.len(), 2),
        other => panic!("{other:?}"),
    }
    let err = page_rows(&decoder, &page(r#"[{"n": 1}]"#, 2), &at)
        .unwrap_err()
        .to_string();
    assert!(err.contains("offset 40"), "{err}");
}

/// A record written the `Value` way names its API offset in a type error,
/// not its index in the snapshot: a duplicate dropped before it (offset 11)
/// makes them differ (regression: the error said record 1, the snapshot index).
#[test]
fn a_type_error_after_a_dropped_duplicate_names_the_api_offset() {
    let dir = tempfile::tempdir().unwrap();
    let columns = vec![
        Column::for_field("id", ColumnType::String),
        Column::for_field("n", ColumnType::Int64),
    ];
    let mut w = SnapshotWriter::create(
        &dir.path().join("snap"),
        SnapshotOptions {
            format: Format::Jsonl,
            compression: Compression::None,
            rows_per_file: 100,
            columns,
            on_type_error: OnTypeError::Fail,
        },
    )
    .unwrap();
    let mut dedup = Dedup::new("id");
    let records = vec![
        json!({"id": "a", "n": 1}),
        json!({"id": "a", "n": 2}),
        json!({"id": "b", "n": 3}),
        json!({"id": "c", "n": "x"}),
    ];
    let none = |_: &mut SnapshotWriter, _, _: Option<&mut Dedup>| Ok::<(), SinkError>(());
    let err = write_page::<SinkError, _>(&mut w, 10, records, Some(&mut dedup), none)
        .unwrap_err()
        .to_string();
    assert!(err.contains("offset 13,"), "the API offset: {err}");
}
