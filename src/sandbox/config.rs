//! The sandbox's knobs (`SandboxConfig`), its fixed credentials and the
//! response envelope choice. It does not validate anything beyond what
//! `Sandbox::start` needs; the CLI that fills it in owns its own parsing.

use std::time::Duration;

/// The OAuth client id the sandbox accepts.
pub const CLIENT_ID: &str = "sandbox";
/// The OAuth client secret the sandbox accepts.
pub const CLIENT_SECRET: &str = "sandbox-secret";
/// The JWT refresh token the sandbox accepts.
pub const REFRESH_TOKEN: &str = "sandbox-refresh";

/// How a running sandbox behaves.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// Records per database.
    pub records: u64,
    /// Seed of the data set and of fail injection.
    pub seed: u64,
    /// Server rate limit in requests/s over all `/api/v3` requests; `None` = unlimited.
    pub rate: Option<f64>,
    /// Fraction (0.0..=1.0) of organizations requests answered with a 5xx.
    pub fail_rate: f64,
    /// After this many organizations requests, every further one answers
    /// 503: a server that goes down mid-run. `None`: never.
    pub fail_after: Option<u64>,
    /// Added before answering each `/api/v3` request (after auth).
    pub latency: Duration,
    /// Access token lifetime.
    pub token_ttl: Duration,
    /// Shape of organizations responses.
    pub envelope: Envelope,
    /// Hostile answers on purpose (forced 429s, odd `expires_in`, short
    /// pages, HTML 200s); all off by default.
    pub faults: super::faults::Faults,
    /// The fields catalog answers 404 (an API without one): runs must warn
    /// and go on.
    pub no_catalog: bool,
    /// Organizations requests with an `offset` past this answer 400
    /// `offset N exceeds the maximum offset M` (a search backend's deep
    /// paging limit). `None`: no limit.
    pub max_offset: Option<u64>,
    /// The async export endpoint's behaviour (`server/export.rs`).
    pub export: ExportKnobs,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            records: 1000,
            seed: 42,
            rate: None,
            fail_rate: 0.0,
            fail_after: None,
            latency: Duration::ZERO,
            token_ttl: Duration::from_secs(3600),
            envelope: Envelope::Bare,
            faults: super::faults::Faults::default(),
            no_catalog: false,
            max_offset: None,
            export: ExportKnobs::default(),
        }
    }
}

/// Shape of an organizations response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Envelope {
    /// A bare JSON array of records, as Vainu's docs print.
    #[default]
    Bare,
    /// `{"result": [...], "count": N, "next": offset|null}`.
    Result,
    /// `{"results": [...], "count": N, "next": offset|null}`.
    Results,
}

impl Envelope {
    /// The key the records sit under, if any.
    pub(crate) fn key(self) -> Option<&'static str> {
        match self {
            Envelope::Bare => None,
            Envelope::Result => Some("result"),
            Envelope::Results => Some("results"),
        }
    }
}

/// How the sandbox's async exports behave.
#[derive(Debug, Clone)]
pub struct ExportKnobs {
    /// From creation to `completed` (or the failure state): `accepted` for
    /// the first fifth, then `process` with a rising `progress`.
    pub duration: Duration,
    /// End in this failure state instead of `completed`.
    pub fail: Option<ExportFailure>,
    /// Serve the download gzip-compressed (no Content-Encoding, as a
    /// stored `.jsonl.gz` object is served).
    pub gzip: bool,
    /// Answer `link` as an absolute URL; else as a path under `/api`
    /// (`/v3/organizations/async/<id>/`, as Vainu's client joins it).
    pub absolute_link: bool,
    /// How long a download link stays valid; expired: 403 as S3 answers.
    pub link_ttl: Duration,
    /// The first N download links handed out are already expired.
    pub expired_links: u64,
    /// Throttle downloads to this many bytes per second; `None`: at once.
    pub download_bytes_per_sec: Option<u64>,
    /// Ignore `Range` (answer 200 with the whole file).
    pub no_range: bool,
    /// Drop the connection after this many bytes of the first download.
    pub cut_first_download_after: Option<u64>,
    /// Line N (from 1) of every export's file is `"damaged"` (a JSON
    /// string, not an object) instead of its record.
    pub bad_line: Option<u64>,
}

impl Default for ExportKnobs {
    fn default() -> Self {
        ExportKnobs {
            duration: Duration::from_secs(2),
            fail: None,
            gzip: false,
            absolute_link: false,
            link_ttl: Duration::from_secs(300),
            expired_links: 0,
            download_bytes_per_sec: None,
            no_range: false,
            cut_first_download_after: None,
            bad_line: None,
        }
    }
}

/// The failure states an export can end in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFailure {
    Failure,
    Stopped,
    PartialFailureComplete,
    PartialFailureIncomplete,
}

impl ExportFailure {
    /// The `state` the poll answers.
    pub fn state(self) -> &'static str {
        match self {
            ExportFailure::Failure => "failure",
            ExportFailure::Stopped => "stopped",
            ExportFailure::PartialFailureComplete => "partial_failure_complete",
            ExportFailure::PartialFailureIncomplete => "partial_failure_incomplete",
        }
    }
}
