//! Small HTTP facts shared by the token endpoint and the API client:
//! building the reqwest client, reading `Retry-After` (parsed by
//! `bounds.rs`), turning an error body or a transport error into one line
//! of text (and telling a TLS certificate failure apart). Nothing here
//! retries.

use std::time::Duration;

use reqwest::header::{HeaderMap, RETRY_AFTER};

/// The one reqwest client of a run: rustls with the ring provider, the
/// job's timeout on every request.
pub fn build_http_client(timeout: Duration) -> Result<reqwest::Client, String> {
    // `Err` means a provider is already installed, which is all we need.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(Duration::from_secs(30).min(timeout))
        .user_agent(concat!("orgsync/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))
}

/// A `Retry-After` header as the server sent it (shortened to 64
/// characters, for the log) and the wait it asks for, unclamped; `wait` is
/// `None` when the text is not a number or an HTTP date (see
/// [`super::bounds::parse_retry_after`]).
#[derive(Debug, Clone, PartialEq)]
pub struct RetryAfter {
    pub raw: String,
    pub wait: Option<Duration>,
}

pub fn retry_after(headers: &HeaderMap) -> Option<RetryAfter> {
    let value = headers.get(RETRY_AFTER)?;
    let raw: String = String::from_utf8_lossy(value.as_bytes()).chars().take(64).collect();
    let wait = super::bounds::parse_retry_after(&raw, chrono::Utc::now());
    Some(RetryAfter { raw, wait })
}

/// An error body as one line: the API's `detail` (or OAuth's
/// `error_description`) when it sends JSON, else the text, shortened.
pub fn error_text(body: &[u8]) -> String {
    if let Ok(serde_json::Value::Object(map)) = serde_json::from_slice::<serde_json::Value>(body) {
        for key in ["detail", "error_description", "error", "message"] {
            match map.get(key) {
                Some(serde_json::Value::String(s)) => return one_line(s),
                Some(v @ (serde_json::Value::Object(_) | serde_json::Value::Array(_))) => {
                    return one_line(&v.to_string());
                }
                _ => {}
            }
        }
    }
    let text = String::from_utf8_lossy(body);
    if text.trim().is_empty() {
        "(empty body)".to_string()
    } else {
        one_line(&text)
    }
}

fn one_line(s: &str) -> String {
    const MAX: usize = 300;
    let flat: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() > MAX {
        let cut: String = flat.chars().take(MAX).collect();
        format!("{cut}...")
    } else {
        flat
    }
}

/// A transport error in words, and whether it is a TLS certificate
/// failure (not worth retrying: the same certificate comes back).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportFailure {
    pub text: String,
    pub certificate: bool,
}

/// A transport error in words, without reqwest's nested Debug noise. A TLS
/// certificate failure says so and what to check.
pub fn transport_failure(e: &reqwest::Error) -> TransportFailure {
    use std::error::Error as _;
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_body() || e.is_decode() {
        "the response body broke off"
    } else if e.is_request() {
        "the request failed"
    } else {
        "HTTP error"
    };
    let mut cause = String::new();
    let mut certificate = false;
    let mut source = e.source();
    while let Some(s) = source {
        certificate |= is_certificate_error(s);
        cause = s.to_string();
        source = s.source();
    }
    certificate |= cause.to_ascii_lowercase().contains("certificate");
    let text = match (certificate, cause.is_empty()) {
        (true, _) => format!(
            "TLS certificate problem ({kind}: {cause}): the server's certificate is not trusted or does not \
             match the host; check base_url / token_url and the system's CA certificates (not retried)"
        ),
        (false, true) => kind.to_string(),
        (false, false) => format!("{kind}: {cause}"),
    };
    TransportFailure { text, certificate }
}

/// rustls's certificate errors, directly or inside an `io::Error` (whose
/// `source()` skips the error it wraps).
fn is_certificate_error(e: &(dyn std::error::Error + 'static)) -> bool {
    let rustls_error = e.downcast_ref::<rustls::Error>().or_else(|| {
        e.downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    });
    matches!(
        rustls_error,
        Some(rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented)
    )
}

/// [`transport_failure`]'s text.
pub fn describe_transport_error(e: &reqwest::Error) -> String {
    transport_failure(e).text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_text_table() {
        let cases: &[(&[u8], &str)] = &[
            (
                br#"{"detail": "limit must be between 1 and 100", "status_code": 400}"#,
                "limit must be between 1 and 100",
            ),
            (
                br#"{"error": "invalid_client", "error_description": "Invalid client"}"#,
                "Invalid client",
            ),
            (br#"{"detail": {"query": ["bad"]}}"#, r#"{"query":["bad"]}"#),
            (
                b"<html>\n<body>504 Gateway Time-out</body>\n</html>",
                "<html> <body>504 Gateway Time-out</body> </html>",
            ),
            (b"", "(empty body)"),
        ];
        for (body, want) in cases {
            assert_eq!(error_text(body), *want);
        }
        assert!(error_text("x".repeat(1000).as_bytes()).ends_with("..."));
    }
}
