//! The sandbox's authentication: checking OAuth client-credentials and JWT
//! refresh requests (form parsing and HTTP Basic decoding by hand), issuing
//! opaque access tokens with an expiry, and checking `Authorization: Bearer`
//! on API requests. The axum handlers that call this live in `server.rs`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::http::{HeaderMap, StatusCode, header};
use serde_json::Value;

use super::config::{CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN};
use super::error::SandboxError;
use super::rng::mix64;

/// The only scope the sandbox grants.
pub(crate) const SCOPE: &str = "vainu:api";

/// Issued access tokens and when they expire.
#[derive(Debug)]
pub(crate) struct TokenStore {
    ttl: Duration,
    salt: u64,
    issued: AtomicU64,
    tokens: Mutex<HashMap<String, Instant>>,
}

impl TokenStore {
    pub(crate) fn new(ttl: Duration) -> Self {
        let salt = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        TokenStore {
            ttl,
            salt,
            issued: AtomicU64::new(0),
            tokens: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn ttl(&self) -> Duration {
        self.ttl
    }

    /// A fresh opaque token, remembered until `ttl` from now.
    pub(crate) fn issue(&self) -> String {
        let n = self.issued.fetch_add(1, Ordering::Relaxed);
        let a = mix64(self.salt ^ mix64(n));
        let b = mix64(a ^ 0x5EED);
        let token = format!("{a:016x}{b:016x}");
        let now = Instant::now();
        let mut tokens = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        if tokens.len() > 10_000 {
            tokens.retain(|_, expiry| *expiry > now);
        }
        tokens.insert(
            token.clone(),
            now.checked_add(self.ttl)
                .unwrap_or(now + Duration::from_secs(86_400 * 365 * 30)),
        );
        token
    }

    /// Every token issued so far (for tests proving no token is shown).
    pub(crate) fn issued_tokens(&self) -> Vec<String> {
        let tokens = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        tokens.keys().cloned().collect()
    }

    /// Is `token` known and not expired?
    pub(crate) fn is_live(&self, token: &str) -> bool {
        let tokens = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        tokens.get(token).is_some_and(|expiry| *expiry > Instant::now())
    }

    /// Check `Authorization: Bearer <live token>`.
    pub(crate) fn authorize(&self, headers: &HeaderMap) -> Result<(), SandboxError> {
        let token = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        match token {
            Some(t) if self.is_live(t) => Ok(()),
            _ => Err(SandboxError::TokenNotValid),
        }
    }
}

fn oauth(status: StatusCode, error: &'static str, description: &str) -> SandboxError {
    SandboxError::OAuth {
        status,
        error,
        description: description.to_string(),
    }
}

/// Validate a `POST /api/oauth/token/` request (RFC 6749 4.4): grant type,
/// then client authentication (Basic header or form fields), then scope.
pub(crate) fn check_client_credentials(headers: &HeaderMap, body: &[u8]) -> Result<(), SandboxError> {
    let form = parse_form(body);
    let field = |k: &str| form.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
    match field("grant_type") {
        Some("client_credentials") => {}
        Some(other) => {
            return Err(oauth(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                &format!("Grant type {other:?} is not supported: use client_credentials"),
            ));
        }
        None => {
            return Err(oauth(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "Missing grant_type parameter",
            ));
        }
    }
    let credentials = match basic_credentials(headers) {
        Some(pair) => Some(pair),
        None => match (field("client_id"), field("client_secret")) {
            (Some(id), Some(secret)) => Some((id.to_string(), secret.to_string())),
            _ => None,
        },
    };
    match credentials {
        Some((id, secret)) if id == CLIENT_ID && secret == CLIENT_SECRET => {}
        _ => {
            return Err(oauth(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "Invalid client credentials",
            ));
        }
    }
    if let Some(scope) = field("scope") {
        let mut scopes = scope.split_whitespace().peekable();
        if scopes.peek().is_none() || !scopes.all(|s| s == SCOPE) {
            return Err(oauth(
                StatusCode::BAD_REQUEST,
                "invalid_scope",
                &format!("Scope {scope:?} is not allowed: the only scope is {SCOPE}"),
            ));
        }
    }
    Ok(())
}

/// Validate a `POST /api/token_authentication/refresh/` JSON body.
pub(crate) fn check_refresh(body: &[u8]) -> Result<(), SandboxError> {
    let value: Value = serde_json::from_slice(body).map_err(|_| SandboxError::RefreshInvalid)?;
    match value.get("refresh").and_then(Value::as_str) {
        Some(REFRESH_TOKEN) => Ok(()),
        _ => Err(SandboxError::RefreshInvalid),
    }
}

/// `application/x-www-form-urlencoded` pairs, decoded.
pub(crate) fn parse_form(body: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(body);
    text.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (form_decode(k), form_decode(v))
        })
        .collect()
}

/// Decode one form-urlencoded component (`+` is a space, `%XX` a byte).
pub(crate) fn form_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// `Authorization: Basic base64(urlencode(id) ":" urlencode(secret))`.
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ")?.trim();
    let decoded = String::from_utf8(base64_decode(encoded)?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((form_decode(id), form_decode(secret)))
}

/// Standard base64 (padding optional); None on any invalid character.
pub(crate) fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for c in s.trim_end_matches('=').bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn base64_table() {
        let cases: [(&str, Option<&[u8]>); 6] = [
            ("", Some(b"")),
            ("Zg==", Some(b"f")),
            ("Zm8=", Some(b"fo")),
            ("Zm9v", Some(b"foo")),
            ("c2FuZGJveDpzYW5kYm94LXNlY3JldA==", Some(b"sandbox:sandbox-secret")),
            ("Zm9v!", None),
        ];
        for (input, want) in cases {
            assert_eq!(base64_decode(input).as_deref(), want, "{input}");
        }
    }

    #[test]
    fn form_decoding_table() {
        let cases = [
            ("a+b", "a b"),
            ("a%20b", "a b"),
            ("vainu%3Aapi", "vainu:api"),
            ("%C3%A4", "ä"),
            ("100%", "100%"),
            ("%zz", "%zz"),
            ("%4", "%4"),
        ];
        for (input, want) in cases {
            assert_eq!(form_decode(input), want, "{input}");
        }
        assert_eq!(
            parse_form(b"grant_type=client_credentials&scope=vainu%3Aapi&empty="),
            vec![
                ("grant_type".to_string(), "client_credentials".to_string()),
                ("scope".to_string(), "vainu:api".to_string()),
                ("empty".to_string(), String::new()),
            ]
        );
    }

    fn error_code(r: Result<(), SandboxError>) -> Option<&'static str> {
        match r {
            Ok(()) => None,
            Err(SandboxError::OAuth { error, .. }) => Some(error),
            Err(_) => Some("other"),
        }
    }

    #[test]
    fn client_credentials_policy_table() {
        let none = HeaderMap::new();
        let mut basic = HeaderMap::new();
        basic.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Basic c2FuZGJveDpzYW5kYm94LXNlY3JldA=="),
        );
        let good = "grant_type=client_credentials&client_id=sandbox&client_secret=sandbox-secret";
        let cases: Vec<(&HeaderMap, String, Option<&str>)> = vec![
            (&none, good.to_string(), None),
            (&none, format!("{good}&scope=vainu%3Aapi"), None),
            (&none, format!("{good}&scope=vainu:api+vainu:api"), None),
            (&none, format!("{good}&scope=admin"), Some("invalid_scope")),
            (&none, format!("{good}&scope="), Some("invalid_scope")),
            (
                &none,
                "grant_type=client_credentials&client_id=sandbox&client_secret=x".into(),
                Some("invalid_client"),
            ),
            (&none, "grant_type=client_credentials".into(), Some("invalid_client")),
            (
                &none,
                "grant_type=password&client_id=sandbox".into(),
                Some("unsupported_grant_type"),
            ),
            (&none, "client_id=sandbox".into(), Some("unsupported_grant_type")),
            (&basic, "grant_type=client_credentials&scope=vainu:api".into(), None),
        ];
        for (headers, body, want) in cases {
            assert_eq!(
                error_code(check_client_credentials(headers, body.as_bytes())),
                want,
                "{body}"
            );
        }
    }

    #[test]
    fn refresh_policy_table() {
        assert!(check_refresh(br#"{"refresh": "sandbox-refresh"}"#).is_ok());
        for body in [&br#"{"refresh": "nope"}"#[..], b"{}", b"not json"] {
            assert!(matches!(check_refresh(body), Err(SandboxError::RefreshInvalid)));
        }
    }

    #[test]
    fn tokens_expire_and_bearer_is_checked() {
        let store = TokenStore::new(Duration::from_millis(30));
        let token = store.issue();
        assert_ne!(token, store.issue());
        let mut headers = HeaderMap::new();
        assert!(store.authorize(&headers).is_err());
        let value = HeaderValue::from_str(&format!("Bearer {token}"));
        assert!(value.is_ok());
        if let Ok(v) = value {
            headers.insert(header::AUTHORIZATION, v);
        }
        assert!(store.authorize(&headers).is_ok());
        std::thread::sleep(Duration::from_millis(40));
        assert!(!store.is_live(&token));
        assert!(store.authorize(&headers).is_err());
    }
}
