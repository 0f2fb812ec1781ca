//! What can go wrong getting the fields catalog or checking a job against
//! it. A job whose paths the catalog does not know is [`CatalogError::Problems`]
//! (exit 2, every problem at once, each with file:line); a catalog that
//! cannot be had is [`CatalogError::Fetch`] / [`CatalogError::BadBody`].

use crate::exit::{Exit, ExitStatus};
use crate::fetch::FetchError;

use super::check::CheckReport;

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The catalog request failed (404, 403, retries exhausted, credentials).
    #[error("cannot get the API's fields catalog: {0}")]
    Fetch(#[from] FetchError),
    /// A 2xx answer that is not a catalog.
    #[error("the fields catalog at {url} is not a JSON list of fields orgsync can read: {detail}")]
    BadBody { url: String, detail: String },
    /// Paths the catalog does not have, or cannot be used as the job uses them.
    #[error(
        "{} problem(s) with field paths, checked against the API's fields catalog (nothing was fetched); \
         fix the paths, or set check_fields = false in [query] to skip this check:\n{}",
        .0.problems.len(),
        .0.render_problems()
    )]
    Problems(CheckReport),
}

impl CatalogError {
    /// Whether the run goes on without the catalog (it warns once): the
    /// catalog is missing, forbidden, unreadable or unreachable. Credentials
    /// that fail here would fail the pages too, so they do not.
    pub fn is_unavailable(&self) -> bool {
        match self {
            CatalogError::Fetch(FetchError::Auth(_) | FetchError::Unauthorized { .. }) => false,
            CatalogError::Fetch(_) | CatalogError::BadBody { .. } => true,
            CatalogError::Problems(_) => false,
        }
    }
}

impl ExitStatus for CatalogError {
    fn exit(&self) -> Exit {
        match self {
            CatalogError::Fetch(e) => e.exit(),
            CatalogError::BadBody { .. } => Exit::Failed,
            CatalogError::Problems(_) => Exit::Invalid,
        }
    }
}
