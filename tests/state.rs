//! State, incremental runs, checkpoints and resume, through the real binary
//! against the sandbox: a run killed with SIGKILL / SIGTERM / SIGINT after
//! some finished parts resumes into a snapshot equal, record by record and
//! part by part, to an uninterrupted run's; incremental windows chain from
//! run to run; a failed run leaves the watermark alone; a changed job
//! refuses to resume.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;
use orgsync::sandbox::SandboxConfig;
use serde_json::{Value, json};

const FIELDS: &[&str] = &["business_id", "name", "financial_data.revenue"];

/// A slow enough sandbox: 2,000 records, 20 ms a page.
fn slow_sandbox() -> TestSandbox {
    TestSandbox::start(SandboxConfig {
        records: 2000,
        latency: Duration::from_millis(20),
        ..SandboxConfig::default()
    })
}

/// JSON Lines, 100 records a page, parts of 130 (so parts end mid-page),
/// de-duplicated by business_id, one page in flight at 25 pages/s: about a
/// second for 2,000 records.
fn bulk_job(base_url: &str, extra: &str) -> String {
    job_toml(
        base_url,
        "jsonl",
        FIELDS,
        &format!("rows_per_file = 130\n\n[rate_limit]\nrequests_per_second = 25.0\nconcurrency = 1\n{extra}"),
    )
    .replace(
        "order = \"business_id\"",
        "order = \"business_id\"\npage_size = 100\nkey = \"business_id\"",
    )
}

fn checkpoint(tmp: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(tmp.join("_checkpoint.json")).unwrap()).unwrap()
}

fn code(out: &std::process::Output) -> i32 {
    out.status.code().expect("exited")
}

/// Runs the binary to the end.
fn orgsync(ws: &Workspace, args: &[&str]) -> std::process::Output {
    ws.orgsync().args(args).output().unwrap()
}

/// The rows of a JSON Lines snapshot, in order.
fn rows(snapshot: &Path) -> Vec<Vec<Value>> {
    read_jsonl(snapshot)
        .into_iter()
        .map(|m| m.into_iter().map(|(_, v)| v).collect())
        .collect()
}

/// What a snapshot's manifest says about its parts: name, records, bytes, sha256.
fn manifest_files(snapshot: &Path) -> Vec<(String, u64, u64, String)> {
    manifest(snapshot)["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["name"].as_str().unwrap().to_string(),
                f["records"].as_u64().unwrap(),
                f["bytes"].as_u64().unwrap(),
                f["sha256"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The bulk job against `sandbox`, started in the background and left
/// running once at least two parts are finished: the job file, the
/// temporary folder, the running binary (logs under `log`).
fn bulk_run_with_two_parts(ws: &Workspace, sandbox: &TestSandbox, log: &str) -> (PathBuf, PathBuf, Running) {
    let job = ws.job("bulk", &bulk_job(&sandbox.base_url(), ""));
    let tmp = ws.path().join("exports/.bulk.orgsync-tmp");
    let mut run = Running::start(ws, &["run", job.to_str().unwrap()], log);
    run.wait_for_parts(&tmp, 2);
    (job, tmp, run)
}

/// An uninterrupted run of the same job into `<ws>/clean`, for comparison.
fn clean_run(ws: &Workspace, job: &Path) -> PathBuf {
    let out = orgsync(ws, &["run", "--out-dir", "clean", job.to_str().unwrap()]);
    assert!(out.status.success(), "{}", all_output(&out));
    ws.path().join("clean/exports/bulk")
}

/// The resumed snapshot equals the clean one record by record and part by part.
fn assert_same_snapshot(resumed: &Path, clean: &Path, sandbox: &TestSandbox) {
    let want = expected_rows(&sandbox.dataset(), "FI", FIELDS, |_| true);
    let got = rows(resumed);
    assert_eq!(got.len(), want.len(), "record count");
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(g, w, "record {i}");
    }
    assert_eq!(got, rows(clean), "record by record with the clean run");
    let (m, c) = (manifest(resumed), manifest(clean));
    assert_eq!(m["records"], json!(2000));
    assert_eq!(m["records"], c["records"]);
    assert_eq!(m["duplicates_dropped"], c["duplicates_dropped"]);
    assert_eq!(manifest_files(resumed), manifest_files(clean), "same parts, same bytes");
    assert_eq!(manifest_files(resumed).len(), 16, "2,000 records in parts of 130");
    assert_eq!(parts(resumed).len(), 16);
    let names: Vec<String> = std::fs::read_dir(resumed)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with("part-"))
        .collect();
    let mut names = names;
    names.sort();
    assert_eq!(names, ["_SUCCESS", "_manifest.json"], "no checkpoint files published");
}

#[test]
fn killed_run_resumes_into_the_snapshot_of_an_uninterrupted_run() {
    let sandbox = slow_sandbox();
    let ws = Workspace::new();
    let (job, tmp, mut run) = bulk_run_with_two_parts(&ws, &sandbox, "killed");
    run.child.kill().unwrap(); // SIGKILL: no chance to clean up
    run.wait();
    let cp = checkpoint(&tmp);
    let finished = cp["files"].as_array().unwrap().len() as u64;
    assert!(finished >= 2, "{cp}");
    assert_eq!(cp["records"], json!(finished * 130));
    assert_eq!(
        cp["next_offset"],
        json!(finished * 130),
        "no duplicates: offset = records"
    );
    assert!(!ws.path().join("exports/bulk").exists(), "nothing published");
    let pointer = ws.path().join(".orgsync/state/bulk.checkpoint.json");
    assert!(pointer.exists());

    let before = sandbox.stats().organizations_requests;
    let out = orgsync(&ws, &["run", "--resume", job.to_str().unwrap()]);
    assert!(out.status.success(), "{}", all_output(&out));
    let refetched = sandbox.stats().organizations_requests - before;
    assert!(
        refetched < 21,
        "the finished parts were not fetched again: {refetched} requests"
    );
    let resumed = ws.path().join("exports/bulk");
    assert_eq!(
        manifest(&resumed)["run_id"],
        cp["run_id"],
        "the interrupted run's identity"
    );
    assert!(!tmp.exists() && !pointer.exists(), "checkpoint and pointer gone");
    let state = read_json(&ws.path().join(".orgsync/state/bulk.json"));
    assert_eq!(state["run_id"], cp["run_id"]);
    assert_eq!(state["records"], json!(2000));

    let clean = clean_run(&ws, &job);
    assert_same_snapshot(&resumed, &clean, &sandbox);
}

fn signal_then_resume(signal: &str, exit: i32) {
    let sandbox = slow_sandbox();
    let ws = Workspace::new();
    let (job, tmp, mut run) = bulk_run_with_two_parts(&ws, &sandbox, signal);
    run.signal(signal);
    let status = run.wait();
    let stderr = run.stderr();
    assert_eq!(status.code(), Some(exit), "{stderr}");
    assert!(
        stderr.contains(&format!("interrupted by SIG{signal}; nothing was published")),
        "{stderr}"
    );
    let records = checkpoint(&tmp)["records"].as_u64().unwrap();
    assert!(records >= 260, "{records}");
    let kept = format!("bulk.toml: {records} records in finished parts kept; run again with --resume to continue");
    assert!(stderr.contains(&kept), "{stderr}");
    assert!(!ws.path().join("exports/bulk").exists(), "nothing published");
    assert!(!ws.path().join(".orgsync/state/bulk.json").exists(), "no state moved");

    let out = orgsync(&ws, &["run", "--resume", job.to_str().unwrap()]);
    assert!(out.status.success(), "{}", all_output(&out));
    assert!(
        all_output(&out).contains("resuming an interrupted run"),
        "{}",
        all_output(&out)
    );
    let clean = clean_run(&ws, &job);
    assert_same_snapshot(&ws.path().join("exports/bulk"), &clean, &sandbox);
}

#[test]
fn sigterm_keeps_a_resumable_checkpoint_and_exits_143() {
    signal_then_resume("TERM", 143);
}

#[test]
fn sigint_keeps_a_resumable_checkpoint_and_exits_130() {
    signal_then_resume("INT", 130);
}

#[test]
fn a_changed_job_refuses_to_resume_and_a_fresh_run_drops_the_checkpoint() {
    let sandbox = slow_sandbox();
    let ws = Workspace::new();
    let (job, tmp, mut run) = bulk_run_with_two_parts(&ws, &sandbox, "term");
    run.signal("TERM");
    assert_eq!(run.wait().code(), Some(143), "{}", run.stderr());
    let records = checkpoint(&tmp)["records"].as_u64().unwrap();

    // Another filter: the request body (and its sha256) differs.
    let changed = bulk_job(&sandbox.base_url(), "").replace(
        "page_size = 100",
        "page_size = 100\nfilter = { \"?EXISTS\" = \"name\" }",
    );
    ws.job("bulk", &changed);
    let before = sandbox.stats();
    let out = orgsync(&ws, &["run", "--resume", job.to_str().unwrap()]);
    assert_eq!(code(&out), 2, "{}", all_output(&out));
    let text = all_output(&out);
    assert!(text.contains("cannot resume job bulk: the request"), "{text}");
    assert!(text.contains("restore the job as it was"), "{text}");
    assert!(text.contains("run without --resume"), "{text}");
    assert!(
        !text.contains("run again with --resume"),
        "no misleading advice: {text}"
    );
    assert_eq!(
        sandbox.stats().token_requests,
        before.token_requests,
        "refused before any request"
    );
    assert_eq!(checkpoint(&tmp)["records"], json!(records), "the checkpoint is kept");

    // Another part size: refused as well.
    let resized = bulk_job(&sandbox.base_url(), "").replace("rows_per_file = 130", "rows_per_file = 100");
    ws.job("bulk", &resized);
    let out = orgsync(&ws, &["run", "--resume", job.to_str().unwrap()]);
    assert_eq!(code(&out), 2, "{}", all_output(&out));
    assert!(
        all_output(&out).contains("rows_per_file 130 then, 100 now"),
        "{}",
        all_output(&out)
    );

    // Without --resume the run starts over and says what it dropped.
    let out = orgsync(&ws, &["run", job.to_str().unwrap()]);
    assert!(out.status.success(), "{}", all_output(&out));
    let text = all_output(&out);
    assert!(text.contains("dropped the checkpoint of interrupted run"), "{text}");
    assert!(text.contains("--resume"), "{text}");
    assert_eq!(
        manifest_files(&ws.path().join("exports/bulk")).len(),
        20,
        "parts of 100"
    );
    assert!(!tmp.exists());
    assert!(!ws.path().join(".orgsync/state/bulk.checkpoint.json").exists());
}

/// An incremental job over modifications.basic with no lag, each run's
/// snapshot in its own folder.
fn incremental_job(base_url: &str) -> String {
    job_toml(
        base_url,
        "jsonl",
        &["business_id", "modifications.basic"],
        "\n[incremental]\nfield = \"modifications.basic\"\nstart = \"2000-01-01T00:00:00\"\nlag_secs = 0\n\
         [retry]\nmax_attempts = 2\ninitial_delay_ms = 10\n",
    )
    .replace("path = \"exports/{job}\"", "path = \"exports/{job}/{run_id}\"")
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
}

#[test]
fn incremental_runs_chain_their_windows_and_fetch_only_what_changed() {
    let sandbox = TestSandbox::with_records(200);
    let ws = Workspace::new();
    let job = ws.job("inc", &incremental_job(&sandbox.base_url()));
    let state_file = ws.path().join(".orgsync/state/inc.json");

    let out = orgsync(&ws, &["run", job.to_str().unwrap()]);
    assert!(out.status.success(), "{}", all_output(&out));
    let first = read_json(&state_file);
    let snap1 = PathBuf::from(first["snapshot"].as_str().unwrap());
    assert!(snap1.is_absolute(), "{first}");
    let m1 = manifest(&snap1);
    assert_eq!(m1["records"], json!(200), "the first run covers start .. now");
    assert_eq!(m1["incremental"]["from"], json!("2000-01-01T00:00:00.000000"));
    assert_eq!(first["incremental"], m1["incremental"]);
    assert_eq!(first["run_id"], m1["run_id"]);

    sandbox.modify(&[3, 17]);
    let out = orgsync(&ws, &["run", job.to_str().unwrap()]);
    assert!(out.status.success(), "{}", all_output(&out));
    let second = read_json(&state_file);
    let snap2 = PathBuf::from(second["snapshot"].as_str().unwrap());
    assert_ne!(snap1, snap2);
    let m2 = manifest(&snap2);
    assert_eq!(m2["incremental"]["from"], m1["incremental"]["to"], "windows chain");
    assert_eq!(second["incremental"]["to"], m2["incremental"]["to"]);
    let data = sandbox.dataset();
    let want: Vec<Value> = [3, 17]
        .iter()
        .map(|&i| data.record("FI", i)["business_id"].clone())
        .collect();
    let got: Vec<Value> = read_jsonl(&snap2).iter().map(|r| r["business_id"].clone()).collect();
    assert_eq!(got, want, "exactly the modified records");
    for r in read_jsonl(&snap2) {
        let at = r["modifications_basic"].as_str().unwrap().to_string();
        assert!(at.as_str() > m1["incremental"]["to"].as_str().unwrap(), "{at}");
    }
    let filter = &m2["request"]["body"]["query"];
    assert_eq!(
        filter["?ALL"][1]["?RANGE"]["modifications.basic"],
        json!([m2["incremental"]["from"], m2["incremental"]["to"]]),
        "{filter}"
    );

    // Nothing changed since: an empty snapshot, the window moves on.
    let out = orgsync(&ws, &["run", job.to_str().unwrap()]);
    assert!(out.status.success(), "{}", all_output(&out));
    let third = read_json(&state_file);
    let m3 = manifest(Path::new(third["snapshot"].as_str().unwrap()));
    assert_eq!(m3["records"], json!(0));
    assert_eq!(m3["incremental"]["from"], m2["incremental"]["to"]);
}

#[test]
fn a_failed_run_does_not_move_the_watermark() {
    let good = TestSandbox::with_records(50);
    let ws = Workspace::new();
    let job = ws.job("inc", &incremental_job(&good.base_url()));
    let state_file = ws.path().join(".orgsync/state/inc.json");
    let out = orgsync(&ws, &["run", job.to_str().unwrap()]);
    assert!(out.status.success(), "{}", all_output(&out));
    let before = std::fs::read(&state_file).unwrap();
    let first = read_json(&state_file);

    let broken = TestSandbox::start(SandboxConfig {
        records: 50,
        fail_rate: 1.0,
        ..SandboxConfig::default()
    });
    ws.job("inc", &incremental_job(&broken.base_url()));
    let out = orgsync(&ws, &["run", job.to_str().unwrap()]);
    assert_eq!(code(&out), 1, "{}", all_output(&out));
    assert_eq!(std::fs::read(&state_file).unwrap(), before, "state file untouched");

    ws.job("inc", &incremental_job(&good.base_url()));
    let out = orgsync(&ws, &["run", job.to_str().unwrap()]);
    assert!(out.status.success(), "{}", all_output(&out));
    let next = read_json(&state_file);
    let m = manifest(Path::new(next["snapshot"].as_str().unwrap()));
    assert_eq!(
        m["incremental"]["from"], first["incremental"]["to"],
        "starts where the last success ended"
    );
    assert_eq!(m["records"], json!(0));
}

#[test]
fn a_trial_run_with_max_records_does_not_move_the_watermark_and_resume_without_checkpoint_runs_fresh() {
    let sandbox = TestSandbox::with_records(50);
    let ws = Workspace::new();
    let job = ws.job("inc", &incremental_job(&sandbox.base_url()));
    let out = orgsync(&ws, &["run", "--max-records", "5", job.to_str().unwrap()]);
    assert!(out.status.success(), "{}", all_output(&out));
    assert!(!ws.path().join(".orgsync/state/inc.json").exists());

    let out = orgsync(&ws, &["run", "--resume", job.to_str().unwrap()]);
    assert!(out.status.success(), "{}", all_output(&out));
    assert!(all_output(&out).contains("no checkpoint"), "{}", all_output(&out));
    let state = read_json(&ws.path().join(".orgsync/state/inc.json"));
    assert_eq!(
        manifest(Path::new(state["snapshot"].as_str().unwrap()))["records"],
        json!(50)
    );
}

#[test]
fn a_damaged_state_file_exits_2_naming_it() {
    let sandbox = TestSandbox::with_records(5);
    let ws = Workspace::new();
    let job = ws.job("inc", &incremental_job(&sandbox.base_url()));
    let state_file = ws.path().join(".orgsync/state/inc.json");
    std::fs::create_dir_all(state_file.parent().unwrap()).unwrap();
    std::fs::write(&state_file, "{ not json").unwrap();
    let out = orgsync(&ws, &["run", job.to_str().unwrap()]);
    assert_eq!(code(&out), 2, "{}", all_output(&out));
    let text = all_output(&out);
    assert!(
        text.contains(".orgsync/state/inc.json") && text.contains("delete it"),
        "{text}"
    );
}

#[test]
fn a_run_that_fails_after_finished_parts_keeps_them_for_resume() {
    let sandbox = slow_sandbox();
    let ws = Workspace::new();
    let (job, tmp, mut run) = bulk_run_with_two_parts(&ws, &sandbox, "killed");
    run.child.kill().unwrap();
    run.wait();
    let records = checkpoint(&tmp)["records"].as_u64().unwrap();

    // The API is down now: retries run out, the finished parts stay.
    let broken = TestSandbox::start(SandboxConfig {
        records: 2000,
        fail_rate: 1.0,
        ..SandboxConfig::default()
    });
    let retry = "\n[retry]\nmax_attempts = 2\ninitial_delay_ms = 10\n";
    ws.job("bulk", &bulk_job(&broken.base_url(), retry));
    let out = orgsync(&ws, &["run", "--resume", job.to_str().unwrap()]);
    assert_eq!(code(&out), 1, "{}", all_output(&out));
    let text = all_output(&out);
    assert!(text.contains("2 attempts"), "{text}");
    let kept = format!("bulk.toml: {records} records in finished parts kept; run again with --resume to continue");
    assert!(text.contains(&kept), "{text}");
    assert_eq!(checkpoint(&tmp)["records"], json!(records), "checkpoint unchanged");
    assert!(!ws.path().join("exports/bulk").exists());

    // Back up: --resume completes it.
    ws.job("bulk", &bulk_job(&sandbox.base_url(), retry));
    let out = orgsync(&ws, &["run", "--resume", job.to_str().unwrap()]);
    assert!(out.status.success(), "{}", all_output(&out));
    let clean = clean_run(&ws, &job);
    assert_same_snapshot(&ws.path().join("exports/bulk"), &clean, &sandbox);
}

#[test]
fn a_fresh_bulk_pull_whose_api_goes_down_keeps_its_finished_parts_for_resume() {
    // Seven pages answer, then the API is down for good: 700 records fetched,
    // five parts of 130 finished, the sixth (50 records) unfinished.
    let down = TestSandbox::start(SandboxConfig {
        records: 2000,
        fail_after: Some(7),
        ..SandboxConfig::default()
    });
    let ws = Workspace::new();
    let retry = "\n[retry]\nmax_attempts = 2\ninitial_delay_ms = 10\n";
    let job = ws.job("bulk", &bulk_job(&down.base_url(), retry));
    let out = orgsync(&ws, &["run", job.to_str().unwrap()]);
    assert_eq!(code(&out), 1, "{}", all_output(&out));
    let text = all_output(&out);
    assert!(
        text.contains("offset 700") && text.contains("503"),
        "names the offset and the last status: {text}"
    );
    assert!(
        text.contains("bulk.toml: 650 records in finished parts kept; run again with --resume to continue"),
        "{text}"
    );
    let tmp = ws.path().join("exports/.bulk.orgsync-tmp");
    assert_eq!(checkpoint(&tmp)["files"].as_array().map(Vec::len), Some(5));
    assert_eq!(checkpoint(&tmp)["next_offset"], json!(650));
    assert!(!ws.path().join("exports/bulk").exists(), "nothing published");

    // The API is back: --resume fetches from offset 650 on, not from zero.
    let up = TestSandbox::with_records(2000);
    ws.job("bulk", &bulk_job(&up.base_url(), retry));
    let out = orgsync(&ws, &["run", "--resume", job.to_str().unwrap()]);
    assert!(out.status.success(), "{}", all_output(&out));
    assert_eq!(
        up.stats().organizations_requests,
        14,
        "offsets 650..2000 in pages of 100: 14 requests"
    );
    let clean = clean_run(&ws, &job);
    assert_same_snapshot(&ws.path().join("exports/bulk"), &clean, &up);
}
