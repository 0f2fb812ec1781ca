//! Hostile server answers through the real binary (issue 9, points 3, 4, 5
//! and 9): every odd `Retry-After` and `expires_in` ends in the exact
//! snapshot or exit 1, never a panic; an HTML maintenance page is retried
//! like a 5xx and, if it stays, named in the error; a page one record short
//! before the known total does not end the run, and with
//! `on_count_mismatch = "fail"` nothing is published and `--resume`
//! finishes; `validate` enforces the documented number ranges.

mod common;

use common::*;
use orgsync::sandbox::{Faults, SandboxConfig};

const FIELDS: &[&str] = &["business_id", "name", "financial_data.revenue"];

fn sandbox(records: u64, faults: Faults) -> TestSandbox {
    TestSandbox::start(SandboxConfig {
        records,
        faults,
        ..SandboxConfig::default()
    })
}

/// Run a CSV job with extra TOML; the snapshot folder and the output.
fn run(
    ws: &Workspace,
    name: &str,
    base_url: &str,
    extra: &str,
    args: &[&str],
) -> (std::path::PathBuf, std::process::Output) {
    let job = ws.job(name, &job_toml(base_url, "csv", FIELDS, extra));
    let out = ws.orgsync().args(["run", "-v"]).args(args).arg(&job).output().unwrap();
    (ws.path().join(format!("exports/{name}")), out)
}

/// The rows of a clean run against an undisturbed sandbox.
fn clean_rows(records: u64) -> Vec<Vec<String>> {
    let s = TestSandbox::with_records(records);
    let ws = Workspace::new();
    let (snapshot, out) = run(&ws, "clean", &s.base_url(), "", &[]);
    assert!(out.status.success(), "{}", all_output(&out));
    read_csv(&snapshot).1
}

/// stderr without ANSI colour codes (on a pipe orgsync may still colour).
fn stderr_text(out: &std::process::Output) -> String {
    let raw = String::from_utf8_lossy(&out.stderr);
    let mut plain = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            plain.push(c);
        }
    }
    plain
}

/// No panic: exit code 0 or 1, and no Rust panic text.
fn assert_no_panic(out: &std::process::Output) {
    let text = all_output(out);
    assert!(!text.contains("panicked"), "{text}");
    assert!(matches!(out.status.code(), Some(0 | 1)), "{text}");
}

const FAST: &str = "\n[retry]\nmax_attempts = 6\ninitial_delay_ms = 1\nmax_delay_secs = 0\n\
                    \n[rate_limit]\nrequests_per_second = 1000\nconcurrency = 2\n";

#[test]
fn every_hostile_retry_after_gives_the_exact_snapshot() {
    // Regression (issue 9): `Retry-After: 1e20` panicked (exit 101).
    let clean = clean_rows(300);
    let hostile = [
        "1e20",
        "99999999999999999999",
        "-3",
        "0.25",
        "",
        "soon",
        "NaN",
        "Fri, 31 Dec 9999 23:59:59 GMT",
        "Mon, 01 Jan 1900 00:00:00 GMT",
    ];
    for raw in hostile {
        let s = sandbox(
            300,
            Faults {
                throttle_every: Some(2),
                retry_after: Some(raw.to_string()),
                ..Faults::default()
            },
        );
        let ws = Workspace::new();
        let (snapshot, out) = run(&ws, "throttled", &s.base_url(), FAST, &[]);
        assert_no_panic(&out);
        assert!(out.status.success(), "Retry-After {raw:?}: {}", all_output(&out));
        assert_eq!(read_csv(&snapshot).1, clean, "Retry-After {raw:?}");
        let stderr = stderr_text(&out);
        let retries: Vec<&str> = stderr.lines().filter(|l| l.contains("retrying")).collect();
        assert_eq!(
            retries.len() as u64,
            s.stats().throttled,
            "Retry-After {raw:?}: {stderr}"
        );
        for line in &retries {
            assert!(line.contains("wait_ms=0"), "clamped to max_delay_secs = 0: {line}");
            if !raw.is_empty() {
                assert!(line.contains(raw), "logged with the raw value {raw:?}: {line}");
            }
        }
    }
}

#[test]
fn a_retry_after_of_1e20_waits_max_delay_secs() {
    let s = sandbox(
        100,
        Faults {
            throttle_every: Some(2),
            retry_after: Some("1e20".into()),
            ..Faults::default()
        },
    );
    let ws = Workspace::new();
    let extra = "\n[retry]\nmax_delay_secs = 1\n[rate_limit]\nrequests_per_second = 1000\nconcurrency = 1\n";
    let (snapshot, out) = run(&ws, "clamped", &s.base_url(), extra, &[]);
    assert!(out.status.success(), "{}", all_output(&out));
    assert_eq!(read_csv(&snapshot).1, clean_rows(100));
    let stderr = stderr_text(&out);
    let line = stderr.lines().find(|l| l.contains("retrying")).expect("a retry");
    assert!(line.contains("wait_ms=1000") && line.contains("1e20"), "{line}");
}

#[test]
fn a_server_that_always_throttles_with_a_huge_retry_after_exits_1() {
    let s = sandbox(
        100,
        Faults {
            throttle_every: Some(1),
            retry_after: Some("99999999999999999999".into()),
            ..Faults::default()
        },
    );
    let ws = Workspace::new();
    let (snapshot, out) = run(&ws, "always", &s.base_url(), FAST, &[]);
    assert_no_panic(&out);
    assert_eq!(out.status.code(), Some(1), "{}", all_output(&out));
    let stderr = stderr_text(&out);
    assert!(
        stderr.contains("giving up on") && stderr.contains("after 6 attempts"),
        "{stderr}"
    );
    assert!(!snapshot.exists());
}

#[test]
fn every_hostile_expires_in_gives_the_exact_snapshot_without_a_token_storm() {
    // Regression (issue 9): `expires_in: 1e30` panicked.
    let clean = clean_rows(500);
    // (raw JSON, a warning expected)
    let hostile = [
        ("1e30", true),
        ("18446744073709551615", true),
        ("0", true),
        ("-5", true),
        ("0.001", true),
        ("\"soon\"", true),
        ("\"600\"", false),
        ("null", false),
        ("", false),
        ("[1]", true),
    ];
    for (raw, warned) in hostile {
        let s = sandbox(
            500,
            Faults {
                expires_in_json: Some(raw.to_string()),
                ..Faults::default()
            },
        );
        let ws = Workspace::new();
        let (snapshot, out) = run(&ws, "tokens", &s.base_url(), FAST, &[]);
        assert_no_panic(&out);
        assert!(out.status.success(), "expires_in {raw:?}: {}", all_output(&out));
        assert_eq!(read_csv(&snapshot).1, clean, "expires_in {raw:?}");
        let st = s.stats();
        assert!(
            st.token_requests <= 1 + st.organizations_requests + st.count_requests,
            "at most one token request per page: {st:?}"
        );
        let stderr = stderr_text(&out);
        assert_eq!(
            stderr.lines().any(|l| l.contains("expires_in =")),
            warned,
            "expires_in {raw:?}: {stderr}"
        );
    }
}

#[test]
fn an_html_maintenance_page_is_retried_and_the_snapshot_is_exact() {
    let s = sandbox(
        1000,
        Faults {
            html_first: 3,
            ..Faults::default()
        },
    );
    let ws = Workspace::new();
    let (snapshot, out) = run(&ws, "maintenance", &s.base_url(), FAST, &[]);
    assert!(out.status.success(), "{}", all_output(&out));
    assert_eq!(read_csv(&snapshot).1, clean_rows(1000));
    assert_eq!(s.stats().html_answers, 3);
    assert_eq!(
        manifest(&snapshot)["stats"]["retries"],
        3,
        "each HTML page retried once"
    );
    let stderr = stderr_text(&out);
    assert!(stderr.contains("text/html"), "the retry says what came: {stderr}");
}

#[test]
fn an_html_page_that_stays_fails_naming_url_offset_content_type_and_body() {
    let s = sandbox(
        1000,
        Faults {
            html_at_offset: Some(200),
            ..Faults::default()
        },
    );
    let ws = Workspace::new();
    let (snapshot, out) = run(&ws, "down", &s.base_url(), FAST, &[]);
    assert_no_panic(&out);
    assert_eq!(out.status.code(), Some(1), "{}", all_output(&out));
    let stderr = stderr_text(&out);
    let error = stderr
        .lines()
        .find(|l| l.contains("not what was asked for") && l.starts_with("orgsync:"))
        .unwrap_or_else(|| panic!("{stderr}"));
    assert!(
        error.contains(&format!("{}/api/v3/organizations/", s.base_url())),
        "{error}"
    );
    assert!(error.contains("(offset 200)"), "{error}");
    assert!(error.contains("the last of 6 attempts"), "every attempt used: {error}");
    assert!(error.contains("content type text/html; charset=utf-8"), "{error}");
    // The first 100 bytes, cut before the `ä` that straddles byte 100.
    let excerpt = &orgsync::sandbox::MAINTENANCE_HTML[..99];
    assert!(error.contains(&format!("{excerpt:?}")), "{error}");
    assert!(!error.contains("back soon"), "only 100 bytes: {error}");
    for token in s.issued_tokens() {
        assert!(!stderr.contains(&token), "a token in the output");
    }
    assert!(!snapshot.exists(), "nothing published");
}

#[test]
fn a_short_page_before_the_known_total_does_not_end_the_run() {
    // Regression (issue 9): a page one record short at offset 500 of 3000
    // ended the run with 599 records and exit 0.
    let s = sandbox(
        3000,
        Faults {
            short_page_at: Some(500),
            ..Faults::default()
        },
    );
    let ws = Workspace::new();
    let (snapshot, out) = run(&ws, "short", &s.base_url(), FAST, &[]);
    assert!(out.status.success(), "{}", all_output(&out));
    let mut want = clean_rows(3000);
    want.remove(599);
    assert_eq!(
        read_csv(&snapshot).1,
        want,
        "every record but the one the server left out"
    );
    let m = manifest(&snapshot);
    assert_eq!(
        (m["records"].as_u64(), m["expected_records"].as_u64()),
        (Some(2999), Some(3000))
    );
    let stderr = stderr_text(&out);
    assert!(stderr.contains("short page before the known total"), "{stderr}");
    let warning = stderr
        .lines()
        .find(|l| l.contains("differs from the API's count"))
        .unwrap_or_else(|| panic!("{stderr}"));
    assert!(warning.contains("missing=1"), "{warning}");
    assert_eq!(s.stats().short_pages, 1);
}

#[test]
fn on_count_mismatch_fail_publishes_nothing_and_resume_finishes() {
    let s = sandbox(
        3000,
        Faults {
            short_page_at: Some(2500),
            ..Faults::default()
        },
    );
    let ws = Workspace::new();
    let extra = FAST;
    let fail = "rows_per_file = 1000\non_count_mismatch = \"fail\"\n";
    let toml = |base: &str| job_toml(base, "csv", FIELDS, extra).replace("[output]\n", &format!("[output]\n{fail}"));
    let job = ws.job("strict", &toml(&s.base_url()));
    let out = ws.orgsync().args(["run", "-v"]).arg(&job).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", all_output(&out));
    let stderr = stderr_text(&out);
    assert!(
        stderr.contains("wrote 2999 records but the API's count is 3000 (1 missing)"),
        "{stderr}"
    );
    assert!(!ws.path().join("exports/strict").exists(), "nothing published");
    assert!(stderr.contains("--resume"), "{stderr}");

    // The server is healthy again: --resume keeps the two finished parts.
    let healthy = TestSandbox::with_records(3000);
    std::fs::write(&job, toml(&healthy.base_url())).unwrap();
    let out = ws.orgsync().args(["run", "-v", "--resume"]).arg(&job).output().unwrap();
    assert!(out.status.success(), "{}", all_output(&out));
    let stderr = stderr_text(&out);
    assert!(stderr.contains("resuming an interrupted run"), "{stderr}");
    assert_eq!(read_csv(&ws.path().join("exports/strict")).1, clean_rows(3000));
    assert_eq!(
        healthy.stats().organizations_requests,
        11,
        "from offset 2000 on: 10 pages and the probe"
    );
}

#[test]
fn on_count_mismatch_fail_is_no_mismatch_with_max_records() {
    let s = TestSandbox::with_records(500);
    let ws = Workspace::new();
    let job = ws.job(
        "trial",
        &job_toml(&s.base_url(), "csv", FIELDS, FAST).replace("[output]\n", "[output]\non_count_mismatch = \"fail\"\n"),
    );
    let out = ws
        .orgsync()
        .args(["run", "--max-records", "150"])
        .arg(&job)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", all_output(&out));
    assert_eq!(read_csv(&ws.path().join("exports/trial")).1.len(), 150);
}

#[test]
fn validate_rejects_out_of_range_numbers_with_file_and_line() {
    let ws = Workspace::new();
    let extra = "\n[rate_limit]\nrequests_per_second = 20000\nburst = 5000\nconcurrency = 65\n\
                 \n[retry]\nmax_attempts = 1000\ninitial_delay_ms = 999999\nmax_delay_secs = 99999\nmax_elapsed_secs = 999999\n";
    let text = job_toml("https://api.vainu.io", "csv", FIELDS, extra)
        .replace("[api]\n", "[api]\ntimeout_secs = 7200\n")
        .replace(
            "[output]\n",
            "[output]\nrows_per_file = 0\non_count_mismatch = \"maybe\"\n",
        );
    ws.job("ranges", &text);
    let out = ws.orgsync().args(["validate", "jobs/ranges.toml"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", all_output(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line_of = |key: &str| {
        text.lines()
            .position(|l| l.starts_with(&format!("{key} =")))
            .map(|i| i + 1)
            .unwrap_or_else(|| panic!("{key} not in the job"))
    };
    for key in [
        "timeout_secs",
        "requests_per_second",
        "burst",
        "concurrency",
        "max_attempts",
        "initial_delay_ms",
        "max_delay_secs",
        "max_elapsed_secs",
        "rows_per_file",
        "on_count_mismatch",
    ] {
        let want = format!("jobs/ranges.toml:{}:", line_of(key));
        assert!(
            stdout.lines().any(|l| l.starts_with(&want) && l.contains(key)),
            "{key} at {want} in:\n{stdout}"
        );
    }
}

/// A TLS server on 127.0.0.1 with a self-signed certificate (a test-only
/// key in tests/data, made with openssl for this test; no secret): it
/// counts the connections it accepts and completes no handshake a verifying
/// client would accept.
fn untrusted_tls_server() -> (u16, std::sync::Arc<std::sync::atomic::AtomicU64>) {
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let cert = CertificateDer::from(std::fs::read(data.join("self-signed-cert.der")).unwrap());
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        std::fs::read(data.join("self-signed-key.der")).unwrap(),
    ));
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .unwrap();
    let config = Arc::new(config);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(AtomicU64::new(0));
    let counter = accepted.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(20) {
            let Ok(mut stream) = stream else { continue };
            counter.fetch_add(1, Ordering::SeqCst);
            let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(5)));
            if let Ok(mut conn) = rustls::ServerConnection::new(config.clone()) {
                // Drive the handshake until the client gives up on the certificate.
                while conn.complete_io(&mut stream).is_ok() && conn.is_handshaking() {}
            }
        }
    });
    (port, accepted)
}

#[test]
fn a_tls_certificate_failure_is_not_retried_and_says_so() {
    let (port, accepted) = untrusted_tls_server();
    let ws = Workspace::new();
    let base = format!("https://127.0.0.1:{port}");
    let (snapshot, out) = run(&ws, "untrusted", &base, FAST, &[]);
    assert_no_panic(&out);
    assert_eq!(out.status.code(), Some(1), "{}", all_output(&out));
    let stderr = stderr_text(&out);
    let error = stderr
        .lines()
        .find(|l| l.starts_with("orgsync:") && l.contains("TLS certificate problem"))
        .unwrap_or_else(|| panic!("{stderr}"));
    assert!(error.contains(&format!("{base}/api/oauth/token/")), "{error}");
    assert!(!stderr.contains("retrying"), "{stderr}");
    assert_eq!(
        accepted.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "one attempt, no retry"
    );
    assert!(!snapshot.exists());
}

/// A page whose records array holds a value that is not an object is not a
/// page of records: retried, then the run fails naming the offset, and
/// nothing is published (it used to be written as a row of nulls).
#[test]
fn a_record_that_is_not_an_object_is_never_a_row_of_nulls() {
    let s = sandbox(
        1000,
        Faults {
            non_object_at: Some(200),
            ..Faults::default()
        },
    );
    let ws = Workspace::new();
    let (snapshot, out) = run(&ws, "garbled", &s.base_url(), FAST, &[]);
    assert_no_panic(&out);
    assert_eq!(out.status.code(), Some(1), "{}", all_output(&out));
    let stderr = stderr_text(&out);
    let error = stderr
        .lines()
        .find(|l| l.starts_with("orgsync:") && l.contains("(offset 200)"))
        .unwrap_or_else(|| panic!("{stderr}"));
    assert!(
        error.contains("record 0 of the page is a string, not a JSON object"),
        "{error}"
    );
    assert!(
        error.contains("the last of 6 attempts"),
        "retried like any malformed body: {error}"
    );
    assert!(!snapshot.exists(), "nothing published");
}
