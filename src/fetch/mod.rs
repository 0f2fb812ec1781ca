//! Fetching: the API client every request goes through (token, rate
//! limit, retries), the offset pager, the count endpoint, where records
//! sit in a response body, the seam through which a run reads each page
//! body once in its page task (`reader.rs`), and the async export (create,
//! poll, download).
//! The HTTP helpers, the retry policy and the bounds on server numbers are
//! the leaf module `crate::http`; `fetch` uses `auth` (for tokens), never
//! the other way round.

mod client;
mod count;
mod download;
mod error;
mod export;
mod gate;
mod pager;
mod reader;
mod records;
mod shape;

#[cfg(test)]
pub(crate) use client::excerpt;
pub use client::{ApiClient, Counters};
pub use count::count;
#[cfg(test)]
pub(crate) use count::read_count_answer;
pub use download::{Downloader, GZIP_MAGIC, Lines, Opened, Refused, check_line, next_chunk};
pub use error::FetchError;
pub use export::{
    ExportError, FAILURE_STATES, Phase, PollAnswer, async_endpoint, create_export, export_id, join_link, mask_link,
    parse_poll, poll,
};
pub use gate::Gate;
pub use pager::{Page, Pager, PagerPlan};
pub use reader::{CheckOnly, PageReader, ReaderSlot};
pub use records::{Extracted, extract_records, parse_body};
pub use shape::{Shape, check_page, page_records};
// The HTTP leaf module's names, where callers have always found them.
pub use crate::http::{
    Backoff, DEFAULT_TOKEN_LIFETIME, Failure, MAX_COUNT, MAX_TOKEN_LIFETIME, MIN_TOKEN_LIFETIME, RetryAfter,
    RetryPolicy, TransportFailure, build_http_client, count_value, describe_transport_error, error_text, is_retryable,
    is_retryable_status, parse_retry_after, retry_after, token_lifetime, transport_failure,
};
