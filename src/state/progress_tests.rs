//! Tests of `progress.rs`: what a saved checkpoint holds, and that the
//! run's folder stays once a checkpoint refers to it.

use serde_json::{Value, json};

use super::*;
use crate::job::{Compression, Format};
use crate::run::write_page;
use crate::schema::{Column, ColumnType, OnTypeError};
use crate::sink::{SnapshotOptions, SnapshotWriter};

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

#[test]
fn save_writes_checkpoint_pointer_and_keeps_the_folder() {
    let dir = tempfile::tempdir().unwrap();
    let state_dir = dir.path().join("state");
    let mut w = writer(dir.path(), 2);
    let tmp = w.temp_dir().to_path_buf();
    let template = Checkpoint::parse(include_str!("checkpoint_fixture.json")).unwrap();
    let pointer = Pointer {
        job: template.job.clone(),
        run_id: template.run_id.clone(),
        target: template.target.clone(),
        temp_dir: tmp.clone(),
    };
    let mut c = Checkpointer::new(state_dir.clone(), template, pointer.clone(), false);
    let mut dedup = Some(Dedup::new("id"));
    let stats = Stats {
        requests: 7,
        ..Stats::default()
    };
    write_page::<crate::run::RunError, _>(&mut w, 0, page(&["a", "a", "b", "c"]), dedup.as_mut(), |w, next, d| {
        Ok(c.save(w, next, d, stats.clone())?)
    })
    .unwrap();
    let cp = Checkpoint::load(&tmp).unwrap().unwrap();
    assert_eq!((cp.next_offset, cp.records, cp.files.len()), (3, 2, 1));
    assert_eq!((cp.duplicates_dropped, cp.dedup_keys), (1, Some(2)));
    assert_eq!(cp.stats.requests, 7);
    assert_eq!(cp.files[0].name, "part-00000.jsonl");
    assert_eq!(Pointer::load(&state_dir, "fi").unwrap(), Some(pointer));
    drop(w);
    assert!(tmp.join("part-00000.jsonl").exists(), "the checkpointed folder stays");
    assert!(
        tmp.join("part-00001.jsonl").exists(),
        "with the unfinished part (resume discards it)"
    );
}
