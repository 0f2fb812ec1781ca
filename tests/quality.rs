//! What a snapshot says about its data, through the real binary against
//! the sandbox (issue 13): exact `null_count`s compared with the sandbox's
//! data set in every format and across `--resume`, a column null in every
//! record (`empty_columns`), and schema drift between two runs.

mod common;

use std::path::Path;

use common::*;
use orgsync::sandbox::SandboxConfig;
use orgsync::schema::FieldPath;
use serde_json::Value;

fn code(out: &std::process::Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

/// `null_count` of each column of a manifest, by column name.
fn null_counts(snapshot: &Path) -> Vec<(String, u64)> {
    manifest(snapshot)["schema"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_string(),
                c["null_count"].as_u64().expect("null_count"),
            )
        })
        .collect()
}

/// Records of the data set where each path is null or missing.
fn expected_nulls(sandbox: &TestSandbox, fields: &[&str]) -> Vec<(String, u64)> {
    let data = sandbox.dataset();
    fields
        .iter()
        .map(|f| {
            let path = FieldPath::parse(f);
            let n = (0..data.len())
                .filter(|&i| path.extract(&data.record("FI", i)).is_null())
                .count();
            (f.replace('.', "_"), n as u64)
        })
        .collect()
}

const NULLABLE: &[&str] = &[
    "business_id",
    "founded",
    "financial_data",
    "financial_data.revenue",
    "financial_data.profit",
    "official_industries.code",
    "visiting_address.coordinates",
    "visiting_address.city",
];

#[test]
fn null_counts_match_the_data_set_in_every_format() {
    let sandbox = TestSandbox::with_records(700);
    let want = expected_nulls(&sandbox, NULLABLE);
    assert!(
        want.iter().filter(|(_, n)| *n > 0).count() >= 5,
        "the data set has nulls: {want:?}"
    );
    for format in ["csv", "jsonl", "parquet"] {
        let ws = Workspace::new();
        let job = ws.job(
            "n",
            &job_toml(&sandbox.base_url(), format, NULLABLE, "rows_per_file = 250"),
        );
        let out = ws.orgsync().arg("run").arg(&job).output().unwrap();
        assert_eq!(code(&out), 0, "{format}: {}", all_output(&out));
        let snapshot = ws.path().join("exports/n");
        assert_eq!(null_counts(&snapshot), want, "{format}");
        assert_eq!(manifest(&snapshot)["empty_columns"], serde_json::json!([]), "{format}");
    }
}

#[test]
fn null_counts_stay_exact_across_resume() {
    // Four pages answer, then the API is down: three parts of 130 finished.
    let down = TestSandbox::start(SandboxConfig {
        records: 700,
        fail_after: Some(4),
        ..SandboxConfig::default()
    });
    let ws = Workspace::new();
    // One page in flight, so the pages that answer are exactly offsets 0..400.
    let extra = "rows_per_file = 130\n\n[rate_limit]\nrequests_per_second = 1000.0\nconcurrency = 1\n\n\
                 [retry]\nmax_attempts = 2\ninitial_delay_ms = 10\n";
    let job = ws.job("r", &job_toml(&down.base_url(), "jsonl", NULLABLE, extra));
    let out = ws.orgsync().arg("run").arg(&job).output().unwrap();
    assert_eq!(code(&out), 1, "{}", all_output(&out));
    let cp: Value = serde_json::from_str(
        &std::fs::read_to_string(ws.path().join("exports/.r.orgsync-tmp/_checkpoint.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(cp["records"], 390);
    assert!(
        cp["null_counts"]["founded"].as_u64().is_some(),
        "the checkpoint carries null counts: {cp}"
    );

    let up = TestSandbox::with_records(700);
    ws.job("r", &job_toml(&up.base_url(), "jsonl", NULLABLE, extra));
    let out = ws.orgsync().args(["run", "--resume"]).arg(&job).output().unwrap();
    assert_eq!(code(&out), 0, "{}", all_output(&out));
    assert_eq!(null_counts(&ws.path().join("exports/r")), expected_nulls(&up, NULLABLE));
}

#[test]
fn a_column_null_in_every_record_is_warned_about_and_listed() {
    let sandbox = TestSandbox::with_records(120);
    let ws = Workspace::new();
    let job = ws.job(
        "empty",
        &job_toml(
            &sandbox.base_url(),
            "csv",
            &["business_id", "financial_data.revenu"],
            "",
        )
        .replace(
            "order = \"business_id\"",
            "order = \"business_id\"\ncheck_fields = false",
        ),
    );
    let out = ws.orgsync().arg("run").arg(&job).output().unwrap();
    assert_eq!(code(&out), 0, "{}", all_output(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("financial_data_revenu") && stderr.contains("may be misspelt or need a permission"),
        "{stderr}"
    );
    let m = manifest(&ws.path().join("exports/empty"));
    assert_eq!(m["empty_columns"], serde_json::json!(["financial_data_revenu"]));
    assert_eq!(
        null_counts(&ws.path().join("exports/empty"))[1],
        ("financial_data_revenu".into(), 120)
    );
    assert_eq!(
        sandbox.stats().catalog_requests,
        0,
        "check_fields = false: no catalog request"
    );

    // Under 100 records an all-null column is not reported.
    let small = TestSandbox::with_records(99);
    let job = ws.job(
        "empty",
        &job_toml(&small.base_url(), "csv", &["business_id", "financial_data.revenu"], "").replace(
            "order = \"business_id\"",
            "order = \"business_id\"\ncheck_fields = false",
        ),
    );
    let out = ws.orgsync().args(["run", "--overwrite"]).arg(&job).output().unwrap();
    assert_eq!(code(&out), 0, "{}", all_output(&out));
    assert_eq!(
        manifest(&ws.path().join("exports/empty"))["empty_columns"],
        serde_json::json!([])
    );
}

#[test]
fn schema_drift_between_two_runs_is_warned_about_and_recorded() {
    let sandbox = TestSandbox::with_records(40);
    let ws = Workspace::new();
    let first = job_toml(
        &sandbox.base_url(),
        "csv",
        &["business_id", "founded", "legal_entity"],
        "",
    );
    let job = ws.job("drift", &first);
    let out = ws.orgsync().arg("run").arg(&job).output().unwrap();
    assert_eq!(code(&out), 0, "{}", all_output(&out));
    assert_eq!(
        manifest(&ws.path().join("exports/drift"))["schema_changes"],
        serde_json::json!([])
    );
    let state: Value =
        serde_json::from_str(&std::fs::read_to_string(ws.path().join(".orgsync/state/drift.json")).unwrap()).unwrap();
    assert_eq!(
        state["schema"][1]["type"], "date",
        "the state keeps the schema: {state}"
    );

    // Second run: founded pinned as a string, legal_entity gone, name new.
    std::fs::create_dir_all(ws.path().join("schemas")).unwrap();
    std::fs::write(
        ws.path().join("schemas/drift.toml"),
        "[[columns]]\nname = \"business_id\"\ntype = \"string\"\n\n[[columns]]\nname = \"founded\"\ntype = \"string\"\n\n[[columns]]\nname = \"name\"\ntype = \"string\"\n",
    )
    .unwrap();
    let second = job_toml(
        &sandbox.base_url(),
        "csv",
        &["business_id", "founded", "name"],
        "schema = \"../schemas/drift.toml\"",
    );
    ws.job("drift", &second);
    let out = ws.orgsync().args(["run", "--overwrite"]).arg(&job).output().unwrap();
    assert_eq!(code(&out), 0, "{}", all_output(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("the schema differs from the last successful run's")
            && stderr.contains("founded (date -> string), legal_entity (removed, string), name (added, string)"),
        "{stderr}"
    );
    assert_eq!(
        manifest(&ws.path().join("exports/drift"))["schema_changes"],
        serde_json::json!([
            {"column": "founded", "change": "type_changed", "from": "date", "to": "string"},
            {"column": "legal_entity", "change": "removed", "from": "string"},
            {"column": "name", "change": "added", "to": "string"},
        ])
    );
}
