//! HTTP facts shared by the token endpoint (`auth`) and the API client
//! (`fetch`), with no dependency on either: building the reqwest client,
//! reading `Retry-After` and error bodies, the one retry decision and its
//! backoff, and the bounded reading of numbers a server sends (`Retry-After`,
//! `expires_in`, counts). A leaf: `auth` and `fetch` use it, it uses neither.

mod bounds;
mod client;
mod retry;

pub use bounds::{
    DEFAULT_TOKEN_LIFETIME, MAX_COUNT, MAX_TOKEN_LIFETIME, MIN_TOKEN_LIFETIME, count_value, parse_retry_after,
    token_lifetime,
};
pub use client::{
    RetryAfter, TransportFailure, build_http_client, describe_transport_error, error_text, retry_after,
    transport_failure,
};
pub use retry::{Backoff, Failure, RetryPolicy, is_retryable, is_retryable_status};
