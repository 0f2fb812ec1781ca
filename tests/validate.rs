//! `orgsync validate` through the real binary: the repository's example
//! jobs pass; a bad file gets every problem at once, each with file:line.

mod common;

use common::*;

#[test]
fn the_example_jobs_validate() {
    let jobs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("jobs");
    let ws = Workspace::new();
    let out = ws.orgsync().arg("validate").arg(&jobs).output().unwrap();
    assert!(out.status.success(), "{}", all_output(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.lines().count() >= 2, "one line per job: {stdout}");
    assert!(stdout.lines().all(|l| l.starts_with("ok: ")), "{stdout}");
}

#[test]
fn every_problem_of_a_file_is_reported_at_once_with_its_line() {
    let ws = Workspace::new();
    ws.job(
        "bad",
        r#"name = "bad"

[api]
base_url = "https://api.vainu.io"

[auth]
client_id = "${VAINU_CLIENT_ID}"
client_secret = "${NOT_SET_ANYWHERE}"

[query]
database = "FI"
fields = ["business_id"]
page_sise = 100

[output]
format = "parqet"
"#,
    );
    ws.job("good", &job_toml("https://api.vainu.io", "csv", &["business_id"], ""));
    let out = ws.orgsync().args(["validate", "jobs"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", all_output(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let file = "jobs/bad.toml";
    let line_of = |needle: &str| {
        stdout
            .lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no line with {needle:?} in:\n{stdout}"))
            .to_string()
    };
    assert!(
        line_of("NOT_SET_ANYWHERE").starts_with(&format!("{file}:8:")),
        "{stdout}"
    );
    let typo = line_of("page_sise");
    assert!(
        typo.starts_with(&format!("{file}:13:")) && typo.contains("page_size"),
        "{typo}"
    );
    let format = line_of("parqet");
    assert!(
        format.starts_with(&format!("{file}:16:")) && format.contains("parquet"),
        "{format}"
    );
    assert!(
        stdout.lines().any(|l| l.starts_with("ok: ") && l.contains("good.toml")),
        "{stdout}"
    );
}

#[test]
fn validate_needs_no_network_and_a_missing_path_is_exit_2() {
    let ws = Workspace::new();
    let out = ws.orgsync().args(["validate", "no/such/job.toml"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", all_output(&out));
    assert!(all_output(&out).contains("no/such/job.toml"));
}
