//! HTTP-level tests of the API against a real `Sandbox::start`: request
//! validation, paging, count, rate limit, fail injection, envelopes, latency,
//! shutdown and the `/_sandbox` hooks.

use std::collections::HashSet;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::test_support::{TestResult, all, client, config, orgs, post, token};
use super::{Dataset, Envelope, Sandbox, SandboxConfig, SandboxStats};

#[tokio::test]
async fn organizations_rejects_bad_requests() -> TestResult {
    let sb = Sandbox::start(config(10), 0).await?;
    let client = client();
    let t = token(&client, &sb).await?;

    let (status, body) = post(&client, &orgs(&sb), &t, &all(json!({"limit": 101}))).await?;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        json!({"detail": "limit must be between 1 and 100", "error_code": "INVALID_PARAMETER", "status_code": 400})
    );

    let with_param = format!("{}?limit=5", orgs(&sb));
    let (status, body) = post(&client, &with_param, &t, &all(json!({}))).await?;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body["detail"],
        "Include the parameters only in either the GET request or the POST payload, not both"
    );
    let (status, _) = post(&client, &format!("{}?format=json", orgs(&sb)), &t, &all(json!({}))).await?;
    assert_eq!(status, StatusCode::OK);

    let cases = [
        (json!({"query": {"?FUZZY": {"name": "x"}}, "database": "FI"}), "?FUZZY"),
        (json!({"query": {"?ALL": []}, "database": "US"}), "US"),
        (json!({"database": "FI"}), "query is required"),
        (json!({"list": 5, "database": "FI"}), "list"),
    ];
    for (body, needle) in cases {
        let (status, answer) = post(&client, &orgs(&sb), &t, &body).await?;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(
            answer["detail"].as_str().is_some_and(|d| d.contains(needle)),
            "{body}: {answer}"
        );
        assert_eq!(answer["status_code"], 400);
    }
    let resp = client.post(format!("{}/api/v3/nothing/", sb.base_url())).send().await?;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    sb.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn paging_returns_every_record_exactly_once() -> TestResult {
    let records = 1050;
    let sb = Sandbox::start(config(records), 0).await?;
    let client = client();
    let t = token(&client, &sb).await?;
    let ds = Dataset::new(42, records);
    for order in ["business_id", "-financial_data.revenue"] {
        let mut seen = Vec::new();
        let mut offset = 0;
        loop {
            let body = all(json!({"limit": 100, "offset": offset, "order": order, "fields": ["business_id", "name"]}));
            let (status, page) = post(&client, &orgs(&sb), &t, &body).await?;
            assert_eq!(status, StatusCode::OK);
            let page = page.as_array().ok_or("not an array")?.clone();
            for rec in &page {
                assert_eq!(rec.as_object().map(|m| m.len()), Some(2));
                seen.push(rec["business_id"].as_str().ok_or("no id")?.to_string());
            }
            offset += 100;
            if page.len() < 100 {
                break;
            }
        }
        assert_eq!(seen.len() as u64, records, "{order}");
        let unique: HashSet<&String> = seen.iter().collect();
        assert_eq!(unique.len() as u64, records, "{order}");
        if order == "business_id" {
            let want: Vec<Value> = (0..records)
                .map(|i| ds.record("FI", i)["business_id"].clone())
                .collect();
            assert_eq!(seen.iter().map(|s| json!(s)).collect::<Vec<_>>(), want);
        }
    }
    // The full record served equals the data set's.
    let (_, page) = post(&client, &orgs(&sb), &t, &all(json!({"limit": 1, "offset": 7}))).await?;
    assert_eq!(page, json!([ds.record("FI", 7)]));
    sb.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn count_endpoint_counts_and_rejects_order() -> TestResult {
    let sb = Sandbox::start(config(500), 0).await?;
    let client = client();
    let t = token(&client, &sb).await?;
    let url = format!("{}/api/v3/organizations/count/", sb.base_url());

    let (status, body) = post(&client, &url, &t, &all(json!({}))).await?;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["count"], 500);
    assert_eq!(body["status"], "ready");
    assert!(body["time"].is_string() && body["duration"].is_number());

    let query = json!({"?GTE": {"financial_data.employees": 50}});
    let (_, counted) = post(&client, &url, &t, &json!({"query": query, "database": "SE"})).await?;
    let n = counted["count"].as_u64().ok_or("no count")?;
    assert!(n > 0 && n < 500);
    let mut fetched = 0;
    for offset in (0..500).step_by(100) {
        let (_, page) = post(
            &client,
            &orgs(&sb),
            &t,
            &json!({"query": query, "database": "SE", "offset": offset}),
        )
        .await?;
        fetched += page.as_array().map(Vec::len).unwrap_or(0) as u64;
    }
    assert_eq!(fetched, n);

    let (status, body) = post(&client, &url, &t, &all(json!({"order": "business_id"}))).await?;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["detail"], "invalid order by value");
    assert_eq!(sb.stats().count_requests, 3);
    sb.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn rate_limit_answers_429_with_retry_after() -> TestResult {
    let sb = Sandbox::start(
        SandboxConfig {
            rate: Some(2.0),
            ..config(10)
        },
        0,
    )
    .await?;
    let client = client();
    let t = token(&client, &sb).await?;
    let mut throttled = 0;
    for _ in 0..5 {
        let resp = client
            .post(orgs(&sb))
            .bearer_auth(&t)
            .json(&all(json!({"limit": 1})))
            .send()
            .await?;
        if resp.status() == StatusCode::TOO_MANY_REQUESTS {
            throttled += 1;
            let retry = resp
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            assert_eq!(retry, Some(1));
            let body: Value = resp.json().await?;
            assert_eq!(
                body,
                json!({"detail": "Request was throttled. Expected available in 1 seconds."})
            );
        }
    }
    assert!(throttled >= 3, "{throttled}");
    let stats = sb.stats();
    assert_eq!(stats.throttled, throttled);
    assert_eq!(stats.organizations_requests, 5);

    // Paced at the rate: no 429.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let mut ticker = tokio::time::interval(Duration::from_millis(500));
    for _ in 0..4 {
        ticker.tick().await;
        let (status, _) = post(&client, &orgs(&sb), &t, &all(json!({"limit": 1}))).await?;
        assert_eq!(status, StatusCode::OK);
    }
    assert_eq!(sb.stats().throttled, throttled);

    // The stats hook over HTTP agrees, and needs no auth.
    let over_http: SandboxStats = client
        .get(format!("{}/_sandbox/stats", sb.base_url()))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(over_http, sb.stats());
    sb.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn fail_rate_one_injects_5xx_into_organizations_only() -> TestResult {
    let sb = Sandbox::start(
        SandboxConfig {
            fail_rate: 1.0,
            ..config(10)
        },
        0,
    )
    .await?;
    let client = client();
    let t = token(&client, &sb).await?;
    for _ in 0..6 {
        let (status, body) = post(&client, &orgs(&sb), &t, &all(json!({}))).await?;
        assert!([500, 502, 503, 504].contains(&status.as_u16()), "{status}");
        assert!(body["detail"].is_string());
    }
    let (status, _) = post(
        &client,
        &format!("{}/api/v3/organizations/count/", sb.base_url()),
        &t,
        &all(json!({})),
    )
    .await?;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(sb.stats().injected_failures, 6);
    sb.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn envelopes_wrap_pages_with_count_and_next() -> TestResult {
    for (envelope, key) in [(Envelope::Result, "result"), (Envelope::Results, "results")] {
        let sb = Sandbox::start(
            SandboxConfig {
                envelope,
                ..config(250)
            },
            0,
        )
        .await?;
        let client = client();
        let t = token(&client, &sb).await?;
        let (_, first) = post(&client, &orgs(&sb), &t, &all(json!({"fields": ["name"]}))).await?;
        assert_eq!(first[key].as_array().map(Vec::len), Some(100));
        assert_eq!(
            (first["count"].clone(), first["next"].clone()),
            (json!(250), json!(100))
        );
        let (_, last) = post(&client, &orgs(&sb), &t, &all(json!({"offset": 200}))).await?;
        assert_eq!(last[key].as_array().map(Vec::len), Some(50));
        assert_eq!(last["next"], Value::Null);
        sb.shutdown().await;
    }
    let sb = Sandbox::start(config(5), 0).await?;
    let client = client();
    let t = token(&client, &sb).await?;
    let (_, bare) = post(&client, &orgs(&sb), &t, &all(json!({}))).await?;
    assert_eq!(bare.as_array().map(Vec::len), Some(5));
    sb.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn modify_hook_moves_records_into_an_incremental_window() -> TestResult {
    let sb = Sandbox::start(config(200), 0).await?;
    let client = client();
    let t = token(&client, &sb).await?;
    let body = json!({
        "query": {"?RANGE": {"modifications.basic": ["2026-01-01T00:00:00", null]}},
        "database": "FI",
        "fields": ["business_id", "modifications.basic"],
    });
    let (_, before) = post(&client, &orgs(&sb), &t, &body).await?;
    assert_eq!(before, json!([]));
    let resp = client
        .post(format!("{}/_sandbox/modify", sb.base_url()))
        .json(&json!({"database": "FI", "indexes": [3, 17]}))
        .send()
        .await?;
    assert_eq!(resp.status(), StatusCode::OK);
    let (_, after) = post(&client, &orgs(&sb), &t, &body).await?;
    let ds = Dataset::new(42, 200);
    let ids: Vec<Value> = after
        .as_array()
        .ok_or("array")?
        .iter()
        .map(|r| r["business_id"].clone())
        .collect();
    assert_eq!(
        ids,
        vec![
            ds.record("FI", 3)["business_id"].clone(),
            ds.record("FI", 17)["business_id"].clone()
        ]
    );
    let ts = after[0]["modifications"]["basic"].as_str().ok_or("ts")?;
    assert_eq!(ts.len(), 26, "{ts}");
    let bad = client
        .post(format!("{}/_sandbox/modify", sb.base_url()))
        .json(&json!({"database": "FI", "indexes": [200]}))
        .send()
        .await?;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    sb.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn latency_delays_answers_and_shutdown_stops_serving() -> TestResult {
    let sb = Sandbox::start(
        SandboxConfig {
            latency: Duration::from_millis(150),
            ..config(5)
        },
        0,
    )
    .await?;
    let client = client();
    let t = token(&client, &sb).await?;
    let started = std::time::Instant::now();
    let (status, _) = post(&client, &orgs(&sb), &t, &all(json!({}))).await?;
    assert_eq!(status, StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(150));
    let base = sb.base_url();
    assert!(base.starts_with("http://127.0.0.1:") && sb.addr().port() != 0);
    sb.shutdown().await;
    assert!(
        self::client()
            .get(format!("{base}/_sandbox/stats"))
            .send()
            .await
            .is_err()
    );
    Ok(())
}

#[tokio::test]
async fn invalid_rate_is_refused_at_start() {
    let started = Sandbox::start(
        SandboxConfig {
            rate: Some(0.0),
            ..config(5)
        },
        0,
    )
    .await;
    assert!(started.is_err_and(|e| e.kind() == std::io::ErrorKind::InvalidInput));
}
