//! The API client: every request of a run (organizations, count, and the
//! fields catalog's GET) goes through [`ApiClient::post_checked`] or
//! [`ApiClient::get`], which passes the rate gate, attaches
//! the run's token, renews it once on a 401, checks that a 2xx body is what
//! was asked for, and retries what the retry policy says is transient (a
//! body that is not what was asked for included), logging each retry with
//! its reason, wait and the server's raw `Retry-After`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use reqwest::{Method, StatusCode, Url};

use super::error::FetchError;
use super::gate::Gate;
use crate::auth::{Token, Tokens};
use crate::http::{Failure, RetryPolicy, is_retryable};
use crate::http::{RetryAfter, error_text, retry_after, transport_failure};

/// What a run counts for its manifest and summary.
#[derive(Debug, Default)]
pub struct Counters {
    pub requests: AtomicU64,
    pub retries: AtomicU64,
    pub throttled: AtomicU64,
}

impl Counters {
    fn add(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

pub struct ApiClient {
    http: reqwest::Client,
    tokens: Arc<Tokens>,
    gate: Gate,
    retry: RetryPolicy,
    pub counters: Counters,
}

enum Attempt {
    Done(Bytes, String),
    Unauthorized(String),
    Transient {
        reason: String,
        retry_after: Option<RetryAfter>,
        throttled: bool,
    },
    Final(FetchError),
}

/// The last 2xx body that was not what was asked for: the error to give
/// when the retries run out.
struct Unreadable {
    content_type: String,
    excerpt: String,
    detail: String,
}

/// How many bytes of an unreadable body an error shows.
const EXCERPT_BYTES: usize = 100;

/// The first [`EXCERPT_BYTES`] bytes of `body` as text, cut on a char
/// boundary, with `secret` (the bearer token) masked should the server echo
/// it.
pub(crate) fn excerpt(body: &[u8], secret: &str) -> String {
    let head = &body[..body.len().min(4 * EXCERPT_BYTES + secret.len())];
    let mut text = String::from_utf8_lossy(head).into_owned();
    if !secret.is_empty() {
        text = text.replace(secret, "***");
    }
    let mut cut = text.len().min(EXCERPT_BYTES);
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    text.truncate(cut);
    text
}

impl ApiClient {
    pub fn new(http: reqwest::Client, tokens: Arc<Tokens>, gate: Gate, retry: RetryPolicy) -> Self {
        ApiClient {
            http,
            tokens,
            gate,
            retry,
            counters: Counters::default(),
        }
    }

    pub fn tokens(&self) -> &Arc<Tokens> {
        &self.tokens
    }

    /// POST `body` (JSON bytes) to `url`; the 2xx body. `offset` only labels
    /// errors and logs.
    pub async fn post(&self, url: &Url, body: Bytes, offset: Option<u64>) -> Result<Bytes, FetchError> {
        self.post_checked(url, body, offset, |bytes| Ok(bytes.clone())).await
    }

    /// GET `url` (the fields catalog) through the same gate, token and
    /// retry policy as every other request of the run; the 2xx body.
    pub async fn get(&self, url: &Url) -> Result<Bytes, FetchError> {
        self.send(Method::GET, url, None, None, |bytes| Ok(bytes.clone())).await
    }

    /// GET `url` (an async export's link) and read the 2xx body with
    /// `check`, retried like [`ApiClient::post_checked`].
    pub async fn get_checked<T>(
        &self,
        url: &Url,
        check: impl Fn(&Bytes) -> Result<T, String>,
    ) -> Result<T, FetchError> {
        self.send(Method::GET, url, None, None, check).await
    }

    /// POST `body` to `url` and read the 2xx body with `check`; a body that
    /// `check` refuses (an HTML maintenance page, JSON without the records)
    /// is retried like a 5xx, and when the retries run out the error names
    /// the URL, offset, content type and the body's first bytes.
    pub async fn post_checked<T>(
        &self,
        url: &Url,
        body: Bytes,
        offset: Option<u64>,
        check: impl Fn(&Bytes) -> Result<T, String>,
    ) -> Result<T, FetchError> {
        self.send(Method::POST, url, Some(body), offset, check).await
    }

    async fn send<T>(
        &self,
        method: Method,
        url: &Url,
        body: Option<Bytes>,
        offset: Option<u64>,
        check: impl Fn(&Bytes) -> Result<T, String>,
    ) -> Result<T, FetchError> {
        let mut backoff = self.retry.start();
        // The token whose 401 asks for a renewal before the next attempt.
        let mut rejected: Option<Arc<Token>> = None;
        let mut renewed_after_401 = false;
        loop {
            self.gate.pass().await;
            // Taken after the gate: a request may wait there longer than a
            // token has left to live.
            let token = match rejected.take() {
                Some(bad) => self.tokens.renew_after_401(&bad).await?,
                None => self.tokens.get().await?,
            };
            Counters::add(&self.counters.requests);
            // The body of this attempt, when it was a 2xx that `check` refused.
            let unreadable: Option<Unreadable>;
            let attempt = match self.attempt(&method, url, body.as_ref(), &token.bearer(), offset).await {
                Attempt::Done(bytes, content_type) => match check(&bytes) {
                    Ok(value) => {
                        self.gate.succeeded();
                        return Ok(value);
                    }
                    Err(detail) => {
                        let reason = format!("a {content_type} answer that is not what was asked for: {detail}");
                        unreadable = Some(Unreadable {
                            excerpt: excerpt(&bytes, token.value.expose()),
                            content_type,
                            detail,
                        });
                        Attempt::Transient {
                            reason,
                            retry_after: None,
                            throttled: false,
                        }
                    }
                },
                other => {
                    unreadable = None;
                    other
                }
            };
            match attempt {
                Attempt::Done(..) => unreachable!("a 2xx is checked above"),
                Attempt::Final(e) => return Err(e),
                Attempt::Unauthorized(detail) => {
                    if renewed_after_401 {
                        return Err(FetchError::Unauthorized {
                            url: url.to_string(),
                            offset,
                            detail,
                        });
                    }
                    renewed_after_401 = true;
                    tracing::warn!(url = %url, offset, "401 from the API; renewing the token and retrying once");
                    rejected = Some(token);
                }
                Attempt::Transient {
                    reason,
                    retry_after,
                    throttled,
                } => {
                    renewed_after_401 = false;
                    if throttled {
                        Counters::add(&self.counters.throttled);
                    }
                    let Some(wait) = backoff.next_wait(retry_after.as_ref().and_then(|r| r.wait)) else {
                        return Err(match unreadable {
                            Some(u) => FetchError::BadBody {
                                url: url.to_string(),
                                offset,
                                attempts: backoff.attempts(),
                                content_type: u.content_type,
                                excerpt: u.excerpt,
                                detail: u.detail,
                            },
                            None => FetchError::Exhausted {
                                url: url.to_string(),
                                offset,
                                attempts: backoff.attempts(),
                                elapsed_secs: backoff.elapsed().as_secs_f64(),
                                last: reason,
                            },
                        });
                    };
                    if throttled {
                        self.gate.throttled(wait);
                    }
                    Counters::add(&self.counters.retries);
                    tracing::warn!(
                        url = %url,
                        offset,
                        reason = %reason,
                        wait_ms = wait.as_millis() as u64,
                        retry_after = retry_after.as_ref().map(|r| r.raw.as_str()),
                        attempt = backoff.attempts(),
                        "retrying"
                    );
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    async fn attempt(
        &self,
        method: &Method,
        url: &Url,
        body: Option<&Bytes>,
        bearer: &str,
        offset: Option<u64>,
    ) -> Attempt {
        let mut request = self
            .http
            .request(method.clone(), url.clone())
            .header(AUTHORIZATION, bearer);
        if let Some(body) = body {
            request = request.header(CONTENT_TYPE, "application/json").body(body.clone());
        }
        let sent = request.send().await;
        let response = match sent {
            Ok(r) => r,
            Err(e) => return transport(url, offset, &e),
        };
        let status = response.status();
        let wait = retry_after(response.headers());
        let content_type = response.headers().get(CONTENT_TYPE).map_or_else(
            || "(no content type)".to_string(),
            |v| String::from_utf8_lossy(v.as_bytes()).chars().take(80).collect(),
        );
        let bytes = match response.bytes().await {
            Ok(b) => b,
            Err(e) => return transport(url, offset, &e),
        };
        if status.is_success() {
            return Attempt::Done(bytes, content_type);
        }
        if status == StatusCode::UNAUTHORIZED {
            return Attempt::Unauthorized(error_text(&bytes));
        }
        if is_retryable(Failure::Status(status)) {
            return Attempt::Transient {
                reason: format!("{status}: {}", error_text(&bytes)),
                retry_after: wait,
                throttled: status == StatusCode::TOO_MANY_REQUESTS,
            };
        }
        Attempt::Final(FetchError::Rejected {
            url: url.to_string(),
            offset,
            status,
            detail: error_text(&bytes),
        })
    }
}

/// A transport error: retried, unless it is a TLS certificate failure.
fn transport(url: &Url, offset: Option<u64>, e: &reqwest::Error) -> Attempt {
    let failure = transport_failure(e);
    if is_retryable(Failure::Transport {
        certificate: failure.certificate,
    }) {
        return Attempt::Transient {
            reason: failure.text,
            retry_after: None,
            throttled: false,
        };
    }
    Attempt::Final(FetchError::Transport {
        url: url.to_string(),
        offset,
        reason: failure.text,
    })
}
