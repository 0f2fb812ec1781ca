//! Phase one's data: the raw job file as written, every value typed (string,
//! integer, float, list, JSON table) and carrying its line, nothing checked
//! beyond its TOML type. Also the named defaults of every key (SPEC section 3).
//! (The byte-offset to line mapping is `crate::diagnostics`.) Filling these structs is `read.rs`;
//! checking them and producing the `Job` is `validate.rs`.
//!
//! Why not `#[derive(Deserialize)]` with `deny_unknown_fields` on the whole
//! file: serde stops at the first error, and a job file must report every
//! problem at once. So each value is deserialized on its own (serde, through
//! `toml::de::ValueDeserializer`) and unknown keys are collected by `keys.rs`.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

/// A value and the 1-based line of the file it came from.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Lined<T> {
    pub value: T,
    pub line: usize,
    /// The value came (in part) from `${VAR}`: it may be a secret, so
    /// messages must not show it.
    pub from_env: bool,
}

impl<T> Lined<T> {
    /// A value as written in the file.
    pub(crate) fn new(value: T, line: usize) -> Lined<T> {
        Lined {
            value,
            line,
            from_env: false,
        }
    }
}

impl Lined<String> {
    /// The value quoted, for a message; hidden when it came from `${VAR}`.
    pub(crate) fn shown(&self) -> String {
        if self.from_env {
            "(value from ${VAR}, not shown)".to_string()
        } else {
            format!("\"{}\"", self.value)
        }
    }
}

/// An optional key of a section.
pub(crate) type Opt<T> = Option<Lined<T>>;

#[derive(Debug, Default)]
pub(crate) struct RawJob {
    /// Every key written in the file (`name`, `query`, `query.page_size`),
    /// valid or not: a key that is present but `None` below was already
    /// reported (wrong type, unset variable) and is not "missing".
    pub present: BTreeSet<String>,
    pub name: Opt<String>,
    pub description: Opt<String>,
    pub api: RawApi,
    pub auth: RawAuth,
    pub query: RawQuery,
    /// `None` when the file has no `[incremental]` section.
    pub incremental: Option<RawIncremental>,
    pub rate_limit: RawRateLimit,
    pub retry: RawRetry,
    pub output: RawOutput,
    /// `[export]`: the async export's polling (used with `mode = "export"`).
    pub export: RawExport,
}

#[derive(Debug, Default)]
pub(crate) struct RawApi {
    pub base_url: Opt<String>,
    pub path: Opt<String>,
    pub timeout_secs: Opt<i64>,
    pub records: Opt<String>,
}

#[derive(Debug, Default)]
pub(crate) struct RawAuth {
    /// Line of the `[auth]` header, for "missing key" problems.
    pub line: Option<usize>,
    pub method: Opt<String>,
    pub token_url: Opt<String>,
    /// In sandbox mode the three credential keys are kept as written (not
    /// interpolated): only their presence matters.
    pub client_id: Opt<String>,
    pub client_secret: Opt<String>,
    pub scope: Opt<String>,
    pub client_auth: Opt<String>,
    pub refresh_token: Opt<String>,
}

#[derive(Debug, Default)]
pub(crate) struct RawQuery {
    pub line: Option<usize>,
    pub database: Opt<String>,
    pub fields: Opt<Vec<Lined<String>>>,
    pub filter: Opt<Value>,
    pub filter_file: Opt<String>,
    pub order: Opt<String>,
    pub page_size: Opt<i64>,
    /// Check the paths against the API's fields catalog before a run.
    pub check_fields: Opt<bool>,
    pub key: Opt<String>,
    pub extra: Opt<Vec<(Lined<String>, Value)>>,
    /// The id of a saved list, instead of `filter` / `filter_file`.
    pub list: Opt<String>,
    /// The deepest offset the API serves (keyset windows past it).
    pub max_offset: Opt<i64>,
    /// `pages` or `export`.
    pub mode: Opt<String>,
}

#[derive(Debug, Default)]
pub(crate) struct RawIncremental {
    pub line: Option<usize>,
    pub field: Opt<String>,
    /// A string, or a TOML datetime in its TOML text form.
    pub start: Opt<String>,
    pub lag_secs: Opt<i64>,
}

#[derive(Debug, Default)]
pub(crate) struct RawRateLimit {
    pub requests_per_second: Opt<f64>,
    pub burst: Opt<i64>,
    pub concurrency: Opt<i64>,
}

#[derive(Debug, Default)]
pub(crate) struct RawRetry {
    pub max_attempts: Opt<i64>,
    pub initial_delay_ms: Opt<i64>,
    pub max_delay_secs: Opt<i64>,
    pub max_elapsed_secs: Opt<i64>,
}

#[derive(Debug, Default)]
pub(crate) struct RawExport {
    pub poll_secs: Opt<i64>,
    pub max_wait_secs: Opt<i64>,
}

#[derive(Debug, Default)]
pub(crate) struct RawOutput {
    pub format: Opt<String>,
    pub path: Opt<String>,
    pub schema: Opt<String>,
    pub compression: Opt<String>,
    pub rows_per_file: Opt<i64>,
    pub on_count_mismatch: Opt<String>,
}

// Named defaults (SPEC section 3).

pub(crate) fn default_base_url() -> &'static str {
    "https://api.vainu.io"
}
pub(crate) fn default_api_path() -> &'static str {
    "/api/v3/organizations/"
}
pub(crate) fn default_timeout_secs() -> i64 {
    121
}
pub(crate) fn default_records() -> &'static str {
    "auto"
}
pub(crate) fn default_auth_method() -> &'static str {
    "client_credentials"
}
pub(crate) fn default_client_credentials_token_url() -> &'static str {
    "/api/oauth/token/"
}
pub(crate) fn default_jwt_refresh_token_url() -> &'static str {
    "/api/token_authentication/refresh/"
}
pub(crate) fn default_scope() -> &'static str {
    "vainu:api"
}
pub(crate) fn default_client_auth() -> &'static str {
    "body"
}
/// The filter of a job that gives none: every organization of the database.
pub(crate) fn default_filter() -> Value {
    let mut all = Map::new();
    all.insert("?ALL".to_string(), Value::Array(Vec::new()));
    Value::Object(all)
}
pub(crate) fn default_page_size() -> i64 {
    100
}
pub(crate) fn default_lag_secs() -> i64 {
    10
}
pub(crate) fn default_requests_per_second() -> f64 {
    5.0
}
pub(crate) fn default_burst() -> i64 {
    1
}
pub(crate) fn default_concurrency() -> i64 {
    4
}
pub(crate) fn default_max_attempts() -> i64 {
    8
}
pub(crate) fn default_initial_delay_ms() -> i64 {
    500
}
pub(crate) fn default_max_delay_secs() -> i64 {
    60
}
pub(crate) fn default_max_elapsed_secs() -> i64 {
    900
}
pub(crate) fn default_poll_secs() -> i64 {
    3
}
pub(crate) fn default_max_wait_secs() -> i64 {
    14_400
}
pub(crate) fn default_format() -> &'static str {
    "parquet"
}
pub(crate) fn default_output_path() -> &'static str {
    "exports/{job}/{date}"
}
pub(crate) fn default_rows_per_file() -> i64 {
    500_000
}
pub(crate) fn default_on_count_mismatch() -> &'static str {
    "warn"
}
