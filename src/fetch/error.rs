//! What can go wrong talking to the organizations and count endpoints. Each
//! variant names the URL and, for pages, the offset.

use reqwest::StatusCode;

use crate::auth::AuthError;
use crate::exit::{Exit, ExitStatus};

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// A 4xx other than 401/408/429: the request itself is wrong.
    #[error("the API rejected the request to {url}{} with {status}: {detail}{}", at_offset(*.offset), hint(*.status))]
    Rejected {
        url: String,
        offset: Option<u64>,
        status: StatusCode,
        detail: String,
    },
    /// 401 again right after a token renewal.
    #[error("{url}{} answered 401 twice, the second time with a fresh token: {detail}: check that the credentials may read this endpoint", at_offset(*.offset))]
    Unauthorized {
        url: String,
        offset: Option<u64>,
        detail: String,
    },
    /// Transient failures that outlasted the retry policy.
    #[error("giving up on {url}{} after {attempts} attempts over {elapsed_secs:.0} s; last: {last}: the API is unavailable or throttling; raise [retry] max_attempts / max_elapsed_secs or try later", at_offset(*.offset))]
    Exhausted {
        url: String,
        offset: Option<u64>,
        attempts: u32,
        elapsed_secs: f64,
        last: String,
    },
    /// 2xx answers orgsync cannot read (an HTML maintenance page, JSON
    /// without the records), still so after the retries.
    #[error(
        "{url}{} answered with a body that is not what was asked for (the last of {attempts} attempts): {detail}; \
         content type {content_type}; the body starts {excerpt:?}: the API may be under maintenance \
         (try later), or check [api] base_url, path and records in the job",
        at_offset(*.offset)
    )]
    BadBody {
        url: String,
        offset: Option<u64>,
        attempts: u32,
        content_type: String,
        /// The body's first 100 bytes (cut on a char boundary, the token masked).
        excerpt: String,
        detail: String,
    },
    /// A transport failure that is not retried (a TLS certificate problem).
    #[error("request to {url}{} failed: {reason}", at_offset(*.offset))]
    Transport {
        url: String,
        offset: Option<u64>,
        reason: String,
    },
    /// The count endpoint reported an error status.
    #[error("the count endpoint {url} reported status {status:?}: {detail}")]
    Count {
        url: String,
        status: String,
        detail: String,
    },
}

fn at_offset(offset: Option<u64>) -> String {
    offset.map(|o| format!(" (offset {o})")).unwrap_or_default()
}

fn hint(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "; check [query] (filter, fields, order, extra) in the job",
        403 => "; the credentials lack a permission this request needs (some fields need entitlements)",
        404 => "; check [api] base_url and path",
        _ => "",
    }
}

impl ExitStatus for FetchError {
    fn exit(&self) -> Exit {
        match self {
            FetchError::Auth(e) => e.exit(),
            FetchError::Rejected { .. } => Exit::Rejected,
            FetchError::Unauthorized { .. } => Exit::Credentials,
            FetchError::Exhausted { .. }
            | FetchError::BadBody { .. }
            | FetchError::Transport { .. }
            | FetchError::Count { .. } => Exit::Failed,
        }
    }
}
