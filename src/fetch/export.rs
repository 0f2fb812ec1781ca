//! The async export's API side (VAINU_API.md, "Async export"): creating
//! the export (`POST <path>async/?async_format=jsonl`, rate gated and
//! retried like every API request), reading a poll answer
//! (`{"state", "progress", "download_link", "duration"}`), joining the
//! answer's `link` (absolute or a path) to the API base, and masking a
//! download link's query string (a pre-signed credential) for logs and
//! errors. The waiting loop and the download are the run's
//! (`run/export.rs`, `fetch/download.rs`).

use bytes::Bytes;
use reqwest::Url;
use serde_json::{Map, Value};

use super::client::ApiClient;
use super::error::FetchError;
use crate::exit::{Exit, ExitStatus};
use crate::job::Job;

/// How much of the API's text a failure message shows.
const MAX_TEXT: usize = 300;

/// What can end an export-mode run besides a failed request.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// The answer's `link` cannot be used.
    #[error("the async export endpoint {url} answered a link orgsync cannot use ({link:?}): {reason}")]
    BadLink { url: String, link: String, reason: String },
    /// The export ended in a failure state.
    #[error(
        "export {id} ended in state {state:?}: {text}; nothing was published: run again to create a new export \
         (or use mode = \"pages\")"
    )]
    Failed { id: String, state: String, text: String },
    /// Not completed within `[export] max_wait_secs`.
    #[error(
        "export {id} was not completed after {waited_secs} s (last state {state:?}, progress {progress}): raise \
         [export] max_wait_secs, or run again with --resume to keep waiting for the same export"
    )]
    TimedOut {
        id: String,
        waited_secs: u64,
        state: String,
        progress: String,
    },
    /// The download failed for good.
    #[error("downloading export {id} from {url} failed: {reason}")]
    Download { id: String, url: String, reason: String },
    /// A line of the download is not a JSON object.
    #[error("line {line} of export {id}'s download is not a JSON object ({detail}): the export is damaged; run again")]
    BadLine { id: String, line: u64, detail: String },
}

impl ExitStatus for ExportError {
    fn exit(&self) -> Exit {
        match self {
            ExportError::Fetch(e) => e.exit(),
            _ => Exit::Failed,
        }
    }
}

/// Where an export stands.
#[derive(Debug, Clone, PartialEq)]
pub enum Phase {
    /// `accepted`, `process`, or a state orgsync does not know (logged; it
    /// keeps waiting until `max_wait_secs`).
    Waiting,
    /// `completed`, with its download link.
    Completed { download_link: String },
    /// `failure`, `stopped`, `partial_failure_complete`, `partial_failure_incomplete`.
    Failed,
}

/// One poll answer.
#[derive(Debug, Clone, PartialEq)]
pub struct PollAnswer {
    pub state: String,
    pub phase: Phase,
    /// 0..=100 when the API gave a usable number.
    pub progress: Option<f64>,
    /// Seconds the export took (`completed`).
    pub duration: Option<f64>,
    /// The API's own text (`message`, `error`, `detail`, `reason`), cut short.
    pub text: Option<String>,
}

/// The failure states.
pub const FAILURE_STATES: [&str; 4] = [
    "failure",
    "stopped",
    "partial_failure_complete",
    "partial_failure_incomplete",
];

/// A number, or a number in a string; finite only.
fn number(v: Option<&Value>) -> Option<f64> {
    let n = match v? {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => s.trim().parse().ok()?,
        _ => return None,
    };
    n.is_finite().then_some(n)
}

fn text(map: &Map<String, Value>) -> Option<String> {
    let value = ["message", "error", "detail", "reason", "error_message"]
        .iter()
        .find_map(|k| map.get(*k).filter(|v| !v.is_null()))?;
    let mut text = match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if text.len() > MAX_TEXT {
        let mut cut = MAX_TEXT;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push('…');
    }
    Some(text)
}

/// Reads a poll answer; `Err` says why it is not one (the client retries
/// such an answer like a 5xx).
pub fn parse_poll(body: &[u8]) -> Result<PollAnswer, String> {
    let map = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => map,
        Ok(_) => return Err("not a JSON object".into()),
        Err(e) => return Err(format!("not JSON: {e}")),
    };
    let state = match map.get("state") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        _ => return Err("no \"state\"".into()),
    };
    let phase = match state.as_str() {
        "completed" => match map.get("download_link") {
            Some(Value::String(link)) if !link.is_empty() => Phase::Completed {
                download_link: link.clone(),
            },
            _ => return Err("state \"completed\" without a \"download_link\"".into()),
        },
        s if FAILURE_STATES.contains(&s) => Phase::Failed,
        _ => Phase::Waiting,
    };
    Ok(PollAnswer {
        phase,
        progress: number(map.get("progress")).map(|p| p.clamp(0.0, 100.0)),
        duration: number(map.get("duration")).filter(|d| *d >= 0.0),
        text: text(&map),
        state,
    })
}

/// The URL of an export's `link`: an absolute URL must be on the API's own
/// origin (the poll carries the bearer token); a path under `/api/` is
/// joined to the base URL, any other path to `<base URL>/api` (as Vainu's
/// client does).
pub fn join_link(base: &Url, link: &str) -> Result<Url, String> {
    let link = link.trim();
    if link.is_empty() {
        return Err("the link is empty".into());
    }
    if let Ok(url) = Url::parse(link) {
        if url.origin() != base.origin() {
            return Err(format!(
                "it is not on the API's origin {} (the poll would send the access token elsewhere)",
                base.origin().ascii_serialization()
            ));
        }
        return Ok(url);
    }
    let path = if link.starts_with("/api/") {
        link.to_string()
    } else {
        format!("/api/{}", link.trim_start_matches('/'))
    };
    base.join(&path).map_err(|e| format!("it does not join {base}: {e}"))
}

/// The export's id: the link's last path segment.
pub fn export_id(link: &str) -> String {
    let path = link.split(['?', '#']).next().unwrap_or_default();
    path.rsplit('/')
        .find(|s| !s.is_empty())
        .unwrap_or("(no id)")
        .to_string()
}

/// `url` with its query string masked: a pre-signed link's query is a credential.
pub fn mask_link(url: &str) -> String {
    match url.split_once('?') {
        Some((head, _)) => format!("{head}?***"),
        None => url.to_string(),
    }
}

/// `POST <path>async/?async_format=jsonl`.
pub fn async_endpoint(job: &Job) -> Url {
    let mut url = job
        .api
        .base_url
        .join(&format!("{}/async/", job.api.path.trim_end_matches('/')))
        .expect("validated path joins the base URL");
    url.set_query(Some("async_format=jsonl"));
    url
}

/// Creates the export of `body` (no offset/limit); its `link`.
pub async fn create_export(client: &ApiClient, job: &Job, body: &Map<String, Value>) -> Result<String, FetchError> {
    let url = async_endpoint(job);
    let bytes = Bytes::from(Value::Object(body.clone()).to_string());
    client
        .post_checked(&url, bytes, None, |b| match serde_json::from_slice::<Value>(b) {
            Ok(Value::Object(map)) => match map.get("link") {
                Some(Value::String(link)) if !link.trim().is_empty() => Ok(link.clone()),
                _ => Err("no \"link\" in the answer".to_string()),
            },
            _ => Err("not a JSON object".to_string()),
        })
        .await
}

/// One poll of the export's link (rate gated, retried).
pub async fn poll(client: &ApiClient, link: &Url) -> Result<PollAnswer, FetchError> {
    client.get_checked(link, |b| parse_poll(b)).await
}

#[cfg(test)]
#[path = "export_tests.rs"]
mod tests;
