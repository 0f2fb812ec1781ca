//! The sandbox's async export: the phase table, the `Range` parser, and
//! over HTTP: create, poll to completion, download (refused with an
//! Authorization header, 206 on a Range, 403 when expired), the records
//! equal to paging.

use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, header};
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{Phase, phase, range_start};
use crate::sandbox::test_support::{TestResult, all, client, config, orgs, post, token};
use crate::sandbox::{ExportKnobs, Sandbox, SandboxConfig};

#[test]
fn phases_over_time() {
    let total = Duration::from_secs(10);
    let cases = [
        (0, Phase::Accepted),
        (1_999, Phase::Accepted),
        (2_000, Phase::Process(20)),
        (5_000, Phase::Process(50)),
        (9_999, Phase::Process(99)),
        (10_000, Phase::Done),
        (u64::MAX / 2, Phase::Done),
    ];
    for (ms, want) in cases {
        assert_eq!(phase(Duration::from_millis(ms), total), want, "{ms} ms");
    }
    assert_eq!(phase(Duration::ZERO, Duration::ZERO), Phase::Done);
}

#[test]
fn range_header_forms() {
    let cases = [
        (Some("bytes=0-"), Some(0)),
        (Some("bytes=1234-"), Some(1234)),
        (Some("bytes=5-10"), None),
        (Some("bytes=-5"), None),
        (Some("items=5-"), None),
        (Some("bytes=x-"), None),
        (None, None),
    ];
    for (value, want) in cases {
        let mut headers = HeaderMap::new();
        if let Some(v) = value {
            headers.insert(header::RANGE, HeaderValue::from_static(v));
        }
        assert_eq!(range_start(&headers), want, "{value:?}");
    }
}

fn knobs(duration_ms: u64) -> ExportKnobs {
    ExportKnobs {
        duration: Duration::from_millis(duration_ms),
        ..ExportKnobs::default()
    }
}

#[tokio::test]
async fn export_walks_its_states_and_serves_the_paged_records() -> TestResult {
    let sb = Sandbox::start(
        SandboxConfig {
            export: ExportKnobs {
                expired_links: 1,
                ..knobs(300)
            },
            ..config(250)
        },
        0,
    )
    .await?;
    let http = client();
    let t = token(&http, &sb).await?;
    let body = all(json!({"fields": ["business_id", "name"], "order": "business_id"}));
    let create = format!("{}/api/v3/organizations/async/?async_format=jsonl", sb.base_url());
    let (status, answer) = post(&http, &create, &t, &body).await?;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let link = answer["link"].as_str().ok_or("no link")?.to_string();
    assert!(link.starts_with("/v3/organizations/async/"), "{link}");
    let (status, _) = post(&http, &format!("{create}x"), &t, &body).await?;
    assert_eq!(status, StatusCode::BAD_REQUEST, "an unknown async_format");
    let (status, _) = post(&http, &create, &t, &all(json!({"limit": 10}))).await?;
    assert_eq!(status, StatusCode::BAD_REQUEST, "limit on the async endpoint");

    let poll_url = format!("{}/api{link}", sb.base_url());
    let first: Value = http.get(&poll_url).bearer_auth(&t).send().await?.json().await?;
    assert_eq!(first["state"], "accepted", "{first}");
    assert_eq!(http.get(&poll_url).send().await?.status(), StatusCode::UNAUTHORIZED);
    tokio::time::sleep(Duration::from_millis(350)).await;
    let done: Value = http.get(&poll_url).bearer_auth(&t).send().await?.json().await?;
    assert_eq!(done["state"], "completed", "{done}");
    let expired = done["download_link"].as_str().ok_or("no download_link")?.to_string();
    assert_eq!(http.get(&expired).send().await?.status(), StatusCode::FORBIDDEN);

    let done: Value = http.get(&poll_url).bearer_auth(&t).send().await?.json().await?;
    let url = done["download_link"].as_str().ok_or("no download_link")?.to_string();
    assert!(
        url.contains("/_store/exports/") && url.contains("X-Amz-Signature="),
        "{url}"
    );
    let refused = http.get(&url).bearer_auth(&t).send().await?;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    let whole = http.get(&url).send().await?;
    assert_eq!(whole.status(), StatusCode::OK);
    let text = whole.text().await?;

    let mut paged = Vec::new();
    for offset in (0..250).step_by(100) {
        let page_body = all(json!({"fields": ["business_id", "name"], "order": "business_id", "offset": offset}));
        let (_, page) = post(&http, &orgs(&sb), &t, &page_body).await?;
        paged.extend(page.as_array().ok_or("a page")?.clone());
    }
    let exported: Vec<Value> = text.lines().map(serde_json::from_str).collect::<Result<_, _>>()?;
    assert_eq!(exported, paged);

    let tail = http
        .get(&url)
        .header(header::RANGE.as_str(), "bytes=10-")
        .send()
        .await?;
    assert_eq!(tail.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(tail.text().await?, text[10..]);
    let stats = sb.stats();
    assert_eq!(stats.exports_created, 3);
    assert_eq!(stats.export_downloads_with_authorization, 1);
    assert_eq!(stats.export_links_expired, 1);
    assert_eq!(stats.export_range_requests, 1);
    Ok(())
}

#[tokio::test]
async fn a_failure_state_has_no_download_link() -> TestResult {
    let sb = Sandbox::start(
        SandboxConfig {
            export: ExportKnobs {
                fail: Some(crate::sandbox::ExportFailure::PartialFailureIncomplete),
                absolute_link: true,
                ..knobs(0)
            },
            ..config(10)
        },
        0,
    )
    .await?;
    let http = client();
    let t = token(&http, &sb).await?;
    let create = format!("{}/api/v3/organizations/async/?async_format=jsonl", sb.base_url());
    let (_, answer) = post(&http, &create, &t, &all(json!({}))).await?;
    let link = answer["link"].as_str().ok_or("no link")?;
    assert!(link.starts_with(&sb.base_url()), "{link}");
    let done: Value = http.get(link).bearer_auth(&t).send().await?.json().await?;
    assert_eq!(done["state"], "partial_failure_incomplete");
    assert!(done.get("download_link").is_none());
    assert!(done["message"].as_str().is_some_and(|m| m.contains("on purpose")));
    Ok(())
}
