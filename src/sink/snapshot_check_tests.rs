//! Tests of the publish-time check of `snapshot.rs` (the folder holds
//! exactly the parts the manifest lists, with their sizes) and of what a
//! failed publish leaves: the finished parts and the checkpoint files.

use std::fs;
use std::path::Path;

use serde_json::json;

use super::*;
use crate::job::{Compression, Format};
use crate::schema::{Column, ColumnType, OnTypeError};
use crate::sink::manifest::Manifest;
use crate::state::KEYS_FILE;

fn opts() -> SnapshotOptions {
    SnapshotOptions {
        format: Format::Jsonl,
        compression: Compression::None,
        rows_per_file: 10,
        columns: vec![Column::for_field("business_id", ColumnType::Json)],
        on_type_error: OnTypeError::Fail,
    }
}

fn manifest() -> Manifest {
    serde_json::from_value(json!({
        "job": "fi", "run_id": "R", "orgsync_version": "0", "started_at": "", "finished_at": "",
        "api": {"base_url": "", "path": "", "database": "FI"},
        "request": {"body": {}, "sha256": ""},
        "incremental": null, "format": "", "compression": "", "records": 0,
        "expected_records": null, "duplicates_dropped": 0, "type_errors": {},
        "files": [], "schema": [], "stats": {"requests": 0, "retries": 0, "throttled": 0,
        "token_requests": 0, "elapsed_secs": 0.0}
    }))
    .expect("a manifest")
}

/// A checkpointed writer with 25 records: parts 0 and 1 finished, part 2 open.
fn writer(target: &Path) -> SnapshotWriter {
    let mut w = SnapshotWriter::create(target, opts()).unwrap();
    let records: Vec<Value> = (0..25).map(|i| json!({"business_id": format!("FI{i:04}")})).collect();
    w.write(&records).unwrap();
    fs::write(w.temp_dir().join(CHECKPOINT_FILE), b"{\"checkpoint\": true}").unwrap();
    fs::write(w.temp_dir().join(KEYS_FILE), b"keys").unwrap();
    w.set_keep_on_drop(true);
    w
}

#[test]
fn a_folder_that_is_not_what_the_manifest_lists_is_not_published() {
    type Tamper = fn(&Path);
    let cases: &[(&str, Tamper, &str)] = &[
        (
            "a stray part",
            |tmp| fs::write(tmp.join("part-00007.jsonl"), b"{}\n").unwrap(),
            "part-00007.jsonl is not in the manifest",
        ),
        (
            "a stray other file",
            |tmp| fs::write(tmp.join("notes.txt"), b"x").unwrap(),
            "notes.txt is not in the manifest",
        ),
        (
            "a truncated part",
            |tmp| {
                fs::File::options()
                    .write(true)
                    .open(tmp.join("part-00000.jsonl"))
                    .unwrap()
                    .set_len(3)
                    .unwrap()
            },
            "part-00000.jsonl has 3 bytes, the manifest says",
        ),
        (
            "a missing part",
            |tmp| fs::remove_file(tmp.join("part-00001.jsonl")).unwrap(),
            "part-00001.jsonl is missing",
        ),
    ];
    for (what, tamper, want) in cases {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("snap");
        let mut w = writer(&target);
        w.close_part().unwrap();
        let tmp = w.temp_dir().to_path_buf();
        tamper(&tmp);
        let err = w.finish(manifest(), false).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, SinkError::Incomplete { .. }), "{what}: {err}");
        assert!(
            text.contains(want) && text.contains("nothing was published"),
            "{what}: {text}"
        );
        assert!(!target.exists(), "{what}: nothing published");
        assert_eq!(
            fs::read(tmp.join(CHECKPOINT_FILE)).unwrap(),
            b"{\"checkpoint\": true}",
            "{what}: the checkpoint is put back"
        );
        assert_eq!(fs::read(tmp.join(KEYS_FILE)).unwrap(), b"keys", "{what}");
        assert!(!tmp.join(SUCCESS_FILE).exists(), "{what}: no _SUCCESS left");
    }
}

#[test]
fn a_whole_folder_is_published_without_the_checkpoint_files() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("snap");
    let published = writer(&target).finish(manifest(), false).unwrap();
    assert_eq!(published.manifest.files.len(), 3);
    let mut names: Vec<String> = fs::read_dir(&target)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "_SUCCESS",
            "_manifest.json",
            "part-00000.jsonl",
            "part-00001.jsonl",
            "part-00002.jsonl"
        ]
    );
}

#[test]
fn a_writer_that_never_checkpointed_removes_its_folder_when_publishing_fails() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("snap");
    let mut w = SnapshotWriter::create(&target, opts()).unwrap();
    w.write(&[json!({"business_id": "FI1"})]).unwrap();
    let tmp = w.temp_dir().to_path_buf();
    fs::write(tmp.join("stray"), b"x").unwrap();
    assert!(w.finish(manifest(), false).is_err());
    assert!(!tmp.exists() && !target.exists());
}
