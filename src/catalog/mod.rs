//! The API's fields catalog (`GET /api/v3/organizations_fields/`): the
//! client that fetches it through the run's [`ApiClient`](crate::fetch::ApiClient),
//! its model (paths, availability, permissions, types) and the check of a
//! job's paths against it (`validate --online`, and `run` before its first
//! page). This file only declares and re-exports.

mod check;
mod client;
mod error;
mod locate;
mod model;

pub use check::{CheckReport, Finding, Role, check_job};
pub use client::{catalog_url, check_before_run, fetch_catalog};
pub use error::CatalogError;
pub use model::{Catalog, Entry, Lookup, map_type, parse_catalog};
