//! Fetching: the HTTP client every API request goes through (token, rate
//! limit, retries), the offset pager, the count endpoint, and where records
//! sit in a response body.

mod client;
mod count;
mod error;
mod gate;
mod http;
mod pager;
mod records;
mod retry;

pub use client::{ApiClient, Counters};
pub use count::count;
pub use error::FetchError;
pub use gate::Gate;
pub use http::{build_http_client, describe_transport_error, error_text, retry_after};
pub use pager::{Page, Pager, PagerPlan};
pub use records::extract_records;
pub use retry::{Backoff, RetryPolicy, is_retryable_status};
