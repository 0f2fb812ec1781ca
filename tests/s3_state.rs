//! State, checkpoints and locks in a bucket (`--state-dir s3://...`),
//! through the real binary against the sandbox and a real moto server
//! (tests/s3/moto.rs): a run killed with SIGKILL, resumed from a NEW
//! working directory, equals a clean run and refetches less than half; two
//! incremental runs from fresh folders chain their windows; a second run
//! while the first holds the lock object exits 5; a stale lock is taken
//! over, a fresh one is not; a run whose lock is taken from it stops
//! before publishing (exit 5); no credential in any output at -vv.

mod common;
#[path = "s3/moto.rs"]
mod moto;

use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{TestSandbox, Workspace, all_output, expected_rows, job_toml};
use moto::{Moto, SECRET_KEY};
use orgsync::sandbox::SandboxConfig;
use serde_json::{Value, json};

const FIELDS: &[&str] = &["business_id", "name", "founded"];
const STATE: &str = "s3://exports/state";

/// JSON Lines into the bucket, 100 records a page, parts of 130 (parts end
/// mid-page), de-duplicated by business_id, one page in flight at `rate`
/// pages a second.
fn bulk_job(base_url: &str, prefix: &str, rate: f64) -> String {
    job_toml(
        base_url,
        "jsonl",
        FIELDS,
        &format!("rows_per_file = 130\n\n[rate_limit]\nrequests_per_second = {rate:.1}\nconcurrency = 1\n"),
    )
    .replace(
        "order = \"business_id\"",
        "order = \"business_id\"\npage_size = 100\nkey = \"business_id\"",
    )
    .replace(
        "path = \"exports/{job}\"",
        &format!("path = \"s3://{}/{prefix}\"", moto::BUCKET),
    )
}

fn slow_sandbox() -> TestSandbox {
    TestSandbox::start(SandboxConfig {
        records: 2000,
        latency: Duration::from_millis(20),
        ..SandboxConfig::default()
    })
}

/// The binary in `ws` with the bucket's environment and `env`.
fn command(ws: &Workspace, moto: &Moto, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_orgsync"));
    cmd.current_dir(ws.path())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("VAINU_CLIENT_ID", orgsync::sandbox::CLIENT_ID)
        .env("VAINU_CLIENT_SECRET", common::SECRET)
        .envs(moto.env())
        .envs(env.iter().copied())
        .args(args);
    cmd
}

fn run(ws: &Workspace, moto: &Moto, args: &[&str], env: &[(&str, &str)]) -> Output {
    command(ws, moto, args, env).output().unwrap()
}

fn spawn(ws: &Workspace, moto: &Moto, args: &[&str], env: &[(&str, &str)]) -> Child {
    command(ws, moto, args, env)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn assert_no_secret(text: &str) {
    assert!(!text.contains(SECRET_KEY), "the secret key was printed:\n{text}");
}

/// Waits (bounded) until `ready` holds for the objects under `prefix`;
/// fails if `child` ends first.
fn wait_for(moto: &Moto, child: &mut Child, prefix: &str, what: &str, ready: impl Fn(&moto::Objects) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        assert!(child.try_wait().unwrap().is_none(), "the run ended before {what}");
        if ready(&moto.objects(prefix)) {
            return;
        }
        assert!(Instant::now() < deadline, "no {what} in the bucket");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn checkpoint_parts(objects: &moto::Objects, job: &str) -> usize {
    objects
        .get(&format!("{job}.orgsync-tmp/_checkpoint.json"))
        .and_then(|b| serde_json::from_slice::<Value>(b).ok())
        .and_then(|c| c["files"].as_array().map(Vec::len))
        .unwrap_or(0)
}

/// The published snapshot under `prefix`: its manifest and its rows in
/// order, after checking every listed part is there with its size.
fn snapshot(moto: &Moto, prefix: &str) -> (Value, Vec<Vec<Value>>) {
    let objects = moto.objects(prefix);
    let marker: Value = serde_json::from_slice(&objects["_SUCCESS"]).expect("_SUCCESS");
    let manifest: Value = serde_json::from_slice(&objects[marker["manifest"].as_str().unwrap()]).unwrap();
    let mut rows = Vec::new();
    for f in manifest["files"].as_array().unwrap() {
        let body = &objects[f["name"].as_str().unwrap()];
        assert_eq!(body.len() as u64, f["bytes"].as_u64().unwrap());
        for line in String::from_utf8_lossy(body).lines() {
            let row: serde_json::Map<String, Value> = serde_json::from_str(line).unwrap();
            rows.push(row.into_iter().map(|(_, v)| v).collect());
        }
    }
    (manifest, rows)
}

#[test]
fn killed_run_resumes_from_a_new_working_directory_with_state_in_the_bucket() {
    let moto = Moto::start();
    let sandbox = slow_sandbox();
    let first = Workspace::new();
    let job = first.job("bulk", &bulk_job(&sandbox.base_url(), "bulk/{job}", 10.0));
    let job_text = std::fs::read_to_string(&job).unwrap();
    let args = ["-vv", "run", "--state-dir", STATE, job.to_str().unwrap()];
    let mut killed = spawn(&first, &moto, &args, &[]);
    // Nine of sixteen parts: the rest is less than half of the pages.
    wait_for(&moto, &mut killed, "state", "checkpoint with nine parts", |o| {
        checkpoint_parts(o, "bulk") >= 9 && o.contains_key("bulk.checkpoint.json")
    });
    killed.kill().unwrap(); // SIGKILL: no chance to clean up, its lock object stays
    let out = killed.wait_with_output().unwrap();
    assert_no_secret(&all_output(&out));
    let before = sandbox.stats().organizations_requests;
    assert!(!moto.objects("bulk/bulk").contains_key("_SUCCESS"));

    // A fresh pod: another folder, nothing local; the killed run's lock is
    // taken over once its lease (1 s here) is over.
    std::thread::sleep(Duration::from_millis(1500));
    let fresh = Workspace::new();
    let job = fresh.job("bulk", &job_text);
    let args = ["-vv", "run", "--resume", "--state-dir", STATE, job.to_str().unwrap()];
    let out = run(&fresh, &moto, &args, &[("ORGSYNC_LOCK_LEASE_SECS", "1")]);
    let text = all_output(&out);
    assert!(out.status.success(), "{text}");
    assert_no_secret(&text);
    assert!(text.contains("took over a stale lock"), "{text}");
    assert!(text.contains("resuming an interrupted run"), "{text}");
    let resumed_requests = sandbox.stats().organizations_requests - before;
    let (manifest, rows) = snapshot(&moto, "bulk/bulk");

    // A clean run of the same job, for comparison.
    let clean = Workspace::new();
    let job = clean.job("bulk", &job_text.replace("bulk/{job}", "clean/{job}"));
    let before = sandbox.stats().organizations_requests;
    let out = run(&clean, &moto, &["run", job.to_str().unwrap()], &[]);
    assert!(out.status.success(), "{}", all_output(&out));
    let clean_requests = sandbox.stats().organizations_requests - before;
    let (clean_manifest, clean_rows) = snapshot(&moto, "clean/bulk");

    let want: Vec<Vec<Value>> = expected_rows(&sandbox.dataset(), "FI", FIELDS, |_| true);
    assert_eq!(rows.len(), 2000);
    assert_eq!(rows, want, "record by record");
    assert_eq!(rows, clean_rows);
    let sizes = |m: &Value| -> Vec<(u64, u64, String)> {
        m["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                let sha = f["sha256"].as_str().unwrap().to_string();
                (f["records"].as_u64().unwrap(), f["bytes"].as_u64().unwrap(), sha)
            })
            .collect()
    };
    assert_eq!(sizes(&manifest), sizes(&clean_manifest), "same parts, same bytes");
    assert_eq!(manifest["files"].as_array().unwrap().len(), 16);
    let run_id = manifest["run_id"].as_str().unwrap();
    for (i, f) in manifest["files"].as_array().unwrap().iter().enumerate() {
        assert_eq!(
            f["name"],
            json!(format!("part-{run_id}-{i:05}.jsonl")),
            "numbering continues"
        );
    }
    assert!(
        resumed_requests * 2 < clean_requests,
        "the resumed run fetched {resumed_requests} pages, a clean run {clean_requests}"
    );
    let state = moto.objects("state");
    let names: Vec<&str> = state.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        ["bulk.json"],
        "checkpoint, pointer and locks gone once published"
    );
    let last: Value = serde_json::from_slice(&state["bulk.json"]).unwrap();
    assert_eq!(last["run_id"], manifest["run_id"]);
}

/// An incremental job over modifications.basic into the bucket.
fn incremental_job(base_url: &str) -> String {
    job_toml(
        base_url,
        "jsonl",
        &["business_id", "modifications.basic"],
        "\n[incremental]\nfield = \"modifications.basic\"\nstart = \"2000-01-01T00:00:00\"\nlag_secs = 0\n",
    )
    .replace(
        "path = \"exports/{job}\"",
        &format!("path = \"s3://{}/inc/{{job}}/{{run_id}}\"", moto::BUCKET),
    )
}

#[test]
fn incremental_runs_on_fresh_folders_continue_the_window_kept_in_the_bucket() {
    let moto = Moto::start();
    let sandbox = TestSandbox::with_records(200);
    let text = incremental_job(&sandbox.base_url());
    let state = |moto: &Moto| -> Value { serde_json::from_slice(&moto.objects("state")["inc.json"]).unwrap() };
    let manifest = |moto: &Moto, last: &Value| -> Value {
        let url = last["snapshot"].as_str().unwrap();
        let prefix = url.trim_start_matches("s3://exports/");
        snapshot(moto, prefix).0
    };

    let ws = Workspace::new();
    let job = ws.job("inc", &text);
    let out = run(&ws, &moto, &["run", "--state-dir", STATE, job.to_str().unwrap()], &[]);
    assert!(out.status.success(), "{}", all_output(&out));
    let first = state(&moto);
    assert!(
        first["snapshot"].as_str().unwrap().starts_with("s3://exports/inc/inc/"),
        "{first}"
    );
    let m1 = manifest(&moto, &first);
    assert_eq!(m1["records"], json!(200));

    sandbox.modify(&[3, 17]);
    let ws = Workspace::new(); // a fresh pod
    let job = ws.job("inc", &text);
    let out = run(
        &ws,
        &moto,
        &["run", job.to_str().unwrap()],
        &[("ORGSYNC_STATE_DIR", STATE)],
    );
    assert!(out.status.success(), "{}", all_output(&out));
    let second = state(&moto);
    assert_ne!(first["snapshot"], second["snapshot"]);
    let m2 = manifest(&moto, &second);
    assert_eq!(
        m2["incremental"]["from"], m1["incremental"]["to"],
        "the window continues"
    );
    assert_eq!(m2["records"], json!(2), "only what changed");
}

/// A lock object as another run (on another host) would have written it.
fn lock_object(run_id: &str, renewed_secs_ago: i64) -> Vec<u8> {
    let renewed = chrono::Utc::now() - chrono::TimeDelta::seconds(renewed_secs_ago);
    json!({
        "pid": 4242, "run_id": run_id, "host": "pod-elsewhere", "job": "fi",
        "started_at": "2026-11-30T00:00:00Z",
        "renewed_at": renewed.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    })
    .to_string()
    .into_bytes()
}

#[test]
fn a_lock_object_is_respected_while_fresh_and_taken_over_when_stale() {
    let moto = Moto::start();
    let sandbox = TestSandbox::with_records(50);
    let ws = Workspace::new();
    let job = ws.job("fi", &bulk_job(&sandbox.base_url(), "locked/{run_id}", 25.0));
    let args = ["-vv", "run", "--state-dir", STATE, job.to_str().unwrap()];
    let cases = [
        ("fresh: renewed 5 s ago", 5, 5, "already being written by another run"),
        ("stale: renewed 10 min ago", 600, 0, "took over a stale lock"),
    ];
    for (name, ago, code, says) in cases {
        moto.put("state/locks/job-fi.lock", &lock_object("20261130T000000Z-other1", ago));
        let before = sandbox.stats().organizations_requests;
        let out = run(&ws, &moto, &args, &[]);
        let text = all_output(&out);
        assert_eq!(out.status.code(), Some(code), "{name}: {text}");
        assert!(text.contains(says), "{name}: {text}");
        assert_no_secret(&text);
        if code == 5 {
            assert!(
                text.contains("20261130T000000Z-other1") && text.contains("pod-elsewhere"),
                "{text}"
            );
            assert_eq!(sandbox.stats().organizations_requests, before, "{name}: no request");
            assert!(
                moto.objects("state").contains_key("locks/job-fi.lock"),
                "{name}: left alone"
            );
        } else {
            assert!(
                !moto.objects("state").contains_key("locks/job-fi.lock"),
                "{name}: released"
            );
        }
    }
}

#[test]
fn a_second_run_while_the_first_lives_exits_5_and_a_run_that_loses_its_lock_does_not_publish() {
    let moto = Moto::start();
    let sandbox = slow_sandbox();
    let a = Workspace::new();
    let job = a.job("bulk", &bulk_job(&sandbox.base_url(), "twice/{job}", 4.0));
    let text = std::fs::read_to_string(&job).unwrap();
    let args = ["run", "--state-dir", STATE, job.to_str().unwrap()];
    let lease = [("ORGSYNC_LOCK_LEASE_SECS", "1")];
    let mut first = spawn(&a, &moto, &args, &lease);
    wait_for(&moto, &mut first, "state", "lock object", |o| {
        o.contains_key("locks/job-bulk.lock")
    });
    // Past the first run's lease: it renews, so its lock is still held.
    std::thread::sleep(Duration::from_millis(1500));

    let b = Workspace::new();
    let job_b = b.job("bulk", &text);
    let out = run(
        &b,
        &moto,
        &["run", "--state-dir", STATE, job_b.to_str().unwrap()],
        &lease,
    );
    let said = all_output(&out);
    assert_eq!(out.status.code(), Some(5), "{said}");
    assert!(
        said.contains("job bulk is already being written by another run"),
        "{said}"
    );
    assert!(said.contains("s3://exports/state/locks/job-bulk.lock"), "{said}");

    // Another run takes the lock from the first (as after a long stall):
    // the first stops before publishing, with exit 5.
    moto.put("state/locks/job-bulk.lock", &lock_object("20261130T000000Z-thief1", 0));
    let out = first.wait_with_output().unwrap();
    let said = all_output(&out);
    assert_eq!(out.status.code(), Some(5), "{said}");
    assert!(said.contains("lost its lock"), "{said}");
    assert!(
        !moto.objects("twice/bulk").contains_key("_SUCCESS"),
        "nothing published"
    );
    assert!(
        moto.objects("state").contains_key("locks/job-bulk.lock"),
        "the new holder's lock stays"
    );
}
