//! The simulated Vainu API (SPEC section 8): token endpoints, organizations
//! with offset paging, count, a deterministic data set, a VQL subset, field
//! projection, the async export endpoint with its pre-signed downloads
//! (`export.rs`), and knobs for rate limits, injected 5xx, latency, token
//! lifetime, an offset limit, saved lists (`lists.rs`) and hostile answers
//! (`faults.rs`). Used by `orgsync sandbox`, `run --sandbox` and the tests; it
//! never touches the network beyond 127.0.0.1.

mod auth;
mod catalog;
mod config;
mod data;
mod error;
mod faults;
mod fields;
mod limits;
mod lists;
mod locale;
mod query;
mod request;
mod rng;
mod server;
mod stats;
mod vql;

#[cfg(test)]
mod http_api_tests;
#[cfg(test)]
mod http_auth_tests;
#[cfg(test)]
mod test_support;

pub use catalog::GATED_FIELD;
pub use config::{CLIENT_ID, CLIENT_SECRET, Envelope, ExportFailure, ExportKnobs, REFRESH_TOKEN, SandboxConfig};
pub use data::{DATABASES, Dataset};
pub use error::SandboxError;
pub use faults::{Faults, MAINTENANCE_HTML};
pub use fields::project;
pub use lists::{lists, query_of, resolve as resolve_list};
pub use server::Sandbox;
pub use stats::SandboxStats;
