//! Property tests: every parser of outside input gets arbitrary bytes and
//! arbitrary JSON (or TOML) and must not panic. Page bodies (records
//! extraction), token answers, count answers, `Retry-After` (and the wait
//! it leads to), `expires_in`, counts, the error-body excerpt, job files
//! (the whole loader, on generated TOML) and schema files. Only "no panic"
//! and a few bounds are asserted; what each parser answers is tested by
//! the table tests beside it. Cases per property: [`CASES`] (the
//! `PROPTEST_CASES` environment variable overrides it).

use std::time::Duration;

use proptest::collection::vec;
use proptest::prelude::*;
use serde_json::{Map, Number, Value};

use crate::fetch::{self, RetryPolicy};
use crate::job::{Auth, ClientAuth, RecordsAt};

const CASES: u32 = 512;

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(CASES);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Keys the parsers look for, and then anything.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec![
            "result", "results", "count", "next", "status", "access_token", "access", "token_type",
            "expires_in", "scope", "detail", "error", "error_description", "data",
        ])
        .prop_map(str::to_string),
        1 => ".{0,8}",
    ]
}

fn json() -> impl Strategy<Value = Value> {
    let number = prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| Number::from_f64(f).map_or(Value::Null, Value::Number)),
        prop::sample::select(vec![0.0, -0.0, 1e30, -1e30, 1e-30, f64::MAX, f64::MIN_POSITIVE])
            .prop_map(|f| Number::from_f64(f).map_or(Value::Null, Value::Number)),
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        number,
        ".{0,16}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Value::Array),
            vec((key(), inner), 0..6).prop_map(|entries| Value::Object(entries.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Arbitrary bytes, JSON text of arbitrary JSON, or JSON text cut short.
fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        vec(any::<u8>(), 0..256),
        json().prop_map(|v| v.to_string().into_bytes()),
        (json(), any::<prop::sample::Index>()).prop_map(|(v, cut)| {
            let text = v.to_string().into_bytes();
            let at = cut.index(text.len() + 1);
            text[..at].to_vec()
        }),
    ]
}

fn auth() -> Auth {
    Auth::ClientCredentials {
        token_url: "https://h.test/api/oauth/token/".parse().expect("a URL"),
        client_id: "id".into(),
        client_secret: crate::secret::Secret::new("secret"),
        scope: None,
        client_auth: ClientAuth::Body,
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn page_bodies_never_panic(bytes in body(), key in key()) {
        if let Ok(value) = fetch::parse_body(&bytes) {
            for at in [RecordsAt::Auto, RecordsAt::Key(key.clone())] {
                if let Ok(e) = fetch::extract_records(value.clone(), &at) {
                    prop_assert!(e.count.is_none_or(|c| c <= fetch::MAX_COUNT));
                }
            }
        }
    }

    #[test]
    fn token_answers_never_panic(bytes in body(), expires_in in json(), token in ".{0,8}") {
        let status = reqwest::StatusCode::OK;
        let now = tokio::time::Instant::now();
        let _ = crate::auth::parse_token(&auth(), "https://h.test/", status, &bytes, now);
        let mut answer = Map::new();
        answer.insert("access_token".into(), Value::String(token));
        answer.insert("expires_in".into(), expires_in);
        let bytes = Value::Object(answer).to_string().into_bytes();
        if let Ok(t) = crate::auth::parse_token(&auth(), "https://h.test/", status, &bytes, now) {
            prop_assert!(t.lifetime() >= fetch::MIN_TOKEN_LIFETIME && t.lifetime() <= fetch::MAX_TOKEN_LIFETIME);
            let _ = t.renew_at();
        }
    }

    #[test]
    fn count_answers_never_panic(bytes in body(), count in json()) {
        let _ = fetch::read_count_answer(&bytes);
        let mut answer = Map::new();
        answer.insert("count".into(), count);
        let _ = fetch::read_count_answer(Value::Object(answer).to_string().as_bytes());
    }

    #[test]
    fn server_numbers_are_bounded(value in json()) {
        let (lifetime, _) = fetch::token_lifetime(Some(&value));
        prop_assert!(lifetime >= fetch::MIN_TOKEN_LIFETIME && lifetime <= fetch::MAX_TOKEN_LIFETIME);
        if let Ok(n) = fetch::count_value(Some(&value)) {
            prop_assert!(n <= fetch::MAX_COUNT);
        }
    }

    #[test]
    fn retry_after_never_panics_and_waits_at_most_max_delay(
        raw in prop_oneof![
            ".{0,30}",
            "[-+]?[0-9]{0,30}(\\.[0-9]{0,5})?([eE][-+]?[0-9]{1,4})?",
            "(Mon|Tue|Wed), [0-9]{2} (Jan|Feb|Dec) [0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2} GMT",
        ],
        now_secs in -8_000_000_000i64..250_000_000_000i64,
        max_delay_ms in 0u64..3_600_000,
    ) {
        let now = chrono::DateTime::from_timestamp(now_secs, 0).unwrap_or_default();
        let wait = fetch::parse_retry_after(&raw, now);
        let policy = RetryPolicy {
            max_attempts: 3,
            initial_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(max_delay_ms),
            max_elapsed: Duration::from_secs(86_400),
        };
        let mut backoff = policy.start();
        if let Some(w) = backoff.next_wait(wait) {
            prop_assert!(w <= policy.max_delay);
        }
    }

    #[test]
    fn body_excerpts_are_short_and_whole_chars(bytes in vec(any::<u8>(), 0..600), secret in ".{0,12}") {
        let e = fetch::excerpt(&bytes, &secret);
        prop_assert!(e.len() <= 100);
    }
}

/// TOML values a job or schema key may get: right, wrong and extreme.
fn toml_value() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|i| i.to_string()),
        prop::sample::select(vec![
            "0", "-1", "1", "100", "101", "10000", "10001", "65", "3600", "86400"
        ])
        .prop_map(str::to_string),
        any::<f64>().prop_map(|f| format!("{f:?}")),
        prop::sample::select(vec!["nan", "inf", "-inf", "1e300", "0.0", "-0.5"]).prop_map(str::to_string),
        any::<bool>().prop_map(|b| b.to_string()),
        ".{0,12}".prop_map(|s| format!("{s:?}")),
        prop::sample::select(vec![
            "\"${VAINU_CLIENT_ID}\"",
            "\"${UNSET}\"",
            "\"https://h.test\"",
            "\"http://127.0.0.1:1\"",
            "\"FI\"",
            "\"csv\"",
            "\"parquet\"",
            "\"fail\"",
            "\"warn\"",
            "\"zstd\"",
            "\"int64\"",
            "\"list<string>\"",
            "\"business_id\"",
            "[\"business_id\", \"name\"]",
            "[]",
            "{}",
            "{ \"?ALL\" = [] }",
            "2024-01-01T00:00:00",
        ])
        .prop_map(str::to_string),
    ]
}

fn job_text() -> impl Strategy<Value = String> {
    let section = prop::sample::select(vec![
        "api",
        "auth",
        "query",
        "incremental",
        "rate_limit",
        "retry",
        "output",
        "retries",
    ]);
    let key = prop::sample::select(vec![
        "base_url",
        "path",
        "timeout_secs",
        "records",
        "method",
        "token_url",
        "client_id",
        "client_secret",
        "database",
        "fields",
        "filter",
        "order",
        "page_size",
        "key",
        "extra",
        "field",
        "start",
        "lag_secs",
        "requests_per_second",
        "burst",
        "concurrency",
        "max_attempts",
        "initial_delay_ms",
        "max_delay_secs",
        "max_elapsed_secs",
        "format",
        "compression",
        "rows_per_file",
        "on_count_mismatch",
        "name",
    ]);
    let entries = vec((key, toml_value()), 0..6);
    prop_oneof![
        4 => vec((section, entries), 0..7).prop_map(|sections| {
            let mut text = String::new();
            for (name, entries) in sections {
                text.push_str(&format!("[{name}]\n"));
                for (k, v) in entries {
                    text.push_str(&format!("{k} = {v}\n"));
                }
            }
            text
        }),
        1 => ".{0,200}",
    ]
}

fn schema_text() -> impl Strategy<Value = String> {
    let key = prop::sample::select(vec!["name", "path", "type", "nullable", "on_type_error", "colour"]);
    let column = vec((key, toml_value()), 0..5);
    prop_oneof![
        4 => (toml_value(), vec(column, 0..5)).prop_map(|(policy, columns)| {
            let mut text = format!("on_type_error = {policy}\n");
            for column in columns {
                text.push_str("[[columns]]\n");
                for (k, v) in column {
                    text.push_str(&format!("{k} = {v}\n"));
                }
            }
            text
        }),
        1 => ".{0,200}",
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn job_files_never_panic(text in job_text()) {
        let dir = tempfile::tempdir().expect("a temp dir");
        let path = dir.path().join("fuzz.toml");
        std::fs::write(&path, &text).expect("written");
        let env = |name: &str| (name == "VAINU_CLIENT_ID").then(|| "id".to_string());
        for sandbox in [false, true] {
            let _ = crate::job::load_with_env(&path, &crate::job::LoadOptions { sandbox }, &env);
        }
    }

    #[test]
    fn schema_files_never_panic(text in schema_text()) {
        let fields = vec!["business_id".to_string(), "name".to_string()];
        let _ = crate::schema::parse_schema(&text, std::path::Path::new("fuzz.toml"), &fields);
        let _ = crate::schema::parse_schema(&text, std::path::Path::new("fuzz.toml"), &[]);
    }
}
