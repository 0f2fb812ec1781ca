//! Hostile answers the sandbox gives on purpose, so tests and users can see
//! what orgsync does with them: forced 429s with a given raw `Retry-After`
//! text, a raw `expires_in` JSON text in token answers, a page one record
//! short at an offset, and 200 answers carrying an HTML maintenance page.
//! Each decision is a pure function of the request number or offset; the
//! routes in `server.rs` apply them. Nothing here validates the texts: they
//! are meant to be wrong.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// The hostile answers a sandbox gives; all off by default.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Faults {
    /// Every Nth organizations request (counting from the first, so N = 2
    /// throttles requests 1, 3, 5...; N = 1 every request) is answered 429.
    pub throttle_every: Option<u64>,
    /// The raw `Retry-After` text of those 429s (`None`: no header).
    pub retry_after: Option<String>,
    /// Raw JSON text put as `expires_in` into token answers, verbatim
    /// (`1e30`, `"soon"`, `null`, `-5`); an empty text leaves the key out.
    pub expires_in_json: Option<String>,
    /// The page requested at this offset comes back one record short (its
    /// last record left out).
    pub short_page_at: Option<u64>,
    /// The first N organizations requests are answered 200 with an HTML
    /// maintenance page (`u64::MAX`: every one).
    pub html_first: u64,
    /// Every organizations request for this offset is answered 200 with
    /// the HTML page.
    pub html_at_offset: Option<u64>,
    /// Every page requested at this offset has its first record replaced
    /// by the JSON string `"damaged"` (a records array holding a value
    /// that is not a record).
    pub non_object_at: Option<u64>,
}

/// The maintenance page (a `ä` straddles byte 100, so an excerpt of the
/// first 100 bytes must be cut on a char boundary).
pub const MAINTENANCE_HTML: &str = "<!DOCTYPE html><html><head><title>Maintenance</title></head><body><h1>Down for maintenance, sorry!!ä</h1>\
<p>Vainu is being upgraded; back soon.</p></body></html>";

impl Faults {
    /// Whether organizations request `n` (from 0) is throttled.
    pub(crate) fn throttles(&self, n: u64) -> bool {
        self.throttle_every
            .is_some_and(|every| every > 0 && (n + 1).is_multiple_of(every))
    }

    /// Whether organizations request `n` (from 0) for `offset` gets HTML.
    pub(crate) fn html(&self, n: u64, offset: u64) -> bool {
        n < self.html_first || self.html_at_offset == Some(offset)
    }

    /// Whether the page at `offset` has a record that is not an object.
    pub(crate) fn non_object_at(&self, offset: u64) -> bool {
        self.non_object_at == Some(offset)
    }

    /// Whether the page at `offset` is one record short.
    pub(crate) fn short_at(&self, offset: u64) -> bool {
        self.short_page_at == Some(offset)
    }

    /// The token answer's `"expires_in": ...` member (with a leading
    /// comma), or the regular one for `ttl_secs`.
    pub(crate) fn expires_in_member(&self, ttl_secs: u64) -> String {
        match self.expires_in_json.as_deref() {
            None => format!(",\"expires_in\":{ttl_secs}"),
            Some("") => String::new(),
            Some(raw) => format!(",\"expires_in\":{raw}"),
        }
    }

    /// A forced 429 with the raw `Retry-After` text (left out when it is
    /// not a valid header value).
    pub(crate) fn throttled_response(&self) -> Response {
        let body = axum::Json(serde_json::json!({"detail": "Request was throttled (forced by the sandbox)."}));
        let mut response = (StatusCode::TOO_MANY_REQUESTS, body).into_response();
        if let Some(raw) = &self.retry_after
            && let Ok(value) = HeaderValue::from_bytes(raw.as_bytes())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}

/// A 200 carrying the maintenance page.
pub(crate) fn html_response() -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        MAINTENANCE_HTML,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttle_every_table() {
        let cases: &[(Option<u64>, &[u64])] = &[
            (None, &[]),
            (Some(0), &[]),
            (Some(1), &[0, 1, 2, 3, 4, 5]),
            (Some(2), &[1, 3, 5]),
            (Some(3), &[2, 5]),
        ];
        for (every, want) in cases {
            let f = Faults {
                throttle_every: *every,
                ..Faults::default()
            };
            let got: Vec<u64> = (0..6).filter(|n| f.throttles(*n)).collect();
            assert_eq!(got, *want, "every {every:?}");
        }
    }

    #[test]
    fn html_and_short_pages() {
        let f = Faults {
            html_first: 2,
            html_at_offset: Some(500),
            short_page_at: Some(300),
            ..Faults::default()
        };
        assert!(f.html(0, 0) && f.html(1, 100) && !f.html(2, 0) && f.html(9, 500));
        assert!(f.short_at(300) && !f.short_at(200));
        assert!(MAINTENANCE_HTML.len() > 100 && !MAINTENANCE_HTML.is_char_boundary(100));
    }

    #[test]
    fn expires_in_member_is_verbatim() {
        let f = |raw: Option<&str>| Faults {
            expires_in_json: raw.map(str::to_string),
            ..Faults::default()
        };
        assert_eq!(f(None).expires_in_member(60), ",\"expires_in\":60");
        assert_eq!(f(Some("1e30")).expires_in_member(60), ",\"expires_in\":1e30");
        assert_eq!(f(Some("")).expires_in_member(60), "");
    }
}
