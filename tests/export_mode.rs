//! `[query] mode = "export"` through the real binary against the
//! sandbox's async export: the snapshot equals pages mode's byte for byte
//! (CSV and Parquet, plain and gzip downloads, path and absolute links);
//! one export is created and no download carries an Authorization header;
//! kill -9 while waiting and again while downloading, then `--resume`,
//! continues the same export (with `Range`, or skipping what is written
//! when the download is gzip); each failure state exits 1 with nothing
//! published; an expired download link is refreshed; `max_wait_secs`
//! gives up with exit 1.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::*;
use orgsync::sandbox::{ExportFailure, ExportKnobs, SandboxConfig};
use serde_json::Value;

const FIELDS: &[&str] = &[
    "business_id",
    "name",
    "financial_data.revenue",
    "official_industries.code",
];

fn sandbox(records: u64, export: ExportKnobs) -> TestSandbox {
    TestSandbox::start(SandboxConfig {
        records,
        export,
        ..SandboxConfig::default()
    })
}

fn knobs(duration_ms: u64) -> ExportKnobs {
    ExportKnobs {
        duration: Duration::from_millis(duration_ms),
        ..ExportKnobs::default()
    }
}

/// A de-duplicating job in parts of 130 records; `mode` pages or export.
fn job(base_url: &str, format: &str, mode: &str, extra: &str) -> String {
    job_toml(
        base_url,
        format,
        FIELDS,
        &format!("rows_per_file = 130\n\n[export]\npoll_secs = 1\n{extra}"),
    )
    .replace(
        "order = \"business_id\"",
        &format!("order = \"business_id\"\nkey = \"business_id\"\nmode = \"{mode}\""),
    )
}

fn code(out: &std::process::Output) -> i32 {
    out.status.code().expect("exited")
}

fn run(ws: &Workspace, args: &[&str]) -> std::process::Output {
    ws.orgsync().args(args).output().unwrap()
}

/// Runs `name` in `mode` into `<ws>/<out>`; the snapshot folder.
fn run_ok(ws: &Workspace, sb: &TestSandbox, format: &str, mode: &str, out: &str) -> PathBuf {
    let path = ws.job(mode, &job(&sb.base_url(), format, mode, ""));
    let done = run(ws, &["run", "--out-dir", out, path.to_str().unwrap()]);
    assert!(done.status.success(), "{mode}: {}", all_output(&done));
    ws.path().join(out).join("exports").join(mode)
}

/// The export-mode snapshot equals the pages-mode one, part by part and byte by byte.
fn assert_same_as_pages(export: &Path, pages: &Path) {
    let (e, p) = (part_bytes(export), part_bytes(pages));
    assert_eq!(e.len(), p.len(), "same number of parts");
    for ((en, eb), (pn, pb)) in e.iter().zip(&p) {
        assert_eq!(en, pn);
        assert!(eb == pb, "part {en} differs between export and pages mode");
    }
    let (me, mp) = (manifest(export), manifest(pages));
    for key in ["records", "duplicates_dropped", "schema", "expected_records", "request"] {
        assert_eq!(me[key], mp[key], "manifest {key}");
    }
    assert_eq!(me["mode"], "export");
    assert_eq!(mp["mode"], "pages");
}

#[test]
fn export_mode_equals_pages_mode_csv_and_parquet_plain_and_gzip() {
    for (format, gzip, absolute_link) in [
        ("csv", false, false),
        ("parquet", true, true),
        ("csv", true, false),
        ("parquet", false, false),
    ] {
        let sb = sandbox(
            700,
            ExportKnobs {
                gzip,
                absolute_link,
                ..knobs(0)
            },
        );
        let ws = Workspace::new();
        let pages = run_ok(&ws, &sb, format, "pages", "p");
        let export = run_ok(&ws, &sb, format, "export", "e");
        assert_same_as_pages(&export, &pages);
        if format == "csv" {
            let (_, rows) = read_csv(&export);
            let want = expected_rows(&sb.dataset(), "FI", FIELDS, |_| true);
            assert_eq!(rows.len(), want.len());
            assert_eq!(rows[699][0], csv_text(&want[699][0]));
        }
        let stats = sb.stats();
        assert_eq!(stats.exports_created, 1, "{format} gzip={gzip}");
        assert_eq!(stats.export_downloads_with_authorization, 0, "{format} gzip={gzip}");
        assert_eq!(stats.export_downloads, 1);
        let m = manifest(&export);
        let ex = &m["export"];
        assert!(ex["id"].as_str().is_some_and(|id| id.starts_with("exp")), "{m}");
        assert_eq!(ex["download_compression"], if gzip { "gzip" } else { "none" });
        let text = std::fs::read_to_string(export.join("_manifest.json")).unwrap();
        assert!(
            !text.contains("X-Amz") && !text.contains("_store"),
            "no link in the manifest"
        );
    }
}

/// Waits (bounded) until `ready` holds, failing if the run ends first.
fn wait_until(run: &mut Running, what: &str, ready: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ready() {
        assert!(
            run.child.try_wait().unwrap().is_none(),
            "the run ended before {what}: {}",
            run.stderr()
        );
        assert!(Instant::now() < deadline, "no {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn parts_checkpointed(tmp: &Path) -> usize {
    checkpoint_json(tmp)
        .and_then(|c| c["files"].as_array().map(Vec::len))
        .unwrap_or(0)
}

/// kill -9 while the export is still running, kill -9 again while it is
/// downloading (after two finished parts), then `--resume` to the end.
fn killed_twice_then_resumed(gzip: bool, range: bool) {
    let sb = sandbox(
        1000,
        ExportKnobs {
            gzip,
            no_range: !range,
            download_bytes_per_sec: Some(if gzip { 6_000 } else { 40_000 }),
            ..knobs(1500)
        },
    );
    let ws = Workspace::new();
    let path = ws.job("bulk", &job(&sb.base_url(), "jsonl", "export", ""));
    let job_arg = path.to_str().unwrap();
    let export_file = ws.path().join(".orgsync/state/bulk.export.json");
    let tmp = ws.path().join("exports/.bulk.orgsync-tmp");

    let mut waiting = Running::start(&ws, &["run", job_arg], "waiting");
    wait_until(&mut waiting, "the export file", || export_file.exists());
    assert!(sb.stats().export_downloads == 0, "killed while the export runs");
    waiting.child.kill().unwrap();
    waiting.wait();
    assert_eq!(sb.stats().exports_created, 1);

    let mut downloading = Running::start(&ws, &["run", "--resume", job_arg], "downloading");
    wait_until(&mut downloading, "two finished parts", || parts_checkpointed(&tmp) >= 2);
    downloading.child.kill().unwrap();
    downloading.wait();
    let cp = checkpoint_json(&tmp).expect("a checkpoint");
    assert!(cp["export"]["id"].as_str().is_some(), "{cp}");
    assert_eq!(cp["export"]["bytes"].is_u64(), !gzip, "{cp}");
    assert!(!ws.path().join("exports/bulk").exists(), "nothing published");

    let out = run(&ws, &["run", "--resume", job_arg]);
    assert!(out.status.success(), "{}", all_output(&out));
    let stats = sb.stats();
    assert_eq!(stats.exports_created, 1, "one export in all");
    assert_eq!(stats.export_downloads_with_authorization, 0);
    assert_eq!(
        stats.export_range_requests,
        u64::from(!gzip && range),
        "resumed with Range when plain and the store allows it"
    );
    assert!(
        !export_file.exists(),
        "the export file goes with the published snapshot"
    );

    let clean = run_ok(&ws, &sb, "jsonl", "pages", "clean");
    let resumed = ws.path().join("exports/bulk");
    let want = expected_rows(&sb.dataset(), "FI", FIELDS, |_| true);
    let rows: Vec<Vec<Value>> = read_jsonl(&resumed)
        .into_iter()
        .map(|m| m.into_iter().map(|(_, v)| v).collect())
        .collect();
    assert_eq!(rows, want, "record by record");
    assert_same_as_pages_jsonl(&resumed, &clean);
}

fn assert_same_as_pages_jsonl(resumed: &Path, clean: &Path) {
    assert_eq!(part_bytes(resumed), part_bytes(clean), "same parts, same bytes");
    assert_eq!(manifest(resumed)["records"], manifest(clean)["records"]);
}

#[test]
fn killed_while_waiting_and_while_downloading_resumes_the_same_export_with_range() {
    killed_twice_then_resumed(false, true);
}

#[test]
fn killed_while_downloading_from_a_store_without_range_skips_what_is_written() {
    killed_twice_then_resumed(false, false);
}

#[test]
fn killed_while_waiting_and_while_downloading_a_gzip_export_skips_what_is_written() {
    killed_twice_then_resumed(true, true);
}

#[test]
fn each_failure_state_exits_1_and_publishes_nothing() {
    for fail in [
        ExportFailure::Failure,
        ExportFailure::Stopped,
        ExportFailure::PartialFailureComplete,
        ExportFailure::PartialFailureIncomplete,
    ] {
        let sb = sandbox(
            50,
            ExportKnobs {
                fail: Some(fail),
                ..knobs(0)
            },
        );
        let ws = Workspace::new();
        let path = ws.job("failing", &job(&sb.base_url(), "csv", "export", ""));
        let out = run(&ws, &["run", path.to_str().unwrap()]);
        let text = all_output(&out);
        assert_eq!(code(&out), 1, "{text}");
        assert!(text.contains(&format!("state \"{}\"", fail.state())), "{text}");
        assert!(text.contains("on purpose"), "the API's text: {text}");
        let left = ws.tree(ws.path());
        assert!(
            !left.iter().any(|f| f.starts_with("exports/")),
            "nothing published or left: {left:?}"
        );
        assert!(!ws.path().join(".orgsync/state/failing.export.json").exists());
        assert_eq!(sb.stats().export_downloads, 0);
    }
}

#[test]
fn an_expired_download_link_is_refreshed_and_never_logged() {
    let sb = sandbox(
        300,
        ExportKnobs {
            expired_links: 2,
            ..knobs(0)
        },
    );
    let ws = Workspace::new();
    let path = ws.job("refresh", &job(&sb.base_url(), "jsonl", "export", ""));
    let out = run(&ws, &["run", "-v", path.to_str().unwrap()]);
    let text = all_output(&out);
    assert!(out.status.success(), "{text}");
    let stats = sb.stats();
    assert_eq!(stats.export_links_expired, 2);
    assert_eq!(stats.export_downloads, 3);
    assert_eq!(stats.export_polls, 3, "one poll per fresh link");
    assert_eq!(read_jsonl(&ws.path().join("exports/refresh")).len(), 300);
    assert!(text.contains("fresh one"), "{text}");
    assert!(
        !text.contains("X-Amz-Signature"),
        "a download link's query is a credential: {text}"
    );
    assert!(text.contains("?***"), "the link is shown masked: {text}");
}

#[test]
fn max_wait_gives_up_with_exit_1_and_keeps_the_export_for_resume() {
    let sb = sandbox(50, knobs(60_000));
    let ws = Workspace::new();
    let path = ws.job("slow", &job(&sb.base_url(), "csv", "export", "max_wait_secs = 1"));
    let out = run(&ws, &["run", path.to_str().unwrap()]);
    let text = all_output(&out);
    assert_eq!(code(&out), 1, "{text}");
    assert!(text.contains("not completed after 1 s"), "{text}");
    assert!(text.contains("--resume"), "{text}");
    assert!(ws.path().join(".orgsync/state/slow.export.json").exists());
    assert!(!ws.path().join("exports/slow").exists());
}

#[test]
fn resume_with_an_export_of_another_request_creates_a_new_export() {
    let sb = sandbox(120, knobs(0));
    let ws = Workspace::new();
    let path = ws.job("changed", &job(&sb.base_url(), "csv", "export", ""));
    let state = ws.path().join(".orgsync/state");
    std::fs::create_dir_all(&state).unwrap();
    let stale = serde_json::json!({
        "job": "changed",
        "request_sha256": "0".repeat(64),
        "link": "/v3/organizations/async/gone/",
        "id": "gone",
        "created_at": "2026-11-30T00:00:00Z",
    });
    std::fs::write(state.join("changed.export.json"), stale.to_string()).unwrap();
    let out = run(&ws, &["run", "--resume", path.to_str().unwrap()]);
    let text = all_output(&out);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("creating a new export"), "{text}");
    assert_eq!(sb.stats().exports_created, 1);
    assert_eq!(read_csv(&ws.path().join("exports/changed")).1.len(), 120);
    assert!(!state.join("changed.export.json").exists());
}

#[test]
fn a_download_cut_mid_stream_resumes_in_the_same_run() {
    for (gzip, ranged) in [(false, 1), (true, 0)] {
        let sb = sandbox(
            600,
            ExportKnobs {
                gzip,
                cut_first_download_after: Some(if gzip { 9_000 } else { 25_000 }),
                ..knobs(0)
            },
        );
        let ws = Workspace::new();
        let pages = run_ok(&ws, &sb, "csv", "pages", "p");
        let export = run_ok(&ws, &sb, "csv", "export", "e");
        assert_same_as_pages(&export, &pages);
        let stats = sb.stats();
        assert_eq!(stats.exports_created, 1);
        assert_eq!(stats.export_downloads, 2, "gzip={gzip}: cut once, then resumed");
        assert_eq!(
            stats.export_range_requests, ranged,
            "gzip={gzip}: Range only for a plain file"
        );
        assert_eq!(manifest(&export)["export"]["download_requests"], 2);
    }
}

#[test]
fn dry_run_creates_no_export_and_max_records_stops_the_download() {
    let sb = sandbox(400, knobs(0));
    let ws = Workspace::new();
    let path = ws.job("trial", &job(&sb.base_url(), "jsonl", "export", ""));
    let out = run(&ws, &["run", "--dry-run", path.to_str().unwrap()]);
    assert!(out.status.success(), "{}", all_output(&out));
    assert_eq!(sb.stats().exports_created, 0, "a dry run only counts");
    let out = run(&ws, &["run", "--max-records", "150", path.to_str().unwrap()]);
    assert!(out.status.success(), "{}", all_output(&out));
    let rows = read_jsonl(&ws.path().join("exports/trial"));
    assert_eq!(rows.len(), 150);
    assert_eq!(rows[149]["business_id"], sb.dataset().record("FI", 149)["business_id"]);
    assert_eq!(sb.stats().exports_created, 1);
}

/// A line of the download that is not a JSON object fails the run (exit 1)
/// naming its line in the download, whether it is in the first batch (the
/// columns are inferred from it) or later (after parts were checkpointed);
/// nothing is published.
#[test]
fn a_damaged_line_exits_1_naming_its_line_and_publishes_nothing() {
    for (bad, gzip) in [(1, false), (250, false), (250, true)] {
        let sb = sandbox(
            400,
            ExportKnobs {
                bad_line: Some(bad),
                gzip,
                ..knobs(0)
            },
        );
        let ws = Workspace::new();
        let path = ws.job("damaged", &job(&sb.base_url(), "csv", "export", ""));
        let out = run(&ws, &["run", path.to_str().unwrap()]);
        let text = all_output(&out);
        assert_eq!(code(&out), 1, "line {bad}, gzip {gzip}: {text}");
        assert!(
            text.contains(&format!("line {bad} of export")) && text.contains("is not a JSON object"),
            "line {bad}, gzip {gzip}: {text}"
        );
        assert!(text.contains("a JSON string"), "what the line is instead: {text}");
        assert!(!ws.path().join("exports/damaged").exists(), "nothing published: {text}");
    }
}
