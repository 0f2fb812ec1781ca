//! The resolved, validated job: what the rest of orgsync trusts. Built only
//! by `job::load` (phase two of loading); nothing here parses files.

use std::num::{NonZeroU32, NonZeroUsize};
use std::path::PathBuf;
use std::time::Duration;

use chrono::NaiveDateTime;
use reqwest::Url;
use serde_json::{Map, Value};

use crate::secret::Secret;

/// One validated job file.
#[derive(Debug, Clone)]
pub struct Job {
    /// `[a-z0-9_-]+`; defaults to the file stem.
    pub name: String,
    pub description: Option<String>,
    /// The job file this came from (as given on the command line).
    pub source: PathBuf,
    pub api: Api,
    pub auth: Auth,
    pub query: Query,
    pub incremental: Option<Incremental>,
    pub rate_limit: RateLimit,
    pub retry: Retry,
    pub output: Output,
    /// `[export]`: polling of the async export (`mode = "export"`).
    pub export: Export,
    /// The loaded schema file (`output.schema`), when the job names one.
    pub schema: Option<crate::schema::Schema>,
}

#[derive(Debug, Clone)]
pub struct Api {
    /// Scheme + host (+ port); `https` unless the host is loopback.
    pub base_url: Url,
    /// Organizations endpoint path, e.g. `/api/v3/organizations/`.
    pub path: String,
    pub timeout: Duration,
    pub records: RecordsAt,
}

impl Api {
    /// The organizations endpoint.
    pub fn endpoint(&self) -> Url {
        self.base_url
            .join(&self.path)
            .expect("validated path joins the base URL")
    }

    /// The count endpoint: `<path>count/`.
    pub fn count_endpoint(&self) -> Url {
        let path = format!("{}/count/", self.path.trim_end_matches('/'));
        self.base_url.join(&path).expect("validated path joins the base URL")
    }
}

/// Where the records sit in a response body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordsAt {
    /// A bare JSON array, or the array under `result` / `results`.
    Auto,
    /// The array under this top-level key.
    Key(String),
}

#[derive(Debug, Clone)]
pub enum Auth {
    ClientCredentials {
        token_url: Url,
        client_id: String,
        client_secret: Secret,
        scope: Option<String>,
        client_auth: ClientAuth,
    },
    JwtRefresh {
        token_url: Url,
        refresh_token: Secret,
    },
}

impl Auth {
    pub fn token_url(&self) -> &Url {
        match self {
            Auth::ClientCredentials { token_url, .. } | Auth::JwtRefresh { token_url, .. } => token_url,
        }
    }
}

/// How the client credentials travel to the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// `client_id` and `client_secret` as form fields.
    Body,
    /// HTTP Basic (RFC 6749 section 2.3.1).
    Basic,
}

#[derive(Debug, Clone)]
pub struct Query {
    /// `FI`, `SE`, `NO`, `DK` or `NL`.
    pub database: String,
    /// Field paths asked of the API, in column order. Non-empty.
    pub fields: Vec<String>,
    /// The VQL filter, `{"?ALL": []}` when the job gives none (and with
    /// `list`, where it is not sent).
    pub filter: Value,
    /// The id of a saved list: the body carries `list` instead of `query`.
    /// Never together with `filter`/`filter_file` or `[incremental]`.
    pub list: Option<String>,
    /// `[query] max_offset`: the deepest offset the API serves. Past it
    /// the run pages on in keyset windows (needs `order` = `key`).
    pub max_offset: Option<u64>,
    pub order: Option<String>,
    /// 1..=100.
    pub page_size: u32,
    /// Field whose value identifies a record; duplicates are dropped.
    pub key: Option<String>,
    /// Other body keys, passed through verbatim.
    pub extra: Map<String, Value>,
    /// `run` checks every path against the API's fields catalog before
    /// its first page (default true).
    pub check_fields: bool,
    /// `pages` (offset paging, the default) or `export` (the async export).
    pub mode: QueryMode,
}

/// `[query] mode`: how the records are fetched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum QueryMode {
    /// Offset paging of the organizations endpoint.
    #[default]
    Pages,
    /// One async export, polled, then downloaded as JSON Lines.
    Export,
}

impl QueryMode {
    pub fn name(self) -> &'static str {
        match self {
            QueryMode::Pages => "pages",
            QueryMode::Export => "export",
        }
    }
}

/// `[export]`: how an async export is waited for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Export {
    /// Between two polls of the export's link.
    pub poll: Duration,
    /// Give up (exit 1) when the export is not completed after this long.
    pub max_wait: Duration,
}

impl Default for Export {
    fn default() -> Self {
        Export {
            poll: Duration::from_secs(3),
            max_wait: Duration::from_secs(14_400),
        }
    }
}

impl Query {
    /// The key a run can page past an offset limit by (keyset windows): the
    /// job's `key` when its `order` is that same field, ascending, and it
    /// sends a filter (a saved list has no `query` to narrow).
    pub fn keyset_key(&self) -> Option<&str> {
        match (&self.key, &self.order, &self.list) {
            (Some(key), Some(order), None) if key == order => Some(key),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Incremental {
    pub field: String,
    /// Zone-less, read as UTC.
    pub start: NaiveDateTime,
    pub lag: Duration,
}

#[derive(Debug, Clone)]
pub struct RateLimit {
    pub requests_per_second: f64,
    pub burst: NonZeroU32,
    pub concurrency: NonZeroUsize,
}

#[derive(Debug, Clone)]
pub struct Retry {
    pub max_attempts: u32,
    pub initial_delay: Duration,
    pub max_delay: Duration,
    pub max_elapsed: Duration,
}

#[derive(Debug, Clone)]
pub struct Output {
    pub format: Format,
    /// The path template, placeholders not yet filled: `{job}` `{date}` `{time}` `{run_id}`.
    pub path: String,
    /// Schema file, resolved against the job file's folder.
    pub schema: Option<PathBuf>,
    pub compression: Compression,
    pub rows_per_file: u64,
    /// What a written record count that differs from the expected count does.
    pub on_count_mismatch: OnCountMismatch,
}

/// `[output] on_count_mismatch`: when the records written differ from the
/// count the API gave (count endpoint or envelope).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnCountMismatch {
    /// A warning; the snapshot is published with both numbers in its manifest.
    Warn,
    /// The run fails (exit 1), nothing is published, finished parts are kept.
    Fail,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Parquet,
    Csv,
    Jsonl,
}

impl Format {
    pub fn extension(self) -> &'static str {
        match self {
            Format::Parquet => "parquet",
            Format::Csv => "csv",
            Format::Jsonl => "jsonl",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
    Snappy,
}

impl Compression {
    /// Suffix added after the format extension for CSV / JSON Lines.
    pub fn suffix(self) -> &'static str {
        match self {
            Compression::None | Compression::Snappy => "",
            Compression::Gzip => ".gz",
            Compression::Zstd => ".zst",
        }
    }
}
