//! `--state-dir` / `ORGSYNC_STATE_DIR`: the state file, checkpoints and
//! locks in a folder of their own, so two fresh working folders (two pods)
//! sharing only that folder (a mounted volume) chain incremental windows;
//! a bucket URL that cannot be used (no folder, another scheme, a bad lock
//! lease) is refused with exit 2 before any request (state in a bucket
//! itself: tests/s3_state.rs).

mod common;

use std::path::PathBuf;

use common::{TestSandbox, Workspace, all_output, job_toml, manifest};
use serde_json::Value;

fn incremental_job(base_url: &str) -> String {
    job_toml(
        base_url,
        "jsonl",
        &["business_id", "modifications.basic"],
        "\n[incremental]\nfield = \"modifications.basic\"\nstart = \"2000-01-01T00:00:00\"\nlag_secs = 0\n",
    )
    .replace("path = \"exports/{job}\"", "path = \"exports/{job}/{run_id}\"")
}

fn state(dir: &std::path::Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("inc.json")).expect("the state file")).unwrap()
}

#[test]
fn two_fresh_working_folders_sharing_a_state_dir_chain_their_windows() {
    let sandbox = TestSandbox::with_records(80);
    let volume = Workspace::new();
    let state_dir = volume.path().join("state");

    let pod1 = Workspace::new();
    let job = pod1.job("inc", &incremental_job(&sandbox.base_url()));
    let out = pod1
        .orgsync()
        .args(["run", "--state-dir"])
        .arg(&state_dir)
        .arg(&job)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", all_output(&out));
    assert!(!pod1.path().join(".orgsync").exists(), "no state beside the output");
    let first = state(&state_dir);
    let m1 = manifest(&PathBuf::from(first["snapshot"].as_str().unwrap()));

    let pod2 = Workspace::new();
    let job = pod2.job("inc", &incremental_job(&sandbox.base_url()));
    let out = pod2
        .orgsync()
        .arg("run")
        .arg(&job)
        .env("ORGSYNC_STATE_DIR", &state_dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", all_output(&out));
    let second = state(&state_dir);
    let snap2 = PathBuf::from(second["snapshot"].as_str().unwrap());
    assert!(snap2.starts_with(pod2.path().canonicalize().unwrap()) || snap2.starts_with(pod2.path()));
    let m2 = manifest(&snap2);
    assert_eq!(
        m2["incremental"]["from"], m1["incremental"]["to"],
        "the window continues"
    );
    assert!(!pod2.path().join(".orgsync").exists());
}

#[test]
fn an_unusable_state_url_is_refused_before_any_request() {
    let sandbox = TestSandbox::with_records(10);
    let ws = Workspace::new();
    let job = ws.job("inc", &incremental_job(&sandbox.base_url()));
    // URL, extra environment, what the message says.
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);
    let cases: [Case; 3] = [
        ("s3://bucket", &[], "names no folder in the bucket"),
        ("gs://bucket/state", &[], "is not an s3:// URL"),
        (
            "s3://bucket/state",
            &[("ORGSYNC_LOCK_LEASE_SECS", "0")],
            "is not a lease",
        ),
    ];
    for (url, env, says) in cases {
        let out = ws
            .orgsync()
            .args(["run", "--state-dir", url])
            .arg(&job)
            .envs(env.iter().copied())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{url}: {}", all_output(&out));
        assert!(all_output(&out).contains(says), "{url}: {}", all_output(&out));
    }
    let stats = sandbox.stats();
    assert_eq!((stats.token_requests, stats.organizations_requests), (0, 0));
}
