//! Every way the sandbox refuses a request, as one error enum, and how each
//! becomes an HTTP answer shaped like the real service's (DRF's
//! `{"detail", "error_code", "status_code"}`, django-oauth-toolkit's
//! `{"error", "error_description"}`, simplejwt's `{"detail", "code"}`).
//! It does not decide when to refuse; the handlers do.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// A refused request.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// OAuth token endpoint error (RFC 6749 5.2).
    #[error("{error}: {description}")]
    OAuth {
        status: StatusCode,
        error: &'static str,
        description: String,
    },
    /// Bad or missing JWT refresh token.
    #[error("refresh token is invalid or expired")]
    RefreshInvalid,
    /// Missing, unknown or expired access token on an /api/v3 request.
    #[error("access token missing, unknown or expired")]
    TokenNotValid,
    /// Over the server rate limit.
    #[error("throttled: retry after {retry_after_secs} s")]
    Throttled { retry_after_secs: u64 },
    /// A deliberately injected 5xx.
    #[error("injected failure {status}")]
    Injected { status: StatusCode },
    /// A 400 with DRF's error shape.
    #[error("bad request: {detail}")]
    BadRequest { detail: String, error_code: &'static str },
    /// No such route.
    #[error("not found")]
    NotFound,
    /// A field the account lacks the permission for (see `catalog.rs`).
    #[error("forbidden: {detail}")]
    Forbidden { detail: String },
    /// The sandbox itself failed (a query task panicked).
    #[error("internal error: {0}")]
    Internal(String),
}

impl SandboxError {
    /// A 400 `INVALID_PARAMETER` with this detail.
    pub(crate) fn invalid(detail: impl Into<String>) -> Self {
        SandboxError::BadRequest {
            detail: detail.into(),
            error_code: "INVALID_PARAMETER",
        }
    }

    pub(crate) fn status(&self) -> StatusCode {
        match self {
            SandboxError::OAuth { status, .. } => *status,
            SandboxError::RefreshInvalid | SandboxError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            SandboxError::TokenNotValid => StatusCode::UNAUTHORIZED,
            SandboxError::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
            SandboxError::Injected { status } => *status,
            SandboxError::NotFound => StatusCode::NOT_FOUND,
            SandboxError::Forbidden { .. } => StatusCode::FORBIDDEN,
            SandboxError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn body(&self) -> Value {
        match self {
            SandboxError::OAuth { error, description, .. } => json!({"error": error, "error_description": description}),
            SandboxError::RefreshInvalid => {
                json!({"detail": "Token is invalid or expired", "code": "token_not_valid"})
            }
            SandboxError::TokenNotValid => json!({
                "detail": "Given token not valid for any token type",
                "code": "token_not_valid",
            }),
            SandboxError::Throttled { retry_after_secs } => json!({
                "detail": format!("Request was throttled. Expected available in {retry_after_secs} seconds."),
            }),
            SandboxError::Injected { status } => {
                let detail = match status.as_u16() {
                    502 => "Bad gateway (injected by the sandbox)",
                    503 => "Service temporarily unavailable (injected by the sandbox)",
                    504 => "Gateway timeout (injected by the sandbox)",
                    _ => "Internal server error (injected by the sandbox)",
                };
                json!({"detail": detail, "error_code": "SERVER_ERROR", "status_code": status.as_u16()})
            }
            SandboxError::BadRequest { detail, error_code } => {
                json!({"detail": detail, "error_code": error_code, "status_code": 400})
            }
            SandboxError::NotFound => {
                json!({"detail": "Not found.", "error_code": "NOT_FOUND", "status_code": 404})
            }
            SandboxError::Internal(detail) => {
                json!({"detail": detail, "error_code": "SERVER_ERROR", "status_code": 500})
            }
            SandboxError::Forbidden { detail } => {
                json!({"detail": detail, "error_code": "FORBIDDEN", "status_code": 403})
            }
        }
    }
}

impl IntoResponse for SandboxError {
    fn into_response(self) -> Response {
        let mut response = (self.status(), axum::Json(self.body())).into_response();
        if let SandboxError::Throttled { retry_after_secs } = self {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_error_has_the_documented_status_and_shape() {
        let cases: Vec<(SandboxError, u16, Value)> = vec![
            (
                SandboxError::invalid("limit must be between 1 and 100"),
                400,
                json!({"detail":"limit must be between 1 and 100","error_code":"INVALID_PARAMETER","status_code":400}),
            ),
            (
                SandboxError::TokenNotValid,
                401,
                json!({"detail":"Given token not valid for any token type","code":"token_not_valid"}),
            ),
            (
                SandboxError::RefreshInvalid,
                400,
                json!({"detail":"Token is invalid or expired","code":"token_not_valid"}),
            ),
            (
                SandboxError::Throttled { retry_after_secs: 3 },
                429,
                json!({"detail":"Request was throttled. Expected available in 3 seconds."}),
            ),
            (
                SandboxError::OAuth {
                    status: StatusCode::UNAUTHORIZED,
                    error: "invalid_client",
                    description: "Invalid client credentials".into(),
                },
                401,
                json!({"error":"invalid_client","error_description":"Invalid client credentials"}),
            ),
        ];
        for (err, status, body) in cases {
            assert_eq!(err.status().as_u16(), status, "{err}");
            assert_eq!(err.body(), body, "{err}");
        }
    }

    #[test]
    fn throttled_response_carries_retry_after() {
        let resp = SandboxError::Throttled { retry_after_secs: 2 }.into_response();
        assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(resp.headers().get(header::RETRY_AFTER), Some(&HeaderValue::from(2u64)));
    }
}
