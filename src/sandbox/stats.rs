//! Request counters of a running sandbox and their serialisable snapshot
//! (`SandboxStats`, served at `GET /_sandbox/stats`). Counting only; the
//! handlers decide what to count.

use std::sync::atomic::{AtomicU64, Ordering};

/// A snapshot of a sandbox's counters.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct SandboxStats {
    /// Requests to either token endpoint (successful or not).
    pub token_requests: u64,
    /// Requests to `/api/v3/organizations/` (any outcome, 429s included).
    pub organizations_requests: u64,
    /// Requests to `/api/v3/organizations/count/` (any outcome).
    pub count_requests: u64,
    /// Requests to `/api/v3/organizations_fields/` (any outcome).
    #[serde(default)]
    pub catalog_requests: u64,
    /// 429s sent.
    pub throttled: u64,
    /// 5xx answers injected by `fail_rate`.
    pub injected_failures: u64,
    /// 401s sent for a missing, unknown or expired access token.
    pub unauthorized: u64,
    /// 200 answers carrying the HTML maintenance page (faults).
    #[serde(default)]
    pub html_answers: u64,
    /// Pages answered one record short (faults).
    #[serde(default)]
    pub short_pages: u64,
    /// 400s sent for an offset past `max_offset`.
    #[serde(default)]
    pub offset_refusals: u64,
    /// Seconds from the first to the last `/api/v3` request's arrival: the
    /// rate a client achieved, measured at the server, is
    /// `(organizations_requests + count_requests - 1) / api_window_secs`.
    #[serde(default)]
    pub api_window_secs: f64,
    /// Async exports created (`POST /api/v3/organizations/async/`, any outcome).
    #[serde(default)]
    pub exports_created: u64,
    /// Polls of an export's link (any outcome).
    #[serde(default)]
    pub export_polls: u64,
    /// Requests for an export's download (any outcome).
    #[serde(default)]
    pub export_downloads: u64,
    /// Download requests that carried an Authorization header (refused 400).
    #[serde(default)]
    pub export_downloads_with_authorization: u64,
    /// Download requests refused 403 because their link had expired.
    #[serde(default)]
    pub export_links_expired: u64,
    /// Download requests answered 206 (a `Range` request).
    #[serde(default)]
    pub export_range_requests: u64,
}

/// The live counters.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub token_requests: AtomicU64,
    pub organizations_requests: AtomicU64,
    pub count_requests: AtomicU64,
    pub catalog_requests: AtomicU64,
    pub throttled: AtomicU64,
    pub injected_failures: AtomicU64,
    pub unauthorized: AtomicU64,
    pub html_answers: AtomicU64,
    pub short_pages: AtomicU64,
    pub offset_refusals: AtomicU64,
    pub exports_created: AtomicU64,
    pub export_polls: AtomicU64,
    pub export_downloads: AtomicU64,
    pub export_downloads_with_authorization: AtomicU64,
    pub export_links_expired: AtomicU64,
    pub export_range_requests: AtomicU64,
    /// First and last arrival of an `/api/v3` request.
    window: std::sync::Mutex<Option<(std::time::Instant, std::time::Instant)>>,
}

impl Counters {
    /// Add one; returns the value before.
    pub(crate) fn bump(counter: &AtomicU64) -> u64 {
        counter.fetch_add(1, Ordering::Relaxed)
    }

    /// An `/api/v3` request arrived now.
    pub(crate) fn arrived(&self) {
        let now = std::time::Instant::now();
        let mut w = self.window.lock().unwrap_or_else(|p| p.into_inner());
        *w = Some(w.map_or((now, now), |(first, _)| (first, now)));
    }

    pub(crate) fn snapshot(&self) -> SandboxStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        SandboxStats {
            token_requests: get(&self.token_requests),
            organizations_requests: get(&self.organizations_requests),
            count_requests: get(&self.count_requests),
            catalog_requests: get(&self.catalog_requests),
            throttled: get(&self.throttled),
            injected_failures: get(&self.injected_failures),
            unauthorized: get(&self.unauthorized),
            html_answers: get(&self.html_answers),
            short_pages: get(&self.short_pages),
            offset_refusals: get(&self.offset_refusals),
            exports_created: get(&self.exports_created),
            export_polls: get(&self.export_polls),
            export_downloads: get(&self.export_downloads),
            export_downloads_with_authorization: get(&self.export_downloads_with_authorization),
            export_links_expired: get(&self.export_links_expired),
            export_range_requests: get(&self.export_range_requests),
            api_window_secs: self
                .window
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .map_or(0.0, |(first, last)| (last - first).as_secs_f64()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_reflects_bumps() {
        let c = Counters::default();
        assert_eq!(Counters::bump(&c.throttled), 0);
        Counters::bump(&c.throttled);
        Counters::bump(&c.token_requests);
        let s = c.snapshot();
        assert_eq!(s.throttled, 2);
        assert_eq!(s.token_requests, 1);
        assert_eq!(s.organizations_requests, 0);
    }
}
