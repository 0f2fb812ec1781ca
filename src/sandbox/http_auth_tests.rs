//! HTTP-level tests of authentication against a real `Sandbox::start`: the
//! OAuth token endpoint (body and Basic client auth, every error), the JWT
//! refresh endpoint, and bearer checks on the API including expiry.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::test_support::{TestResult, all, client, config, orgs, post, token};
use super::{CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN, Sandbox, SandboxConfig};

#[tokio::test]
async fn token_endpoint_outcomes() -> TestResult {
    let sb = Sandbox::start(config(10), 0).await?;
    let client = client();
    let url = format!("{}/api/oauth/token/", sb.base_url());

    let ok: Value = client
        .post(&url)
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
        ])
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(ok["token_type"], "Bearer");
    assert_eq!(ok["expires_in"], 3600);
    assert_eq!(ok["scope"], "vainu:api");
    assert!(ok["access_token"].as_str().is_some_and(|t| t.len() >= 20));

    type Case<'a> = (Vec<(&'a str, &'a str)>, u16, &'a str);
    let cases: Vec<Case> = vec![
        (
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", CLIENT_ID),
                ("client_secret", "wrong"),
            ],
            401,
            "invalid_client",
        ),
        (
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", CLIENT_ID),
                ("client_secret", CLIENT_SECRET),
                ("scope", "admin"),
            ],
            400,
            "invalid_scope",
        ),
        (
            vec![
                ("grant_type", "password"),
                ("client_id", CLIENT_ID),
                ("client_secret", CLIENT_SECRET),
            ],
            400,
            "unsupported_grant_type",
        ),
        (vec![("client_id", CLIENT_ID)], 400, "unsupported_grant_type"),
    ];
    for (form, status, error) in cases {
        let resp = client.post(&url).form(&form).send().await?;
        assert_eq!(resp.status().as_u16(), status, "{form:?}");
        let body: Value = resp.json().await?;
        assert_eq!(body["error"], error, "{form:?}");
        assert!(body["error_description"].is_string());
    }
    let bad: Value = client
        .post(&url)
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "x"),
            ("client_secret", "y"),
        ])
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(
        bad,
        json!({"error": "invalid_client", "error_description": "Invalid client credentials"})
    );

    // HTTP Basic client authentication (RFC 6749 2.3.1).
    let basic = client
        .post(&url)
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .form(&[("grant_type", "client_credentials"), ("scope", "vainu:api")])
        .send()
        .await?;
    assert_eq!(basic.status(), StatusCode::OK);
    let basic_bad = client
        .post(&url)
        .basic_auth(CLIENT_ID, Some("nope"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await?;
    assert_eq!(basic_bad.status(), StatusCode::UNAUTHORIZED);

    assert_eq!(sb.stats().token_requests, 8);
    sb.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn jwt_refresh_gives_a_working_access_token() -> TestResult {
    let sb = Sandbox::start(config(10), 0).await?;
    let client = client();
    let url = format!("{}/api/token_authentication/refresh/", sb.base_url());
    let resp = client
        .post(&url)
        .json(&json!({"refresh": REFRESH_TOKEN}))
        .send()
        .await?;
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await?;
    assert!(body.get("expires_in").is_none());
    let access = body["access"].as_str().ok_or("no access")?.to_string();
    let (status, page) = post(&client, &orgs(&sb), &access, &all(json!({"limit": 3}))).await?;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page.as_array().map(Vec::len), Some(3));

    for bad in [json!({"refresh": "nope"}), json!({})] {
        let resp = client.post(&url).json(&bad).send().await?;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
        let body: Value = resp.json().await?;
        assert_eq!(
            body,
            json!({"detail": "Token is invalid or expired", "code": "token_not_valid"})
        );
    }
    sb.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn api_requires_a_live_bearer_token() -> TestResult {
    let sb = Sandbox::start(
        SandboxConfig {
            token_ttl: Duration::from_secs(1),
            ..config(10)
        },
        0,
    )
    .await?;
    let client = client();
    let want = json!({"detail": "Given token not valid for any token type", "code": "token_not_valid"});

    let resp = client.post(orgs(&sb)).json(&all(json!({}))).send().await?;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(resp.json::<Value>().await?, want);
    let (status, body) = post(&client, &orgs(&sb), "made-up", &all(json!({}))).await?;
    assert_eq!((status, body), (StatusCode::UNAUTHORIZED, want.clone()));

    let t = token(&client, &sb).await?;
    let (status, _) = post(&client, &orgs(&sb), &t, &all(json!({}))).await?;
    assert_eq!(status, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, body) = post(&client, &orgs(&sb), &t, &all(json!({}))).await?;
    assert_eq!((status, body), (StatusCode::UNAUTHORIZED, want));
    let count_url = format!("{}/api/v3/organizations/count/", sb.base_url());
    let (status, _) = post(&client, &count_url, &t, &all(json!({}))).await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(sb.stats().unauthorized, 4);
    sb.shutdown().await;
    Ok(())
}
