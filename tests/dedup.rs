//! De-duplication by `[query] key` with the key set spilling to sorted runs
//! on disk (`ORGSYNC_DEDUP_SPILL_KEYS` makes it spill every few dozen keys,
//! so a few thousand records exercise spills, merges and filter rebuilds),
//! through the real binary: duplicates across many runs are dropped and
//! counted and nothing else is; a run killed with SIGKILL after spilling
//! resumes (the runs are rebuilt from the checkpoint's keys file) into the
//! snapshot of an uninterrupted run; no key run or keys file is published.

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;
use orgsync::sandbox::SandboxConfig;
use serde_json::{Value, json};

const SPILL: (&str, &str) = ("ORGSYNC_DEDUP_SPILL_KEYS", "40");
const FIELDS: &[&str] = &["business_id", "name"];

/// Files and folders directly in `dir`, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn no_key_files_published(ws: &Workspace, snapshot: &Path) {
    let stray: Vec<String> = names(snapshot)
        .into_iter()
        .filter(|n| !n.starts_with("part-"))
        .collect();
    assert_eq!(stray, ["_SUCCESS", "_manifest.json"], "no key runs, no keys file");
    let exports = names(&ws.path().join("exports"));
    assert!(
        exports.iter().all(|n| !n.starts_with('.')),
        "nothing left beside the snapshot: {exports:?}"
    );
}

/// An API whose pages overlap by `overlap` records (as when records shift
/// under offset paging): page at offset o starts at o - overlap * (o / 100).
struct Overlapping {
    runtime: tokio::runtime::Runtime,
    base_url: String,
}

fn overlapping(total: u64, overlap: u64) -> Overlapping {
    use axum::routing::post;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let page = move |axum::Json(body): axum::Json<Value>| async move {
        let offset = body["offset"].as_u64().unwrap_or(0);
        let limit = body["limit"].as_u64().unwrap_or(100);
        let start = offset.saturating_sub(overlap * (offset / 100));
        let end = (start + limit).min(total);
        let records: Vec<Value> = (start..end)
            .map(|i| json!({"business_id": format!("FI{i:08}"), "name": format!("n{i}")}))
            .collect();
        axum::Json(Value::Array(records))
    };
    let app = axum::Router::new()
        .route(
            "/api/oauth/token/",
            post(|| async { axum::Json(json!({"access_token": "t", "token_type": "Bearer", "expires_in": 3600})) }),
        )
        .route(
            "/api/v3/organizations/count/",
            post(move || async move { axum::Json(json!({"count": total, "status": "ready"})) }),
        )
        .route("/api/v3/organizations/", post(page));
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let base_url = format!("http://{}", listener.local_addr().unwrap());
    runtime.spawn(async move { axum::serve(listener, app).await });
    Overlapping { runtime, base_url }
}

#[test]
fn duplicates_across_spilled_runs_are_dropped_and_nothing_else() {
    let api = overlapping(3000, 7);
    let ws = Workspace::new();
    let extra = "rows_per_file = 500\n\n[rate_limit]\nconcurrency = 1\nrequests_per_second = 1000\n";
    let toml = job_toml(&api.base_url, "csv", FIELDS, extra).replace(
        "order = \"business_id\"",
        "order = \"business_id\"\npage_size = 100\nkey = \"business_id\"",
    );
    let job = ws.job("dups", &toml);
    let out = ws
        .orgsync()
        .env(SPILL.0, SPILL.1)
        .arg("run")
        .arg(&job)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", all_output(&out));
    let snapshot = ws.path().join("exports/dups");
    let ids: Vec<String> = read_csv(&snapshot).1.into_iter().map(|r| r[0].clone()).collect();
    let want: Vec<String> = (0..3000).map(|i| format!("FI{i:08}")).collect();
    assert_eq!(ids, want, "each record once, in order");
    let m = manifest(&snapshot);
    assert_eq!(m["records"], 3000);
    // Pages at offsets 100k (k = 1..=32) start at 93k: 7 records again each.
    assert_eq!(m["duplicates_dropped"], 32 * 7, "{m}");
    no_key_files_published(&ws, &snapshot);
    drop(api.runtime);
}

/// JSON Lines, 100 records a page, parts of 130, key business_id, one page
/// in flight at 25 pages/s against a 20 ms sandbox: about a second.
fn bulk_job(base_url: &str) -> String {
    job_toml(
        base_url,
        "jsonl",
        FIELDS,
        "rows_per_file = 130\n\n[rate_limit]\nrequests_per_second = 25.0\nconcurrency = 1\n",
    )
    .replace(
        "order = \"business_id\"",
        "order = \"business_id\"\npage_size = 100\nkey = \"business_id\"",
    )
}

#[test]
fn a_killed_run_with_spilled_keys_resumes_into_the_uninterrupted_snapshot() {
    let sandbox = TestSandbox::start(SandboxConfig {
        records: 2000,
        latency: Duration::from_millis(20),
        ..SandboxConfig::default()
    });
    let ws = Workspace::new();
    let job = ws.job("bulk", &bulk_job(&sandbox.base_url()));
    let tmp = ws.path().join("exports/.bulk.orgsync-tmp");
    let mut run = Running::start_with_env(&ws, &["run", job.to_str().unwrap()], "killed", &[SPILL]);
    run.wait_for_parts(&tmp, 2);
    run.child.kill().unwrap(); // SIGKILL: the runs stay behind
    run.wait();
    assert!(
        tmp.join("_dedup_runs").is_dir(),
        "260+ keys at 40 a spill: runs on disk; {:?}",
        names(&tmp)
    );
    let cp: Value = serde_json::from_str(&std::fs::read_to_string(tmp.join("_checkpoint.json")).unwrap()).unwrap();
    let keys = cp["dedup_keys"].as_u64().unwrap();
    assert!(keys >= 260, "{cp}");
    assert!(
        std::fs::metadata(tmp.join("_checkpoint.keys")).unwrap().len() >= keys * 8,
        "the keys file holds at least the checkpoint's keys"
    );

    let out = ws
        .orgsync()
        .env(SPILL.0, SPILL.1)
        .args(["run", "--resume", job.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", all_output(&out));
    let resumed = ws.path().join("exports/bulk");
    let want = expected_rows(&sandbox.dataset(), "FI", FIELDS, |_| true);
    let got: Vec<Vec<Value>> = read_jsonl(&resumed)
        .into_iter()
        .map(|m| m.into_iter().map(|(_, v)| v).collect())
        .collect();
    assert_eq!(got.len(), 2000);
    assert_eq!(got, want, "record by record with the data set");
    let m = manifest(&resumed);
    assert_eq!(m["records"], 2000);
    assert_eq!(
        m["duplicates_dropped"], 0,
        "no key of a finished part was seen as new twice"
    );
    no_key_files_published(&ws, &resumed);
}
