//! Every failure path of a run, through the real binary: the exit code of
//! SPEC section 2, one line that says what failed, where and what to do,
//! nothing published, the previous snapshot untouched, no secret shown.

mod common;

use common::*;
use orgsync::sandbox::SandboxConfig;

fn code(out: &std::process::Output) -> i32 {
    out.status.code().expect("exited")
}

/// The lines orgsync itself printed as errors (not log lines).
fn error_lines(out: &std::process::Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| l.starts_with("orgsync: "))
        .map(str::to_string)
        .collect()
}

#[test]
fn wrong_credentials_exit_3_with_the_endpoints_error() {
    let sandbox = TestSandbox::with_records(10);
    let ws = Workspace::new();
    let job = ws.job("creds", &job_toml(&sandbox.base_url(), "csv", &["business_id"], ""));
    let out = ws
        .orgsync()
        .env("VAINU_CLIENT_SECRET", "wrong-secret")
        .arg("run")
        .arg(&job)
        .output()
        .unwrap();
    assert_eq!(code(&out), 3, "{}", all_output(&out));
    let errors = error_lines(&out);
    assert_eq!(errors.len(), 1, "{errors:?}");
    let line = &errors[0];
    assert!(line.contains("creds.toml"), "names the job: {line}");
    assert!(line.contains("/api/oauth/token/"), "names the endpoint: {line}");
    assert!(line.contains("invalid_client"), "shows error: {line}");
    assert!(
        line.contains("Invalid client credentials"),
        "shows error_description: {line}"
    );
    assert!(line.contains("VAINU_CLIENT_SECRET"), "says what to check: {line}");
    assert!(!all_output(&out).contains("wrong-secret"), "the secret is never shown");
    assert!(!ws.path().join("exports").exists());
}

#[test]
fn a_query_the_api_rejects_exits_4_with_its_detail() {
    let sandbox = TestSandbox::with_records(10);
    let ws = Workspace::new();
    let toml = job_toml(&sandbox.base_url(), "csv", &["business_id"], "").replace(
        "order = \"business_id\"",
        "order = \"business_id\"\nfilter = { \"?BOGUS\" = { \"name\" = \"x\" } }",
    );
    let job = ws.job("badq", &toml);
    let out = ws.orgsync().arg("run").arg(&job).output().unwrap();
    assert_eq!(code(&out), 4, "{}", all_output(&out));
    let errors = error_lines(&out);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("?BOGUS"), "the API's detail: {}", errors[0]);
    assert!(errors[0].contains("400"), "{}", errors[0]);
    assert!(errors[0].contains("[query]"), "what to do: {}", errors[0]);
    assert!(!ws.path().join("exports").exists());
}

#[test]
fn an_existing_target_exits_2_before_fetching_and_overwrite_replaces_it() {
    let sandbox = TestSandbox::with_records(30);
    let ws = Workspace::new();
    let job = ws.job("again", &job_toml(&sandbox.base_url(), "csv", &["business_id"], ""));
    let out = ws.orgsync().arg("run").arg(&job).output().unwrap();
    assert!(out.status.success(), "{}", all_output(&out));
    let before = sandbox.stats();

    let out = ws.orgsync().arg("run").arg(&job).output().unwrap();
    assert_eq!(code(&out), 2, "{}", all_output(&out));
    let errors = error_lines(&out);
    assert!(
        errors[0].contains("exports/again") && errors[0].contains("--overwrite"),
        "{errors:?}"
    );
    let after = sandbox.stats();
    assert_eq!(
        after.token_requests, before.token_requests,
        "found before anything is fetched"
    );
    assert_eq!(after.organizations_requests, before.organizations_requests);

    let out = ws
        .orgsync()
        .args(["run", "--overwrite", "--max-records", "5"])
        .arg(&job)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", all_output(&out));
    assert_eq!(read_csv(&ws.path().join("exports/again")).1.len(), 5, "replaced");
    assert_eq!(
        ws.tree(&ws.path().join("exports")).len(),
        3,
        "no old or temporary folder left"
    );
}

#[test]
fn a_failed_run_publishes_nothing_and_keeps_the_previous_snapshot() {
    let good = TestSandbox::with_records(40);
    let ws = Workspace::new();
    let retry = "\n[retry]\nmax_attempts = 2\ninitial_delay_ms = 10\n";
    let job = ws.job("keep", &job_toml(&good.base_url(), "csv", &["business_id"], retry));
    let out = ws.orgsync().arg("run").arg(&job).output().unwrap();
    assert!(out.status.success(), "{}", all_output(&out));
    let snapshot = ws.path().join("exports/keep");
    let previous = std::fs::read(snapshot.join("part-00000.csv")).unwrap();

    let broken = TestSandbox::start(SandboxConfig {
        records: 40,
        fail_rate: 1.0,
        ..SandboxConfig::default()
    });
    let job = ws.job("keep", &job_toml(&broken.base_url(), "csv", &["business_id"], retry));
    let out = ws.orgsync().args(["run", "--overwrite"]).arg(&job).output().unwrap();
    assert_eq!(code(&out), 1, "{}", all_output(&out));
    let errors = error_lines(&out);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains("/api/v3/organizations/"),
        "names the URL: {}",
        errors[0]
    );
    assert!(errors[0].contains("offset 0"), "names the offset: {}", errors[0]);
    assert!(errors[0].contains("2 attempts"), "{}", errors[0]);
    assert_eq!(
        std::fs::read(snapshot.join("part-00000.csv")).unwrap(),
        previous,
        "previous snapshot untouched"
    );
    assert_eq!(ws.tree(&ws.path().join("exports")).len(), 3, "no temporary folder left");
}

#[test]
fn the_client_secret_appears_in_no_output_at_any_verbosity() {
    let sandbox = TestSandbox::with_records(120);
    let ws = Workspace::new();
    let job = ws.job("leak", &job_toml(&sandbox.base_url(), "jsonl", &["business_id"], ""));
    for flags in [&["-q"][..], &[], &["-v"], &["-vv"], &["-vv", "--log-format", "json"]] {
        let out = ws
            .orgsync()
            .arg("run")
            .arg("--overwrite")
            .args(flags)
            .arg(&job)
            .output()
            .unwrap();
        assert!(out.status.success(), "{flags:?}: {}", all_output(&out));
        let text = all_output(&out);
        assert!(!text.contains(SECRET), "{flags:?} leaked the secret");
        if flags.contains(&"-vv") {
            assert!(text.contains("/api/v3/organizations/"), "-vv really is verbose");
        }
    }
    // Nor in the manifest.
    let manifest = std::fs::read_to_string(ws.path().join("exports/leak/_manifest.json")).unwrap();
    assert!(!manifest.contains(SECRET));
    // And not when the credentials are wrong either.
    let out = ws
        .orgsync()
        .args(["-vv", "run", "--overwrite"])
        .arg(&job)
        .env("VAINU_CLIENT_SECRET", "s3cr3t-wrong")
        .output()
        .unwrap();
    assert_eq!(code(&out), 3);
    assert!(!all_output(&out).contains("s3cr3t-wrong"));
}

#[test]
fn without_fail_fast_every_job_runs_and_the_first_failure_sets_the_code() {
    let sandbox = TestSandbox::with_records(20);
    let ws = Workspace::new();
    let bad = job_toml(&sandbox.base_url(), "csv", &["business_id"], "").replace(
        "order = \"business_id\"",
        "order = \"business_id\"\nfilter = { \"?NOPE\" = [] }",
    );
    ws.job("a_bad", &bad);
    ws.job("b_good", &job_toml(&sandbox.base_url(), "csv", &["business_id"], ""));
    let out = ws.orgsync().args(["run", "jobs"]).output().unwrap();
    assert_eq!(code(&out), 4, "{}", all_output(&out));
    assert!(ws.path().join("exports/b_good/_SUCCESS").exists(), "the rest still ran");
    assert!(String::from_utf8_lossy(&out.stderr).contains("1 of 2 jobs failed"));

    let ws = Workspace::new();
    ws.job("a_bad", &bad);
    ws.job("b_good", &job_toml(&sandbox.base_url(), "csv", &["business_id"], ""));
    let out = ws.orgsync().args(["run", "--fail-fast", "jobs"]).output().unwrap();
    assert_eq!(code(&out), 4, "{}", all_output(&out));
    assert!(
        !ws.path().join("exports/b_good").exists(),
        "--fail-fast stops at the first failure"
    );
}

#[test]
fn an_unset_variable_exits_2_naming_variable_file_and_line() {
    let ws = Workspace::new();
    let job = ws.job("env", &job_toml("http://127.0.0.1:9", "csv", &["business_id"], ""));
    let out = ws
        .orgsync()
        .env_remove("VAINU_CLIENT_SECRET")
        .arg("run")
        .arg(&job)
        .output()
        .unwrap();
    assert_eq!(code(&out), 2, "{}", all_output(&out));
    let text = all_output(&out);
    assert!(text.contains("VAINU_CLIENT_SECRET"), "{text}");
    assert!(text.contains("env.toml:7"), "file and line: {text}");
}

#[test]
fn a_clear_text_base_url_is_refused() {
    let ws = Workspace::new();
    let job = ws.job("http", &job_toml("http://api.example.com", "csv", &["business_id"], ""));
    let out = ws.orgsync().arg("run").arg(&job).output().unwrap();
    assert_eq!(code(&out), 2, "{}", all_output(&out));
    assert!(all_output(&out).contains("https"), "{}", all_output(&out));
}

#[test]
fn an_output_path_that_cannot_be_a_folder_exits_2() {
    let sandbox = TestSandbox::with_records(10);
    let ws = Workspace::new();
    std::fs::write(ws.path().join("exports"), "a file where a folder should be").unwrap();
    let job = ws.job("nowhere", &job_toml(&sandbox.base_url(), "csv", &["business_id"], ""));
    let out = ws.orgsync().arg("run").arg(&job).output().unwrap();
    assert_eq!(code(&out), 2, "{}", all_output(&out));
    assert_eq!(sandbox.stats().organizations_requests, 0, "found before fetching");
}
