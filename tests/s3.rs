//! Snapshots in an S3-compatible bucket, through the real binary against
//! the sandbox and a real moto server (tests/s3/moto.rs): publish and read
//! back (CSV record by record, Parquet byte-identical to a local run), the
//! exit-2 refusal before any API request, a failed `--overwrite` run that
//! leaves the old snapshot byte-identical with no upload open, racing
//! runs, and no credential in any output. `make test` installs moto;
//! without it these tests fail saying so.

mod common;
#[path = "s3/moto.rs"]
mod moto;

use std::collections::BTreeMap;
use std::process::Output;

use common::{TestSandbox, Workspace, all_output, csv_text, expected_rows, job_toml};
use moto::{Moto, SECRET_KEY};
use serde_json::Value;

const FIELDS: [&str; 3] = ["business_id", "name", "founded"];

fn s3_job(sandbox: &TestSandbox, format: &str, prefix: &str, extra: &str) -> String {
    job_toml(&sandbox.base_url(), format, &FIELDS, extra)
        .replace(
            "path = \"exports/{job}\"",
            &format!("path = \"s3://{}/{prefix}\"", moto::BUCKET),
        )
        .replace("order = \"business_id\"", "order = \"business_id\"\npage_size = 20")
}

fn run(ws: &Workspace, moto: &Moto, job: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = ws.orgsync();
    cmd.arg("run").args(args).arg(job);
    for (k, v) in moto.env() {
        cmd.env(k, v);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

/// The `_SUCCESS` marker and the manifest it names; asserts invariant (a):
/// every listed file exists with its listed size, and nothing else is a part.
fn published(objects: &BTreeMap<String, Vec<u8>>) -> (Value, Value) {
    let marker: Value = serde_json::from_slice(&objects["_SUCCESS"]).expect("_SUCCESS is JSON");
    let name = marker["manifest"].as_str().expect("_SUCCESS names a manifest");
    let manifest: Value = serde_json::from_slice(&objects[name]).expect("the manifest");
    let files = manifest["files"].as_array().unwrap();
    for f in files {
        let name = f["name"].as_str().unwrap();
        let bytes = objects
            .get(name)
            .unwrap_or_else(|| panic!("{name} is listed but missing"));
        assert_eq!(bytes.len() as u64, f["bytes"].as_u64().unwrap(), "{name}");
    }
    (marker, manifest)
}

fn assert_no_secret(out: &Output) {
    let text = all_output(out);
    assert!(!text.contains(SECRET_KEY), "the secret key was printed:\n{text}");
}

#[test]
fn a_csv_snapshot_is_published_and_read_back_record_by_record() {
    let moto = Moto::start();
    let sandbox = TestSandbox::with_records(250);
    let ws = Workspace::new();
    let job = ws.job("fi", &s3_job(&sandbox, "csv", "daily/{job}", "rows_per_file = 100"));
    let out = run(&ws, &moto, &job, &["-vv"], &[]);
    assert!(out.status.success(), "{}", all_output(&out));
    assert_no_secret(&out);
    assert!(
        !ws.path().join("s3:").exists(),
        "nothing written into a local folder named s3:"
    );

    let objects = moto.objects("daily/fi");
    let (marker, manifest) = published(&objects);
    let run_id = marker["run_id"].as_str().unwrap();
    let names: Vec<&str> = objects.keys().map(String::as_str).collect();
    let want = [
        "_SUCCESS".to_string(),
        format!("_manifest-{run_id}.json"),
        format!("part-{run_id}-00000.csv"),
        format!("part-{run_id}-00001.csv"),
        format!("part-{run_id}-00002.csv"),
    ];
    assert_eq!(names, want.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(manifest["records"], 250);
    let manifest_text = String::from_utf8_lossy(&objects[&want[1]]).to_string();
    assert!(!manifest_text.contains(SECRET_KEY) && !manifest_text.contains(moto::KEY_ID));

    let mut rows = Vec::new();
    for part in &want[2..] {
        let mut reader = csv::Reader::from_reader(&objects[part][..]);
        assert_eq!(reader.headers().unwrap().iter().collect::<Vec<_>>(), FIELDS);
        for row in reader.records() {
            rows.push(row.unwrap().iter().map(str::to_string).collect::<Vec<_>>());
        }
    }
    let expected: Vec<Vec<String>> = expected_rows(&sandbox.dataset(), "FI", &FIELDS, |_| true)
        .into_iter()
        .map(|r| r.iter().map(csv_text).collect())
        .collect();
    assert_eq!(rows, expected);
    assert_eq!(moto.open_uploads(), 0);
}

#[test]
fn a_parquet_snapshot_in_the_bucket_equals_a_local_run() {
    let moto = Moto::start();
    let sandbox = TestSandbox::with_records(300);
    let ws = Workspace::new();
    let local = ws.job(
        "local",
        &job_toml(&sandbox.base_url(), "parquet", &FIELDS, "rows_per_file = 120"),
    );
    let out = run(&ws, &moto, &local, &[], &[]);
    assert!(out.status.success(), "{}", all_output(&out));
    let remote = ws.job(
        "remote",
        &s3_job(&sandbox, "parquet", "pq/{job}", "rows_per_file = 120"),
    );
    let out = run(&ws, &moto, &remote, &[], &[]);
    assert!(out.status.success(), "{}", all_output(&out));

    let objects = moto.objects("pq/remote");
    let (_, manifest) = published(&objects);
    let local_parts = common::part_bytes(&ws.path().join("exports/local"));
    let files = manifest["files"].as_array().unwrap();
    assert_eq!(files.len(), 3);
    assert_eq!(files.len(), local_parts.len());
    let mut records = 0;
    for (f, (_, local_bytes)) in files.iter().zip(&local_parts) {
        let bytes = &objects[f["name"].as_str().unwrap()];
        assert!(bytes == local_bytes, "{} differs from the local part", f["name"]);
        let reader =
            parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes.clone()))
                .unwrap()
                .build()
                .unwrap();
        records += reader.map(|b| b.unwrap().num_rows()).sum::<usize>();
    }
    assert_eq!(records, 300);
    assert_eq!(manifest["records"], 300);
}

#[test]
fn an_existing_snapshot_is_refused_before_any_api_request() {
    let moto = Moto::start();
    let sandbox = TestSandbox::with_records(50);
    let ws = Workspace::new();
    let job = ws.job("fi", &s3_job(&sandbox, "csv", "x/{job}", ""));
    assert!(run(&ws, &moto, &job, &[], &[]).status.success());
    let before = moto.objects("x/fi");
    let requests = sandbox.stats();

    let other = Workspace::new();
    let job = other.job("fi", &s3_job(&sandbox, "csv", "x/{job}", ""));
    let out = run(&other, &moto, &job, &[], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", all_output(&out));
    let text = all_output(&out);
    assert!(
        text.contains("s3://exports/x/fi") && text.contains("--overwrite"),
        "{text}"
    );
    let after = sandbox.stats();
    assert_eq!(
        (after.token_requests, after.count_requests, after.organizations_requests),
        (
            requests.token_requests,
            requests.count_requests,
            requests.organizations_requests
        ),
        "no API request"
    );
    assert_eq!(moto.objects("x/fi"), before);
}

#[test]
fn overwrite_replaces_the_snapshot_and_then_removes_the_old_files() {
    let moto = Moto::start();
    let sandbox = TestSandbox::with_records(60);
    let ws = Workspace::new();
    let job = ws.job("fi", &s3_job(&sandbox, "jsonl", "o/{job}", "rows_per_file = 25"));
    assert!(run(&ws, &moto, &job, &[], &[]).status.success());
    let (first, _) = published(&moto.objects("o/fi"));
    let out = run(&ws, &moto, &job, &["--overwrite"], &[]);
    assert!(out.status.success(), "{}", all_output(&out));
    let objects = moto.objects("o/fi");
    let (second, manifest) = published(&objects);
    assert_ne!(first["run_id"], second["run_id"]);
    let old_id = first["run_id"].as_str().unwrap();
    assert!(
        objects.keys().all(|k| !k.contains(old_id)),
        "the old snapshot's files are gone: {:?}",
        objects.keys()
    );
    assert_eq!(objects.len(), manifest["files"].as_array().unwrap().len() + 2);
}

#[test]
fn a_failed_overwrite_leaves_the_old_snapshot_byte_identical_and_no_upload_open() {
    let moto = Moto::start();
    let sandbox = TestSandbox::with_records(120);
    let ws = Workspace::new();
    let job = ws.job("fi", &s3_job(&sandbox, "csv", "f/{job}", "rows_per_file = 50"));
    assert!(run(&ws, &moto, &job, &[], &[]).status.success());
    let before = moto.objects("f/fi");
    published(&before);

    // Late: every part and the manifest are up, _SUCCESS is not.
    let out = run(&ws, &moto, &job, &["--overwrite"], &[("ORGSYNC_FAULT", "publish:fail")]);
    assert_eq!(out.status.code(), Some(1), "{}", all_output(&out));
    assert_eq!(
        moto.objects("f/fi"),
        before,
        "the old snapshot is untouched, the new run's files removed"
    );
    assert_eq!(moto.open_uploads(), 0);

    // Mid-part: the API fails while a part's upload is open (one page in
    // flight at a time, so the first two pages arrive and the third fails).
    let failing = TestSandbox::start(orgsync::sandbox::SandboxConfig {
        records: 120,
        fail_after: Some(2),
        ..Default::default()
    });
    let job = ws.job(
        "fi",
        &(s3_job(&failing, "csv", "f/{job}", "rows_per_file = 1000")
            + "\n[retry]\nmax_attempts = 2\ninitial_delay_ms = 10\n[rate_limit]\nconcurrency = 1\n"),
    );
    let out = run(&ws, &moto, &job, &["--overwrite"], &[]);
    assert_eq!(out.status.code(), Some(1), "{}", all_output(&out));
    assert!(
        all_output(&out).contains("aborted the unfinished upload"),
        "{}",
        all_output(&out)
    );
    assert_eq!(moto.objects("f/fi"), before);
    assert_eq!(moto.open_uploads(), 0, "the open upload was aborted");
    assert_no_secret(&out);
}

#[test]
fn of_two_racing_runs_at_most_one_publishes() {
    let moto = Moto::start();
    let sandbox = TestSandbox::start(orgsync::sandbox::SandboxConfig {
        records: 100,
        latency: std::time::Duration::from_millis(20),
        ..Default::default()
    });
    let (a, b) = (Workspace::new(), Workspace::new());
    let spawn = |ws: &Workspace| {
        let job = ws.job("fi", &s3_job(&sandbox, "csv", "race/{job}", "rows_per_file = 30"));
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_orgsync"));
        cmd.current_dir(ws.path())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("VAINU_CLIENT_ID", orgsync::sandbox::CLIENT_ID)
            .env("VAINU_CLIENT_SECRET", common::SECRET)
            .envs(moto.env())
            .arg("run")
            .arg(&job)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        cmd.spawn().unwrap()
    };
    let (ra, rb) = (spawn(&a), spawn(&b));
    let outs = [ra.wait_with_output().unwrap(), rb.wait_with_output().unwrap()];
    let codes: Vec<Option<i32>> = outs.iter().map(|o| o.status.code()).collect();
    let winners = codes.iter().filter(|c| **c == Some(0)).count();
    assert_eq!(winners, 1, "exactly one run publishes: {codes:?}");
    for (o, code) in outs.iter().zip(&codes) {
        assert!(matches!(code, Some(0 | 2 | 5)), "{}", all_output(o));
    }
    let objects = moto.objects("race/fi");
    let (_, manifest) = published(&objects);
    assert_eq!(
        objects.len(),
        manifest["files"].as_array().unwrap().len() + 2,
        "the loser left nothing"
    );
    assert_eq!(moto.open_uploads(), 0);
}

#[test]
fn a_run_that_loses_the_race_for_success_exits_5_and_removes_only_its_files() {
    let moto = Moto::start();
    let sandbox = TestSandbox::start(orgsync::sandbox::SandboxConfig {
        records: 120,
        latency: std::time::Duration::from_millis(100),
        ..Default::default()
    });
    let ws = Workspace::new();
    let job = ws.job("fi", &s3_job(&sandbox, "csv", "lost/{job}", "rows_per_file = 1000"));
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_orgsync"));
    cmd.current_dir(ws.path())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("VAINU_CLIENT_ID", orgsync::sandbox::CLIENT_ID)
        .env("VAINU_CLIENT_SECRET", common::SECRET)
        .envs(moto.env())
        .arg("run")
        .arg(&job)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    // Once its part's upload is open, the run has passed its target check.
    // Bounded: a run that ended early (or never uploads) fails the test
    // instead of hanging it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while moto.open_uploads() == 0 {
        if let Some(status) = child.try_wait().unwrap() {
            let out = child.wait_with_output().unwrap();
            panic!(
                "the run ended ({status}) before opening an upload: {}",
                all_output(&out)
            );
        }
        assert!(std::time::Instant::now() < deadline, "no upload opened within 60 s");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let foreign = br#"{"manifest":"_manifest-other.json","run_id":"other"}"#;
    moto.put("lost/fi/_SUCCESS", foreign);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(5), "{}", all_output(&out));
    assert!(
        all_output(&out).contains("another run published"),
        "{}",
        all_output(&out)
    );
    let objects = moto.objects("lost/fi");
    assert_eq!(objects.keys().collect::<Vec<_>>(), ["_SUCCESS"]);
    assert_eq!(objects["_SUCCESS"], foreign);
    assert_eq!(moto.open_uploads(), 0);
}

#[test]
fn plain_http_to_a_host_off_this_machine_is_refused() {
    let sandbox = TestSandbox::with_records(10);
    let ws = Workspace::new();
    let job = ws.job("fi", &s3_job(&sandbox, "csv", "x/{job}", ""));
    let out = ws
        .orgsync()
        .arg("run")
        .arg(&job)
        .env("AWS_ACCESS_KEY_ID", moto::KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        .env("AWS_REGION", "eu-north-1")
        .env("AWS_ENDPOINT_URL", "http://s3.example.invalid:9000")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", all_output(&out));
    let text = all_output(&out);
    assert!(text.contains("plain http") && text.contains("https://"), "{text}");
    assert_no_secret(&out);
    assert_eq!(sandbox.stats().organizations_requests, 0);
}

#[test]
fn other_schemes_are_validation_errors_naming_the_supported_ones() {
    let ws = Workspace::new();
    let job = ws.job(
        "gcs",
        &job_toml("https://api.vainu.app", "csv", &FIELDS, "").replace("exports/{job}", "gs://bucket/{job}"),
    );
    let out = ws.orgsync().arg("validate").arg(&job).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", all_output(&out));
    let text = all_output(&out);
    assert!(text.contains("gcs.toml:") && text.contains("gs://"), "{text}");
    assert!(
        text.contains("s3://bucket/prefix") && text.contains("AWS_ENDPOINT_URL"),
        "{text}"
    );
}
