//! One bench run of `orgsync run` (release) against a running sandbox: the
//! job file it writes into a temp dir, the child's rusage, the manifest's
//! stats and the sandbox's counters before and after. Medians and printing
//! are `report.rs`'s.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::child;
use crate::sandbox::{self, SandboxProcess};

/// What a job asks for.
#[derive(Debug, Clone)]
pub struct JobSpec {
    pub format: &'static str,
    pub key: bool,
    pub rps: f64,
    pub concurrency: usize,
    /// The transport floor: the same request and response bytes (`[query]
    /// fields` = every path of the schema), but one column (the key's
    /// field) written to uncompressed CSV and no de-duplication. What is
    /// left is HTTP, the runtime, one scan of each page and a thin write:
    /// the client CPU no decoder or writer change can remove.
    pub floor: bool,
    /// Export mode (`[query] mode = "export"`): one async export, polled
    /// every second, its JSON Lines file downloaded and decoded in one
    /// stream. Wall time includes the polling; CPU is the download's.
    pub export: bool,
}

impl JobSpec {
    /// A paging job (neither the floor nor export mode).
    pub fn paging(format: &'static str, key: bool, rps: f64, concurrency: usize) -> JobSpec {
        JobSpec {
            format,
            key,
            rps,
            concurrency,
            floor: false,
            export: false,
        }
    }
}

/// What one run measured.
#[derive(Debug, Clone, Copy, Default)]
pub struct Measured {
    pub records: f64,
    pub wall_secs: f64,
    pub records_per_sec: f64,
    pub cpu_secs: f64,
    pub cpu_per_100k: f64,
    /// Records per client CPU-second (= per core).
    pub records_per_cpu_sec: f64,
    pub peak_rss: f64,
    pub requests: f64,
    pub requests_per_sec: f64,
    pub throttled_client: f64,
    pub throttled_server: f64,
    pub sandbox_cpu_per_100k: f64,
    pub bytes: f64,
}

/// The job file text for `spec` against `base_url`, writing under `out`;
/// `fields`, when given, is the `[query] fields` list.
pub fn job_toml(spec: &JobSpec, base_url: &str, schema: &Path, out: &Path, fields: Option<&[String]>) -> String {
    let key = if spec.key { "key = \"business_id\"\n" } else { "" };
    let fields = fields.map_or(String::new(), |f| {
        let quoted: Vec<String> = f.iter().map(|p| format!("{p:?}")).collect();
        format!("fields = [{}]\n", quoted.join(", "))
    });
    let compression = if spec.format == "parquet" { "zstd" } else { "none" };
    let (mode, export) = if spec.export {
        ("mode = \"export\"\n", "[export]\npoll_secs = 1\n")
    } else {
        ("", "")
    };
    format!(
        r#"name = "bench"
[api]
base_url = "{base_url}"
[auth]
client_id = "${{VAINU_CLIENT_ID}}"
client_secret = "${{VAINU_CLIENT_SECRET}}"
[query]
database = "FI"
order = "business_id"
page_size = 100
{fields}{key}{mode}[rate_limit]
requests_per_second = {rps:.1}
burst = 1
concurrency = {conc}
{export}[output]
format = "{format}"
compression = "{compression}"
schema = "{schema}"
path = "{out}"
"#,
        rps = spec.rps,
        conc = spec.concurrency,
        format = spec.format,
        schema = schema.display(),
        out = out.display(),
    )
}

/// For the floor: every path `schema` reads (its `[[columns]]`' `path`, else
/// `name`), and the text of a schema of its first column alone.
fn floor_schema(schema: &Path) -> Result<(Vec<String>, String), String> {
    let text = std::fs::read_to_string(schema).map_err(|e| format!("{}: {e}", schema.display()))?;
    let doc: toml::Table = text.parse().map_err(|e| format!("{}: {e}", schema.display()))?;
    let columns = doc
        .get("columns")
        .and_then(|c| c.as_array())
        .ok_or("schema without [[columns]]")?;
    let path = |c: &toml::Value| {
        c.get("path")
            .or_else(|| c.get("name"))
            .and_then(|p| p.as_str())
            .map(String::from)
    };
    let fields: Vec<String> = columns.iter().filter_map(path).collect();
    let first = columns.first().ok_or("schema without columns")?;
    let one = format!(
        "[[columns]]\nname = {:?}\npath = {:?}\ntype = \"string\"\n",
        first.get("name").and_then(|n| n.as_str()).unwrap_or("business_id"),
        path(first).unwrap_or_else(|| "business_id".into()),
    );
    Ok((fields, one))
}

/// Runs `spec` once against `sandbox`; `keep` receives the first part file.
pub async fn run_once(
    bin: &str,
    schema: &Path,
    sandbox: &SandboxProcess,
    spec: &JobSpec,
    keep: Option<&Path>,
) -> Result<Measured, String> {
    let dir = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
    let out = dir.path().join("snapshot");
    let job = dir.path().join("bench.toml");
    let text = if spec.floor {
        let (fields, one) = floor_schema(schema)?;
        let one_path = dir.path().join("floor_schema.toml");
        std::fs::write(&one_path, one).map_err(|e| format!("floor schema: {e}"))?;
        job_toml(spec, &sandbox.url, &one_path, &out, Some(&fields))
    } else {
        job_toml(spec, &sandbox.url, schema, &out, None)
    };
    std::fs::write(&job, text).map_err(|e| format!("job file: {e}"))?;
    if let Some(rate) = sandbox.rate {
        // A throttling sandbox's limiter remembers the previous run's last
        // request: without a pause, a run started right after it draws a
        // 429 on its first request (seen once the client started faster).
        tokio::time::sleep(Duration::from_secs_f64((2.0 / rate).max(0.5))).await;
    }
    let http = sandbox::http_client()?;
    let before = sandbox::stats(&http, &sandbox.url).await?;
    let sandbox_cpu0 = sandbox.cpu();

    let mut cmd = Command::new(bin);
    cmd.args(["run", "-q", "--out-dir"])
        .arg(dir.path())
        .arg(&job)
        .env("VAINU_CLIENT_ID", "sandbox")
        .env("VAINU_CLIENT_SECRET", "sandbox-secret")
        .env_remove("RUST_LOG")
        .stderr(Stdio::from(
            std::fs::File::create(dir.path().join("stderr.log")).map_err(|e| format!("stderr log: {e}"))?,
        ));
    let (stdout, usage) = tokio::task::spawn_blocking(move || child::run(cmd))
        .await
        .map_err(|e| format!("client task: {e}"))?
        .map_err(|e| format!("cannot run {bin}: {e}"))?;
    if usage.exit_code != 0 {
        let log = std::fs::read_to_string(dir.path().join("stderr.log")).unwrap_or_default();
        return Err(format!("orgsync run exited {}: {stdout}{log}", usage.exit_code));
    }
    let sandbox_cpu = (sandbox.cpu() - sandbox_cpu0).as_secs_f64();
    let after = sandbox::stats(&http, &sandbox.url).await?;
    let manifest: Value = std::fs::read(out.join("_manifest.json"))
        .map_err(|e| format!("manifest: {e}"))
        .and_then(|b| serde_json::from_slice(&b).map_err(|e| format!("manifest: {e}")))?;
    if let (Some(keep), Some(first)) = (keep, manifest["files"][0]["name"].as_str()) {
        std::fs::copy(out.join(first), keep).map_err(|e| format!("keeping {first}: {e}"))?;
    }
    let n = |v: &Value| v.as_f64().unwrap_or(0.0);
    let records = n(&manifest["records"]);
    let requests = n(&manifest["stats"]["requests"]);
    let elapsed = n(&manifest["stats"]["elapsed_secs"]).max(1e-9);
    let wall = usage.wall.as_secs_f64();
    let cpu = usage.cpu.as_secs_f64();
    let bytes: f64 = manifest["files"]
        .as_array()
        .map(|fs| fs.iter().map(|f| n(&f["bytes"])).sum())
        .unwrap_or(0.0);
    let per_100k = |x: f64| if records > 0.0 { x / records * 1e5 } else { 0.0 };
    Ok(Measured {
        records,
        wall_secs: wall,
        records_per_sec: records / wall,
        cpu_secs: cpu,
        cpu_per_100k: per_100k(cpu),
        records_per_cpu_sec: if cpu > 0.0 { records / cpu } else { 0.0 },
        peak_rss: usage.max_rss as f64,
        requests,
        requests_per_sec: requests / elapsed,
        throttled_client: n(&manifest["stats"]["throttled"]),
        throttled_server: n(&after["throttled"]) - n(&before["throttled"]),
        sandbox_cpu_per_100k: per_100k(sandbox_cpu),
        bytes,
    })
}
