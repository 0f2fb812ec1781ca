//! The count endpoint: how many records the job's query matches. It may
//! answer `scheduled` / `process` while it counts; then the same body is
//! asked again (without `recount`) until `ready` or `error`.

use std::time::Duration;

use bytes::Bytes;
use serde_json::{Map, Value};

use super::client::ApiClient;
use super::error::FetchError;
use crate::job::Job;

/// How long to keep asking while the API counts in the background.
const POLL_EVERY: Duration = Duration::from_secs(2);
const MAX_POLLS: u32 = 60;

/// The count request body: `query` and `database` only. `order` is never
/// sent (the endpoint rejects it), nor `fields`, `limit`, `offset`.
pub fn count_body(job: &Job, filter: &Value) -> Value {
    let mut body = Map::new();
    body.insert("query".into(), filter.clone());
    body.insert("database".into(), Value::String(job.query.database.clone()));
    Value::Object(body)
}

pub async fn count(client: &ApiClient, job: &Job, filter: &Value) -> Result<u64, FetchError> {
    let url = job.api.count_endpoint();
    let body = Bytes::from(serde_json::to_vec(&count_body(job, filter)).expect("a JSON value serializes"));
    for _ in 0..MAX_POLLS {
        let answer = client.post(&url, body.clone(), None).await?;
        let bad = |detail: String| FetchError::BadBody {
            url: url.to_string(),
            offset: None,
            detail,
        };
        let value: Value = serde_json::from_slice(&answer).map_err(|e| bad(format!("not JSON: {e}")))?;
        let status = value.get("status").and_then(Value::as_str).unwrap_or("ready");
        match status {
            "ready" => {
                return value
                    .get("count")
                    .and_then(Value::as_u64)
                    .ok_or_else(|| bad("no \"count\" number in a ready answer".into()));
            }
            "scheduled" | "process" => {
                tracing::info!(status, "count in progress; asking again");
                tokio::time::sleep(POLL_EVERY).await;
            }
            other => {
                return Err(FetchError::Count {
                    url: url.to_string(),
                    status: other.to_string(),
                    detail: crate::fetch::error_text(&answer),
                });
            }
        }
    }
    Err(FetchError::Count {
        url: url.to_string(),
        status: "process".into(),
        detail: format!("still counting after {} s", POLL_EVERY.as_secs() * MAX_POLLS as u64),
    })
}
