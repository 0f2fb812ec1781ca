//! Helpers shared by the HTTP-level tests: a reqwest client that works with
//! `rustls-no-provider`, token fetching, JSON posts, body builders. Test
//! support only; no tests live here.

use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

use super::{CLIENT_ID, CLIENT_SECRET, Sandbox, SandboxConfig};

pub(super) type TestResult = Result<(), Box<dyn std::error::Error>>;

/// A plain-http client. reqwest is built with `rustls-no-provider`, so even
/// `Client::new()` panics until a crypto provider is installed.
pub(super) fn client() -> Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    Client::new()
}

pub(super) fn config(records: u64) -> SandboxConfig {
    SandboxConfig {
        records,
        ..SandboxConfig::default()
    }
}

pub(super) async fn token(client: &Client, sb: &Sandbox) -> Result<String, Box<dyn std::error::Error>> {
    let resp = client
        .post(format!("{}/api/oauth/token/", sb.base_url()))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
            ("scope", "vainu:api"),
        ])
        .send()
        .await?;
    let body: Value = resp.json().await?;
    Ok(body["access_token"].as_str().ok_or("no access_token")?.to_string())
}

pub(super) async fn post(
    client: &Client,
    url: &str,
    token: &str,
    body: &Value,
) -> Result<(StatusCode, Value), Box<dyn std::error::Error>> {
    let resp = client.post(url).bearer_auth(token).json(body).send().await?;
    let status = resp.status();
    Ok((status, resp.json().await?))
}

pub(super) fn orgs(sb: &Sandbox) -> String {
    format!("{}/api/v3/organizations/", sb.base_url())
}

pub(super) fn all(extra: Value) -> Value {
    let mut body = json!({"query": {"?ALL": []}, "database": "FI"});
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    body
}
