//! `_manifest.json`: what a snapshot holds and how it was made (SPEC
//! section 6). A plain data type; the snapshot writer fills `files` and
//! `records` and writes it. It never holds a secret: the request body it
//! records is the organizations request, which carries none.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::schema::Column;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    pub job: String,
    pub run_id: String,
    pub orgsync_version: String,
    /// RFC 3339, UTC.
    pub started_at: String,
    /// RFC 3339, UTC; set when the snapshot is finished.
    pub finished_at: String,
    pub api: ManifestApi,
    pub request: ManifestRequest,
    pub incremental: Option<Window>,
    pub format: String,
    pub compression: String,
    /// Records written, over all files.
    pub records: u64,
    /// What the count endpoint (or a page envelope) said, when known.
    pub expected_records: Option<u64>,
    pub duplicates_dropped: u64,
    /// Values that did not fit their column and were written as null, per column.
    pub type_errors: BTreeMap<String, u64>,
    pub files: Vec<PartFile>,
    /// The columns, each with its `null_count`.
    pub schema: Vec<SchemaColumn>,
    /// Columns null in every record of a snapshot of at least
    /// [`EMPTY_COLUMN_MIN_RECORDS`] records (a misspelt field, or one that
    /// needs a permission).
    #[serde(default)]
    pub empty_columns: Vec<String>,
    /// How the schema differs from the last successful run's.
    #[serde(default)]
    pub schema_changes: Vec<SchemaChange>,
    pub stats: Stats,
    /// `[query] mode`: `pages` or `export`.
    #[serde(default = "pages_mode")]
    pub mode: String,
    /// The async export the records came from (`mode = "export"`). Never
    /// its links: a download link's query string is a credential.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub export: Option<ManifestExport>,
}

fn pages_mode() -> String {
    "pages".to_string()
}

/// The async export of an export-mode snapshot.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ManifestExport {
    pub id: String,
    /// What the API reported as the export's `duration`, in seconds.
    pub duration_secs: Option<f64>,
    /// How the download came: `gzip` or `none`.
    pub download_compression: String,
    /// GET requests for the download (fresh links and resumes included).
    pub download_requests: u64,
}

/// A snapshot needs this many records before an all-null column is
/// reported as empty.
pub const EMPTY_COLUMN_MIN_RECORDS: u64 = 100;

/// One difference between the last successful run's schema and this run's.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SchemaChange {
    pub column: String,
    /// `added`, `removed` or `type_changed`.
    pub change: String,
    /// The type before (`removed`, `type_changed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// The type now (`added`, `type_changed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ManifestApi {
    pub base_url: String,
    pub path: String,
    pub database: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ManifestRequest {
    /// The organizations request body without `offset`/`limit`.
    pub body: Value,
    /// sha256 of `body` serialized compactly, hex.
    pub sha256: String,
}

/// The incremental window `[from, to]`, zone-less UTC timestamps.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Window {
    pub field: String,
    pub from: String,
    pub to: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PartFile {
    pub name: String,
    pub records: u64,
    pub bytes: u64,
    /// sha256 of the file's bytes, hex.
    pub sha256: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SchemaColumn {
    pub name: String,
    pub path: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub nullable: bool,
    /// Records where the column is null (the manifest's columns only; not
    /// in checkpoints or the state file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub null_count: Option<u64>,
}

/// The manifest's `schema`: every column with its `null_count` (0 where
/// `nulls` has none).
pub fn schema_with_nulls(columns: &[Column], nulls: &std::collections::BTreeMap<String, u64>) -> Vec<SchemaColumn> {
    columns
        .iter()
        .map(|c| SchemaColumn {
            null_count: Some(nulls.get(&c.name).copied().unwrap_or(0)),
            ..SchemaColumn::from(c)
        })
        .collect()
}

impl From<&Column> for SchemaColumn {
    fn from(c: &Column) -> Self {
        SchemaColumn {
            name: c.name.clone(),
            path: c.path.as_str().to_string(),
            kind: c.kind.name().to_string(),
            nullable: c.nullable,
            null_count: None,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Stats {
    pub requests: u64,
    pub retries: u64,
    pub throttled: u64,
    pub token_requests: u64,
    pub elapsed_secs: f64,
}
