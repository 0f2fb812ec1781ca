//! Deep pulls past an offset limit and saved lists, through the real
//! binary against the sandbox: with `order` = `key` a run that the API
//! stops at offset 1,100 (sandbox `max_offset`), or that stops itself at
//! `[query] max_offset`, pages on in keyset windows and publishes exactly
//! the snapshot of an unlimited run (CSV and Parquet, byte for byte, with
//! pages in flight concurrently); without `key` it exits 4 saying what to
//! set; a run killed in its second window resumes into the clean run's
//! snapshot. A saved `list` job exports the list's records and `count`
//! counts them; `list` with a filter or `[incremental]` is a validation
//! error.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;
use orgsync::sandbox::SandboxConfig;
use serde_json::{Value, json};

const FIELDS: &[&str] = &["business_id", "name", "financial_data.revenue"];
const RECORDS: u64 = 3000;

fn sandbox(max_offset: Option<u64>, latency_ms: u64) -> TestSandbox {
    TestSandbox::start(SandboxConfig {
        records: RECORDS,
        max_offset,
        latency: Duration::from_millis(latency_ms),
        ..SandboxConfig::default()
    })
}

/// A job against `base_url`: `query` lines go into `[query]` (after
/// database and fields), `rest` at the end (more sections).
fn job_text(base_url: &str, format: &str, query: &str, output: &str, rest: &str) -> String {
    let fields: Vec<String> = FIELDS.iter().map(|f| format!("{f:?}")).collect();
    format!(
        r#"
[api]
base_url = "{base_url}"

[auth]
client_id = "${{VAINU_CLIENT_ID}}"
client_secret = "${{VAINU_CLIENT_SECRET}}"

[query]
database = "FI"
fields = [{fields}]
page_size = 100
{query}

[rate_limit]
requests_per_second = 1000.0
burst = 10
concurrency = 4

[output]
format = "{format}"
path = "exports/{{job}}"
{output}
{rest}
"#,
        fields = fields.join(", ")
    )
}

const KEYSET: &str = "order = \"business_id\"\nkey = \"business_id\"";

/// Runs `job` to the end in `ws` (under `out_dir`), expecting success; the snapshot.
fn run_ok(ws: &Workspace, job: &Path, out_dir: &str) -> (PathBuf, String) {
    let out = ws
        .orgsync()
        .args(["run", "--out-dir", out_dir, job.to_str().unwrap()])
        .output()
        .unwrap();
    let text = all_output(&out);
    assert!(out.status.success(), "{text}");
    let name = job.file_stem().unwrap().to_string_lossy().to_string();
    (ws.path().join(out_dir).join("exports").join(name), text)
}

fn assert_equal_snapshots(got: &Path, want: &Path) {
    let (g, w) = (part_bytes(got), part_bytes(want));
    assert!(!w.is_empty(), "the clean run wrote parts");
    assert_eq!(g.len(), w.len(), "part count");
    for ((gn, gb), (wn, wb)) in g.iter().zip(&w) {
        assert_eq!(gn, wn);
        assert!(gb == wb, "{gn} differs from the unlimited run's");
    }
    let (gm, wm) = (manifest(got), manifest(want));
    assert_eq!(gm["records"], json!(RECORDS));
    assert_eq!(
        gm["expected_records"],
        json!(RECORDS),
        "the total stays the original count"
    );
    assert_eq!(gm["duplicates_dropped"], json!(0));
    assert_eq!(
        gm["request"], wm["request"],
        "the manifest records the job's own request"
    );
}

fn csv_rows_match_the_data_set(snapshot: &Path, sandbox: &TestSandbox) {
    let want: Vec<Vec<String>> = expected_rows(&sandbox.dataset(), "FI", FIELDS, |_| true)
        .iter()
        .map(|r| r.iter().map(csv_text).collect())
        .collect();
    let (_, got) = read_csv(snapshot);
    assert_eq!(got.len(), want.len());
    assert!(got == want, "rows differ from the data set");
}

#[test]
fn api_offset_limit_with_order_equal_to_key_gives_the_unlimited_snapshot() {
    let free = sandbox(None, 0);
    let limited = sandbox(Some(1000), 0);
    for format in ["csv", "parquet"] {
        let ws = Workspace::new();
        let clean = ws.job("deep", &job_text(&free.base_url(), format, KEYSET, "", ""));
        let (want, _) = run_ok(&ws, &clean, "clean");
        let before = limited.stats().offset_refusals;
        let job = ws.job("deep", &job_text(&limited.base_url(), format, KEYSET, "", ""));
        let (got, log) = run_ok(&ws, &job, "windowed");
        let refusals = limited.stats().offset_refusals - before;
        assert!(
            refusals >= 2,
            "{format}: the API refused offset 1100 in two windows: {refusals}"
        );
        assert!(log.contains("keyset window"), "{log}");
        assert_equal_snapshots(&got, &want);
        if format == "csv" {
            csv_rows_match_the_data_set(&got, &free);
        }
    }
}

#[test]
fn job_max_offset_pages_in_windows_and_is_never_refused() {
    let free = sandbox(None, 0);
    let limited = sandbox(Some(1000), 0);
    for format in ["parquet", "csv"] {
        let ws = Workspace::new();
        let clean = ws.job("deep", &job_text(&free.base_url(), format, KEYSET, "", ""));
        let (want, _) = run_ok(&ws, &clean, "clean");
        let before = limited.stats();
        let query = format!("{KEYSET}\nmax_offset = 1000");
        let job = ws.job("deep", &job_text(&limited.base_url(), format, &query, "", ""));
        let (got, log) = run_ok(&ws, &job, "windowed");
        let after = limited.stats();
        assert_eq!(
            after.offset_refusals, before.offset_refusals,
            "{format}: no offset past 1000 asked"
        );
        assert!(log.contains("max_offset reached"), "{log}");
        // 3 windows of at most 11 pages (+ the probe at the total), one count.
        let requests = after.organizations_requests - before.organizations_requests;
        assert!((30..=34).contains(&requests), "{format}: {requests} page requests");
        assert_equal_snapshots(&got, &want);
    }
}

#[test]
fn without_key_an_offset_refusal_exits_4_saying_to_set_order_and_key() {
    let limited = sandbox(Some(1000), 0);
    let ws = Workspace::new();
    let job = ws.job(
        "nokey",
        &job_text(&limited.base_url(), "csv", "order = \"business_id\"", "", ""),
    );
    let out = ws.orgsync().args(["run", job.to_str().unwrap()]).output().unwrap();
    let text = all_output(&out);
    assert_eq!(out.status.code(), Some(4), "{text}");
    assert!(text.contains("offset 1100 exceeds the maximum offset 1000"), "{text}");
    assert!(
        text.contains("needs [query] order and key set to the same unique field"),
        "{text}"
    );
    assert!(text.contains("use mode = \"export\""), "{text}");
    assert!(!ws.path().join("exports/nokey").exists(), "nothing published");
}

/// Kills the keyset job (CSV, `rows_per_file`, `query`) against a slow
/// sandbox refusing offsets past 1,000 once `parts` parts are finished,
/// resumes it, and compares with a clean run; the checkpoint it resumed.
fn kill_and_resume(query: &str, rows_per_file: u64, parts: usize) -> Value {
    let free = sandbox(None, 0);
    let limited = sandbox(Some(1000), 80);
    let ws = Workspace::new();
    let output = format!("rows_per_file = {rows_per_file}");
    let text = job_text(&limited.base_url(), "csv", query, &output, "").replace("concurrency = 4", "concurrency = 2");
    let job = ws.job("deep", &text);
    let tmp = ws.path().join("exports/.deep.orgsync-tmp");
    let mut run = Running::start(&ws, &["run", job.to_str().unwrap()], "killed");
    run.wait_for_parts(&tmp, parts);
    run.signal("KILL");
    run.wait();
    let cp = checkpoint_json(&tmp).expect("a checkpoint");
    let before = cp["window"]["records_before"].as_u64().unwrap_or(0);
    let next = cp["next_offset"].as_u64().unwrap();
    assert_eq!(
        before + next,
        cp["records"].as_u64().unwrap(),
        "offset inside the window: {cp}"
    );
    if before > 0 {
        let last_before = free.dataset().record("FI", before - 1)["business_id"].clone();
        assert_eq!(
            cp["window"]["after"], last_before,
            "the window starts after the last key written"
        );
    }

    let out = ws
        .orgsync()
        .args(["run", "--resume", job.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", all_output(&out));
    let clean_ws = Workspace::new();
    let clean_job = clean_ws.job("deep", &job_text(&free.base_url(), "csv", query, &output, ""));
    let (want, _) = run_ok(&clean_ws, &clean_job, "clean");
    assert_equal_snapshots(&ws.path().join("exports/deep"), &want);
    csv_rows_match_the_data_set(&ws.path().join("exports/deep"), &free);
    cp
}

#[test]
fn killed_in_the_second_window_resumes_into_the_clean_snapshot() {
    // Part 3 ends at record 1,500: inside the second window (1,100..2,200).
    let cp = kill_and_resume(KEYSET, 500, 3);
    assert!(
        cp["window"]["records_before"].as_u64().is_some_and(|b| b >= 1100),
        "{cp}"
    );
}

/// Regression: a checkpoint that ends exactly at a window's limit (parts of
/// 1,100 records, windows of 1,100) resumes: the resumed run asks again for
/// the page before its offset to learn the last key written.
#[test]
fn killed_at_a_window_boundary_resumes_into_the_clean_snapshot() {
    let query = format!("{KEYSET}\nmax_offset = 1000");
    let cp = kill_and_resume(&query, 1100, 1);
    assert_eq!(cp["next_offset"], json!(1100), "at the window's end: {cp}");
}

/// The sandbox's `fi-software-helsinki` list, evaluated by hand.
fn in_software_helsinki(r: &Value) -> bool {
    let software = r["official_industries"]
        .as_array()
        .is_some_and(|a| a.iter().any(|i| i["code"] == json!("62")));
    software && r["visiting_address"]["city"] == json!("Helsinki")
}

#[test]
fn a_list_job_exports_the_list_and_count_counts_it() {
    let free = sandbox(None, 0);
    let ws = Workspace::new();
    let query = "list = \"fi-software-helsinki\"\norder = \"business_id\"";
    let job = ws.job("listed", &job_text(&free.base_url(), "csv", query, "", ""));
    let want: Vec<Vec<String>> = expected_rows(&free.dataset(), "FI", FIELDS, in_software_helsinki)
        .iter()
        .map(|r| r.iter().map(csv_text).collect())
        .collect();
    assert!(want.len() > 5, "the list holds records: {}", want.len());

    let out = ws.orgsync().args(["count", job.to_str().unwrap()]).output().unwrap();
    assert!(out.status.success(), "{}", all_output(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), want.len().to_string());

    let (snapshot, _) = run_ok(&ws, &job, ".");
    let (_, got) = read_csv(&snapshot);
    assert!(
        got == want,
        "the list's records: got {}, want {}",
        got.len(),
        want.len()
    );
    let m = manifest(&snapshot);
    assert_eq!(m["request"]["body"]["list"], json!("fi-software-helsinki"));
    assert!(m["request"]["body"].get("query").is_none(), "{}", m["request"]);
    assert_eq!(m["expected_records"], json!(want.len()));

    let bad = ws.job(
        "unknown",
        &job_text(&free.base_url(), "csv", "list = \"no-such-list\"", "", ""),
    );
    let out = ws.orgsync().args(["run", bad.to_str().unwrap()]).output().unwrap();
    let text = all_output(&out);
    assert_eq!(out.status.code(), Some(4), "{text}");
    assert!(
        text.contains("list \\\"no-such-list\\\" not found") || text.contains("list \"no-such-list\" not found"),
        "{text}"
    );
}

#[test]
fn list_with_a_filter_incremental_or_max_offset_is_a_validation_error() {
    let ws = Workspace::new();
    let base = "http://127.0.0.1:9";
    let cases = [
        (
            "list = \"everything\"\nfilter = { \"?ALL\" = [] }",
            "",
            "set either list or filter/filter_file in [query], not both",
        ),
        (
            "list = \"everything\"",
            "[incremental]\nfield = \"modifications.basic\"\nstart = \"2024-01-01\"",
            "[incremental] cannot be used with list",
        ),
        (
            "list = \"everything\"\norder = \"business_id\"\nkey = \"business_id\"\nmax_offset = 1000",
            "",
            "max_offset in [query] cannot be used with list",
        ),
        (
            "order = \"name\"\nkey = \"business_id\"\nmax_offset = 1000",
            "",
            "max_offset in [query] needs order and key set to the same unique field",
        ),
        (
            "order = \"business_id\"\nkey = \"business_id\"\nmax_offset = -1",
            "",
            "max_offset in [query] must be at least 0, not -1",
        ),
    ];
    for (query, rest, want) in cases {
        let job = ws.job("bad", &job_text(base, "csv", query, "", rest));
        let out = ws.orgsync().args(["validate", job.to_str().unwrap()]).output().unwrap();
        let text = all_output(&out);
        assert_eq!(out.status.code(), Some(2), "{query}: {text}");
        assert!(text.contains(want), "{query}: {text}");
        assert!(text.contains("bad.toml:"), "names the file and line: {text}");
    }
}
