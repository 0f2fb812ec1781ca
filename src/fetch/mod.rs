//! Fetching: the HTTP client every API request goes through (token, rate
//! limit, retries), the offset pager, the count endpoint, where records
//! sit in a response body, and the bounded reading of numbers the server
//! sends (`Retry-After`, `expires_in`, counts).

mod bounds;
mod client;
mod count;
mod error;
mod gate;
mod http;
mod pager;
mod records;
mod retry;
mod shape;

pub use bounds::{
    DEFAULT_TOKEN_LIFETIME, MAX_COUNT, MAX_TOKEN_LIFETIME, MIN_TOKEN_LIFETIME, count_value, parse_retry_after,
    token_lifetime,
};
#[cfg(test)]
pub(crate) use client::excerpt;
pub use client::{ApiClient, Counters};
pub use count::count;
#[cfg(test)]
pub(crate) use count::read_count_answer;
pub use error::FetchError;
pub use gate::Gate;
pub use http::{
    RetryAfter, TransportFailure, build_http_client, describe_transport_error, error_text, retry_after,
    transport_failure,
};
pub use pager::{Page, Pager, PagerPlan};
pub use records::{Extracted, extract_records, parse_body};
pub use retry::{Backoff, Failure, RetryPolicy, is_retryable, is_retryable_status};
pub use shape::{Shape, check_page, page_records};
