//! Access tokens: getting one from the token endpoint (OAuth 2.0 client
//! credentials, or a JWT refresh token), holding it for the run, renewing it
//! at 90% of its lifetime with at most one renewal in flight, and once more
//! after a 401. Every token text lives in a [`Secret`]; no error or log line
//! here carries one. Retrying the token endpoint itself is the caller's
//! policy (see `http::retry`), not this module's.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use reqwest::{StatusCode, Url};
use serde::Deserialize;
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::exit::{Exit, ExitStatus};
use crate::http::RetryPolicy;
use crate::job::{Auth, ClientAuth};
use crate::secret::Secret;

/// Lifetime assumed when the token endpoint sends no usable `expires_in`
/// (Vainu's JWT access tokens live one hour). Stated lifetimes are bounded
/// by `http::bounds` (1 s ..= 24 h).
pub const DEFAULT_LIFETIME: Duration = crate::http::DEFAULT_TOKEN_LIFETIME;

/// Renew when this fraction of the lifetime has passed.
const RENEW_AT: f64 = 0.9;

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The token endpoint said no (4xx): wrong credentials, scope, grant.
    #[error("{message}")]
    Rejected {
        url: String,
        status: StatusCode,
        message: String,
    },
    /// The token endpoint failed in a way worth retrying (5xx, 429, 408).
    #[error("token request to {url} failed with {status}: {detail}")]
    Unavailable {
        url: String,
        status: StatusCode,
        detail: String,
        retry_after: Option<crate::http::RetryAfter>,
    },
    /// No answer: connection refused, timeout, TLS. `certificate`: a TLS
    /// certificate failure (not retried).
    #[error("token request to {url} failed: {reason}")]
    Transport {
        url: String,
        reason: String,
        certificate: bool,
    },
    /// A 2xx answer that is not a token.
    #[error("token endpoint {url} answered {status} without a usable token: {detail}")]
    BadAnswer {
        url: String,
        status: StatusCode,
        detail: String,
    },
}

impl ExitStatus for AuthError {
    fn exit(&self) -> Exit {
        match self {
            AuthError::Rejected { .. } => Exit::Credentials,
            _ => Exit::Failed,
        }
    }
}

impl AuthError {
    /// Worth asking again: the server or the network, not the credentials
    /// (the one decision of `http::retry`).
    pub fn is_transient(&self) -> bool {
        use crate::http::{Failure, is_retryable};
        match self {
            AuthError::Rejected { .. } => false,
            AuthError::Unavailable { status, .. } => is_retryable(Failure::Status(*status)),
            AuthError::Transport { certificate, .. } => is_retryable(Failure::Transport {
                certificate: *certificate,
            }),
            AuthError::BadAnswer { .. } => is_retryable(Failure::BadBody),
        }
    }

    pub fn retry_after(&self) -> Option<&crate::http::RetryAfter> {
        match self {
            AuthError::Unavailable { retry_after, .. } => retry_after.as_ref(),
            _ => None,
        }
    }
}

/// A live access token and what the endpoint said about it.
#[derive(Debug)]
pub struct Token {
    pub value: Secret,
    pub token_type: String,
    pub scope: Option<String>,
    /// `expires_in` as sent, bounded to 1 s ..= 24 h; `None` when the
    /// endpoint sent none or nothing usable (zero, negative, not a number).
    pub expires_in: Option<Duration>,
    pub obtained: Instant,
}

impl Token {
    /// The lifetime the renewal schedule uses.
    pub fn lifetime(&self) -> Duration {
        self.expires_in.unwrap_or(DEFAULT_LIFETIME)
    }

    /// When this token should be replaced: 90% into its lifetime.
    pub fn renew_at(&self) -> Instant {
        self.obtained + self.lifetime().mul_f64(RENEW_AT)
    }

    /// The `Authorization` header value.
    pub fn bearer(&self) -> String {
        format!("Bearer {}", self.value.expose())
    }
}

/// Asks the token endpoint for a token, once. No retries here.
#[derive(Debug, Clone)]
pub struct TokenEndpoint {
    http: reqwest::Client,
    auth: Auth,
}

impl TokenEndpoint {
    pub fn new(http: reqwest::Client, auth: Auth) -> Self {
        TokenEndpoint { http, auth }
    }

    pub fn url(&self) -> &Url {
        self.auth.token_url()
    }

    pub async fn request(&self) -> Result<Token, AuthError> {
        let url = self.url().to_string();
        let request = match &self.auth {
            Auth::ClientCredentials {
                client_id,
                client_secret,
                scope,
                client_auth,
                ..
            } => {
                let mut form: Vec<(&str, &str)> = vec![("grant_type", "client_credentials")];
                if let Some(scope) = scope {
                    form.push(("scope", scope));
                }
                let request = self.http.post(url.clone());
                match client_auth {
                    ClientAuth::Body => {
                        form.push(("client_id", client_id));
                        form.push(("client_secret", client_secret.expose()));
                        request.form(&form)
                    }
                    // RFC 6749 2.3.1: both parts form-urlencoded, then Basic.
                    ClientAuth::Basic => request
                        .basic_auth(form_encode(client_id), Some(form_encode(client_secret.expose())))
                        .form(&form),
                }
            }
            Auth::JwtRefresh { refresh_token, .. } => self
                .http
                .post(url.clone())
                .json(&serde_json::json!({ "refresh": refresh_token.expose() })),
        };
        let transport = |e: reqwest::Error| {
            let failure = crate::http::transport_failure(&e);
            AuthError::Transport {
                url: url.clone(),
                reason: failure.text,
                certificate: failure.certificate,
            }
        };
        let response = request.send().await.map_err(transport)?;
        let status = response.status();
        let retry_after = crate::http::retry_after(response.headers());
        let body = response.bytes().await.map_err(transport)?;
        let obtained = Instant::now();
        if status.is_success() {
            return parse_token(&self.auth, &url, status, &body, obtained);
        }
        if crate::http::is_retryable_status(status) {
            return Err(AuthError::Unavailable {
                url,
                status,
                detail: crate::http::error_text(&body),
                retry_after,
            });
        }
        Err(AuthError::Rejected {
            message: rejection_message(&self.auth, &url, status, &body),
            url,
            status,
        })
    }
}

fn form_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[derive(Deserialize)]
struct OAuthAnswer {
    access_token: Option<String>,
    access: Option<String>,
    token_type: Option<String>,
    /// Any JSON: read by `http::token_lifetime`, never trusted as is.
    expires_in: Option<serde_json::Value>,
    scope: Option<String>,
}

/// A 2xx token answer; `BadAnswer` when it holds no usable token. The error
/// never quotes the body (it may hold a token).
pub(crate) fn parse_token(
    auth: &Auth,
    url: &str,
    status: StatusCode,
    body: &[u8],
    obtained: Instant,
) -> Result<Token, AuthError> {
    let bad = |detail: &str| AuthError::BadAnswer {
        url: url.to_string(),
        status,
        detail: detail.to_string(),
    };
    let answer: OAuthAnswer = serde_json::from_slice(body).map_err(|_| bad("the body is not a JSON object"))?;
    let value = match auth {
        Auth::ClientCredentials { .. } => answer.access_token.ok_or_else(|| bad("no access_token"))?,
        Auth::JwtRefresh { .. } => answer.access.or(answer.access_token).ok_or_else(|| bad("no access"))?,
    };
    if value.is_empty() {
        return Err(bad("the access token is empty"));
    }
    let (lifetime, note) = crate::http::token_lifetime(answer.expires_in.as_ref());
    if let Some(note) = &note {
        tracing::warn!(url, lifetime_secs = lifetime.as_secs_f64(), "{note}");
    }
    // A stated lifetime that was not usable at all is as good as none.
    let expires_in = match (&answer.expires_in, lifetime == DEFAULT_LIFETIME && note.is_some()) {
        (None | Some(serde_json::Value::Null), _) | (_, true) => None,
        _ => Some(lifetime),
    };
    Ok(Token {
        value: Secret::new(value),
        token_type: answer.token_type.unwrap_or_else(|| "Bearer".to_string()),
        scope: answer.scope,
        expires_in,
        obtained,
    })
}

/// One line that says what the token endpoint refused and what to change.
fn rejection_message(auth: &Auth, url: &str, status: StatusCode, body: &[u8]) -> String {
    #[derive(Deserialize)]
    struct OAuthError {
        error: Option<String>,
        error_description: Option<String>,
    }
    let parsed: Option<OAuthError> = serde_json::from_slice(body).ok();
    let (code, description) = match parsed {
        Some(OAuthError {
            error: Some(code),
            error_description,
        }) => (code, error_description),
        _ => (String::new(), None),
    };
    let said = match (&code, &description) {
        (c, Some(d)) if !c.is_empty() => format!("{c}: {d}"),
        (c, None) if !c.is_empty() => c.clone(),
        _ => format!("{status}: {}", crate::http::error_text(body)),
    };
    let advice = match (auth, code.as_str()) {
        (Auth::ClientCredentials { .. }, "invalid_client") => {
            "check auth.client_id and auth.client_secret (VAINU_CLIENT_ID / VAINU_CLIENT_SECRET); \
             a rotated, expired or deactivated client secret stops working at once"
                .to_string()
        }
        (Auth::ClientCredentials { scope, .. }, "invalid_scope") => format!(
            "the client may not use scope {:?}: set auth.scope to a scope it is granted (Vainu's is \"vainu:api\")",
            scope.as_deref().unwrap_or("")
        ),
        (_, "unsupported_grant_type") => "this endpoint does not take this grant: check auth.method and that \
             auth.token_url is the OAuth token endpoint (/api/oauth/token/ for client_credentials, \
             /api/token_authentication/refresh/ for jwt_refresh)"
            .to_string(),
        (_, "unauthorized_client") => {
            "the client is not allowed the client_credentials grant: check the application in Vainu's \
             Settings > API Access"
                .to_string()
        }
        (Auth::ClientCredentials { .. }, "invalid_grant") => {
            "the grant was refused: check auth.method and auth.client_id".to_string()
        }
        (Auth::JwtRefresh { .. }, _) if status == StatusCode::BAD_REQUEST || status == StatusCode::UNAUTHORIZED => {
            "the refresh token is invalid or expired: get a new one from Vainu's Settings > API Access and set \
             auth.refresh_token (VAINU_REFRESH_TOKEN)"
                .to_string()
        }
        _ if status == StatusCode::NOT_FOUND || status == StatusCode::METHOD_NOT_ALLOWED => {
            "check auth.token_url".to_string()
        }
        // A 4xx without an OAuth `error`: not an OAuth token endpoint.
        (Auth::ClientCredentials { .. }, "") => {
            "the answer is not an OAuth error: check that auth.token_url is the OAuth token endpoint \
             (/api/oauth/token/) and auth.method"
                .to_string()
        }
        _ => "check the [auth] section of the job".to_string(),
    };
    let what = match auth {
        Auth::ClientCredentials { .. } => "client credentials rejected",
        Auth::JwtRefresh { .. } => "refresh token rejected",
    };
    format!("{what} by {url} ({said}): {advice}")
}

/// The run's token: one at a time, shared by every request, renewed before
/// it expires. The mutex is the single-flight: whoever finds the token due
/// renews it while the others wait for the result.
pub struct Tokens {
    endpoint: TokenEndpoint,
    retry: RetryPolicy,
    current: Mutex<Option<Arc<Token>>>,
    requests: AtomicU64,
}

impl Tokens {
    pub fn new(endpoint: TokenEndpoint, retry: RetryPolicy) -> Self {
        Tokens {
            endpoint,
            retry,
            current: Mutex::new(None),
            requests: AtomicU64::new(0),
        }
    }

    /// Token requests made so far, every attempt counted.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// A token that is not yet due for renewal.
    pub async fn get(&self) -> Result<Arc<Token>, AuthError> {
        let mut current = self.current.lock().await;
        if let Some(token) = current.as_ref()
            && Instant::now() < token.renew_at()
        {
            return Ok(token.clone());
        }
        let renewing = current.is_some();
        let token = Arc::new(self.request_with_retries().await?);
        if renewing {
            tracing::info!(
                lifetime_secs = token.lifetime().as_secs_f64(),
                reason = "due",
                "token renewed"
            );
        }
        *current = Some(token.clone());
        Ok(token)
    }

    /// After a 401 with `rejected`: a fresh token, unless another request
    /// already replaced it.
    pub async fn renew_after_401(&self, rejected: &Arc<Token>) -> Result<Arc<Token>, AuthError> {
        let mut current = self.current.lock().await;
        if let Some(token) = current.as_ref()
            && !Arc::ptr_eq(token, rejected)
        {
            return Ok(token.clone());
        }
        let token = Arc::new(self.request_with_retries().await?);
        tracing::info!(
            lifetime_secs = token.lifetime().as_secs_f64(),
            reason = "401",
            "token renewed"
        );
        *current = Some(token.clone());
        Ok(token)
    }

    /// Ask the endpoint, retrying 5xx, 429, 408 and transport errors under
    /// the run's retry policy. A rejection is final at once.
    async fn request_with_retries(&self) -> Result<Token, AuthError> {
        let mut backoff = self.retry.start();
        loop {
            self.requests.fetch_add(1, Ordering::Relaxed);
            match self.endpoint.request().await {
                Ok(token) => return Ok(token),
                Err(e) if e.is_transient() => {
                    let Some(wait) = backoff.next_wait(e.retry_after().and_then(|r| r.wait)) else {
                        return Err(e);
                    };
                    tracing::warn!(
                        url = %self.endpoint.url(),
                        reason = %e,
                        wait_ms = wait.as_millis() as u64,
                        retry_after = e.retry_after().map(|r| r.raw.as_str()),
                        attempt = backoff.attempts(),
                        "retrying token request"
                    );
                    tokio::time::sleep(wait).await;
                }
                Err(e) => return Err(e),
            }
        }
    }
}
