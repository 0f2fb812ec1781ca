//! The connection to an S3-compatible store: the client built from the
//! standard AWS environment (credentials, region, `AWS_ENDPOINT_URL`), the
//! loopback-only rule for plain `http://` endpoints, the one small runtime
//! all object I/O runs on (so the synchronous part writers can wait for an
//! upload from any thread, inside or outside the run's own runtime), and
//! the scrubbing of credential values out of any error text. It does not
//! decide what to write where: that is `writer.rs`.

use std::future::Future;
use std::net::IpAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use object_store::aws::AmazonS3Builder;
use object_store::{ClientOptions, ObjectStore, RetryConfig};

use super::url::ObjectUrl;
use crate::sink::SinkError;

/// The environment variables whose values must never be printed.
const SECRET_VARS: [&str; 3] = ["AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ACCESS_KEY_ID"];

/// Where the store's endpoint comes from, most specific first.
const ENDPOINT_VARS: [&str; 3] = ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_ENDPOINT"];

/// A connected bucket.
#[derive(Clone)]
pub struct Bucket {
    pub store: Arc<dyn ObjectStore>,
    pub url: ObjectUrl,
}

/// Replaces every credential value from the environment found in `text`.
pub fn scrub(text: &str) -> String {
    let mut out = text.to_string();
    for var in SECRET_VARS {
        if let Ok(value) = std::env::var(var)
            && value.len() >= 4
        {
            out = out.replace(&value, "[redacted]");
        }
    }
    out
}

/// An object-store failure on `url` as the sink's error, credentials scrubbed.
pub fn store_error(url: impl std::fmt::Display, what: &str, e: impl std::fmt::Display) -> SinkError {
    SinkError::Store {
        url: url.to_string(),
        reason: scrub(&format!("{what}: {e}")),
    }
}

/// Checks an endpoint URL: `https://` anywhere, `http://` only on a
/// loopback host. Returns whether plain http must be allowed.
pub fn check_endpoint(endpoint: &str) -> Result<bool, String> {
    let parsed = url::Url::parse(endpoint).map_err(|e| format!("AWS_ENDPOINT_URL {endpoint:?} is not a URL: {e}"))?;
    match parsed.scheme() {
        "https" => Ok(false),
        "http" => {
            let loopback = match parsed.host() {
                Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
                Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
                Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
                None => false,
            };
            match loopback {
                true => Ok(true),
                false => Err(format!(
                    "AWS_ENDPOINT_URL {endpoint} is plain http on a host that is not this machine: \
                     credentials and data would travel unencrypted; use https:// (plain http is \
                     accepted only for 127.0.0.1, ::1 or localhost)"
                )),
            }
        }
        other => Err(format!(
            "AWS_ENDPOINT_URL {endpoint} has scheme {other}: use https:// (or http:// on loopback)"
        )),
    }
}

/// Connects to the bucket of `url` with the standard AWS environment.
/// Nothing is sent yet.
pub fn connect(url: &ObjectUrl) -> Result<Bucket, SinkError> {
    let bad = |reason: String| SinkError::StoreConfig {
        url: url.to_string(),
        reason: scrub(&reason),
    };
    // The S3 client may be built before the API client, which installs it too.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut builder = AmazonS3Builder::from_env().with_bucket_name(&url.bucket);
    let endpoint = ENDPOINT_VARS
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()));
    let mut allow_http = false;
    if let Some(endpoint) = &endpoint {
        allow_http = check_endpoint(endpoint).map_err(bad)?;
        builder = builder.with_endpoint(endpoint);
    }
    if std::env::var("AWS_REGION").is_err() && std::env::var("AWS_DEFAULT_REGION").is_ok() {
        builder = builder.with_region(std::env::var("AWS_DEFAULT_REGION").unwrap_or_default());
    }
    let store = builder
        .with_allow_http(allow_http)
        .with_client_options(ClientOptions::new().with_allow_http(allow_http))
        .with_retry(RetryConfig {
            max_retries: 4,
            retry_timeout: Duration::from_secs(60),
            ..RetryConfig::default()
        })
        .build()
        .map_err(|e| bad(format!("cannot configure the S3 client: {e}")))?;
    Ok(Bucket {
        store: Arc::new(store),
        url: url.clone(),
    })
}

/// The runtime all object I/O runs on: one worker, started on first use,
/// never dropped (dropping a runtime inside the run's runtime would panic).
fn runtime() -> Result<&'static tokio::runtime::Runtime, String> {
    static RUNTIME: OnceLock<Result<tokio::runtime::Runtime, String>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("orgsync-object-io")
                .enable_all()
                .build()
                .map_err(|e| format!("cannot start the object-store runtime: {e}"))
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// Runs `fut` on the object-store runtime and waits for it from this
/// (synchronous) thread. Errors only if the runtime cannot start or the
/// task died.
pub fn block<F>(fut: F) -> Result<F::Output, String>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    runtime()?.spawn(async move {
        // The future (and what it holds, e.g. an uploaded part's buffer) is
        // dropped before the waiting thread hears back.
        let out = fut.await;
        let _ = tx.send(out);
    });
    rx.recv()
        .map_err(|_| "the object-store task stopped unexpectedly".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_table() {
        let cases = [
            ("https://s3.eu-north-1.amazonaws.com", Ok(false)),
            ("https://storage.googleapis.com", Ok(false)),
            ("http://127.0.0.1:9000", Ok(true)),
            ("http://127.1.2.3:9000", Ok(true)),
            ("http://localhost:9000", Ok(true)),
            ("http://[::1]:9000", Ok(true)),
            ("http://minio.internal:9000", Err("plain http")),
            ("http://10.0.0.5:9000", Err("plain http")),
            ("ftp://127.0.0.1", Err("scheme ftp")),
            ("not a url", Err("is not a URL")),
        ];
        for (endpoint, want) in cases {
            match (check_endpoint(endpoint), want) {
                (Ok(got), Ok(want)) => assert_eq!(got, want, "{endpoint}"),
                (Err(got), Err(want)) => assert!(got.contains(want), "{endpoint}: {got}"),
                (got, want) => panic!("{endpoint}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn block_runs_from_inside_and_outside_a_runtime() {
        assert_eq!(block(async { 41 + 1 }).unwrap(), 42);
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let inside = rt.block_on(async { block(async { 7 }).unwrap() });
        assert_eq!(inside, 7);
    }

    proptest::proptest! {
        #[test]
        fn check_endpoint_never_panics(s in ".{0,60}") {
            let _ = check_endpoint(&s);
        }
    }
}
