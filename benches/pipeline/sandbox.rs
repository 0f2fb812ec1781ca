//! The sandbox as a separate process (`orgsync sandbox --port 0`): start it,
//! read its URL, ask `GET /_sandbox/stats`, measure how fast it serves pages
//! when hammered directly (so it is clear it is not the bottleneck), and
//! stop it with SIGTERM. Does not run orgsync jobs (see `scenario.rs`).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::child;

/// The fields the bench jobs ask for (the paths of schemas/organizations.toml).
pub const FIELDS: [&str; 14] = [
    "business_id",
    "name",
    "founded",
    "legal_entity",
    "financial_data.revenue",
    "financial_data.employees",
    "financial_data.year",
    "financial_data.profit",
    "official_industries.code",
    "official_industries",
    "visiting_address.city",
    "visiting_address.coordinates",
    "technology_data.name",
    "modifications.basic",
];

/// A running `orgsync sandbox`; killed and reaped on drop if not stopped.
pub struct SandboxProcess {
    child: Child,
    reaped: bool,
    started: Instant,
    pub url: String,
    /// `--rate`, when the sandbox throttles.
    pub rate: Option<f64>,
}

impl SandboxProcess {
    /// Starts `orgsync sandbox` with `--records records` and `--rate` if given.
    pub fn start(bin: &str, records: u64, rate: Option<f64>) -> Result<SandboxProcess, String> {
        SandboxProcess::start_with(bin, records, rate, &[])
    }

    /// Like [`SandboxProcess::start`], with more `orgsync sandbox` arguments.
    pub fn start_with(bin: &str, records: u64, rate: Option<f64>, more: &[&str]) -> Result<SandboxProcess, String> {
        let mut cmd = Command::new(bin);
        cmd.args(["sandbox", "--port", "0", "--records", &records.to_string(), "-q"]);
        if let Some(r) = rate {
            cmd.args(["--rate", &r.to_string()]);
        }
        cmd.args(more);
        let started = Instant::now();
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start {bin} sandbox: {e}"))?;
        let stdout = child.stdout.take().ok_or("sandbox stdout not piped")?;
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .map_err(|e| format!("reading the sandbox's first line: {e}"))?;
        let url = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .ok_or_else(|| format!("sandbox did not print its URL: {line:?}"))?
            .to_string();
        Ok(SandboxProcess {
            child,
            reaped: false,
            started,
            url,
            rate,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// CPU the sandbox has used so far.
    pub fn cpu(&self) -> Duration {
        child::proc_cpu(self.pid()).unwrap_or_default()
    }

    /// SIGTERM, then reap; the sandbox's whole-life usage.
    pub fn stop(mut self) -> Option<child::Usage> {
        self.terminate()
    }

    fn terminate(&mut self) -> Option<child::Usage> {
        if self.reaped {
            return None;
        }
        self.reaped = true;
        // SAFETY: signalling our own, not yet reaped child by pid.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        child::reap(&self.child, self.started).ok()
    }
}

impl Drop for SandboxProcess {
    fn drop(&mut self) {
        self.terminate();
    }
}

/// The harness's HTTP client (orgsync's own builder: it installs the rustls provider).
pub fn http_client() -> Result<reqwest::Client, String> {
    orgsync::fetch::build_http_client(Duration::from_secs(60))
}

/// `GET /_sandbox/stats`.
pub async fn stats(http: &reqwest::Client, url: &str) -> Result<Value, String> {
    let resp = http
        .get(format!("{url}/_sandbox/stats"))
        .send()
        .await
        .map_err(|e| format!("sandbox stats: {e}"))?;
    resp.json::<Value>().await.map_err(|e| format!("sandbox stats: {e}"))
}

/// A bearer token from the sandbox.
async fn token(http: &reqwest::Client, url: &str) -> Result<String, String> {
    let resp = http
        .post(format!("{url}/api/oauth/token/"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "sandbox"),
            ("client_secret", "sandbox-secret"),
        ])
        .send()
        .await
        .map_err(|e| format!("token: {e}"))?;
    let body: Value = resp.json().await.map_err(|e| format!("token: {e}"))?;
    body["access_token"]
        .as_str()
        .map(|t| format!("Bearer {t}"))
        .ok_or_else(|| format!("no access_token in {body}"))
}

/// The sandbox's own serving rate, measured by firing `concurrency` loops of
/// full 100-record pages at it for `secs`.
#[derive(Debug, Clone, Copy)]
pub struct ServeRate {
    pub pages_per_sec: f64,
    pub records_per_sec: f64,
    /// Sandbox CPU-seconds per 100k records served.
    pub cpu_per_100k: f64,
    /// Response bytes per record.
    pub bytes_per_record: f64,
}

pub async fn serve_rate(
    sandbox: &SandboxProcess,
    records: u64,
    concurrency: usize,
    secs: f64,
) -> Result<ServeRate, String> {
    let http = http_client()?;
    let url = sandbox.url.clone();
    let bearer = token(&http, &url).await?;
    let pages = Arc::new(AtomicU64::new(0));
    let served = Arc::new(AtomicU64::new(0));
    let bytes = Arc::new(AtomicU64::new(0));
    let cpu0 = sandbox.cpu();
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(secs);
    let mut tasks = Vec::new();
    for worker in 0..concurrency as u64 {
        let (http, url, bearer) = (http.clone(), url.clone(), bearer.clone());
        let (pages, served, bytes) = (pages.clone(), served.clone(), bytes.clone());
        tasks.push(tokio::spawn(async move {
            let mut offset = worker * 100;
            while Instant::now() < deadline {
                let body = json!({"query": {"?ALL": []}, "database": "FI", "fields": FIELDS,
                                  "order": "business_id", "offset": offset % records.max(1), "limit": 100});
                let resp = http
                    .post(format!("{url}/api/v3/organizations/"))
                    .header("Authorization", &bearer)
                    .json(&body)
                    .send()
                    .await
                    .map_err(|e| format!("page: {e}"))?;
                let text = resp.bytes().await.map_err(|e| format!("page body: {e}"))?;
                pages.fetch_add(1, Ordering::Relaxed);
                served.fetch_add(100, Ordering::Relaxed);
                bytes.fetch_add(text.len() as u64, Ordering::Relaxed);
                offset += 100 * concurrency as u64;
            }
            Ok::<(), String>(())
        }));
    }
    for t in tasks {
        t.await.map_err(|e| format!("load task: {e}"))??;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let cpu = (sandbox.cpu() - cpu0).as_secs_f64();
    let n = served.load(Ordering::Relaxed) as f64;
    Ok(ServeRate {
        pages_per_sec: pages.load(Ordering::Relaxed) as f64 / elapsed,
        records_per_sec: n / elapsed,
        cpu_per_100k: if n > 0.0 { cpu / n * 1e5 } else { 0.0 },
        bytes_per_record: if n > 0.0 {
            bytes.load(Ordering::Relaxed) as f64 / n
        } else {
            0.0
        },
    })
}
