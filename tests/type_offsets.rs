//! A value that does not fit its column is reported with its record's API
//! offset, not its index in the snapshot, through the real binary against
//! the sandbox, in every path that writes records: pages to a local folder
//! (`on_type_error = "fail"`: the error; `"null"`: the one warning per
//! column), export mode (the record's line in the download) and an `s3://`
//! target (moto, as tests/s3.rs). The two differ once a duplicate was
//! dropped earlier in the run: the job de-duplicates by `legal_entity`
//! (a handful of values, so most records are dropped) and types `founded`
//! (a date text, or null) as int64; the data set's seed is chosen so that
//! the first kept record is null there and the next kept one, after some
//! dropped duplicates, is the first that does not fit.
//! Regression: the error said `record <snapshot index>`.

mod common;
#[path = "s3/moto.rs"]
mod moto;

use std::collections::HashSet;
use std::time::Duration;

use common::*;
use orgsync::sandbox::{Dataset, ExportKnobs, SandboxConfig};

const RECORDS: u64 = 300;

/// The first kept record (by `legal_entity`) with a `founded` value of
/// `data`: its API offset and its index among the kept records.
fn first_misfit(data: &Dataset) -> Option<(u64, u64)> {
    let mut seen = HashSet::new();
    let mut kept = 0;
    for i in 0..data.len() {
        let record = data.record("FI", i);
        if !seen.insert(record["legal_entity"].to_string()) {
            continue;
        }
        if !record["founded"].is_null() {
            return Some((i, kept));
        }
        kept += 1;
    }
    None
}

/// A sandbox whose first misfit comes after dropped duplicates, with its
/// API offset.
fn sandbox() -> (TestSandbox, u64) {
    let (seed, offset) = (0..10_000)
        .find_map(|seed| match first_misfit(&Dataset::new(seed, RECORDS)) {
            Some((offset, index)) if offset != index => Some((seed, offset)),
            _ => None,
        })
        .expect("a seed whose first misfit follows a dropped duplicate");
    let sandbox = TestSandbox::start(SandboxConfig {
        records: RECORDS,
        seed,
        export: ExportKnobs {
            duration: Duration::from_millis(200),
            ..ExportKnobs::default()
        },
        ..SandboxConfig::default()
    });
    (sandbox, offset)
}

/// The job: pages or export, `on_type_error` as given, into `path`.
fn job(ws: &Workspace, base_url: &str, mode: &str, policy: &str, path: &str) -> std::path::PathBuf {
    let schema = ws.path().join(format!("{mode}-{policy}.toml"));
    std::fs::write(
        &schema,
        format!(
            "on_type_error = \"{policy}\"\n\n[[columns]]\nname = \"business_id\"\ntype = \"string\"\n\n\
             [[columns]]\nname = \"legal_entity\"\ntype = \"string\"\n\n\
             [[columns]]\nname = \"founded_n\"\npath = \"founded\"\ntype = \"int64\"\n"
        ),
    )
    .unwrap();
    let toml = job_toml(
        base_url,
        "csv",
        &["business_id", "legal_entity", "founded"],
        &format!("schema = {schema:?}\n\n[export]\npoll_secs = 1\n"),
    )
    .replace(
        "order = \"business_id\"",
        &format!("order = \"business_id\"\nkey = \"legal_entity\"\nmode = \"{mode}\""),
    )
    .replace("path = \"exports/{job}\"", &format!("path = \"{path}\""));
    ws.job(&format!("{mode}_{policy}"), &toml)
}

/// The one-line error of a failed run.
fn error_line(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .find(|l| l.starts_with("orgsync: "))
        .unwrap_or_else(|| panic!("no error line: {}", all_output(out)))
        .to_string()
}

fn assert_names_offset(line: &str, offset: u64) {
    assert!(
        line.contains(&format!("offset {offset},")),
        "the API offset {offset}: {line}"
    );
    assert!(line.contains("founded_n"), "the column: {line}");
}

#[test]
fn a_type_error_names_the_api_offset_in_pages_and_export_mode() {
    let (sandbox, offset) = sandbox();
    let ws = Workspace::new();
    for mode in ["pages", "export"] {
        let job = job(&ws, &sandbox.base_url(), mode, "fail", "exports/{job}");
        let out = ws.orgsync().arg("run").arg(&job).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{mode}: {}", all_output(&out));
        assert_names_offset(&error_line(&out), offset);
    }
}

#[test]
fn the_null_policy_warns_with_the_api_offset() {
    let (sandbox, offset) = sandbox();
    let ws = Workspace::new();
    let job = job(&ws, &sandbox.base_url(), "pages", "null", "exports/{job}");
    let out = ws.orgsync().arg("run").arg(&job).output().unwrap();
    assert!(out.status.success(), "{}", all_output(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("founded_n") && l.contains("does not fit"))
        .collect();
    assert_eq!(warnings.len(), 1, "once per column: {stderr}");
    assert!(
        warnings[0].contains(&format!("offset={offset} ")),
        "the API offset {offset}: {}",
        warnings[0]
    );
}

#[test]
fn a_bucket_target_names_the_api_offset() {
    let moto = moto::Moto::start();
    let (sandbox, offset) = sandbox();
    let ws = Workspace::new();
    let job = job(
        &ws,
        &sandbox.base_url(),
        "pages",
        "fail",
        &format!("s3://{}/typed/{{job}}", moto::BUCKET),
    );
    let mut cmd = ws.orgsync();
    cmd.arg("run").arg(&job);
    for (k, v) in moto.env() {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", all_output(&out));
    assert_names_offset(&error_line(&out), offset);
}
