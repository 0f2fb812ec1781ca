//! Getting the fields catalog: one `GET /api/v3/organizations_fields/?api_versions=v3`
//! through the run's [`ApiClient`] (so it passes the rate gate, carries the
//! run's token and is retried like any request), and what `run` does with
//! it before its first page: check the job, warn about permissions, stop on
//! problems, or, when the catalog cannot be had, warn once and go on.

use reqwest::Url;

use super::check::check_job;
use super::error::CatalogError;
use super::model::{Catalog, parse_catalog};
use crate::fetch::ApiClient;
use crate::job::Job;

/// The catalog's path under the job's base URL.
pub const CATALOG_PATH: &str = "/api/v3/organizations_fields/?api_versions=v3";

/// The catalog URL of `job`'s API.
pub fn catalog_url(job: &Job) -> Url {
    job.api
        .base_url
        .join(CATALOG_PATH)
        .expect("a fixed path joins the base URL")
}

/// Fetches and parses the catalog at `url`.
pub async fn fetch_catalog(client: &ApiClient, url: &Url) -> Result<Catalog, CatalogError> {
    let body = client.get(url).await?;
    let catalog = parse_catalog(&body).map_err(|detail| CatalogError::BadBody {
        url: url.to_string(),
        detail,
    })?;
    tracing::info!(url = %url, fields = catalog.entries().len(), "fields catalog fetched");
    Ok(catalog)
}

/// `run`'s check before its first page (skipped with `check_fields =
/// false`): the catalog (for column types) when the job passes; the
/// problems (exit 2) when it does not. Permission-gated paths are warnings.
/// A catalog that cannot be had is one warning and `Ok(None)`.
pub async fn check_before_run(client: &ApiClient, job: &Job) -> Result<Option<Catalog>, CatalogError> {
    if !job.query.check_fields {
        tracing::debug!("check_fields = false: field paths not checked against the catalog");
        return Ok(None);
    }
    let catalog = match fetch_catalog(client, &catalog_url(job)).await {
        Ok(c) => c,
        Err(e) if e.is_unavailable() => {
            tracing::warn!(
                error = %e,
                "fields catalog unavailable: field paths are not checked and column types come from the first page"
            );
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    let report = check_job(job, &catalog);
    for w in &report.warnings {
        tracing::warn!(
            file = %w.file.display(),
            line = w.line,
            "{}",
            w.message
        );
    }
    if report.problems.is_empty() {
        Ok(Some(catalog))
    } else {
        Err(CatalogError::Problems(report))
    }
}
