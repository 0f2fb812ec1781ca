//! A run survives what the real API does to long jobs (issue 3), through the
//! real binary: injected 5xx, a server rate limit below the job's budget,
//! tokens that expire mid-run, latency with concurrency; each snapshot is
//! compared record by record with a clean run. Plus: concurrency does not
//! change a byte, a budget at the server's limit draws no 429, no secret or
//! token is ever shown, and the 401 and duplicate-page paths against a
//! small mock server.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use common::*;
use orgsync::sandbox::SandboxConfig;
use serde_json::{Value, json};

const FIELDS: &[&str] = &[
    "business_id",
    "name",
    "financial_data.revenue",
    "official_industries.code",
];

fn sandbox(records: u64, tweak: impl FnOnce(&mut SandboxConfig)) -> TestSandbox {
    let mut config = SandboxConfig {
        records,
        ..SandboxConfig::default()
    };
    tweak(&mut config);
    TestSandbox::start(config)
}

/// Run a CSV job with extra TOML sections; the snapshot folder.
fn run_csv(ws: &Workspace, name: &str, base_url: &str, extra: &str) -> (std::path::PathBuf, std::process::Output) {
    let job = ws.job(name, &job_toml(base_url, "csv", FIELDS, extra));
    let out = ws.orgsync().args(["run", "-v"]).arg(&job).output().unwrap();
    (ws.path().join(format!("exports/{name}")), out)
}

/// The clean run every disturbed run must equal, record by record.
fn clean_rows(records: u64) -> Vec<Vec<String>> {
    let clean = TestSandbox::with_records(records);
    let ws = Workspace::new();
    let (snapshot, out) = run_csv(&ws, "clean", &clean.base_url(), "");
    assert!(out.status.success(), "{}", all_output(&out));
    let rows = read_csv(&snapshot).1;
    assert_eq!(rows.len() as u64, records);
    rows
}

fn stats(snapshot: &std::path::Path) -> Value {
    manifest(snapshot)["stats"].clone()
}

const FAST_RETRY: &str = "\n[retry]\nmax_attempts = 10\ninitial_delay_ms = 10\nmax_delay_secs = 1\n";

#[test]
fn a_fifth_of_requests_failing_still_gives_the_clean_snapshot() {
    let s = sandbox(1000, |c| c.fail_rate = 0.2);
    let ws = Workspace::new();
    let extra = format!("{FAST_RETRY}\n[rate_limit]\nrequests_per_second = 1000\nconcurrency = 4\n");
    let (snapshot, out) = run_csv(&ws, "flaky", &s.base_url(), &extra);
    assert!(out.status.success(), "{}", all_output(&out));
    assert_eq!(read_csv(&snapshot).1, clean_rows(1000));
    let injected = s.stats().injected_failures;
    assert!(injected > 0, "the sandbox did fail some requests");
    assert_eq!(stats(&snapshot)["retries"], injected, "every failure retried once more");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let retry_lines: Vec<&str> = stderr.lines().filter(|l| l.contains("retrying")).collect();
    assert_eq!(retry_lines.len() as u64, injected, "each retry logged");
    assert!(
        retry_lines
            .iter()
            .all(|l| l.contains("reason") && l.contains("wait_ms")),
        "with reason and wait"
    );
}

#[test]
fn a_server_limit_below_the_budget_is_obeyed_through_retry_after() {
    let s = sandbox(1500, |c| c.rate = Some(20.0));
    let ws = Workspace::new();
    let extra = format!("{FAST_RETRY}\n[rate_limit]\nrequests_per_second = 200\nconcurrency = 4\n");
    let (snapshot, out) = run_csv(&ws, "throttled", &s.base_url(), &extra);
    assert!(out.status.success(), "{}", all_output(&out));
    assert_eq!(read_csv(&snapshot).1, clean_rows(1500));
    let throttled = s.stats().throttled;
    assert!(
        throttled > 0,
        "the budget is above the server's limit, so some 429s come"
    );
    assert_eq!(stats(&snapshot)["throttled"], throttled, "every 429 counted");
}

#[test]
fn a_budget_at_the_servers_limit_draws_no_429() {
    let s = sandbox(2000, |c| c.rate = Some(10.0));
    let ws = Workspace::new();
    let extra = "\n[rate_limit]\nrequests_per_second = 10\nburst = 1\nconcurrency = 4\n";
    let (snapshot, out) = run_csv(&ws, "paced", &s.base_url(), extra);
    assert!(out.status.success(), "{}", all_output(&out));
    assert_eq!(read_csv(&snapshot).1.len(), 2000);
    let st = s.stats();
    assert_eq!(st.throttled, 0, "{st:?}");
    assert_eq!(
        st.organizations_requests + st.count_requests,
        22,
        "one count, 20 full pages, one empty probe"
    );
}

#[test]
fn tokens_that_live_two_seconds_are_renewed_across_a_longer_run() {
    let s = sandbox(3000, |c| c.token_ttl = std::time::Duration::from_secs(2));
    let ws = Workspace::new();
    // 31 requests at 3/s: about 10 s, five token lifetimes.
    let extra = "\n[rate_limit]\nrequests_per_second = 3\nconcurrency = 2\n";
    let (snapshot, out) = run_csv(&ws, "renewed", &s.base_url(), extra);
    assert!(out.status.success(), "{}", all_output(&out));
    assert_eq!(read_csv(&snapshot).1, clean_rows(3000));
    let st = s.stats();
    let elapsed = stats(&snapshot)["elapsed_secs"].as_f64().unwrap();
    assert!(elapsed > 10.0 - 0.5, "the run outlives several tokens: {elapsed} s");
    assert!(st.token_requests >= 5, "renewed before expiry: {st:?}");
    assert_eq!(stats(&snapshot)["token_requests"], st.token_requests);
    assert_eq!(
        st.unauthorized, 0,
        "renewed at 90% of the lifetime, so no request met an expired token"
    );
    let renewals = String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| l.contains("token renewed"))
        .count();
    assert_eq!(renewals as u64, st.token_requests - 1, "each renewal logged");
}

#[test]
fn latency_with_eight_pages_in_flight_gives_the_clean_snapshot() {
    let s = sandbox(2000, |c| c.latency = std::time::Duration::from_millis(50));
    let ws = Workspace::new();
    let extra = "\n[rate_limit]\nrequests_per_second = 1000\nconcurrency = 8\n";
    let (snapshot, out) = run_csv(&ws, "slow", &s.base_url(), extra);
    assert!(out.status.success(), "{}", all_output(&out));
    assert_eq!(read_csv(&snapshot).1, clean_rows(2000));
    // Ahead of the count's end, no page is asked for twice or past the probe.
    assert_eq!(s.stats().organizations_requests, 21);
}

#[test]
fn concurrency_eight_writes_the_same_bytes_as_concurrency_one() {
    let s = sandbox(1200, |c| c.latency = std::time::Duration::from_millis(5));
    for format in ["csv", "parquet"] {
        let ws = Workspace::new();
        let mut snapshots = Vec::new();
        for concurrency in [1, 8] {
            let name = format!("c{concurrency}");
            let extra = format!(
                "rows_per_file = 500\n\n[rate_limit]\nrequests_per_second = 1000\nconcurrency = {concurrency}\n"
            );
            let job = ws.job(&name, &job_toml(&s.base_url(), format, FIELDS, &extra));
            let out = ws.orgsync().arg("run").arg(&job).output().unwrap();
            assert!(out.status.success(), "{}", all_output(&out));
            snapshots.push(part_bytes(&ws.path().join(format!("exports/{name}"))));
        }
        assert_eq!(snapshots[0].len(), 3, "{format}: 1,200 records in parts of 500");
        assert!(snapshots[0] == snapshots[1], "{format}: byte-identical part files");
    }
}

#[test]
fn no_secret_refresh_token_or_access_token_is_ever_shown() {
    let s = sandbox(300, |c| c.token_ttl = std::time::Duration::from_secs(1));
    let ws = Workspace::new();
    let slow = "\n[rate_limit]\nrequests_per_second = 3\nconcurrency = 1\n";
    let cc = ws.job("cc", &job_toml(&s.base_url(), "csv", FIELDS, slow));
    let jwt_toml = job_toml(&s.base_url(), "csv", FIELDS, slow).replace(
        "client_id = \"${VAINU_CLIENT_ID}\"\nclient_secret = \"${VAINU_CLIENT_SECRET}\"",
        "method = \"jwt_refresh\"\nrefresh_token = \"${VAINU_REFRESH_TOKEN}\"",
    );
    let jwt = ws.job("jwt", &jwt_toml);
    let mut shown = String::new();
    for job in [&cc, &jwt] {
        let out = ws.orgsync().args(["-v", "run"]).arg(job).output().unwrap();
        assert!(out.status.success(), "{}", all_output(&out));
        shown.push_str(&all_output(&out));
        let out = ws.orgsync().args(["-v", "auth", "check"]).arg(job).output().unwrap();
        assert!(out.status.success(), "{}", all_output(&out));
        shown.push_str(&all_output(&out));
        shown.push_str(
            &std::fs::read_to_string(ws.path().join(format!(
                "exports/{}/_manifest.json",
                if job == &cc { "cc" } else { "jwt" }
            )))
            .unwrap_or_default(),
        );
    }
    let tokens = s.issued_tokens();
    assert!(tokens.len() >= 6, "several tokens, renewed mid-run: {}", tokens.len());
    assert!(!shown.contains(orgsync::sandbox::CLIENT_SECRET), "client secret shown");
    assert!(!shown.contains(orgsync::sandbox::REFRESH_TOKEN), "refresh token shown");
    for token in tokens {
        assert!(!shown.contains(&token), "an access token was shown");
    }
    assert!(shown.contains("token renewed"), "the runs did renew tokens");
}

#[test]
fn a_jwt_refresh_job_exports_like_a_client_credentials_job() {
    let s = sandbox(250, |_| {});
    let ws = Workspace::new();
    let toml = job_toml(&s.base_url(), "csv", FIELDS, "").replace(
        "client_id = \"${VAINU_CLIENT_ID}\"\nclient_secret = \"${VAINU_CLIENT_SECRET}\"",
        "method = \"jwt_refresh\"\nrefresh_token = \"${VAINU_REFRESH_TOKEN}\"",
    );
    let job = ws.job("jwt", &toml);
    let out = ws.orgsync().arg("run").arg(&job).output().unwrap();
    assert!(out.status.success(), "{}", all_output(&out));
    assert_eq!(read_csv(&ws.path().join("exports/jwt")).1, clean_rows(250));
    // The refresh endpoint sends no expires_in: an hour is assumed.
    let out = ws.orgsync().args(["auth", "check"]).arg(&job).output().unwrap();
    assert!(out.status.success(), "{}", all_output(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("lifetime: not stated; assumed 3600 s (renewed after 3240 s)"),
        "{}",
        all_output(&out)
    );
    let out = ws
        .orgsync()
        .env("VAINU_REFRESH_TOKEN", "expired")
        .args(["run", "--overwrite"])
        .arg(&job)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", all_output(&out));
    assert!(
        all_output(&out).contains("VAINU_REFRESH_TOKEN"),
        "says what to fix: {}",
        all_output(&out)
    );
}

#[test]
fn token_endpoint_refusals_each_say_what_to_fix() {
    let s = sandbox(10, |_| {});
    let ws = Workspace::new();
    let cases = [
        ("scope = \"admin\"", "invalid_scope", "auth.scope"),
        (
            "token_url = \"/api/token_authentication/refresh/\"",
            "",
            "auth.token_url",
        ),
    ];
    for (line, code, advice) in cases {
        let toml = job_toml(&s.base_url(), "csv", FIELDS, "").replace(
            "client_secret = \"${VAINU_CLIENT_SECRET}\"",
            &format!("client_secret = \"${{VAINU_CLIENT_SECRET}}\"\n{line}"),
        );
        let job = ws.job("refused", &toml);
        let out = ws.orgsync().args(["auth", "check"]).arg(&job).output().unwrap();
        assert_eq!(out.status.code(), Some(3), "{line}: {}", all_output(&out));
        let text = all_output(&out);
        assert!(text.contains(code) && text.contains(advice), "{line}: {text}");
    }
    // A JWT job aimed at the OAuth endpoint: unsupported_grant_type.
    let toml = job_toml(&s.base_url(), "csv", FIELDS, "").replace(
        "client_id = \"${VAINU_CLIENT_ID}\"\nclient_secret = \"${VAINU_CLIENT_SECRET}\"",
        "method = \"jwt_refresh\"\nrefresh_token = \"${VAINU_REFRESH_TOKEN}\"\ntoken_url = \"/api/oauth/token/\"",
    );
    let job = ws.job("grant", &toml);
    let out = ws.orgsync().args(["auth", "check"]).arg(&job).output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", all_output(&out));
    assert!(
        all_output(&out).contains("unsupported_grant_type") && all_output(&out).contains("auth.method"),
        "{}",
        all_output(&out)
    );
}

#[test]
fn auth_check_and_count_report_without_showing_the_token() {
    let s = sandbox(321, |c| c.token_ttl = std::time::Duration::from_secs(600));
    let ws = Workspace::new();
    let job = ws.job("probe", &job_toml(&s.base_url(), "csv", FIELDS, ""));
    let out = ws.orgsync().args(["auth", "check"]).arg(&job).output().unwrap();
    assert!(out.status.success(), "{}", all_output(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("token type: Bearer"), "{stdout}");
    assert!(stdout.contains("scope: vainu:api"), "{stdout}");
    assert!(stdout.contains("lifetime: 600 s (renewed after 540 s)"), "{stdout}");
    for token in s.issued_tokens() {
        assert!(!stdout.contains(&token));
    }
    // count never sends `order` (the endpoint rejects it) although the job has one.
    let out = ws.orgsync().arg("count").arg(&job).output().unwrap();
    assert!(out.status.success(), "{}", all_output(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "321");
}

/// A mock API: the token endpoint always answers; `/count/` and the
/// organizations endpoint are whatever `handler` says.
struct Mock {
    runtime: tokio::runtime::Runtime,
    base_url: String,
    token_requests: Arc<AtomicU64>,
}

fn mock(handler: impl Fn(&str, Value) -> (u16, Value) + Send + Sync + 'static) -> Mock {
    mock_with_tokens(
        |n| {
            (
                200,
                json!({"access_token": format!("mock-{n}"), "token_type": "Bearer", "expires_in": 3600}),
            )
        },
        handler,
    )
}

/// A mock whose token endpoint answers `tokens(n)` to its n-th request.
fn mock_with_tokens(
    tokens: impl Fn(u64) -> (u16, Value) + Send + Sync + 'static,
    handler: impl Fn(&str, Value) -> (u16, Value) + Send + Sync + 'static,
) -> Mock {
    use axum::routing::post;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let token_requests = Arc::new(AtomicU64::new(0));
    let counted = token_requests.clone();
    let tokens = Arc::new(tokens);
    let handler = Arc::new(handler);
    let api = move |path: &'static str| {
        let handler = handler.clone();
        move |axum::Json(body): axum::Json<Value>| {
            let handler = handler.clone();
            async move {
                let (status, answer) = handler(path, body);
                (axum::http::StatusCode::from_u16(status).unwrap(), axum::Json(answer))
            }
        }
    };
    let app = axum::Router::new()
        .route(
            "/api/oauth/token/",
            post(move || {
                let n = counted.fetch_add(1, Ordering::SeqCst);
                let (status, answer) = tokens(n);
                async move { (axum::http::StatusCode::from_u16(status).unwrap(), axum::Json(answer)) }
            }),
        )
        .route("/api/v3/organizations/count/", post(api("count")))
        .route("/api/v3/organizations/", post(api("organizations")));
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let base_url = format!("http://{}", listener.local_addr().unwrap());
    runtime.spawn(async move { axum::serve(listener, app).await });
    Mock {
        runtime,
        base_url,
        token_requests,
    }
}

#[test]
fn a_second_401_in_a_row_exits_3_after_exactly_one_renewal() {
    let m = mock(|_, _| (401, json!({"detail": "Given token not valid for any token type"})));
    let ws = Workspace::new();
    let job = ws.job("revoked", &job_toml(&m.base_url, "csv", FIELDS, ""));
    let out = ws.orgsync().arg("run").arg(&job).output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", all_output(&out));
    assert_eq!(
        m.token_requests.load(Ordering::SeqCst),
        2,
        "the first token and one renewal"
    );
    assert!(all_output(&out).contains("401 twice"), "{}", all_output(&out));
    drop(m.runtime);
}

#[test]
fn records_repeated_across_pages_are_dropped_and_counted() {
    // Pages overlap by five records, as when records shift under offset paging.
    let m = mock(|path, body| {
        if path == "count" {
            return (200, json!({"count": 250, "status": "ready"}));
        }
        let offset = body["offset"].as_u64().unwrap();
        let limit = body["limit"].as_u64().unwrap();
        let start = offset.saturating_sub(5 * (offset / 100));
        let end = (start + limit).min(250);
        let records: Vec<Value> = (start..end)
            .map(|i| json!({"business_id": format!("FI{i:08}"), "name": format!("n{i}")}))
            .collect();
        (200, Value::Array(records))
    });
    let ws = Workspace::new();
    let extra = "\n[rate_limit]\nconcurrency = 1\nrequests_per_second = 100\n";
    let toml = job_toml(&m.base_url, "csv", &["business_id", "name"], extra).replace(
        "order = \"business_id\"",
        "order = \"business_id\"\nkey = \"business_id\"",
    );
    let job = ws.job("dups", &toml);
    let out = ws.orgsync().arg("run").arg(&job).output().unwrap();
    assert!(out.status.success(), "{}", all_output(&out));
    let snapshot = ws.path().join("exports/dups");
    let rows = read_csv(&snapshot).1;
    let ids: Vec<String> = rows.iter().map(|r| r[0].clone()).collect();
    let want: Vec<String> = (0..250).map(|i| format!("FI{i:08}")).collect();
    assert_eq!(ids, want, "each record once, in order");
    let m2 = manifest(&snapshot);
    assert_eq!(m2["duplicates_dropped"], 10);
    assert_eq!(m2["records"], 250);
    assert_eq!(m2["expected_records"], 250);
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("differs"),
        "250 unique records match the count"
    );
    drop(m.runtime);
}

/// Pages of `total` records from a mock, `{"business_id": ...}` each.
fn pages_of(total: u64, body: &Value) -> Value {
    let offset = body["offset"].as_u64().unwrap();
    let limit = body["limit"].as_u64().unwrap();
    Value::Array(
        (offset..(offset + limit).min(total))
            .map(|i| json!({"business_id": format!("FI{i:08}")}))
            .collect(),
    )
}

#[test]
fn the_token_endpoint_is_retried_on_5xx_and_429() {
    let m = mock_with_tokens(
        |n| match n {
            0 => (503, json!({"detail": "down for a moment"})),
            1 => (429, json!({"detail": "slow down"})),
            _ => (
                200,
                json!({"access_token": "mock-ok", "token_type": "Bearer", "expires_in": 3600}),
            ),
        },
        |path, body| match path {
            "count" => (200, json!({"count": 150, "status": "ready"})),
            _ => (200, pages_of(150, &body)),
        },
    );
    let ws = Workspace::new();
    let job = ws.job("tok", &job_toml(&m.base_url, "csv", &["business_id"], FAST_RETRY));
    let out = ws.orgsync().arg("run").arg(&job).output().unwrap();
    assert!(out.status.success(), "{}", all_output(&out));
    assert_eq!(
        m.token_requests.load(Ordering::SeqCst),
        3,
        "two failures retried, then a token"
    );
    let snapshot = ws.path().join("exports/tok");
    assert_eq!(
        manifest(&snapshot)["stats"]["token_requests"],
        3,
        "every attempt counted"
    );
    assert_eq!(read_csv(&snapshot).1.len(), 150);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.lines().filter(|l| l.contains("retrying token request")).count(),
        2,
        "{stderr}"
    );
    drop(m.runtime);
}

#[test]
fn a_count_that_differs_from_what_was_written_is_a_warning_and_in_the_manifest() {
    let m = mock(|path, body| match path {
        "count" => (200, json!({"count": 300, "status": "ready"})),
        _ => (200, pages_of(250, &body)),
    });
    let ws = Workspace::new();
    let job = ws.job("short", &job_toml(&m.base_url, "csv", &["business_id"], ""));
    let out = ws.orgsync().arg("run").arg(&job).output().unwrap();
    assert!(out.status.success(), "{}", all_output(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let warning = stderr
        .lines()
        .find(|l| l.contains("differs from the API's count"))
        .unwrap_or_else(|| panic!("{stderr}"));
    assert!(warning.contains("300") && warning.contains("250"), "{warning}");
    let m2 = manifest(&ws.path().join("exports/short"));
    assert_eq!(
        (m2["records"].as_u64(), m2["expected_records"].as_u64()),
        (Some(250), Some(300))
    );
    drop(m.runtime);
}
