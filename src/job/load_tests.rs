//! Tests of `load_with_env` end to end: job TOML written to a temp dir,
//! loaded with a controlled environment, the resolved `Job` or every
//! problem (line and message) checked.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::json;

use super::*;

pub(super) const CREDS: &str = "[auth]\nclient_id = \"${ID}\"\nclient_secret = \"${SECRET}\"\n";

pub(super) fn env_of(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

pub(super) fn default_env() -> HashMap<String, String> {
    env_of(&[("ID", "my-id"), ("SECRET", "topsecret-value")])
}

pub(super) struct Fixture {
    pub(super) dir: tempfile::TempDir,
}

impl Fixture {
    pub(super) fn new() -> Fixture {
        Fixture {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    pub(super) fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(&path, text).expect("write");
        path
    }

    pub(super) fn load(&self, name: &str, text: &str, env: &HashMap<String, String>) -> Result<Job, LoadError> {
        self.load_opts(name, text, env, &LoadOptions::default())
    }

    pub(super) fn load_opts(
        &self,
        name: &str,
        text: &str,
        env: &HashMap<String, String>,
        opts: &LoadOptions,
    ) -> Result<Job, LoadError> {
        let path = self.write(name, text);
        load_with_env(&path, opts, &|k| env.get(k).cloned())
    }
}

pub(super) fn problems(r: Result<Job, LoadError>) -> Vec<(Option<usize>, String)> {
    match r {
        Ok(job) => panic!("expected problems, got job {}", job.name),
        Err(e) => e.problems.into_iter().map(|p| (p.line, p.message)).collect(),
    }
}

pub(super) fn minimal(extra: &str) -> String {
    format!("{CREDS}[query]\ndatabase = \"FI\"\nfields = [\"business_id\"]\n{extra}")
}

#[test]
fn full_job_resolves_every_field() {
    let fx = Fixture::new();
    fx.write(
        "schemas/org.toml",
        "[[columns]]\nname = \"business_id\"\ntype = \"string\"\n\n[[columns]]\nname = \"revenue\"\npath = \"financial_data.revenue\"\ntype = \"int64\"\n",
    );
    fx.write("jobs/q.json", "{\"?EQ\": {\"founded\": 2001}}");
    let text = r#"
name = "full-job_1"
description = "all keys"

[api]
base_url = "https://example.test:8443"
path = "/api/v3/organizations/"
timeout_secs = 30
records = "results"

[auth]
method = "client_credentials"
token_url = "https://auth.example.test/oauth/token/"
client_id = "${ID}"
client_secret = "${SECRET}"
scope = "vainu:read"
client_auth = "basic"

[query]
database = "SE"
fields = ["business_id", "financial_data.revenue"]
filter_file = "q.json"
order = "business_id"
page_size = 50
key = "business_id"
extra = { unwind_subdocument = "official_industries", n = 2 }

[incremental]
field = "modifications.basic"
start = "2024-01-02T03:04:05"
lag_secs = 30

[rate_limit]
requests_per_second = 2.5
burst = 3
concurrency = 8

[retry]
max_attempts = 3
initial_delay_ms = 250
max_delay_secs = 10
max_elapsed_secs = 120

[output]
format = "parquet"
path = "out/{job}/{date}-{time}-{run_id}"
schema = "../schemas/org.toml"
compression = "snappy"
rows_per_file = 1000
"#;
    let job = fx.load("jobs/full.toml", text, &default_env()).expect("valid job");
    assert_eq!(job.name, "full-job_1");
    assert_eq!(job.description.as_deref(), Some("all keys"));
    assert_eq!(job.source, fx.dir.path().join("jobs/full.toml"));
    assert_eq!(job.api.base_url.as_str(), "https://example.test:8443/");
    assert_eq!(
        job.api.endpoint().as_str(),
        "https://example.test:8443/api/v3/organizations/"
    );
    assert_eq!(job.api.timeout, Duration::from_secs(30));
    assert_eq!(job.api.records, RecordsAt::Key("results".into()));
    match &job.auth {
        Auth::ClientCredentials {
            token_url,
            client_id,
            client_secret,
            scope,
            client_auth,
        } => {
            assert_eq!(token_url.as_str(), "https://auth.example.test/oauth/token/");
            assert_eq!(client_id, "my-id");
            assert_eq!(client_secret.expose(), "topsecret-value");
            assert_eq!(scope.as_deref(), Some("vainu:read"));
            assert_eq!(*client_auth, ClientAuth::Basic);
        }
        other => panic!("wrong auth {other:?}"),
    }
    assert_eq!(job.query.database, "SE");
    assert_eq!(job.query.fields, ["business_id", "financial_data.revenue"]);
    assert_eq!(job.query.filter, json!({"?EQ": {"founded": 2001}}));
    assert_eq!(job.query.order.as_deref(), Some("business_id"));
    assert_eq!(job.query.page_size, 50);
    assert_eq!(job.query.key.as_deref(), Some("business_id"));
    assert_eq!(
        serde_json::Value::Object(job.query.extra.clone()),
        json!({"n": 2, "unwind_subdocument": "official_industries"})
    );
    let inc = job.incremental.as_ref().expect("incremental");
    assert_eq!(inc.field, "modifications.basic");
    assert_eq!(inc.start.to_string(), "2024-01-02 03:04:05");
    assert_eq!(inc.lag, Duration::from_secs(30));
    assert_eq!(job.rate_limit.requests_per_second, 2.5);
    assert_eq!(job.rate_limit.burst.get(), 3);
    assert_eq!(job.rate_limit.concurrency.get(), 8);
    assert_eq!(job.retry.max_attempts, 3);
    assert_eq!(job.retry.initial_delay, Duration::from_millis(250));
    assert_eq!(job.retry.max_delay, Duration::from_secs(10));
    assert_eq!(job.retry.max_elapsed, Duration::from_secs(120));
    assert_eq!(job.output.format, Format::Parquet);
    assert_eq!(job.output.path, "out/{job}/{date}-{time}-{run_id}");
    assert_eq!(job.output.schema, Some(fx.dir.path().join("jobs/../schemas/org.toml")));
    assert_eq!(job.output.compression, Compression::Snappy);
    assert_eq!(job.output.rows_per_file, 1000);
}

#[test]
fn defaults_fill_every_omitted_key() {
    let fx = Fixture::new();
    let job = fx.load("my_job.toml", &minimal(""), &default_env()).expect("valid job");
    assert_eq!(job.name, "my_job");
    assert_eq!(job.description, None);
    assert_eq!(job.api.base_url.as_str(), "https://api.vainu.io/");
    assert_eq!(job.api.path, "/api/v3/organizations/");
    assert_eq!(job.api.timeout, Duration::from_secs(121));
    assert_eq!(job.api.records, RecordsAt::Auto);
    match &job.auth {
        Auth::ClientCredentials {
            token_url,
            scope,
            client_auth,
            ..
        } => {
            assert_eq!(token_url.as_str(), "https://api.vainu.io/api/oauth/token/");
            assert_eq!(scope.as_deref(), Some("vainu:api"));
            assert_eq!(*client_auth, ClientAuth::Body);
        }
        other => panic!("wrong auth {other:?}"),
    }
    assert_eq!(job.query.filter, json!({"?ALL": []}));
    assert_eq!(job.query.order, None);
    assert_eq!(job.query.page_size, 100);
    assert_eq!(job.query.key, None);
    assert!(job.query.extra.is_empty());
    assert!(job.incremental.is_none());
    assert_eq!(job.rate_limit.requests_per_second, 5.0);
    assert_eq!(job.rate_limit.burst.get(), 1);
    assert_eq!(job.rate_limit.concurrency.get(), 4);
    assert_eq!(job.retry.max_attempts, 8);
    assert_eq!(job.retry.initial_delay, Duration::from_millis(500));
    assert_eq!(job.retry.max_delay, Duration::from_secs(60));
    assert_eq!(job.retry.max_elapsed, Duration::from_secs(900));
    assert_eq!(job.output.format, Format::Parquet);
    assert_eq!(job.output.path, "exports/{job}/{date}");
    assert_eq!(job.output.schema, None);
    assert_eq!(job.output.compression, Compression::Zstd);
    assert_eq!(job.output.rows_per_file, 500_000);
}

#[test]
fn defaults_that_depend_on_other_keys() {
    let fx = Fixture::new();
    let cases: &[(&str, Compression)] = &[
        ("[output]\nformat = \"csv\"\n", Compression::None),
        ("[output]\nformat = \"jsonl\"\n", Compression::None),
        (
            "[output]\nformat = \"jsonl\"\ncompression = \"gzip\"\n",
            Compression::Gzip,
        ),
    ];
    for (extra, want) in cases {
        let job = fx.load("c.toml", &minimal(extra), &default_env()).expect(extra);
        assert_eq!(job.output.compression, *want, "{extra}");
    }
    let jwt =
        "[auth]\nmethod = \"jwt_refresh\"\nrefresh_token = \"${R}\"\n[query]\ndatabase = \"FI\"\nfields = [\"a\"]\n";
    let job = fx
        .load("j.toml", jwt, &env_of(&[("R", "refresh-me")]))
        .expect("jwt job");
    match &job.auth {
        Auth::JwtRefresh {
            token_url,
            refresh_token,
        } => {
            assert_eq!(
                token_url.as_str(),
                "https://api.vainu.io/api/token_authentication/refresh/"
            );
            assert_eq!(refresh_token.expose(), "refresh-me");
        }
        other => panic!("wrong auth {other:?}"),
    }
    let job = fx
        .load(
            "d.toml",
            &minimal("[incremental]\nfield = \"m.b\"\nstart = 2024-05-06\n"),
            &default_env(),
        )
        .expect("bare date");
    let inc = job.incremental.expect("incremental");
    assert_eq!(inc.start.to_string(), "2024-05-06 00:00:00");
    assert_eq!(inc.lag, Duration::from_secs(10));
}

#[test]
fn unset_variable_names_variable_file_and_line_never_a_value() {
    let fx = Fixture::new();
    let text = "[auth]\nclient_id = \"${ID}\"\nclient_secret = \"${VAINU_CLIENT_SECRET}\"\n[query]\ndatabase = \"FI\"\nfields = [\"a\"]\norder = \"${SECRET}-$$x\"\n";
    let env = default_env();
    let err = fx.load("env.toml", text, &env).expect_err("unset var");
    let shown = err.to_string();
    let file = fx.dir.path().join("env.toml");
    assert_eq!(
        shown,
        format!(
            "{}:3: environment variable VAINU_CLIENT_SECRET is not set (used in auth.client_secret)",
            file.display()
        )
    );
    assert!(!shown.contains("topsecret-value"));
    assert!(!shown.contains("my-id"));

    let env = env_of(&[("ID", "i"), ("VAINU_CLIENT_SECRET", "s"), ("SECRET", "ord")]);
    let job = fx.load("env.toml", text, &env).expect("all set");
    assert_eq!(job.query.order.as_deref(), Some("ord-$x"));
}

#[test]
fn interpolation_reaches_every_string_value() {
    let fx = Fixture::new();
    let text = minimal("filter = { \"?EQ\" = { city = \"${CITY}\" } }\n[output]\npath = \"${OUT}/{job}\"\n");
    let env = env_of(&[("ID", "i"), ("SECRET", "s"), ("CITY", "Oulu"), ("OUT", "/data")]);
    let job = fx.load("i.toml", &text, &env).expect("valid");
    assert_eq!(job.query.filter, json!({"?EQ": {"city": "Oulu"}}));
    assert_eq!(job.output.path, "/data/{job}");

    let got = problems(fx.load("i.toml", &text, &default_env()));
    assert_eq!(
        got,
        [
            (
                Some(7),
                "environment variable CITY is not set (used in query.filter.?EQ.city)".to_string()
            ),
            (
                Some(9),
                "environment variable OUT is not set (used in output.path)".to_string()
            ),
        ]
    );
}

#[test]
fn base_url_env_override() {
    let fx = Fixture::new();
    let mut env = default_env();
    env.insert("ORGSYNC_BASE_URL".into(), "http://127.0.0.1:4567".into());
    let text = minimal("[api]\nbase_url = \"https://ignored.test\"\n");
    let job = fx.load("o.toml", &text, &env).expect("override");
    assert_eq!(job.api.base_url.as_str(), "http://127.0.0.1:4567/");
    assert_eq!(job.auth.token_url().as_str(), "http://127.0.0.1:4567/api/oauth/token/");

    env.insert("ORGSYNC_BASE_URL".into(), "http://example.com".into());
    let got = problems(fx.load("o.toml", &text, &env));
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0, None);
    assert!(got[0].1.starts_with("ORGSYNC_BASE_URL must use https://"), "{got:?}");
}

#[test]
fn sandbox_mode_ignores_unset_credential_variables() {
    let fx = Fixture::new();
    let opts = LoadOptions { sandbox: true };
    let text = minimal("");
    let job = fx
        .load_opts("s.toml", &text, &HashMap::new(), &opts)
        .expect("sandbox needs no env");
    match &job.auth {
        Auth::ClientCredentials {
            client_id,
            client_secret,
            ..
        } => {
            assert_eq!(client_id, "sandbox");
            assert_eq!(client_secret.expose(), "sandbox-secret");
        }
        other => panic!("wrong auth {other:?}"),
    }
    let jwt =
        "[auth]\nmethod = \"jwt_refresh\"\nrefresh_token = \"${NOPE}\"\n[query]\ndatabase = \"FI\"\nfields = [\"a\"]\n";
    let job = fx
        .load_opts("s.toml", jwt, &HashMap::new(), &opts)
        .expect("sandbox jwt");
    match &job.auth {
        Auth::JwtRefresh { refresh_token, .. } => {
            assert_eq!(refresh_token.expose(), "sandbox-refresh")
        }
        other => panic!("wrong auth {other:?}"),
    }
    // Everything else is still validated, and other variables still resolved.
    let bad = minimal("page_size = 0\norder = \"${ORDER}\"\n");
    let got = problems(fx.load_opts("s.toml", &bad, &HashMap::new(), &opts));
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(got[1].1.contains("ORDER is not set"));
}

#[test]
fn name_defaults_to_a_valid_stem_only() {
    let fx = Fixture::new();
    let got = problems(fx.load("My Job.toml", &minimal(""), &default_env()));
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0, None);
    assert!(got[0].1.contains("\"My Job\" is not a valid job name"));
    assert!(got[0].1.contains("set name ="));
    let job = fx
        .load(
            "My Job.toml",
            &format!("name = \"my-job\"\n{}", minimal("")),
            &default_env(),
        )
        .expect("explicit name");
    assert_eq!(job.name, "my-job");
    let got = problems(fx.load("ok.toml", &format!("name = \"Bad\"\n{}", minimal("")), &default_env()));
    assert_eq!(
        got,
        [(
            Some(1),
            "name = \"Bad\" is not a valid job name: use only a-z, 0-9, _ and -".to_string()
        )]
    );
}

#[test]
fn schema_lets_fields_be_omitted() {
    let fx = Fixture::new();
    fx.write(
        "schemas/s.toml",
        "[[columns]]\nname = \"business_id\"\ntype = \"string\"\n\n[[columns]]\nname = \"city\"\npath = \"visiting_address.city\"\ntype = \"string\"\n",
    );
    std::fs::create_dir_all(fx.dir.path().join("jobs/adir")).expect("mkdir");
    let text =
        format!("{CREDS}[query]\ndatabase = \"FI\"\nkey = \"business_id\"\n[output]\nschema = \"../schemas/s.toml\"\n");
    let job = fx.load("jobs/s.toml", &text, &default_env()).expect("schema job");
    assert_eq!(
        job.query.fields,
        ["business_id", "visiting_address.city"],
        "the schema's paths are asked for"
    );
    assert_eq!(job.schema.as_ref().map(|s| s.columns.len()), Some(2));
    assert_eq!(job.query.key.as_deref(), Some("business_id"));
    let text = text.replace("../schemas/s.toml", "adir");
    let got = problems(fx.load("jobs/s.toml", &text, &default_env()));
    assert_eq!(got.len(), 1);
    assert!(got[0].1.contains("is not a file"), "{got:?}");
}

#[test]
fn example_jobs_load() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let env = env_of(&[
        ("VAINU_CLIENT_ID", "example-id"),
        ("VAINU_CLIENT_SECRET", "example-secret"),
    ]);
    let paths = expand_paths(&[root.join("jobs")]).expect("jobs dir");
    assert_eq!(
        paths,
        [
            root.join("jobs/fi_bulk.toml"),
            root.join("jobs/fi_bulk_export.toml"),
            root.join("jobs/fi_software.toml")
        ]
    );
    let get = |k: &str| env.get(k).cloned();

    let export = load_with_env(&paths[1], &LoadOptions::default(), &get).expect("fi_bulk_export");
    assert_eq!(export.query.mode, crate::job::QueryMode::Export);
    assert_eq!(export.export.poll.as_secs(), 3);
    assert_eq!(export.export.max_wait.as_secs(), 14_400);

    let sw = load_with_env(&paths[2], &LoadOptions::default(), &get).expect("fi_software");
    assert_eq!(sw.name, "fi_software");
    assert_eq!(sw.query.database, "FI");
    assert!(sw.query.fields.iter().any(|f| f == "financial_data.revenue"));
    assert!(sw.query.fields.iter().any(|f| f == "official_industries.code"));
    assert_eq!(sw.query.order.as_deref(), Some("business_id"));
    assert_eq!(sw.query.key.as_deref(), Some("business_id"));
    assert_eq!(sw.output.format, Format::Parquet);
    assert!(sw.schema.is_some(), "typed by schemas/organizations.toml");
    assert_eq!(sw.output.path, "exports/{job}/{date}");
    assert!(sw.query.filter.to_string().contains("?STARTSWITH"));

    let bulk = load_with_env(&paths[0], &LoadOptions::default(), &get).expect("fi_bulk");
    assert_eq!(bulk.name, "fi_bulk");
    assert_eq!(bulk.query.filter, json!({"?ALL": []}));
    assert_eq!(bulk.output.format, Format::Jsonl);
    assert_eq!(bulk.output.rows_per_file, 100_000);
    assert_eq!(bulk.rate_limit.concurrency.get(), 4);
    assert_eq!(bulk.query.mode, crate::job::QueryMode::Pages, "pages by default");
    assert!(bulk.query.fields.len() >= 10);
    match &bulk.auth {
        Auth::ClientCredentials {
            client_id,
            client_secret,
            ..
        } => {
            assert_eq!(client_id, "example-id");
            assert_eq!(client_secret.expose(), "example-secret");
        }
        other => panic!("wrong auth {other:?}"),
    }
}
