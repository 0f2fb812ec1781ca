//! Tests of `checkpoint.rs`: parsing (table), the compatibility check that
//! refuses a resume (table), saving, and part verification.

use serde_json::{Value, json};

use super::*;
use crate::exit::ExitStatus;

fn checkpoint() -> Value {
    json!({
        "version": 1,
        "job": "fi",
        "run_id": "20261122T043000Z-abcdef",
        "started_at": "2026-11-22T04:30:00.123456789Z",
        "target": "/data/exports/fi/2026-11-22",
        "request_sha256": "a".repeat(64),
        "format": "jsonl",
        "compression": "none",
        "rows_per_file": 100,
        "key": "business_id",
        "on_type_error": "fail",
        "schema": [
            {"name": "business_id", "path": "business_id", "type": "string", "nullable": true},
            {"name": "codes", "path": "official_industries.code", "type": "list<string>", "nullable": true}
        ],
        "schema_file": true,
        "incremental": null,
        "next_offset": 230,
        "records": 200,
        "files": [
            {"name": "part-00000.jsonl", "records": 100, "bytes": 10, "sha256": "x"},
            {"name": "part-00001.jsonl", "records": 100, "bytes": 10, "sha256": "y"}
        ],
        "duplicates_dropped": 30,
        "type_errors": {},
        "dedup_keys": 200,
        "expected_records": 1000,
        "stats": {"requests": 3, "retries": 0, "throttled": 0, "token_requests": 1, "elapsed_secs": 0.5}
    })
}

fn with(key: &str, value: Value) -> String {
    let mut v = checkpoint();
    v[key] = value;
    v.to_string()
}

#[test]
fn parse_table() {
    let cases: Vec<(String, Result<(), &str>)> = vec![
        (checkpoint().to_string(), Ok(())),
        (with("key", Value::Null), Ok(())),
        (with("version", json!(9)), Err("version 9")),
        (with("started_at", json!("yesterday")), Err("started_at \"yesterday\"")),
        (
            with(
                "schema",
                json!([{"name": "a", "path": "a", "type": "decimal", "nullable": true}]),
            ),
            Err("unknown type \"decimal\""),
        ),
        (with("on_type_error", json!("skip")), Err("on_type_error \"skip\"")),
        (with("records", json!(150)), Err("records 150 but its files hold 200")),
        (
            with(
                "files",
                json!([{"name": "../etc/passwd", "records": 200, "bytes": 1, "sha256": "x"}]),
            ),
            Err("not a part file name"),
        ),
        (with("surprise", json!(true)), Err("unknown field `surprise`")),
        (with("next_offset", json!(-1)), Err("invalid value")),
        // Keyset windows: a checkpoint without `window` (the sample, as
        // written before keyset windows) loads; one with it too.
        (
            with("window", json!({"after": "FI10007700", "records_before": 1100})),
            Ok(()),
        ),
        (with("window", json!({"after": 17, "records_before": 0})), Ok(())),
        (
            with("window", json!({"after": "x"})),
            Err("missing field `records_before`"),
        ),
        // Export mode: the export mark (a checkpoint without it, above, is pages mode or older).
        (
            with(
                "export",
                json!({"link": "/v3/organizations/async/e1/", "id": "e1", "bytes": 1234}),
            ),
            Ok(()),
        ),
        (with("export", json!({"link": "/x/", "id": "e1"})), Ok(())),
        (with("export", json!({"id": "e1"})), Err("missing field `link`")),
        ("{\"version\": 1".to_string(), Err("EOF")),
    ];
    for (text, want) in cases {
        match (Checkpoint::parse(&text), want) {
            (Ok(_), Ok(())) => {}
            (Err(e), Err(part)) => assert!(e.contains(part), "{e} lacks {part}"),
            (got, want) => panic!("{text}: got {got:?}, want {want:?}"),
        }
    }
}

#[test]
fn started_round_trips_to_the_nanosecond() {
    let cp = Checkpoint::parse(&checkpoint().to_string()).unwrap();
    let t = cp.started().unwrap();
    assert_eq!(t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true), cp.started_at);
    let cols = cp.columns().unwrap();
    assert_eq!(cols[1].kind, ColumnType::ListString);
    assert_eq!(cols[1].path.as_str(), "official_industries.code");
}

fn fingerprint(cp: &Checkpoint) -> Fingerprint {
    Fingerprint {
        request_sha256: cp.request_sha256.clone(),
        format: cp.format.clone(),
        compression: cp.compression.clone(),
        rows_per_file: cp.rows_per_file,
        key: cp.key.clone(),
        schema: Some((cp.schema.clone(), OnTypeError::Fail)),
    }
}

#[test]
fn check_table() {
    let cp = Checkpoint::parse(&checkpoint().to_string()).unwrap();
    type Edit = fn(&mut Fingerprint);
    let cases: Vec<(&str, Edit, Option<&str>)> = vec![
        ("unchanged", |_| {}, None),
        (
            "filter",
            |f| f.request_sha256 = "b".repeat(64),
            Some("the request (query, fields, filter, order, database or extra) changed"),
        ),
        (
            "format",
            |f| f.format = "csv".into(),
            Some("format jsonl then, csv now"),
        ),
        (
            "compression",
            |f| f.compression = "zstd".into(),
            Some("compression none then, zstd now"),
        ),
        ("rows", |f| f.rows_per_file = 50, Some("rows_per_file 100 then, 50 now")),
        ("key", |f| f.key = None, Some("[query] key changed")),
        ("schema gone", |f| f.schema = None, Some("a schema file then, none now")),
        (
            "column type",
            |f| {
                if let Some((cols, _)) = f.schema.as_mut() {
                    cols[1].kind = "string".into();
                }
            },
            Some("column 2 was codes list<string>"),
        ),
        (
            "column added",
            |f| {
                if let Some((cols, _)) = f.schema.as_mut() {
                    cols.push(cols[0].clone());
                }
            },
            Some("2 columns then, 3 now"),
        ),
        (
            "policy",
            |f| {
                if let Some((_, p)) = f.schema.as_mut() {
                    *p = OnTypeError::Null;
                }
            },
            Some("on_type_error fail then, null now"),
        ),
    ];
    for (name, edit, want) in cases {
        let mut now = fingerprint(&cp);
        edit(&mut now);
        match (cp.check(&now), want) {
            (Ok(()), None) => {}
            (Err(e), Some(part)) => {
                assert_eq!(e.exit(), crate::exit::Exit::Invalid, "{name}");
                let text = e.to_string();
                assert!(text.contains(part), "{name}: {text} lacks {part}");
                assert!(text.contains("200 records"), "{name}: {text}");
            }
            (got, want) => panic!("{name}: got {got:?}, want {want:?}"),
        }
    }
}

#[test]
fn save_load_and_verify_parts() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(Checkpoint::load(dir.path()).unwrap(), None);
    assert_eq!(Checkpoint::load(&dir.path().join("missing")).unwrap(), None);
    let body = b"{\"business_id\":\"FI1\"}\n";
    fs::write(dir.path().join("part-00000.jsonl"), body).unwrap();
    let sha: String = Sha256::digest(body).iter().map(|b| format!("{b:02x}")).collect();
    let mut cp = Checkpoint::parse(&checkpoint().to_string()).unwrap();
    cp.files = vec![PartFile {
        name: "part-00000.jsonl".into(),
        records: 1,
        bytes: body.len() as u64,
        sha256: sha.clone(),
    }];
    cp.records = 1;
    cp.save(dir.path()).unwrap();
    assert_eq!(Checkpoint::load(dir.path()).unwrap(), Some(cp.clone()));
    verify_parts(dir.path(), &cp.files).unwrap();

    let damaged: Vec<(&str, PartFile)> = vec![
        (
            "bytes, the checkpoint says 99",
            PartFile {
                bytes: 99,
                ..cp.files[0].clone()
            },
        ),
        (
            "sha256",
            PartFile {
                sha256: "0".repeat(64),
                ..cp.files[0].clone()
            },
        ),
        (
            "cannot be opened",
            PartFile {
                name: "part-00001.jsonl".into(),
                ..cp.files[0].clone()
            },
        ),
    ];
    for (want, part) in damaged {
        let err = verify_parts(dir.path(), &[part]).err().unwrap();
        assert_eq!(err.exit(), crate::exit::Exit::Invalid);
        assert!(err.to_string().contains(want), "{err} lacks {want}");
    }
    fs::write(dir.path().join(CHECKPOINT_FILE), "{}").unwrap();
    let err = Checkpoint::load(dir.path()).err().unwrap();
    assert!(matches!(err, StateError::BadCheckpoint { .. }), "{err}");
}
