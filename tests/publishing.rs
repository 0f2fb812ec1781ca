//! Publishing, locks, late failures, signals between jobs and plain logs,
//! through the real binary against the sandbox (issue 9): exit 5 touching
//! nothing while the first run publishes an exact snapshot; no stale lock
//! after SIGKILL; late failures and a full disk (2 MiB tmpfs, as root) keep
//! the work for `--resume`; the publish check; SIGTERM while a job
//! publishes stops the run before the next job; no colour in a pipe.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::*;
use orgsync::sandbox::SandboxConfig;
use serde_json::{Value, json};

const FIELDS: &[&str] = &["business_id", "name", "financial_data.revenue"];
const RECORDS: u64 = 2000;

/// JSON Lines, pages of 100, parts of 130 (16 parts for 2,000 records),
/// de-duplicated by business_id, one page in flight at `pages_per_sec`.
fn bulk_job(base_url: &str, pages_per_sec: u32, path: &str) -> String {
    job_toml(
        base_url,
        "jsonl",
        FIELDS,
        &format!(
            "rows_per_file = 130\n\n[rate_limit]\nrequests_per_second = {pages_per_sec}.0\nconcurrency = 1\n\
             [retry]\nmax_attempts = 2\ninitial_delay_ms = 10\n"
        ),
    )
    .replace(
        "order = \"business_id\"",
        "order = \"business_id\"\npage_size = 100\nkey = \"business_id\"",
    )
    .replace("path = \"exports/{job}\"", &format!("path = \"{path}\""))
}

fn slow_sandbox() -> TestSandbox {
    TestSandbox::start(SandboxConfig {
        records: RECORDS,
        latency: Duration::from_millis(20),
        ..SandboxConfig::default()
    })
}

/// The rows of a JSON Lines snapshot equal the sandbox's data set, record
/// by record, in 16 parts with only the manifest and `_SUCCESS` beside them.
fn assert_exact_snapshot(snapshot: &Path, sandbox: &TestSandbox) {
    let want = expected_rows(&sandbox.dataset(), "FI", FIELDS, |_| true);
    let got: Vec<Vec<Value>> = read_jsonl(snapshot)
        .into_iter()
        .map(|m| m.into_iter().map(|(_, v)| v).collect())
        .collect();
    assert_eq!(got.len(), want.len(), "record count");
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(g, w, "record {i}");
    }
    let m = manifest(snapshot);
    assert_eq!(m["records"], json!(RECORDS));
    let files = m["files"].as_array().unwrap();
    assert_eq!(files.len(), 16, "2,000 records in parts of 130");
    let mut names: Vec<String> = std::fs::read_dir(snapshot)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut want_names: Vec<String> = files.iter().map(|f| f["name"].as_str().unwrap().to_string()).collect();
    want_names.extend(["_SUCCESS".to_string(), "_manifest.json".to_string()]);
    want_names.sort();
    assert_eq!(names, want_names, "exactly the listed parts, the manifest and _SUCCESS");
}

/// Every path under `dir` except inside the running run's temporary folder.
fn tree_outside_tmp(ws: &Workspace) -> Vec<String> {
    ws.tree(ws.path())
        .into_iter()
        .filter(|p| !p.contains(".orgsync-tmp") && !p.ends_with(".err") && !p.ends_with(".out"))
        .collect()
}

#[test]
fn a_second_run_of_a_running_job_exits_5_touching_nothing_and_the_first_publishes_an_exact_snapshot() {
    let sandbox = slow_sandbox();
    let ws = Workspace::new();
    // 20 pages at 8 a second: the first run takes about 2.5 s.
    let job = ws.job("bulk", &bulk_job(&sandbox.base_url(), 8, "exports/{job}"));
    let tmp = ws.path().join("exports/.bulk.orgsync-tmp");
    let mut first = Running::start(&ws, &["run", job.to_str().unwrap()], "first");
    // Two parts: the pointer in the state folder is written right after the
    // first checkpoint, so it is surely there by the second.
    first.wait_for_parts(&tmp, 2);
    let run_id = checkpoint_json(&tmp).unwrap()["run_id"].as_str().unwrap().to_string();

    let (tree, stats) = (tree_outside_tmp(&ws), sandbox.stats());
    let second = ws.orgsync().args(["run", job.to_str().unwrap()]).output().unwrap();
    assert!(
        first.child.try_wait().unwrap().is_none(),
        "the first run was still going: {}",
        first.stderr()
    );
    assert_eq!(second.status.code(), Some(5), "{}", all_output(&second));
    let text = String::from_utf8_lossy(&second.stderr).into_owned();
    assert_eq!(text.lines().count(), 1, "one line: {text}");
    for part in [
        "job bulk is already being written by another run".to_string(),
        format!("pid {}", first.child.id()),
        format!("run {run_id}"),
        "started 20".to_string(),
        "wait for that run to end".to_string(),
    ] {
        assert!(text.contains(&part), "{text} lacks {part}");
    }
    assert!(!text.contains("--resume"), "no resume advice: {text}");
    let after = sandbox.stats();
    assert_eq!(after.token_requests, stats.token_requests, "no token request");
    assert_eq!(after.count_requests, stats.count_requests, "no count request");
    assert_eq!(tree_outside_tmp(&ws), tree, "no file created or removed");

    assert!(first.wait().success(), "{}", first.stderr());
    assert_exact_snapshot(&ws.path().join("exports/bulk"), &sandbox);
}

#[test]
fn two_jobs_writing_the_same_target_cannot_run_at_once() {
    let sandbox = slow_sandbox();
    let ws = Workspace::new();
    let a = ws.job("a", &bulk_job(&sandbox.base_url(), 8, "exports/shared"));
    let b = ws.job("b", &bulk_job(&sandbox.base_url(), 8, "exports/shared"));
    let tmp = ws.path().join("exports/.shared.orgsync-tmp");
    let mut first = Running::start(&ws, &["run", a.to_str().unwrap()], "a");
    first.wait_for_parts(&tmp, 1);

    let stats = sandbox.stats();
    let out = ws.orgsync().args(["run", b.to_str().unwrap()]).output().unwrap();
    assert!(
        first.child.try_wait().unwrap().is_none(),
        "the first run was still going: {}",
        first.stderr()
    );
    assert_eq!(out.status.code(), Some(5), "{}", all_output(&out));
    let text = all_output(&out);
    let target = ws.path().canonicalize().unwrap().join("exports/shared");
    for part in [
        format!("target {} is already being written", target.display()),
        "job a".to_string(),
        format!("pid {}", first.child.id()),
    ] {
        assert!(text.contains(&part), "{text} lacks {part}");
    }
    assert_eq!(sandbox.stats().token_requests, stats.token_requests, "no request");
    assert!(first.wait().success(), "{}", first.stderr());
    assert_exact_snapshot(&ws.path().join("exports/shared"), &sandbox);
}

#[test]
fn a_holder_killed_with_sigkill_leaves_no_stale_lock() {
    let sandbox = slow_sandbox();
    let ws = Workspace::new();
    let job = ws.job("bulk", &bulk_job(&sandbox.base_url(), 25, "exports/{job}"));
    let tmp = ws.path().join("exports/.bulk.orgsync-tmp");
    let mut first = Running::start(&ws, &["run", job.to_str().unwrap()], "killed");
    first.wait_for_parts(&tmp, 2);
    first.child.kill().unwrap(); // SIGKILL: no chance to unlock
    first.wait();
    let lock = ws.path().join(".orgsync/state/locks/job-bulk.lock");
    let holder = std::fs::read_to_string(&lock).unwrap();
    assert!(holder.contains(&format!("pid={}", first.child.id())), "{holder}");

    let out = ws
        .orgsync()
        .args(["run", "--resume", job.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the lock died with its holder: {}",
        all_output(&out)
    );
    assert!(
        all_output(&out).contains("resuming an interrupted run"),
        "{}",
        all_output(&out)
    );
    assert_exact_snapshot(&ws.path().join("exports/bulk"), &sandbox);
}

/// Runs the bulk job with `ORGSYNC_FAULT=<stage>:fail`: it fails with exit 1
/// keeping `parts` finished parts; `--resume` then publishes the exact
/// snapshot with at most `refetch` page requests.
fn late_failure_then_resume(stage: &str, parts: usize, refetch: u64) {
    let sandbox = TestSandbox::with_records(RECORDS);
    let ws = Workspace::new();
    let job = ws.job("bulk", &bulk_job(&sandbox.base_url(), 1000, "exports/{job}"));
    let out = ws
        .orgsync()
        .env("ORGSYNC_FAULT", format!("{stage}:fail"))
        .args(["run", job.to_str().unwrap()])
        .output()
        .unwrap();
    let text = all_output(&out);
    assert_eq!(out.status.code(), Some(1), "{stage}: {text}");
    assert!(text.contains(&format!("ORGSYNC_FAULT={stage}:fail")), "{stage}: {text}");
    let tmp = ws.path().join("exports/.bulk.orgsync-tmp");
    let cp = checkpoint_json(&tmp).unwrap_or_else(|| panic!("{stage}: the checkpoint is kept: {text}"));
    assert_eq!(cp["files"].as_array().unwrap().len(), parts, "{stage}: {cp}");
    let records = cp["records"].as_u64().unwrap();
    let kept = format!("bulk.toml: {records} records in finished parts kept; run again with --resume to continue");
    assert!(text.contains(&kept), "{stage}: {text}");
    assert!(!ws.path().join("exports/bulk").exists(), "{stage}: nothing published");
    assert!(
        !tmp.join("_SUCCESS").exists(),
        "{stage}: no _SUCCESS left in the kept folder"
    );
    assert!(
        !ws.path().join(".orgsync/state/bulk.json").exists(),
        "{stage}: no state recorded"
    );

    let before = sandbox.stats().organizations_requests;
    let out = ws
        .orgsync()
        .args(["run", "--resume", job.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{stage}: {}", all_output(&out));
    let refetched = sandbox.stats().organizations_requests - before;
    assert!(refetched <= refetch, "{stage}: {refetched} page requests on resume");
    let snapshot = ws.path().join("exports/bulk");
    assert_eq!(
        manifest(&snapshot)["run_id"],
        cp["run_id"],
        "{stage}: the failed run's identity"
    );
    assert_exact_snapshot(&snapshot, &sandbox);
    assert!(!tmp.exists(), "{stage}: the temporary folder is gone");
}

#[test]
fn a_failure_while_finishing_the_last_part_keeps_the_finished_parts_for_resume() {
    // 15 full parts of 130 are checkpointed; the 16th (50 records) is redone.
    late_failure_then_resume("last-part", 15, 1);
}

#[test]
fn a_failure_while_writing_the_manifest_keeps_every_part_for_resume() {
    late_failure_then_resume("manifest", 16, 1);
}

#[test]
fn a_failure_while_publishing_keeps_every_part_and_the_checkpoint_for_resume() {
    // The checkpoint files were already taken out of the folder: they are put back.
    late_failure_then_resume("publish", 16, 1);
}

#[test]
fn publishing_refuses_a_folder_that_is_not_what_the_manifest_lists() {
    let sandbox = slow_sandbox();
    let ws = Workspace::new();
    let job = ws.job("bulk", &bulk_job(&sandbox.base_url(), 25, "exports/{job}"));
    let tmp = ws.path().join("exports/.bulk.orgsync-tmp");
    let mut run = Running::start(&ws, &["run", job.to_str().unwrap()], "stray");
    run.wait_for_parts(&tmp, 1);
    // Something else writes a part file into the folder being built.
    std::fs::write(tmp.join("part-00099.jsonl"), b"{\"business_id\": \"stray\"}\n").unwrap();
    let status = run.wait();
    let text = run.stderr();
    assert_eq!(status.code(), Some(1), "{text}");
    assert!(
        text.contains("is not whole (part-00099.jsonl is not in the manifest)"),
        "{text}"
    );
    assert!(text.contains("nothing was published"), "{text}");
    assert!(!ws.path().join("exports/bulk").exists(), "nothing published");
    assert_eq!(
        checkpoint_json(&tmp).unwrap()["records"],
        json!(RECORDS),
        "every part kept"
    );

    let out = ws
        .orgsync()
        .args(["run", "--resume", job.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", all_output(&out));
    assert_exact_snapshot(&ws.path().join("exports/bulk"), &sandbox);
}

#[test]
fn sigterm_while_a_job_publishes_stops_the_run_before_the_next_job() {
    let sandbox = TestSandbox::with_records(300);
    let ws = Workspace::new();
    ws.job("a", &bulk_job(&sandbox.base_url(), 1000, "exports/{job}"));
    ws.job("b", &bulk_job(&sandbox.base_url(), 1000, "exports/{job}"));
    // SIGTERM arrives right after job a's snapshot is renamed into place,
    // while its state is being recorded: no listener is waiting then.
    let out = ws
        .orgsync()
        .env("ORGSYNC_FAULT", "published:sigterm")
        .args(["run", "jobs"])
        .output()
        .unwrap();
    let text = all_output(&out);
    assert_eq!(out.status.code(), Some(143), "{text}");
    assert!(
        text.contains("interrupted by SIGTERM; 1 job(s) not started: jobs/b.toml"),
        "{text}"
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("a: 300 records"),
        "{text}"
    );
    assert_eq!(manifest(&ws.path().join("exports/a"))["records"], json!(300));
    assert!(ws.path().join(".orgsync/state/a.json").exists(), "job a recorded");
    assert!(!ws.path().join("exports/b").exists(), "job b never started");
    assert!(
        !ws.path().join(".orgsync/state/locks/job-b.lock").exists(),
        "job b never started"
    );
}

#[test]
fn logs_written_to_a_pipe_carry_no_colour_codes() {
    let sandbox = TestSandbox::with_records(20);
    let ws = Workspace::new();
    let job = ws.job("small", &bulk_job(&sandbox.base_url(), 1000, "exports/{job}"));
    for no_color in [None, Some("1")] {
        let mut cmd = ws.orgsync();
        if let Some(v) = no_color {
            cmd.env("NO_COLOR", v);
        }
        let out = cmd
            .args(["run", "--overwrite", job.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", all_output(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("snapshot published"), "logs are there: {stderr}");
        assert!(
            !stderr.contains("\u{1b}["),
            "NO_COLOR {no_color:?}: escape codes in {stderr:?}"
        );
    }
}

/// A tmpfs mounted for a test, unmounted when dropped (also on failure).
struct Tmpfs(PathBuf);

impl Tmpfs {
    /// `None` (with the reason) when this process cannot mount.
    fn mount(dir: &Path, size: &str) -> Result<Tmpfs, String> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Err("not running as root".into());
        }
        std::fs::create_dir_all(dir).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        match out.status.success() {
            true => Ok(Tmpfs(dir.to_path_buf())),
            false => Err(format!("mount failed: {}", String::from_utf8_lossy(&out.stderr))),
        }
    }

    fn free_bytes(&self) -> u64 {
        let path = std::ffi::CString::new(self.0.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path and a zeroed statvfs to fill.
        let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
        assert_eq!(unsafe { libc::statvfs(path.as_ptr(), &mut st) }, 0);
        st.f_bavail * st.f_frsize
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_fails_with_exit_1_and_resume_publishes_once_space_is_back() {
    let sandbox = TestSandbox::with_records(RECORDS);
    let ws = Workspace::new();
    let job = ws.job("bulk", &bulk_job(&sandbox.base_url(), 1000, "exports/{job}"));
    let disk = ws.path().join("disk");
    let tmpfs = match Tmpfs::mount(&disk, "2m") {
        Ok(t) => t,
        Err(why) => {
            eprintln!("skipped: a full disk needs a 2 MiB tmpfs mounted by the test ({why})");
            return;
        }
    };
    // The snapshot is about 150 KB: leave room for a few parts only.
    let filler = disk.join("filler");
    let fill = tmpfs.free_bytes().saturating_sub(64 * 1024);
    std::fs::write(&filler, vec![0u8; usize::try_from(fill).unwrap()]).unwrap();

    let out = ws
        .orgsync()
        .args(["run", "--out-dir", disk.to_str().unwrap(), job.to_str().unwrap()])
        .output()
        .unwrap();
    let text = all_output(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("the disk is full: free some space and run again"),
        "{text}"
    );
    assert!(!disk.join("exports/bulk").exists(), "nothing published");

    std::fs::remove_file(&filler).unwrap();
    let out = ws
        .orgsync()
        .args([
            "run",
            "--resume",
            "--out-dir",
            disk.to_str().unwrap(),
            job.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", all_output(&out));
    assert_exact_snapshot(&disk.join("exports/bulk"), &sandbox);
}
