//! The running sandbox: axum routes for the token endpoints, organizations,
//! count and the `/_sandbox/*` test hooks, the per-request gate (rate limit,
//! then auth, then latency, then fail injection), and `Sandbox`'s
//! start/stop. The checks themselves live in `auth.rs`, `limits.rs`,
//! `request.rs` and `query.rs`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::auth::{SCOPE, TokenStore, check_client_credentials, check_refresh};
use super::config::SandboxConfig;
use super::data::Dataset;
use super::error::SandboxError;
use super::faults::html_response;
use super::limits::{FailInjector, RateLimiter, retry_after_secs};
use super::query::{Engine, Matches};
use super::request::{self, Request};
use super::stats::{Counters, SandboxStats};

#[path = "export.rs"]
mod export;

/// How long `shutdown` waits for open connections before cutting them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

struct AppState {
    config: SandboxConfig,
    engine: Arc<Engine>,
    tokens: TokenStore,
    limiter: Option<RateLimiter>,
    failures: FailInjector,
    failure_seq: AtomicU64,
    /// Organizations requests that passed auth, for the fault knobs.
    fault_seq: AtomicU64,
    counters: Counters,
    /// Async exports created so far.
    exports: export::Exports,
}

type Shared = Arc<AppState>;

/// A running sandbox server.
pub struct Sandbox {
    addr: SocketAddr,
    state: Shared,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Sandbox {
    /// Bind 127.0.0.1:port (0 = ephemeral) and serve in a tokio task.
    pub async fn start(config: SandboxConfig, port: u16) -> std::io::Result<Sandbox> {
        let limiter = match config.rate {
            None => None,
            Some(rate) => Some(RateLimiter::new(rate).ok_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!("sandbox rate must be a positive number of requests/s, got {rate}"),
                )
            })?),
        };
        let state = Arc::new(AppState {
            engine: Arc::new(Engine::new(Dataset::new(config.seed, config.records))),
            tokens: TokenStore::new(config.token_ttl),
            limiter,
            failures: FailInjector::new(config.seed, config.fail_rate, config.fail_after),
            failure_seq: AtomicU64::new(0),
            fault_seq: AtomicU64::new(0),
            counters: Counters::default(),
            exports: export::Exports::default(),
            config,
        });
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let app = router(Arc::clone(&state));
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
            if let Err(error) = served {
                tracing::warn!(%error, "sandbox server stopped with an error");
            }
        });
        tracing::debug!(%addr, "sandbox listening");
        Ok(Sandbox {
            addr,
            state,
            stop: Some(stop),
            task: Some(task),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A snapshot of the request counters.
    pub fn stats(&self) -> SandboxStats {
        self.state.counters.snapshot()
    }

    /// Every access token issued so far: tests prove none of them is shown.
    pub fn issued_tokens(&self) -> Vec<String> {
        self.state.tokens.issued_tokens()
    }

    /// Stop accepting, let in-flight requests finish (at most a few seconds).
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let abort = task.abort_handle();
            if tokio::time::timeout(SHUTDOWN_GRACE, task).await.is_err() {
                abort.abort();
            }
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

fn router(state: Shared) -> Router {
    Router::new()
        .route("/api/oauth/token/", post(token))
        .route("/api/token_authentication/refresh/", post(refresh))
        .route("/api/v3/organizations/", post(organizations))
        .route("/api/v3/organizations/count/", post(count))
        .route("/api/v3/organizations_fields/", get(fields_catalog))
        .route("/api/v3/organizations/async/", post(export::create))
        .route("/api/v3/organizations/async/{id}/", get(export::poll))
        .route("/_store/exports/{file}", get(export::download))
        .route("/_sandbox/stats", get(stats))
        .route("/_sandbox/modify", post(modify))
        .fallback(|| async { SandboxError::NotFound })
        .with_state(state)
}

/// Now as a zone-less UTC timestamp with microseconds.
fn now_timestamp() -> String {
    chrono::Utc::now()
        .naive_utc()
        .format("%Y-%m-%dT%H:%M:%S%.6f")
        .to_string()
}

async fn token(State(s): State<Shared>, headers: HeaderMap, body: Bytes) -> Result<Response, SandboxError> {
    Counters::bump(&s.counters.token_requests);
    check_client_credentials(&headers, &body)?;
    // Built as text: `expires_in` may be any raw JSON (faults).
    let body = format!(
        "{{\"access_token\":{},\"token_type\":\"Bearer\"{},\"scope\":{}}}",
        Value::String(s.tokens.issue()),
        s.config.faults.expires_in_member(s.tokens.ttl().as_secs()),
        Value::String(SCOPE.to_string()),
    );
    Ok(([(axum::http::header::CONTENT_TYPE, "application/json")], body).into_response())
}

async fn refresh(State(s): State<Shared>, body: Bytes) -> Result<Response, SandboxError> {
    Counters::bump(&s.counters.token_requests);
    check_refresh(&body)?;
    Ok(axum::Json(json!({"access": s.tokens.issue()})).into_response())
}

/// Rate limit, then auth, then latency, then (organizations only) fail injection.
async fn gate(s: &AppState, headers: &HeaderMap, inject: bool) -> Result<(), SandboxError> {
    if let Some(limiter) = &s.limiter
        && let Err(wait) = limiter.check(Instant::now())
    {
        Counters::bump(&s.counters.throttled);
        return Err(SandboxError::Throttled {
            retry_after_secs: retry_after_secs(wait),
        });
    }
    if let Err(e) = s.tokens.authorize(headers) {
        Counters::bump(&s.counters.unauthorized);
        return Err(e);
    }
    if !s.config.latency.is_zero() {
        tokio::time::sleep(s.config.latency).await;
    }
    if inject {
        let n = Counters::bump(&s.failure_seq);
        if let Some(status) = s.failures.failure(n) {
            Counters::bump(&s.counters.injected_failures);
            return Err(SandboxError::Injected { status });
        }
    }
    Ok(())
}

/// Find the matches off the async workers: a first query may scan everything.
async fn find(s: &AppState, request: Request) -> Result<(Request, Matches), SandboxError> {
    let engine = Arc::clone(&s.engine);
    tokio::task::spawn_blocking(move || {
        let m = engine.matches(
            &request.database,
            &request.filter,
            &request.query,
            request.order.as_ref(),
        );
        (request, m)
    })
    .await
    .map_err(|e| SandboxError::Internal(format!("query task failed: {e}")))
}

async fn organizations(
    State(s): State<Shared>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, SandboxError> {
    Counters::bump(&s.counters.organizations_requests);
    s.counters.arrived();
    gate(&s, &headers, true).await?;
    request::check_query_string(uri.query())?;
    let req = request::organizations(&body)?;
    if let Err(e) = request::check_offset(req.offset, s.config.max_offset) {
        Counters::bump(&s.counters.offset_refusals);
        return Err(e);
    }
    super::catalog::check_permissions(&req.fields)?;
    let faults = &s.config.faults;
    let n = Counters::bump(&s.fault_seq);
    if faults.throttles(n) {
        Counters::bump(&s.counters.throttled);
        return Ok(faults.throttled_response());
    }
    if faults.html(n, req.offset) {
        Counters::bump(&s.counters.html_answers);
        return Ok(html_response());
    }
    let (req, matches) = find(&s, req).await?;
    let mut page = s
        .engine
        .page(&req.database, &matches, req.offset, req.limit, &req.fields);
    if faults.short_at(req.offset) && page.pop().is_some() {
        Counters::bump(&s.counters.short_pages);
    }
    if faults.non_object_at(req.offset)
        && let Some(first) = page.first_mut()
    {
        *first = Value::String("damaged".into());
    }
    let total = matches.len();
    let body = match s.config.envelope.key() {
        None => Value::Array(page),
        Some(key) => {
            let end = req.offset.saturating_add(req.limit);
            let next = (end < total).then_some(end);
            json!({key: page, "count": total, "next": next})
        }
    };
    Ok(axum::Json(body).into_response())
}

async fn count(State(s): State<Shared>, uri: Uri, headers: HeaderMap, body: Bytes) -> Result<Response, SandboxError> {
    Counters::bump(&s.counters.count_requests);
    s.counters.arrived();
    gate(&s, &headers, false).await?;
    request::check_query_string(uri.query())?;
    let started = Instant::now();
    let (_, matches) = find(&s, request::count(&body)?).await?;
    let duration = (started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0;
    Ok(axum::Json(json!({
        "count": matches.len(),
        "status": "ready",
        "time": now_timestamp(),
        "duration": duration.max(0.01),
    }))
    .into_response())
}

/// The fields catalog of the data set (`catalog.rs`); 404 with `no_catalog`.
async fn fields_catalog(State(s): State<Shared>, headers: HeaderMap) -> Result<Response, SandboxError> {
    Counters::bump(&s.counters.catalog_requests);
    gate(&s, &headers, false).await?;
    if s.config.no_catalog {
        return Err(SandboxError::NotFound);
    }
    Ok(axum::Json(super::catalog::catalog()).into_response())
}

async fn stats(State(s): State<Shared>) -> axum::Json<SandboxStats> {
    axum::Json(s.counters.snapshot())
}

async fn modify(State(s): State<Shared>, body: Bytes) -> Result<Response, SandboxError> {
    let value: Value =
        serde_json::from_slice(&body).map_err(|e| SandboxError::invalid(format!("JSON parse error - {e}")))?;
    let database = value.get("database").and_then(Value::as_str).unwrap_or_default();
    let indexes: Vec<u64> = match value.get("indexes").and_then(Value::as_array) {
        Some(items) => items
            .iter()
            .map(|i| {
                i.as_u64()
                    .ok_or_else(|| SandboxError::invalid(format!("indexes must be integers >= 0, got {i}")))
            })
            .collect::<Result<_, _>>()?,
        None => {
            return Err(SandboxError::invalid(
                "body must be {\"database\": ..., \"indexes\": [...]}",
            ));
        }
    };
    let at = now_timestamp();
    s.engine.modify(database, &indexes, &at)?;
    Ok(axum::Json(json!({"modified": indexes.len(), "at": at})).into_response())
}
