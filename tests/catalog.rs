//! The fields catalog through the real binary against the sandbox (issue
//! 13): misspelt fields and filter paths caught by `validate --online` and
//! by `run` before any page, with suggestions and file:line; a
//! permission-gated field; a catalog that cannot be had; `orgsync fields`;
//! catalog types in inference; exact `null_count`s in every format (and
//! across `--resume`); an empty column; schema drift between two runs.

mod common;

use std::path::Path;

use common::*;
use orgsync::sandbox::{GATED_FIELD, SandboxConfig};
use orgsync::schema::FieldPath;
use serde_json::Value;

fn code(out: &std::process::Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

/// The 1-based line of the first line of `file` containing `needle`.
fn line_of(file: &Path, needle: &str) -> usize {
    let text = std::fs::read_to_string(file).unwrap();
    text.lines().position(|l| l.contains(needle)).expect("needle in file") + 1
}

/// A job whose `fields` has a typo and whose filter names a path the API
/// does not have.
fn misspelt_job(base_url: &str) -> String {
    job_toml(base_url, "csv", &["business_id", "financial_data.revenu"], "").replace(
        "order = \"business_id\"",
        "order = \"business_id\"\nfilter = { \"?EQ\" = { \"legal_entiy\" = \"Oy\" } }",
    )
}

#[test]
fn validate_online_reports_every_misspelt_path_with_line_and_suggestion() {
    let sandbox = TestSandbox::with_records(50);
    let ws = Workspace::new();
    let job = ws.job("typo", &misspelt_job(&sandbox.base_url()));

    let offline = ws.orgsync().arg("validate").arg(&job).output().unwrap();
    assert_eq!(
        code(&offline),
        0,
        "offline validate cannot know: {}",
        all_output(&offline)
    );
    assert_eq!(sandbox.stats().catalog_requests, 0, "no network without --online");

    let out = ws.orgsync().args(["validate", "--online"]).arg(&job).output().unwrap();
    assert_eq!(code(&out), 2, "{}", all_output(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let file = job.display().to_string();
    let field_line = line_of(&job, "financial_data.revenu");
    let filter_line = line_of(&job, "legal_entiy");
    assert!(
        stdout.contains(&format!(
            "{file}:{field_line}: field in [query] fields \"financial_data.revenu\" is not in the API's fields catalog (did you mean \"financial_data.revenue\"?)"
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "{file}:{filter_line}: filter path \"legal_entiy\" is not in the API's fields catalog (did you mean \"legal_entity\"?)"
        )),
        "{stdout}"
    );
    let stats = sandbox.stats();
    assert_eq!(stats.catalog_requests, 1);
    assert_eq!(stats.organizations_requests, 0);
}

#[test]
fn run_stops_on_a_misspelt_field_before_any_page() {
    let sandbox = TestSandbox::with_records(50);
    let ws = Workspace::new();
    let job = ws.job(
        "typo",
        &job_toml(
            &sandbox.base_url(),
            "csv",
            &["business_id", "financial_data.revenu"],
            "",
        ),
    );
    let out = ws.orgsync().arg("run").arg(&job).output().unwrap();
    assert_eq!(code(&out), 2, "{}", all_output(&out));
    let text = all_output(&out);
    let line = line_of(&job, "financial_data.revenu");
    assert!(
        text.contains(&format!("{}:{line}:", job.display()))
            && text.contains("did you mean \"financial_data.revenue\"?"),
        "{text}"
    );
    assert!(text.contains("check_fields = false"), "says how to skip: {text}");
    let stats = sandbox.stats();
    assert_eq!(
        (
            stats.catalog_requests,
            stats.organizations_requests,
            stats.count_requests
        ),
        (1, 0, 0)
    );
    assert!(!ws.path().join("exports").exists(), "nothing written");
}

#[test]
fn run_stops_on_a_misspelt_filter_path_and_a_filter_on_a_field_that_cannot_be_filtered() {
    let sandbox = TestSandbox::with_records(50);
    let ws = Workspace::new();
    std::fs::create_dir_all(ws.path().join("jobs")).unwrap();
    let filter = ws.path().join("jobs/filter.json");
    std::fs::write(
        &filter,
        "{\"?ALL\": [\n  {\"?EQ\": {\"official_industries.cod\": \"62\"}},\n  {\"?EXISTS\": \"visiting_address.coordinates\"}\n]}\n",
    )
    .unwrap();
    let job = ws.job(
        "filt",
        &job_toml(&sandbox.base_url(), "csv", &["business_id"], "").replace(
            "order = \"business_id\"",
            "order = \"business_id\"\nfilter_file = \"filter.json\"",
        ),
    );
    let out = ws.orgsync().arg("run").arg(&job).output().unwrap();
    assert_eq!(code(&out), 2, "{}", all_output(&out));
    let text = all_output(&out);
    let f = filter.display().to_string();
    assert!(
        text.contains(&format!(
            "{f}:2: filter path \"official_industries.cod\" is not in the API's fields catalog (did you mean \"official_industries.code\"?)"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "{f}:3: filter path \"visiting_address.coordinates\" cannot be filtered on"
        )),
        "{text}"
    );
    assert_eq!(sandbox.stats().organizations_requests, 0, "zero pages fetched");
}

#[test]
fn a_permission_gated_field_is_a_warning_online_and_the_api_answers_403() {
    let sandbox = TestSandbox::with_records(50);
    let ws = Workspace::new();
    let job = ws.job(
        "gated",
        &job_toml(&sandbox.base_url(), "csv", &["business_id", GATED_FIELD], ""),
    );
    let out = ws.orgsync().args(["validate", "--online"]).arg(&job).output().unwrap();
    assert_eq!(code(&out), 0, "a warning, not a problem: {}", all_output(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = line_of(&job, GATED_FIELD);
    assert!(
        stdout.contains(&format!(
            "{}:{line}: warning: field in [query] fields \"{GATED_FIELD}\" needs the permission contacts",
            job.display()
        )),
        "{stdout}"
    );

    let run = ws.orgsync().arg("run").arg(&job).output().unwrap();
    assert_eq!(code(&run), 4, "{}", all_output(&run));
    let text = all_output(&run);
    assert!(text.contains("needs the permission contacts"), "warned first: {text}");
    assert!(
        text.contains(&format!("Insufficient permissions for fields: {GATED_FIELD}")),
        "{text}"
    );
}

#[test]
fn without_a_catalog_run_warns_once_and_writes_the_exact_snapshot_and_validate_online_fails() {
    let sandbox = TestSandbox::start(SandboxConfig {
        records: 250,
        no_catalog: true,
        ..SandboxConfig::default()
    });
    let ws = Workspace::new();
    let fields = ["business_id", "name", "founded"];
    let job = ws.job("nocat", &job_toml(&sandbox.base_url(), "csv", &fields, ""));
    let out = ws.orgsync().arg("run").arg(&job).output().unwrap();
    assert_eq!(code(&out), 0, "{}", all_output(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.matches("fields catalog unavailable").count(), 1, "{stderr}");
    assert!(stderr.contains("404"), "{stderr}");
    let expected = expected_rows(&sandbox.dataset(), "FI", &fields, |_| true);
    let (header, rows) = read_csv(&ws.path().join("exports/nocat"));
    assert_eq!(header, ["business_id", "name", "founded"]);
    let want: Vec<Vec<String>> = expected.iter().map(|r| r.iter().map(csv_text).collect()).collect();
    assert_eq!(rows, want, "every record, every field");
    assert_eq!(sandbox.stats().catalog_requests, 1, "asked once, not retried on a 404");

    let online = ws.orgsync().args(["validate", "--online"]).arg(&job).output().unwrap();
    assert_eq!(
        code(&online),
        4,
        "asked to check online, it could not: {}",
        all_output(&online)
    );
    assert!(
        all_output(&online).contains("cannot get the API's fields catalog"),
        "{}",
        all_output(&online)
    );
}

#[test]
fn fields_prints_the_catalog_as_a_table_and_as_json() {
    let ws = Workspace::new();
    let out = ws
        .orgsync()
        .args(["fields", "--sandbox", "--search", "REVENUE"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", all_output(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines,
        [
            "PATH                    TYPE     FILTERABLE  RETURNABLE  PERMISSION",
            "financial_data.revenue  integer  yes         yes         -",
        ]
    );

    let sandbox = TestSandbox::with_records(10);
    let job = ws.job("f", &job_toml(&sandbox.base_url(), "csv", &["business_id"], ""));
    let json = ws
        .orgsync()
        .args(["fields", "--json", "--database", "SE"])
        .arg(&job)
        .output()
        .unwrap();
    assert_eq!(code(&json), 0, "{}", all_output(&json));
    let entries: Vec<Value> = serde_json::from_slice(&json.stdout).expect("--json prints JSON");
    let paths: Vec<&str> = entries
        .iter()
        .map(|e| e["api"]["v3"]["path"].as_str().unwrap())
        .collect();
    assert!(
        paths.contains(&"business_id") && paths.contains(&GATED_FIELD),
        "{paths:?}"
    );
    let gated = entries.iter().find(|e| e["api"]["v3"]["path"] == GATED_FIELD).unwrap();
    assert_eq!(gated["requires_permission"], serde_json::json!(["contacts"]));
    assert_eq!(sandbox.stats().catalog_requests, 1);

    let table = ws.orgsync().args(["fields"]).arg(&job).output().unwrap();
    let text = String::from_utf8_lossy(&table.stdout);
    assert_eq!(
        text.lines().count(),
        entries.len() + 1,
        "a header and one row per field: {text}"
    );
    assert!(
        text.lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == [GATED_FIELD, "string", "no", "yes", "contacts"]),
        "{text}"
    );
}

/// Records with no `founded` at all: the first page says nothing of its type.
fn no_founded_job(base_url: &str, extra: &str) -> String {
    job_toml(
        base_url,
        "jsonl",
        &["business_id", "founded", "financial_data.profit"],
        extra,
    )
    .replace(
        "order = \"business_id\"",
        "order = \"business_id\"\nfilter = { \"?NOT\" = { \"?EXISTS\" = \"founded\" } }",
    )
}

#[test]
fn inference_takes_types_from_the_catalog_and_the_first_page_only_without_one() {
    let sandbox = TestSandbox::with_records(300);
    let ws = Workspace::new();
    let job = ws.job("types", &no_founded_job(&sandbox.base_url(), ""));
    let out = ws.orgsync().arg("run").arg(&job).output().unwrap();
    assert_eq!(code(&out), 0, "{}", all_output(&out));
    let want = |founded: &str| {
        vec![
            ("business_id".to_string(), "string".to_string()),
            ("founded".to_string(), founded.to_string()),
            ("financial_data_profit".to_string(), "int64".to_string()),
        ]
    };
    assert_eq!(
        manifest_types(&ws.path().join("exports/types")),
        want("date"),
        "the catalog's date"
    );

    let infer = ws.orgsync().args(["schema", "infer"]).arg(&job).output().unwrap();
    assert_eq!(code(&infer), 0, "{}", all_output(&infer));
    let text = String::from_utf8_lossy(&infer.stdout);
    assert!(
        text.contains("# Types from the API's fields catalog: business_id, founded, financial_data_profit"),
        "{text}"
    );
    assert!(text.contains("path = \"founded\"\ntype = \"date\""), "{text}");

    // Without the catalog the first page decides: all null there, so string.
    let job = ws.job(
        "types",
        &no_founded_job(&sandbox.base_url(), "")
            .replace("[output]", "[output]\npath = \"exports/sample\"")
            .replace("path = \"exports/{job}\"\n", "")
            .replace(
                "order = \"business_id\"",
                "order = \"business_id\"\ncheck_fields = false",
            ),
    );
    let out = ws.orgsync().arg("run").arg(&job).output().unwrap();
    assert_eq!(code(&out), 0, "{}", all_output(&out));
    assert_eq!(manifest_types(&ws.path().join("exports/sample")), want("string"));
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
