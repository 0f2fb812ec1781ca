//! Shared test harness: an in-process sandbox on an ephemeral port (its
//! own runtime, so the test thread can block on the binary), job files in a
//! temporary folder, the built binary as the client, and readers that turn
//! snapshots back into rows for record-by-record comparison with the
//! sandbox's data set.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Output;

mod running;
#[allow(unused_imports)] // each test binary uses its own part of the harness
pub use running::{Running, checkpoint_json};

use assert_cmd::Command;
use orgsync::sandbox::{Dataset, Sandbox, SandboxConfig, SandboxStats};
use orgsync::schema::FieldPath;
use serde_json::Value;

pub const SECRET: &str = orgsync::sandbox::CLIENT_SECRET;

/// A sandbox serving on 127.0.0.1 for the life of the test.
pub struct TestSandbox {
    runtime: tokio::runtime::Runtime,
    sandbox: Option<Sandbox>,
    pub config: SandboxConfig,
}

impl TestSandbox {
    pub fn start(config: SandboxConfig) -> TestSandbox {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime");
        let sandbox = runtime
            .block_on(Sandbox::start(config.clone(), 0))
            .expect("the sandbox binds an ephemeral port");
        TestSandbox {
            runtime,
            sandbox: Some(sandbox),
            config,
        }
    }

    pub fn with_records(records: u64) -> TestSandbox {
        TestSandbox::start(SandboxConfig {
            records,
            ..SandboxConfig::default()
        })
    }

    pub fn base_url(&self) -> String {
        self.sandbox.as_ref().expect("running").base_url()
    }

    pub fn stats(&self) -> SandboxStats {
        self.sandbox.as_ref().expect("running").stats()
    }

    pub fn dataset(&self) -> Dataset {
        Dataset::new(self.config.seed, self.config.records)
    }
}

impl Drop for TestSandbox {
    fn drop(&mut self) {
        if let Some(s) = self.sandbox.take() {
            self.runtime.block_on(s.shutdown());
        }
    }
}

/// A temporary working folder with job files in `jobs/`.
pub struct Workspace {
    pub dir: tempfile::TempDir,
}

impl Workspace {
    pub fn new() -> Workspace {
        Workspace {
            dir: tempfile::tempdir().expect("a temp dir"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Write `jobs/<name>.toml` and return its path.
    pub fn job(&self, name: &str, toml: &str) -> PathBuf {
        let dir = self.path().join("jobs");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{name}.toml"));
        std::fs::write(&path, toml).unwrap();
        path
    }

    /// The binary, run in this folder with a clean, controlled environment.
    pub fn orgsync(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_orgsync"));
        cmd.current_dir(self.path())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("VAINU_CLIENT_ID", orgsync::sandbox::CLIENT_ID)
            .env("VAINU_CLIENT_SECRET", SECRET)
            .env("VAINU_REFRESH_TOKEN", orgsync::sandbox::REFRESH_TOKEN)
            .timeout(std::time::Duration::from_secs(120));
        cmd
    }

    /// Every file under `dir`, relative, sorted.
    pub fn tree(&self, dir: &Path) -> Vec<String> {
        let mut out = Vec::new();
        walk(self.path(), dir, &mut out);
        out.sort();
        out
    }
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(root, &p, out);
        } else {
            out.push(p.strip_prefix(root).unwrap_or(&p).display().to_string());
        }
    }
}

/// A job file for the sandbox at `base_url`: `fields`, `filter` (a TOML
/// inline table or empty), and extra TOML appended (more sections).
pub fn job_toml(base_url: &str, format: &str, fields: &[&str], extra: &str) -> String {
    let fields: Vec<String> = fields.iter().map(|f| format!("{f:?}")).collect();
    format!(
        r#"
[api]
base_url = "{base_url}"

[auth]
client_id = "${{VAINU_CLIENT_ID}}"
client_secret = "${{VAINU_CLIENT_SECRET}}"

[query]
database = "FI"
fields = [{fields}]
order = "business_id"

[output]
format = "{format}"
path = "exports/{{job}}"
{extra}
"#,
        fields = fields.join(", ")
    )
}

/// stdout + stderr as text, for assertions about what a user sees.
pub fn all_output(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The expected value of every field of every record, in data-set order,
/// for records whose index passes `keep`.
pub fn expected_rows(
    data: &Dataset,
    database: &str,
    fields: &[&str],
    keep: impl Fn(&Value) -> bool,
) -> Vec<Vec<Value>> {
    let paths: Vec<FieldPath> = fields.iter().map(|f| FieldPath::parse(f)).collect();
    (0..data.len())
        .map(|i| data.record(database, i))
        .filter(|r| keep(r))
        .map(|r| paths.iter().map(|p| p.extract_value(&r)).collect())
        .collect()
}

/// A JSON value as orgsync writes it into a CSV field.
pub fn csv_text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Part files of a snapshot folder, sorted.
pub fn parts(snapshot: &Path) -> Vec<PathBuf> {
    let mut parts: Vec<PathBuf> = std::fs::read_dir(snapshot)
        .unwrap_or_else(|e| panic!("{}: {e}", snapshot.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("part-")))
        .collect();
    parts.sort();
    parts
}

/// Header and rows of every CSV part, concatenated.
pub fn read_csv(snapshot: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let mut header = Vec::new();
    let mut rows = Vec::new();
    for part in parts(snapshot) {
        let mut reader = csv::Reader::from_path(&part).unwrap();
        header = reader.headers().unwrap().iter().map(str::to_string).collect();
        for row in reader.records() {
            rows.push(row.unwrap().iter().map(str::to_string).collect());
        }
    }
    (header, rows)
}

/// Every JSON Lines record of every part, concatenated.
pub fn read_jsonl(snapshot: &Path) -> Vec<serde_json::Map<String, Value>> {
    let mut rows = Vec::new();
    for part in parts(snapshot) {
        let text = std::fs::read_to_string(&part).unwrap();
        for line in text.lines() {
            match serde_json::from_str(line).unwrap() {
                Value::Object(m) => rows.push(m),
                other => panic!("not an object: {other}"),
            }
        }
    }
    rows
}

pub fn manifest(snapshot: &Path) -> Value {
    let text = std::fs::read_to_string(snapshot.join("_manifest.json")).expect("a manifest");
    serde_json::from_str(&text).expect("manifest JSON")
}

/// The column types a snapshot's manifest records, by column name.
pub fn manifest_types(snapshot: &Path) -> Vec<(String, String)> {
    manifest(snapshot)["schema"]
        .as_array()
        .expect("schema in the manifest")
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_string(),
                c["type"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// A data-set value as orgsync writes it into a column of `kind`: zone-less
/// timestamps are UTC and written with `Z`; everything else as it is.
pub fn typed(v: &Value, kind: &str) -> Value {
    match (kind, v) {
        ("timestamp", Value::String(s)) if !s.ends_with('Z') => Value::String(format!("{s}Z")),
        _ => v.clone(),
    }
}

impl TestSandbox {
    /// Marks records of FI modified now (`POST /_sandbox/modify`).
    pub fn modify(&self, indexes: &[u64]) {
        use std::io::{Read, Write};
        let addr = self
            .base_url()
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        let body = serde_json::json!({"database": "FI", "indexes": indexes}).to_string();
        let mut stream = std::net::TcpStream::connect(&addr).unwrap();
        write!(
            stream,
            "POST /_sandbox/modify HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }

    /// The access tokens this sandbox issued.
    pub fn issued_tokens(&self) -> Vec<String> {
        self.sandbox.as_ref().expect("running").issued_tokens()
    }
}

/// Run a job twice (or more) and compare: the part files' bytes of two
/// snapshot folders.
pub fn part_bytes(snapshot: &Path) -> Vec<(String, Vec<u8>)> {
    parts(snapshot)
        .into_iter()
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().to_string(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect()
}
