//! The API client: every request of a run (organizations, count, and the
//! fields catalog's GET) goes through [`ApiClient::post`] / [`ApiClient::get`], which passes the rate gate, attaches the
//! run's token, renews it once on a 401, and retries what the retry policy
//! says is transient, logging each retry with its reason and wait.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use reqwest::{Method, StatusCode, Url};

use super::error::FetchError;
use super::gate::Gate;
use super::http::{describe_transport_error, error_text, retry_after};
use super::retry::{RetryPolicy, is_retryable_status};
use crate::auth::{Token, Tokens};

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
    Done(Bytes),
    Unauthorized(String),
    Transient {
        reason: String,
        retry_after: Option<std::time::Duration>,
        throttled: bool,
    },
    Final(FetchError),
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
        self.send(Method::POST, url, Some(body), offset).await
    }

    /// GET `url` (the fields catalog) through the same gate, token and
    /// retry policy as every other request of the run; the 2xx body.
    pub async fn get(&self, url: &Url) -> Result<Bytes, FetchError> {
        self.send(Method::GET, url, None, None).await
    }

    async fn send(
        &self,
        method: Method,
        url: &Url,
        body: Option<Bytes>,
        offset: Option<u64>,
    ) -> Result<Bytes, FetchError> {
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
            match self.attempt(&method, url, body.as_ref(), &token.bearer(), offset).await {
                Attempt::Done(bytes) => {
                    self.gate.succeeded();
                    return Ok(bytes);
                }
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
                    let Some(wait) = backoff.next_wait(retry_after) else {
                        return Err(FetchError::Exhausted {
                            url: url.to_string(),
                            offset,
                            attempts: backoff.attempts(),
                            elapsed_secs: backoff.elapsed().as_secs_f64(),
                            last: reason,
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
            Err(e) => {
                return Attempt::Transient {
                    reason: describe_transport_error(&e),
                    retry_after: None,
                    throttled: false,
                };
            }
        };
        let status = response.status();
        let wait = retry_after(response.headers());
        let bytes = match response.bytes().await {
            Ok(b) => b,
            Err(e) => {
                return Attempt::Transient {
                    reason: describe_transport_error(&e),
                    retry_after: None,
                    throttled: false,
                };
            }
        };
        if status.is_success() {
            return Attempt::Done(bytes);
        }
        if status == StatusCode::UNAUTHORIZED {
            return Attempt::Unauthorized(error_text(&bytes));
        }
        if is_retryable_status(status) {
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
