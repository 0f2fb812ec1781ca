//! End-to-end exports through the real binary against the sandbox: every
//! requested field of every written row is compared with the sandbox's
//! data set, for CSV and JSON Lines, through each response shape and
//! client-auth mode.

mod common;

use common::*;
use orgsync::sandbox::{Envelope, SandboxConfig};
use serde_json::Value;

/// Fields of every kind: text with commas/quotes/newlines, dates, numbers,
/// a nested object, lists through objects, lists of numbers, timestamps.
const FIELDS: &[&str] = &[
    "business_id",
    "name",
    "founded",
    "legal_entity",
    "financial_data.revenue",
    "financial_data",
    "official_industries.code",
    "visiting_address.coordinates",
    "technology_data",
    "modifications.basic",
];

fn column_names(fields: &[&str]) -> Vec<String> {
    fields.iter().map(|f| f.replace('.', "_")).collect()
}

/// The types a schema-less run infers for the sandbox's fields.
fn inferred_type(field: &str) -> &'static str {
    match field {
        "founded" => "date",
        "financial_data.revenue" => "int64",
        "financial_data" | "technology_data" => "json",
        "official_industries.code" => "list<string>",
        "visiting_address.coordinates" => "list<float64>",
        "modifications.basic" => "timestamp",
        _ => "string",
    }
}

fn assert_inferred_types(snapshot: &std::path::Path, fields: &[&str]) -> Vec<String> {
    let types = manifest_types(snapshot);
    let want: Vec<(String, String)> = fields
        .iter()
        .map(|f| (f.replace('.', "_"), inferred_type(f).to_string()))
        .collect();
    assert_eq!(
        types, want,
        "types inferred from the first page, recorded in the manifest"
    );
    types.into_iter().map(|(_, t)| t).collect()
}

fn assert_csv_matches(snapshot: &std::path::Path, expected: &[Vec<Value>], fields: &[&str]) {
    let types = assert_inferred_types(snapshot, fields);
    let (header, rows) = read_csv(snapshot);
    assert_eq!(header, column_names(fields));
    assert_eq!(rows.len(), expected.len(), "row count");
    for (i, (row, want)) in rows.iter().zip(expected).enumerate() {
        for (j, field) in fields.iter().enumerate() {
            assert_eq!(row[j], csv_text(&typed(&want[j], &types[j])), "row {i}, field {field}");
        }
    }
}

fn assert_jsonl_matches(snapshot: &std::path::Path, expected: &[Vec<Value>], fields: &[&str]) {
    let types = assert_inferred_types(snapshot, fields);
    let rows = read_jsonl(snapshot);
    assert_eq!(rows.len(), expected.len(), "row count");
    let names = column_names(fields);
    for (i, (row, want)) in rows.iter().zip(expected).enumerate() {
        let keys: Vec<&String> = row.keys().collect();
        assert_eq!(keys, names.iter().collect::<Vec<_>>(), "row {i}: keys in column order");
        for (j, name) in names.iter().enumerate() {
            assert_eq!(row[name], typed(&want[j], &types[j]), "row {i}, field {}", fields[j]);
        }
    }
}

#[test]
fn csv_export_matches_the_data_set_record_by_record() {
    let sandbox = TestSandbox::with_records(250);
    let ws = Workspace::new();
    let job = ws.job("all", &job_toml(&sandbox.base_url(), "csv", FIELDS, ""));
    let out = ws.orgsync().args(["run"]).arg(&job).output().unwrap();
    assert!(out.status.success(), "{}", all_output(&out));
    let snapshot = ws.path().join("exports/all");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&format!("-> {} (", snapshot.display())),
        "stdout says where"
    );
    let expected = expected_rows(&sandbox.dataset(), "FI", FIELDS, |_| true);
    assert_eq!(expected.len(), 250);
    assert_csv_matches(&snapshot, &expected, FIELDS);
    // The data set really has the hard cases this test claims to cover.
    let names: Vec<String> = expected.iter().map(|r| csv_text(&r[1])).collect();
    assert!(names.iter().any(|n| n.contains(',')), "a name with a comma");
    assert!(names.iter().any(|n| n.contains('"')), "a name with a quote");
    assert!(names.iter().any(|n| n.contains('\n')), "a name with a newline");
    assert!(names.iter().any(|n| !n.is_ascii()), "a non-ASCII name");
    assert!(expected.iter().any(|r| r[4].is_null()), "a null revenue");
}

#[test]
fn jsonl_export_matches_the_data_set_record_by_record() {
    let sandbox = TestSandbox::with_records(230);
    let ws = Workspace::new();
    let job = ws.job("all", &job_toml(&sandbox.base_url(), "jsonl", FIELDS, ""));
    let out = ws.orgsync().arg("run").arg(&job).output().unwrap();
    assert!(out.status.success(), "{}", all_output(&out));
    let expected = expected_rows(&sandbox.dataset(), "FI", FIELDS, |_| true);
    assert_jsonl_matches(&ws.path().join("exports/all"), &expected, FIELDS);
}

#[test]
fn a_filtered_export_holds_exactly_the_matching_records() {
    let sandbox = TestSandbox::with_records(400);
    let ws = Workspace::new();
    let fields = ["business_id", "financial_data.revenue"];
    let mut toml = job_toml(&sandbox.base_url(), "csv", &fields, "");
    toml = toml.replace(
        "order = \"business_id\"",
        "order = \"business_id\"\nfilter = { \"?GTE\" = { \"financial_data.revenue\" = 1000000 } }",
    );
    let job = ws.job("rich", &toml);
    let out = ws.orgsync().arg("run").arg(&job).output().unwrap();
    assert!(out.status.success(), "{}", all_output(&out));
    let rich = |r: &Value| {
        r.pointer("/financial_data/revenue")
            .and_then(Value::as_i64)
            .is_some_and(|v| v >= 1_000_000)
    };
    let expected = expected_rows(&sandbox.dataset(), "FI", &fields, rich);
    assert!(
        !expected.is_empty() && expected.len() < 400,
        "the filter selects some: {}",
        expected.len()
    );
    assert_csv_matches(&ws.path().join("exports/rich"), &expected, &fields);
}

#[test]
fn records_auto_reads_bare_arrays_and_both_envelopes() {
    for envelope in [Envelope::Bare, Envelope::Result, Envelope::Results] {
        let sandbox = TestSandbox::start(SandboxConfig {
            records: 120,
            envelope,
            ..SandboxConfig::default()
        });
        let ws = Workspace::new();
        let fields = ["business_id", "name"];
        let job = ws.job("env", &job_toml(&sandbox.base_url(), "jsonl", &fields, ""));
        let out = ws.orgsync().arg("run").arg(&job).output().unwrap();
        assert!(out.status.success(), "{envelope:?}: {}", all_output(&out));
        let expected = expected_rows(&sandbox.dataset(), "FI", &fields, |_| true);
        assert_jsonl_matches(&ws.path().join("exports/env"), &expected, &fields);
    }
}

#[test]
fn basic_client_auth_gets_the_same_snapshot() {
    let sandbox = TestSandbox::with_records(50);
    let ws = Workspace::new();
    let fields = ["business_id", "name"];
    let toml = job_toml(&sandbox.base_url(), "csv", &fields, "").replace(
        "client_secret = \"${VAINU_CLIENT_SECRET}\"",
        "client_secret = \"${VAINU_CLIENT_SECRET}\"\nclient_auth = \"basic\"",
    );
    let job = ws.job("basic", &toml);
    let out = ws.orgsync().arg("run").arg(&job).output().unwrap();
    assert!(out.status.success(), "{}", all_output(&out));
    let expected = expected_rows(&sandbox.dataset(), "FI", &fields, |_| true);
    assert_csv_matches(&ws.path().join("exports/basic"), &expected, &fields);
    assert_eq!(sandbox.stats().token_requests, 1, "one token for the run");
}

#[test]
fn the_snapshot_folder_has_parts_manifest_and_success_and_nothing_else() {
    let sandbox = TestSandbox::with_records(250);
    let ws = Workspace::new();
    let fields = ["business_id", "name"];
    let toml = job_toml(&sandbox.base_url(), "csv", &fields, "rows_per_file = 100");
    let job = ws.job("snap", &toml);
    let out = ws.orgsync().arg("run").arg(&job).output().unwrap();
    assert!(out.status.success(), "{}", all_output(&out));
    let exports = ws.path().join("exports");
    assert_eq!(
        ws.tree(&exports),
        vec![
            "exports/snap/_SUCCESS",
            "exports/snap/_manifest.json",
            "exports/snap/part-00000.csv",
            "exports/snap/part-00001.csv",
            "exports/snap/part-00002.csv",
        ],
        "no temporary folder left beside the snapshot"
    );
    let m = manifest(&exports.join("snap"));
    assert_eq!(m["job"], "snap");
    assert_eq!(m["records"], 250);
    assert_eq!(m["expected_records"], 250);
    assert_eq!(m["duplicates_dropped"], 0);
    assert_eq!(m["api"]["database"], "FI");
    assert_eq!(m["api"]["path"], "/api/v3/organizations/");
    assert_eq!(m["request"]["body"]["fields"], serde_json::json!(fields));
    assert_eq!(m["request"]["body"]["order"], "business_id");
    assert!(
        m["request"]["body"].get("offset").is_none(),
        "the body recorded is the job's, not a page's"
    );
    let body_text = m["request"]["body"].to_string();
    let sha = sha256_hex(body_text.as_bytes());
    assert_eq!(m["request"]["sha256"], sha);
    let run_id = m["run_id"].as_str().unwrap();
    assert_eq!(run_id.len(), "20261122T043000Z-abcdef".len(), "{run_id}");
    let files = m["files"].as_array().unwrap();
    assert_eq!(
        files.iter().map(|f| f["records"].as_u64().unwrap()).collect::<Vec<_>>(),
        vec![100, 100, 50]
    );
    for f in files {
        let bytes = std::fs::read(exports.join("snap").join(f["name"].as_str().unwrap())).unwrap();
        assert_eq!(f["bytes"], bytes.len() as u64);
        assert_eq!(f["sha256"], sha256_hex(&bytes));
    }
    let schema: Vec<&str> = m["schema"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(schema, vec!["business_id", "name"]);
    assert_eq!(m["stats"]["token_requests"], 1);
    // 1 fields catalog + 1 count + 3 pages (the last one short).
    assert_eq!(m["stats"]["requests"], 5);
    assert!(m["started_at"].as_str().unwrap() <= m["finished_at"].as_str().unwrap());
    assert_eq!(std::fs::read(exports.join("snap/_SUCCESS")).unwrap(), b"");
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn max_records_stops_after_n_records() {
    let sandbox = TestSandbox::with_records(500);
    let ws = Workspace::new();
    let fields = ["business_id"];
    let job = ws.job("some", &job_toml(&sandbox.base_url(), "csv", &fields, ""));
    let out = ws
        .orgsync()
        .args(["run", "--max-records", "150"])
        .arg(&job)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", all_output(&out));
    let mut expected = expected_rows(&sandbox.dataset(), "FI", &fields, |_| true);
    expected.truncate(150);
    assert_csv_matches(&ws.path().join("exports/some"), &expected, &fields);
    assert_eq!(
        sandbox.stats().organizations_requests,
        2,
        "pages of 100 and 50, nothing past"
    );
}

#[test]
fn dry_run_authenticates_and_counts_and_writes_nothing() {
    let sandbox = TestSandbox::with_records(321);
    let ws = Workspace::new();
    let job = ws.job("dry", &job_toml(&sandbox.base_url(), "csv", &["business_id"], ""));
    let out = ws.orgsync().args(["run", "--dry-run"]).arg(&job).output().unwrap();
    assert!(out.status.success(), "{}", all_output(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("321 records"),
        "{}",
        all_output(&out)
    );
    assert!(!ws.path().join("exports").exists(), "nothing written");
    let stats = sandbox.stats();
    assert_eq!(
        (stats.token_requests, stats.count_requests, stats.organizations_requests),
        (1, 1, 0)
    );
}

#[test]
fn a_folder_of_jobs_runs_each_and_reports_each() {
    let sandbox = TestSandbox::with_records(60);
    let ws = Workspace::new();
    ws.job("one", &job_toml(&sandbox.base_url(), "csv", &["business_id"], ""));
    ws.job("two", &job_toml(&sandbox.base_url(), "jsonl", &["name"], ""));
    let out = ws.orgsync().args(["run", "jobs"]).output().unwrap();
    assert!(out.status.success(), "{}", all_output(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.lines().any(|l| l.starts_with("one: 60 records")), "{stdout}");
    assert!(stdout.lines().any(|l| l.starts_with("two: 60 records")), "{stdout}");
    assert_eq!(read_csv(&ws.path().join("exports/one")).1.len(), 60);
    assert_eq!(read_jsonl(&ws.path().join("exports/two")).len(), 60);
}

#[test]
fn run_sandbox_needs_no_credentials_in_the_environment() {
    let ws = Workspace::new();
    let fields = ["business_id", "name", "official_industries.code"];
    // Credentials refer to variables that are not set: --sandbox ignores them.
    let toml = job_toml("https://api.vainu.io", "jsonl", &fields, "");
    let job = ws.job("sbx", &toml);
    let out = ws
        .orgsync()
        .env_remove("VAINU_CLIENT_ID")
        .env_remove("VAINU_CLIENT_SECRET")
        .args(["run", "--sandbox", "--out-dir", "o"])
        .arg(&job)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", all_output(&out));
    let defaults = orgsync::sandbox::SandboxConfig::default();
    let data = orgsync::sandbox::Dataset::new(defaults.seed, defaults.records);
    let expected = expected_rows(&data, "FI", &fields, |_| true);
    assert_jsonl_matches(&ws.path().join("o/exports/sbx"), &expected, &fields);
}

#[test]
fn json_logs_are_json_lines_and_quiet_is_quiet() {
    let sandbox = TestSandbox::with_records(10);
    let ws = Workspace::new();
    let job = ws.job("logs", &job_toml(&sandbox.base_url(), "csv", &["business_id"], ""));
    let out = ws
        .orgsync()
        .args(["run", "--log-format", "json", "--overwrite"])
        .arg(&job)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", all_output(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.lines().count() >= 2, "{stderr}");
    for line in stderr.lines() {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}"));
        assert!(v.get("level").is_some() && v.get("message").is_some(), "{line}");
    }
    let out = ws
        .orgsync()
        .args(["run", "-q", "--overwrite"])
        .arg(&job)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", all_output(&out));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "", "-q prints no logs");
}

#[test]
fn a_progress_bar_only_on_a_terminal_or_when_asked_and_the_summary_on_stdout() {
    let sandbox = TestSandbox::with_records(300);
    let ws = Workspace::new();
    let job = ws.job("bar", &job_toml(&sandbox.base_url(), "csv", &["business_id"], ""));
    let bar_lines = |out: &std::process::Output| {
        String::from_utf8_lossy(&out.stderr)
            .split(['\r', '\n'])
            .filter(|l| l.contains("records, ") && l.contains(" pages"))
            .count()
    };
    // stderr is a pipe here, not a terminal: auto shows nothing, never nothing.
    for flags in [&["--progress", "auto"][..], &["--progress", "never"], &[]] {
        let out = ws
            .orgsync()
            .args(["run", "--overwrite"])
            .args(flags)
            .arg(&job)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", all_output(&out));
        assert_eq!(
            bar_lines(&out),
            0,
            "{flags:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = ws
        .orgsync()
        .args(["run", "--overwrite", "--progress", "always"])
        .arg(&job)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", all_output(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(bar_lines(&out) >= 1, "{stderr}");
    assert!(stderr.contains("/300 records"), "the total from the count: {stderr}");
    assert!(stderr.contains("ETA"), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.starts_with("bar: 300 records -> ")
            && stdout.contains("files")
            && stdout.contains("bytes")
            && stdout.contains("retries")
            && stdout.contains("throttled"),
        "one summary line per job: {stdout}"
    );
    let out = ws
        .orgsync()
        .args(["-q", "run", "--overwrite", "--progress", "always"])
        .arg(&job)
        .output()
        .unwrap();
    assert_eq!(bar_lines(&out), 0, "-q shows no bar");
}
