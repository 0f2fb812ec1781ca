//! Small HTTP facts shared by the token endpoint and the API client:
//! building the reqwest client, reading `Retry-After`, turning an error body
//! or a transport error into one line of text. Nothing here retries.

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

/// `Retry-After` as a wait: delta-seconds or an HTTP date (RFC 9110 10.2.3).
/// A date in the past is a wait of zero.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    parse_retry_after(value, chrono::Utc::now())
}

fn parse_retry_after(value: &str, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    if let Ok(secs) = value.parse::<f64>()
        && secs.is_finite()
        && secs >= 0.0
    {
        return Some(Duration::from_secs_f64(secs));
    }
    let when = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let wait = when.with_timezone(&chrono::Utc) - now;
    Some(wait.to_std().unwrap_or(Duration::ZERO))
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

/// A transport error in words, without reqwest's nested Debug noise.
pub fn describe_transport_error(e: &reqwest::Error) -> String {
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
    let mut source = e.source();
    while let Some(s) = source {
        cause = s.to_string();
        source = s.source();
    }
    if cause.is_empty() {
        kind.to_string()
    } else {
        format!("{kind}: {cause}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn retry_after_table() {
        let now = chrono::Utc.with_ymd_and_hms(2015, 10, 21, 7, 28, 0).unwrap();
        let cases: &[(&str, Option<Duration>)] = &[
            ("0", Some(Duration::ZERO)),
            ("7", Some(Duration::from_secs(7))),
            ("1.5", Some(Duration::from_millis(1500))),
            ("Wed, 21 Oct 2015 07:28:30 GMT", Some(Duration::from_secs(30))),
            ("Wed, 21 Oct 2015 07:27:00 GMT", Some(Duration::ZERO)),
            ("soon", None),
            ("-3", None),
        ];
        for (value, want) in cases {
            assert_eq!(parse_retry_after(value, now), *want, "Retry-After: {value}");
        }
    }

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
