//! The fields catalog through the real binary against the sandbox (issue
//! 13): misspelt fields and filter paths caught by `validate --online` and
//! by `run` before any page, with suggestions and file:line; a
//! permission-gated field; a catalog that cannot be had; `orgsync fields`;
//! catalog types in inference. Null counts, empty columns and schema drift
//! are in `quality.rs`.

mod common;

use std::path::Path;

use common::*;
use orgsync::sandbox::{GATED_FIELD, SandboxConfig};
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
