//! The count endpoint: how many records the job's query matches. It may
//! answer `scheduled` / `process` while it counts; then the same body is
//! asked again (without `recount`) until `ready` or `error`.

use std::time::Duration;

use bytes::Bytes;
use serde_json::Value;

use super::client::ApiClient;
use super::error::FetchError;
use crate::http::count_value;
use crate::job::{BodyFor, Job};

/// How long to keep asking while the API counts in the background.
const POLL_EVERY: Duration = Duration::from_secs(2);
const MAX_POLLS: u32 = 60;

/// The count request body ([`BodyFor::Count`]): `query` and `database`
/// only. `order` is never sent (the endpoint rejects it), nor `fields`,
/// `limit`, `offset`.
pub fn count_body(job: &Job, filter: &Value) -> Value {
    Value::Object(crate::job::body(job, filter, BodyFor::Count))
}

/// What a count answer says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CountAnswer {
    /// `ready` (or no status): the count, or why it is not believed.
    Ready(Result<u64, String>),
    /// `scheduled` / `process`: ask again.
    Pending(String),
    /// Any other status.
    Failed(String),
}

/// Reads a 2xx count answer; `Err` when it is not a JSON object at all
/// (retried like a 5xx by the client).
pub(crate) fn read_count_answer(bytes: &[u8]) -> Result<CountAnswer, String> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))?;
    let Value::Object(map) = value else {
        return Err("not a JSON object".to_string());
    };
    let status = match map.get("status") {
        None | Some(Value::Null) => "ready".to_string(),
        Some(Value::String(s)) => s.chars().take(40).collect(),
        Some(other) => other.to_string().chars().take(40).collect(),
    };
    Ok(match status.as_str() {
        "ready" => CountAnswer::Ready(count_value(map.get("count"))),
        "scheduled" | "process" => CountAnswer::Pending(status),
        _ => CountAnswer::Failed(status),
    })
}

pub async fn count(client: &ApiClient, job: &Job, filter: &Value) -> Result<u64, FetchError> {
    let url = job.api.count_endpoint();
    let body = Bytes::from(serde_json::to_vec(&count_body(job, filter)).expect("a JSON value serializes"));
    for _ in 0..MAX_POLLS {
        let (answer, raw) = client
            .post_checked(&url, body.clone(), None, |bytes| {
                read_count_answer(bytes).map(|a| (a, bytes.clone()))
            })
            .await?;
        match answer {
            CountAnswer::Ready(Ok(n)) => return Ok(n),
            CountAnswer::Ready(Err(why)) => {
                return Err(FetchError::Count {
                    url: url.to_string(),
                    status: "ready".into(),
                    detail: format!("{why}; the count is ignored"),
                });
            }
            CountAnswer::Pending(status) => {
                tracing::info!(status, "count in progress; asking again");
                tokio::time::sleep(POLL_EVERY).await;
            }
            CountAnswer::Failed(status) => {
                return Err(FetchError::Count {
                    url: url.to_string(),
                    status,
                    detail: crate::fetch::error_text(&raw),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn count_answers_table() {
        let cases: &[(&str, Result<CountAnswer, &str>)] = &[
            (
                r#"{"count": 3000, "status": "ready"}"#,
                Ok(CountAnswer::Ready(Ok(3000))),
            ),
            (r#"{"count": 7}"#, Ok(CountAnswer::Ready(Ok(7)))),
            (r#"{"status": "process"}"#, Ok(CountAnswer::Pending("process".into()))),
            (
                r#"{"status": "error", "detail": "x"}"#,
                Ok(CountAnswer::Failed("error".into())),
            ),
            (r#"{"status": 5}"#, Ok(CountAnswer::Failed("5".into()))),
            ("<html>maintenance</html>", Err("not JSON")),
            ("[1, 2]", Err("not a JSON object")),
        ];
        for (body, want) in cases {
            match (read_count_answer(body.as_bytes()), want) {
                (Ok(got), Ok(want)) => assert_eq!(&got, want, "{body}"),
                (Err(got), Err(part)) => assert!(got.contains(part), "{body}: {got}"),
                (got, want) => panic!("{body}: got {got:?}, want {want:?}"),
            }
        }
        for bad in [
            r#"{"count": -1}"#,
            r#"{"count": 2.5}"#,
            r#"{"count": 1e30}"#,
            r#"{"count": "3000"}"#,
        ] {
            assert!(
                matches!(read_count_answer(bad.as_bytes()), Ok(CountAnswer::Ready(Err(_)))),
                "{bad} is ignored"
            );
        }
    }
}
