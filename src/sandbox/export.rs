//! The sandbox's async export (VAINU_API.md, "Async export"): `POST
//! /api/v3/organizations/async/?async_format=jsonl` creates an export of
//! the sync body (no `limit`/`offset`) and answers its `link`; `GET` on
//! the link (bearer token) walks `accepted` -> `process` (rising
//! `progress`) -> `completed` (once the file, built in the background
//! from creation on, is there) with a fresh pre-signed `download_link` on
//! every poll, or the configured failure state; the download is served at
//! `/_store/exports/<id>.jsonl[.gz]?X-Amz-...` like an S3 object: no
//! Authorization header allowed (400), 403 once the link expired, `Range`
//! answered 206, optionally throttled. The file holds exactly the records,
//! in the order, that paging the sync endpoint with the same body gives.
//! A child of `server.rs` (it shares the app state and the request gate);
//! the knobs are `config.rs`'s `ExportKnobs`.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{Shared, find, gate};
use crate::sandbox::error::SandboxError;
use crate::sandbox::request;
use crate::sandbox::stats::Counters;

/// Records fetched from the engine at a time while the file is built.
const BUILD_CHUNK: u64 = 1000;

/// The exports of a running sandbox.
#[derive(Debug, Default)]
pub(super) struct Exports {
    jobs: Mutex<Vec<ExportJob>>,
    /// Download links handed out so far (for `expired_links`).
    links: std::sync::atomic::AtomicU64,
}

#[derive(Debug)]
struct ExportJob {
    id: String,
    created: Instant,
    /// The export's file, built in the background from creation on.
    file: Option<Arc<Bytes>>,
}

/// What a poll finds, from the time since creation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Phase {
    Accepted,
    Process(u64),
    Done,
}

/// `accepted` for the first fifth of `total`, then `process` with a
/// progress of 1..=99, then done.
pub(crate) fn phase(elapsed: Duration, total: Duration) -> Phase {
    if elapsed >= total {
        return Phase::Done;
    }
    let fifth = total / 5;
    if elapsed < fifth {
        return Phase::Accepted;
    }
    let percent = (elapsed.as_secs_f64() / total.as_secs_f64() * 100.0) as u64;
    Phase::Process(percent.clamp(1, 99))
}

fn lock(exports: &Exports) -> std::sync::MutexGuard<'_, Vec<ExportJob>> {
    exports.jobs.lock().unwrap_or_else(|p| p.into_inner())
}

/// `http://<Host>` of a request (the sandbox serves loopback only).
fn origin(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    format!("http://{host}")
}

pub(super) async fn create(
    State(s): State<Shared>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, SandboxError> {
    Counters::bump(&s.counters.exports_created);
    s.counters.arrived();
    gate(&s, &headers, false).await?;
    if uri.query() != Some("async_format=jsonl") {
        return Err(SandboxError::invalid(
            "the async endpoint needs ?async_format=jsonl (the only format the sandbox exports)",
        ));
    }
    let parsed: Value =
        serde_json::from_slice(&body).map_err(|e| SandboxError::invalid(format!("JSON parse error - {e}")))?;
    if let Some(key) = ["limit", "offset"].into_iter().find(|k| parsed.get(k).is_some()) {
        return Err(SandboxError::invalid(format!(
            "{key} is not accepted by the async endpoint: an export holds every matching record"
        )));
    }
    // The same checks as the sync endpoint (query or list, database, fields, order).
    let req = request::organizations(&body)?;
    crate::sandbox::catalog::check_permissions(&req.fields)?;
    let id = {
        let mut jobs = lock(&s.exports);
        let id = format!("exp{:06}", jobs.len() + 1);
        jobs.push(ExportJob {
            id: id.clone(),
            created: Instant::now(),
            file: None,
        });
        id
    };
    // The file is built in the background, as the real service does; a
    // poll says `completed` only once it is there.
    let (state, built_id) = (Arc::clone(&s), id.clone());
    tokio::spawn(async move {
        match build(&state, &body).await {
            Ok(file) => {
                if let Some(job) = lock(&state.exports).iter_mut().find(|j| j.id == built_id) {
                    job.file = Some(file);
                }
            }
            Err(error) => tracing::warn!(%error, export = %built_id, "sandbox export build failed"),
        }
    });
    let path = format!("/v3/organizations/async/{id}/");
    let link = match s.config.export.absolute_link {
        true => format!("{}/api{path}", origin(&headers)),
        false => path,
    };
    Ok(axum::Json(json!({"link": link})).into_response())
}

pub(super) async fn poll(
    State(s): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, SandboxError> {
    Counters::bump(&s.counters.export_polls);
    s.counters.arrived();
    gate(&s, &headers, false).await?;
    let knobs = &s.config.export;
    let (created, built) = {
        let jobs = lock(&s.exports);
        let job = jobs.iter().find(|j| j.id == id).ok_or(SandboxError::NotFound)?;
        (job.created, job.file.is_some())
    };
    let answer = match phase(created.elapsed(), knobs.duration) {
        Phase::Accepted => json!({"state": "accepted", "progress": 0}),
        Phase::Process(p) => json!({"state": "process", "progress": p}),
        Phase::Done => match knobs.fail {
            Some(f) => json!({
                "state": f.state(),
                "progress": 100,
                "message": format!("sandbox export {id} ended in {} on purpose (--export-fail)", f.state()),
            }),
            // Time is up but the file is still being built.
            None if !built => json!({"state": "process", "progress": 99}),
            None => {
                json!({
                    "state": "completed",
                    "progress": 100,
                    "download_link": download_link(&s, &headers, &id),
                    "duration": knobs.duration.as_secs_f64(),
                })
            }
        },
    };
    Ok(axum::Json(answer).into_response())
}

/// The records of the export's body as JSON Lines (gzip with the knob).
async fn build(s: &Shared, body: &Bytes) -> Result<Arc<Bytes>, SandboxError> {
    let mut req = request::organizations(body)?;
    req.offset = 0;
    let (req, matches) = find(s, req).await?;
    let engine = Arc::clone(&s.engine);
    let gzip = s.config.export.gzip;
    let bad_line = s.config.export.bad_line;
    tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        let mut offset = 0;
        let mut line = 0u64;
        while offset < matches.len() {
            for record in engine.page(&req.database, &matches, offset, BUILD_CHUNK, &req.fields) {
                line = line.saturating_add(1);
                if bad_line == Some(line) {
                    out.extend_from_slice(b"\"damaged\"");
                } else {
                    serde_json::to_writer(&mut out, &record).expect("a JSON value serializes");
                }
                out.push(b'\n');
            }
            offset = offset.saturating_add(BUILD_CHUNK);
        }
        if gzip {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            enc.write_all(&out).expect("writing to a Vec");
            out = enc.finish().expect("writing to a Vec");
        }
        Arc::new(Bytes::from(out))
    })
    .await
    .map_err(|e| SandboxError::Internal(format!("export build task failed: {e}")))
}

fn unix_now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// The fake signature of a download link (so a tampered link is refused).
fn signature(id: &str, date: i64, expires: u64) -> String {
    let digest = Sha256::digest(format!("sandbox-store:{id}:{date}:{expires}").as_bytes());
    digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

/// A fresh pre-signed link to the export's file.
fn download_link(s: &Shared, headers: &HeaderMap, id: &str) -> String {
    let knobs = &s.config.export;
    let n = Counters::bump(&s.exports.links);
    let expires = knobs.link_ttl.as_secs();
    // An already expired link: issued long enough ago.
    let date = match n < knobs.expired_links {
        true => unix_now().saturating_sub(i64::try_from(expires).unwrap_or(i64::MAX).saturating_add(60)),
        false => unix_now(),
    };
    let ext = if knobs.gzip { "jsonl.gz" } else { "jsonl" };
    format!(
        "{}/_store/exports/{id}.{ext}?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date={date}&X-Amz-Expires={expires}\
         &X-Amz-Signature={}",
        origin(headers),
        signature(id, date, expires)
    )
}

/// An S3-style XML error.
fn s3_error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    );
    (status, [(header::CONTENT_TYPE, "application/xml")], body).into_response()
}

fn query_param<'a>(query: &'a str, key: &str) -> Option<&'a str> {
    query
        .split('&')
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
}

/// The first byte of `bytes=N-` (the only form orgsync sends).
pub(crate) fn range_start(headers: &HeaderMap) -> Option<u64> {
    let text = headers.get(header::RANGE)?.to_str().ok()?;
    text.strip_prefix("bytes=")?.strip_suffix('-')?.parse().ok()
}

pub(super) async fn download(
    State(s): State<Shared>,
    Path(file): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let nth = Counters::bump(&s.counters.export_downloads);
    if headers.contains_key(header::AUTHORIZATION) {
        Counters::bump(&s.counters.export_downloads_with_authorization);
        return s3_error(
            StatusCode::BAD_REQUEST,
            "InvalidArgument",
            "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string \
             parameter or the Authorization header should be specified",
        );
    }
    let id = file.split('.').next().unwrap_or_default().to_string();
    let query = uri.query().unwrap_or_default();
    let date = query_param(query, "X-Amz-Date").and_then(|d| d.parse::<i64>().ok());
    let expires = query_param(query, "X-Amz-Expires").and_then(|e| e.parse::<u64>().ok());
    let (Some(date), Some(expires)) = (date, expires) else {
        return s3_error(
            StatusCode::FORBIDDEN,
            "AccessDenied",
            "Query-string authentication requires parameters",
        );
    };
    if query_param(query, "X-Amz-Signature") != Some(signature(&id, date, expires).as_str()) {
        return s3_error(
            StatusCode::FORBIDDEN,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided",
        );
    }
    if unix_now() > date.saturating_add(i64::try_from(expires).unwrap_or(i64::MAX)) {
        Counters::bump(&s.counters.export_links_expired);
        return s3_error(StatusCode::FORBIDDEN, "AccessDenied", "Request has expired");
    }
    let data = lock(&s.exports)
        .iter()
        .find(|j| j.id == id)
        .and_then(|j| j.file.clone());
    let Some(data) = data else {
        return s3_error(StatusCode::NOT_FOUND, "NoSuchKey", "The specified key does not exist.");
    };
    let len = data.len() as u64;
    let start = match range_start(&headers).filter(|_| !s.config.export.no_range) {
        None => None,
        Some(start) if start < len => Some(start),
        Some(_) => {
            return s3_error(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "InvalidRange",
                "The requested range is not satisfiable",
            );
        }
    };
    let from = usize::try_from(start.unwrap_or(0))
        .unwrap_or(usize::MAX)
        .min(data.len());
    let part = data.slice(from..);
    if nth == 0
        && let Some(cut) = s.config.export.cut_first_download_after
    {
        // The connection drops after `cut` bytes of the first download.
        let cut = usize::try_from(cut).unwrap_or(usize::MAX).min(part.len());
        let head = part.slice(..cut);
        // The head first, then (once it has surely left) the error.
        let stream = futures_util::stream::unfold(Some(head), |head| async move {
            match head {
                Some(h) => Some((Ok(h), None)),
                None => {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    Some((Err(std::io::Error::other("cut on purpose")), None))
                }
            }
        });
        return (StatusCode::OK, Body::from_stream(stream)).into_response();
    }
    let mut response = match start {
        Some(start) => {
            Counters::bump(&s.counters.export_range_requests);
            let mut r = (
                StatusCode::PARTIAL_CONTENT,
                body(part, s.config.export.download_bytes_per_sec),
            )
                .into_response();
            let range = format!("bytes {start}-{}/{len}", len.saturating_sub(1));
            r.headers_mut()
                .insert(header::CONTENT_RANGE, range.parse().expect("an ASCII header"));
            r
        }
        None => (StatusCode::OK, body(part, s.config.export.download_bytes_per_sec)).into_response(),
    };
    let headers = response.headers_mut();
    if !s.config.export.no_range {
        headers.insert(header::ACCEPT_RANGES, "bytes".parse().expect("an ASCII header"));
    }
    headers.insert(
        header::CONTENT_TYPE,
        "application/octet-stream".parse().expect("an ASCII header"),
    );
    response
}

/// The body at once, or throttled to `bytes_per_sec` in tenths of a second.
fn body(data: Bytes, bytes_per_sec: Option<u64>) -> Body {
    let Some(rate) = bytes_per_sec.filter(|&r| r > 0) else {
        return Body::from(data);
    };
    let chunk = usize::try_from((rate / 10).max(1)).unwrap_or(usize::MAX);
    let stream = futures_util::stream::unfold(data, move |mut rest| async move {
        if rest.is_empty() {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        let head = rest.split_to(chunk.min(rest.len()));
        Some((Ok::<Bytes, std::io::Error>(head), rest))
    });
    Body::from_stream(stream)
}

#[cfg(test)]
#[path = "export_tests.rs"]
mod tests;
