//! What a run is told (options) and what it reports: the outcome of a job,
//! its one-line summary, and its error with the exit code it means.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::auth::AuthError;
use crate::exit::{Exit, ExitStatus};
use crate::fetch::FetchError;
use crate::sink::SinkError;
use crate::state::{LockError, StateError};

pub struct RunOptions {
    /// Root for relative output paths.
    pub out_dir: PathBuf,
    /// The state files, checkpoints and locks (`--state-dir`, else
    /// `<out_dir>/.orgsync/state`).
    pub state_dir: PathBuf,
    /// `--state-dir s3://...`: the bucket copy, whose working copy is
    /// `state_dir`.
    pub remote_state: Option<std::sync::Arc<crate::state::RemoteState>>,
    pub max_records: Option<u64>,
    pub dry_run: bool,
    pub overwrite: bool,
    /// Continue the job's interrupted run from its checkpoint, if it has one.
    pub resume: bool,
    pub progress: ProgressMode,
}

/// Whether a job shows a progress bar on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressMode {
    Hidden,
    /// Only when stderr is a terminal.
    Terminal,
    /// Even when stderr is not a terminal.
    Forced,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// `mode = "export"`: the export failed, timed out, or its download did.
    #[error(transparent)]
    Export(#[from] crate::fetch::ExportError),
    #[error(transparent)]
    Sink(#[from] SinkError),
    #[error(transparent)]
    State(#[from] StateError),
    /// Another run of the job, or of the same target, is going (exit 5).
    #[error(transparent)]
    Lock(#[from] LockError),
    /// The fields-catalog check found problems (or the catalog request
    /// failed on credentials).
    #[error(transparent)]
    Catalog(#[from] crate::catalog::CatalogError),
    /// The snapshot is out, but the state file could not be updated.
    #[error(
        "snapshot published at {}, but the state file could not be updated: {source}; \
         the next incremental run will fetch this window again",
        path.display()
    )]
    StateAfterPublish { path: PathBuf, source: StateError },
    #[error("{0}")]
    Setup(String),
    /// The API refused a deep offset and the run cannot page on in keyset
    /// windows (exit 4, like the rejection itself).
    #[error("{source}; {why}")]
    OffsetLimit { source: Box<FetchError>, why: String },
    /// A page body that passed the pager's check but that the decoder
    /// could not read (JSON the cheap check accepts and the full parse
    /// refuses, e.g. a number out of range in a record).
    #[error(
        "the page at API offset {offset} could not be decoded: {reason}; nothing was published. Run again \
         (with --resume to keep finished parts); if it repeats, the API sends records orgsync cannot read"
    )]
    Decode { offset: u64, reason: String },
    /// `on_count_mismatch = "fail"` and the written count differs.
    #[error(
        "wrote {written} records but the API's count is {expected} ({}); on_count_mismatch = \"fail\": \
         nothing was published. Run again (with --resume to keep finished parts), or set \
         [output] on_count_mismatch = \"warn\" to publish with a warning",
        mismatch(*.written, *.expected)
    )]
    CountMismatch { written: u64, expected: u64 },
}

fn mismatch(written: u64, expected: u64) -> String {
    if written < expected {
        format!("{} missing", expected - written)
    } else {
        format!("{} more than counted", written - expected)
    }
}

impl ExitStatus for RunError {
    fn exit(&self) -> Exit {
        match self {
            RunError::Auth(e) => e.exit(),
            RunError::Fetch(e) => e.exit(),
            RunError::Export(e) => e.exit(),
            RunError::Sink(e) => e.exit(),
            RunError::State(e) => e.exit(),
            RunError::Lock(e) => e.exit(),
            RunError::StateAfterPublish { .. }
            | RunError::Setup(_)
            | RunError::CountMismatch { .. }
            | RunError::Decode { .. } => Exit::Failed,
            RunError::Catalog(e) => e.exit(),
            RunError::OffsetLimit { source, .. } => source.exit(),
        }
    }
}

/// What a finished job reports.
#[derive(Debug)]
pub enum JobOutcome {
    DryRun { count: Option<u64>, target: PathBuf },
    Published(Summary),
}

/// The one-line summary of a published snapshot.
#[derive(Debug, Clone)]
pub struct Summary {
    pub path: PathBuf,
    pub records: u64,
    pub expected: Option<u64>,
    pub files: usize,
    pub bytes: u64,
    pub elapsed: Duration,
    pub requests: u64,
    pub retries: u64,
    pub throttled: u64,
    pub duplicates: u64,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} records -> {} ({} files, {} bytes, {:.1} s, {} requests, {} retries, {} throttled",
            self.records,
            self.path.display(),
            self.files,
            self.bytes,
            self.elapsed.as_secs_f64(),
            self.requests,
            self.retries,
            self.throttled
        )?;
        if self.duplicates > 0 {
            write!(f, ", {} duplicates dropped", self.duplicates)?;
        }
        f.write_str(")")
    }
}
