//! The run's [`PageReader`]: each page body is decoded once, in its page's
//! task, by the snapshot's `PageDecoder`, and the page carries the decoded
//! batch (or, for a page with a value that does not fit its column, its
//! `serde_json::Value` records) to the run loop. The verdict the client
//! retries on and the page's counts are exactly [`check_page`]'s:
//! - a decoded page is a records body (the decoder accepts exactly what
//!   `check_page` accepts, proptested in `read_tests.rs`); its records are
//!   the batch's rows, its `count` the decoder's; the reason an envelope
//!   count was ignored, which the decoder does not give, comes from
//!   `check_page`, run only on an envelope without a believable `count`
//!   whose bytes could hold a `count` key (`"count"` or a `\u` escape), so
//!   an ordinary page is walked once;
//! - a page the decoder refuses gets `check_page`'s verdict (refused: the
//!   client retries it) and counts; a records body with a value that does
//!   not fit goes the `Value` way; any other decoder error is a bug the run
//!   reports, never a retry.
//!
//! It does not write, de-duplicate or checkpoint: `page.rs` does.

use std::sync::Arc;

use bytes::Bytes;

use super::RunError;
use super::page::{PageRows, page_rows};
use crate::decode::{DecodeError, PageDecoder};
use crate::fetch::{Page, PageReader, Shape, check_page, page_records};
use crate::job::RecordsAt;
use crate::schema::{OnTypeError, TypeErrors};

/// What a page task made of a body: its rows, or why it could not be
/// turned into rows (a bug in orgsync, reported with the page's offset).
pub type PageRead = Result<PageRows, String>;

/// Decodes page bodies with the snapshot's decoder, in their page tasks.
#[derive(Debug, Clone)]
pub struct RunReader {
    decoder: Arc<PageDecoder>,
    at: RecordsAt,
}

impl RunReader {
    pub fn new(decoder: Arc<PageDecoder>, at: RecordsAt) -> RunReader {
        RunReader { decoder, at }
    }

    pub fn decoder(&self) -> &Arc<PageDecoder> {
        &self.decoder
    }
}

impl PageReader for RunReader {
    type Output = PageRead;

    fn read(&self, body: &Bytes, offset: u64) -> Result<(Shape, PageRead), String> {
        read_body(&self.decoder, body, offset, &self.at)
    }
}

/// [`RunReader::read`]: `body` (at API offset `offset`) decoded strictly
/// (the first value that does not fit sends the page the `Value` way, which
/// applies the snapshot's `on_type_error`).
pub fn read_body(decoder: &PageDecoder, body: &[u8], offset: u64, at: &RecordsAt) -> Result<(Shape, PageRead), String> {
    let mut strict = TypeErrors::new(OnTypeError::Fail);
    match decoder.decode_page(body, offset, &mut strict) {
        Ok(decoded) => {
            let mut shape = Shape {
                records: decoded.batch.num_rows() as u64,
                count: decoded.count,
                count_ignored: None,
            };
            if shape.count.is_none() && may_hold_count(body) {
                // The rare envelope with a `count` that is not believable
                // (or null): `check_page` says why, and stays the judge.
                let checked = check_page(body, at)?;
                shape.count_ignored = checked.count_ignored;
            }
            Ok((shape, Ok(PageRows::Decoded(decoded))))
        }
        Err(e) => {
            // Not decoded: `check_page` decides whether it is a records body.
            let shape = check_page(body, at)?;
            let read = match e {
                DecodeError::Type(_) => page_records(body, at).map(PageRows::Values),
                other => Err(format!(
                    "{other} (the page decoder refused a body the shape check accepts)"
                )),
            };
            Ok((shape, read))
        }
    }
}

/// Whether `body` is an object whose bytes could hold a `count` key: the
/// literal `"count"`, or any `\u` escape (the only way to spell a letter
/// of `count` escaped). A bare array has no envelope count.
fn may_hold_count(body: &[u8]) -> bool {
    let first = body.iter().find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'));
    first == Some(&b'{') && (contains(body, b"\"count\"") || contains(body, b"\\u"))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The rows of a page for the writer: what its task read, or (a body that
/// arrived before the run set its reader) decoded here.
pub fn rows_of(decoder: &PageDecoder, page: &mut Page<PageRead>, at: &RecordsAt) -> Result<PageRows, RunError> {
    match page.read.take() {
        Some(read) => read.map_err(|reason| RunError::Decode {
            offset: page.offset,
            reason,
        }),
        None => page_rows(decoder, page, at),
    }
}

#[cfg(test)]
#[path = "read_tests.rs"]
mod tests;
