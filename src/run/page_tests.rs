//! Tests of `page.rs`: where parts close inside pages, and the offsets the
//! checkpoints carry (de-duplication drops records, offsets still advance).

use serde_json::json;

use super::*;
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

fn feed(rows_per_file: u64, key: bool, pages: &[(u64, &[&str])]) -> Vec<Seen> {
    let dir = tempfile::tempdir().unwrap();
    let mut w = writer(dir.path(), rows_per_file);
    let mut dedup = key.then(|| Dedup::new("id"));
    let mut seen = Vec::new();
    for (offset, ids) in pages {
        write_page::<SinkError, _>(&mut w, *offset, page(ids), dedup.as_mut(), |w, next, d| {
            let keys = d.map(|d| d.flush(&w.temp_dir().join(KEYS_FILE)).unwrap());
            seen.push((next, w.records(), w.files().len(), keys));
            Ok(())
        })
        .unwrap();
    }
    seen
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
        assert_eq!(feed(rows, key, &pages), want, "{name}");
    }
}
