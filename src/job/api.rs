//! Phase two for [api] and [auth]: the base URL (with the ORGSYNC_BASE_URL
//! override), the endpoint path, the token URL, and the https rule (a client
//! secret never travels in clear text except to a loopback host), then the
//! credentials (or the sandbox's). It does not contact anything.

use std::net::IpAddr;
use std::time::Duration;

use reqwest::Url;

use super::check::Check;
use super::file::{self, Lined, Opt, RawApi, RawAuth};
use super::model::{Api, Auth, ClientAuth, RecordsAt};
use crate::secret::Secret;

/// Environment variable that overrides `[api] base_url`.
pub(crate) const BASE_URL_ENV: &str = "ORGSYNC_BASE_URL";

/// The credentials `run --sandbox` uses. Stand-ins until `crate::sandbox`
/// exports `CLIENT_ID`, `CLIENT_SECRET` and `REFRESH_TOKEN` (SPEC section 8).
mod sandbox_credentials {
    pub const CLIENT_ID: &str = "sandbox";
    pub const CLIENT_SECRET: &str = "sandbox-secret";
    pub const REFRESH_TOKEN: &str = "sandbox-refresh";
}

/// `[api]`; `None` when something in it is invalid (already reported).
/// The base URL is returned separately so `[auth]` can be checked even when
/// another `[api]` key is bad.
pub(crate) fn api(raw: &RawApi, env: &dyn Fn(&str) -> Option<String>, c: &mut Check<'_>) -> (Option<Url>, Option<Api>) {
    let from_env = env(BASE_URL_ENV).filter(|v| !v.trim().is_empty());
    let base_url = match (&from_env, &raw.base_url) {
        (Some(v), _) => base(v, None, BASE_URL_ENV, c),
        (None, Some(v)) => base(&v.value, Some(v.line), "base_url in [api]", c),
        (None, None) => base(file::default_base_url(), None, "base_url", c),
    };

    let path = match &raw.path {
        Some(p) => c.non_empty(p, "path in [api]").map(|s| (s.to_string(), Some(p.line))),
        None => Some((file::default_api_path().to_string(), None)),
    };
    let path = path.and_then(|(path, line)| {
        if path.contains("://") || path.starts_with("//") {
            c.push(
                line,
                "path in [api] must be a path on base_url (like \"/api/v3/organizations/\"), not a URL",
            );
            return None;
        }
        if let Some(base) = &base_url
            && let Err(e) = base.join(&path)
        {
            c.push(line, format!("path in [api] does not join base_url: {e}"));
            return None;
        }
        Some(path)
    });

    let timeout = c.int(
        &raw.timeout_secs,
        file::default_timeout_secs(),
        "timeout_secs in [api]",
        1,
        3600,
        "",
    );
    let records = match &raw.records {
        None => Some(RecordsAt::Auto),
        Some(v) => c.non_empty(v, "records in [api]").map(|s| {
            if s == file::default_records() {
                RecordsAt::Auto
            } else {
                RecordsAt::Key(s.to_string())
            }
        }),
    };

    let api = match (&base_url, path, records) {
        (Some(base_url), Some(path), Some(records)) => Some(Api {
            base_url: base_url.clone(),
            path,
            timeout: Duration::from_secs(timeout.unsigned_abs()),
            records,
        }),
        _ => None,
    };
    (base_url, api)
}

/// The base URL: http(s), a host, no user, query or fragment, https unless loopback.
fn base(text: &str, line: Option<usize>, label: &str, c: &mut Check<'_>) -> Option<Url> {
    let url = url(text, line, label, c)?;
    if url.query().is_some() || url.fragment().is_some() {
        c.push(
            line,
            format!("{label} must not have a query or fragment: give scheme, host and port only"),
        );
        return None;
    }
    Some(url)
}

/// An absolute http(s) URL that obeys the https rule.
fn url(text: &str, line: Option<usize>, label: &str, c: &mut Check<'_>) -> Option<Url> {
    let url = match Url::parse(text.trim()) {
        Ok(u) => u,
        Err(e) => {
            c.push(line, format!("{label} is not a valid URL: {e}"));
            return None;
        }
    };
    secure(url, line, label, c)
}

fn secure(url: Url, line: Option<usize>, label: &str, c: &mut Check<'_>) -> Option<Url> {
    if !url.username().is_empty() || url.password().is_some() {
        c.push(
            line,
            format!("{label} must not contain a user or password; credentials belong in [auth]"),
        );
        return None;
    }
    let Some(host) = url.host_str().filter(|h| !h.is_empty()) else {
        c.push(line, format!("{label} must have a host"));
        return None;
    };
    match url.scheme() {
        "https" => Some(url),
        "http" if is_loopback(host) => Some(url),
        "http" => {
            c.push(
                line,
                format!(
                    "{label} must use https:// (host {host} is not a loopback address): \
                     the client secret and tokens would travel in clear text"
                ),
            );
            None
        }
        other => {
            c.push(line, format!("{label} must be an https:// URL, not {other}://"));
            None
        }
    }
}

/// `localhost`, 127.0.0.0/8 or ::1.
fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.eq_ignore_ascii_case("localhost") || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// A key of [auth] by name, as read.
type NamedKey<'a> = (&'a str, &'a Opt<String>);

#[derive(Clone, Copy, PartialEq)]
enum Method {
    ClientCredentials,
    JwtRefresh,
}

/// `[auth]`; `base_url` is `None` when it was invalid (a relative token_url
/// then cannot be checked, and the base URL problem is already reported).
pub(crate) fn auth(raw: &RawAuth, base_url: Option<&Url>, sandbox: bool, c: &mut Check<'_>) -> Option<Auth> {
    let method = match &raw.method {
        None => Some(Method::ClientCredentials),
        Some(m) => c.choice(
            m,
            "method in [auth]",
            &[
                (file::default_auth_method(), Method::ClientCredentials),
                ("jwt_refresh", Method::JwtRefresh),
            ],
        ),
    }?;

    let (default_url, unused): (&str, &[NamedKey<'_>]) = match method {
        Method::ClientCredentials => (
            file::default_client_credentials_token_url(),
            &[("refresh_token", &raw.refresh_token)],
        ),
        Method::JwtRefresh => (
            file::default_jwt_refresh_token_url(),
            &[
                ("client_id", &raw.client_id),
                ("client_secret", &raw.client_secret),
                ("scope", &raw.scope),
                ("client_auth", &raw.client_auth),
            ],
        ),
    };
    let method_name = match method {
        Method::ClientCredentials => "client_credentials",
        Method::JwtRefresh => "jwt_refresh",
    };
    let mut ok = true;
    for (key, v) in unused {
        if v.is_some() || c.written("auth", key) {
            let line = v.as_ref().map(|v| v.line).or(raw.line);
            c.push(
                line,
                format!("{key} in [auth] is not used with method = \"{method_name}\": remove it"),
            );
            ok = false;
        }
    }

    let token_url = token_url(raw, default_url, base_url, c);

    let auth = match method {
        Method::ClientCredentials => {
            let (client_id, client_secret) = if sandbox {
                (
                    Some(sandbox_credentials::CLIENT_ID.to_string()),
                    Some(Secret::new(sandbox_credentials::CLIENT_SECRET)),
                )
            } else {
                (
                    credential(&raw.client_id, "client_id", raw.line, c),
                    credential(&raw.client_secret, "client_secret", raw.line, c).map(Secret::new),
                )
            };
            let scope = match &raw.scope {
                None => Some(file::default_scope().to_string()),
                Some(s) if s.value.is_empty() => None,
                Some(s) => Some(s.value.clone()),
            };
            let client_auth = match &raw.client_auth {
                None => Some(ClientAuth::Body),
                Some(v) => c.choice(
                    v,
                    "client_auth in [auth]",
                    &[
                        (file::default_client_auth(), ClientAuth::Body),
                        ("basic", ClientAuth::Basic),
                    ],
                ),
            };
            match (token_url, client_id, client_secret, client_auth) {
                (Some(token_url), Some(client_id), Some(client_secret), Some(client_auth)) => {
                    Some(Auth::ClientCredentials {
                        token_url,
                        client_id,
                        client_secret,
                        scope,
                        client_auth,
                    })
                }
                _ => None,
            }
        }
        Method::JwtRefresh => {
            let refresh_token = if sandbox {
                Some(sandbox_credentials::REFRESH_TOKEN.to_string())
            } else {
                credential(&raw.refresh_token, "refresh_token", raw.line, c)
            };
            match (token_url, refresh_token) {
                (Some(token_url), Some(token)) => Some(Auth::JwtRefresh {
                    token_url,
                    refresh_token: Secret::new(token),
                }),
                _ => None,
            }
        }
    };
    auth.filter(|_| ok)
}

/// Relative to base_url, or absolute; either way it obeys the https rule.
fn token_url(raw: &RawAuth, default: &str, base_url: Option<&Url>, c: &mut Check<'_>) -> Option<Url> {
    let label = "token_url in [auth]";
    let (text, line) = match &raw.token_url {
        Some(v) => (c.non_empty(v, label)?.to_string(), Some(v.line)),
        None if c.written("auth", "token_url") => return None,
        None => (default.to_string(), None),
    };
    match Url::parse(&text) {
        Ok(_) => url(&text, line, label, c),
        Err(_) => {
            let base = base_url?;
            match base.join(&text) {
                Ok(u) => secure(u, line, label, c),
                Err(e) => {
                    c.push(line, format!("{label} does not join base_url: {e}"));
                    None
                }
            }
        }
    }
}

/// A required, non-empty credential. Its value is never put in a message.
fn credential(v: &Option<Lined<String>>, key: &str, section_line: Option<usize>, c: &mut Check<'_>) -> Option<String> {
    let v = c.required(v, "auth", key, section_line)?;
    if v.value.is_empty() {
        c.push(
            Some(v.line),
            format!("{key} in [auth] is empty (if it comes from ${{VAR}}, the variable is set but empty)"),
        );
        return None;
    }
    Some(v.value.clone())
}
