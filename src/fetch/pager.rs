//! Offset paging: up to `concurrency` pages in flight, handed out strictly
//! in offset order. Stops at an empty page, at a short page (unless the
//! total is known and not yet reached: then a record went missing on the
//! server's side, and paging goes on by offset), at `--max-records`, and
//! never asks for an offset twice. When the total is known, it does not run
//! ahead past it (one probe at the total is allowed, so records added since
//! the count are still found). A page body that is not the records asked
//! for is retried by the client (`post_checked`). Each page's task reads
//! its body once: with the run's [`PageReader`] (the page decoder, see
//! `reader.rs`) once the run has set it in the pager's [`ReaderSlot`], else
//! with the cheap check of `shape.rs`. A page is handed on as its raw body
//! with the number of records in it and, when the reader read it, what the
//! reader made of it ([`Page::read`]).

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;
use reqwest::Url;
use serde_json::{Map, Value};
use tokio::task::JoinHandle;

use super::client::ApiClient;
use super::error::FetchError;
use super::reader::{CheckOnly, PageReader, ReaderSlot};
use super::shape::Shape;
use crate::job::RecordsAt;

/// What to page through.
#[derive(Debug, Clone)]
pub struct PagerPlan {
    pub url: Url,
    /// The request body without `offset` / `limit`.
    pub body: Map<String, Value>,
    pub page_size: u64,
    pub concurrency: usize,
    pub records_at: RecordsAt,
    /// Stop after this many records (`--max-records`).
    pub max_records: Option<u64>,
    /// The total from the count endpoint, if known.
    pub expected: Option<u64>,
    /// First offset (a resumed run starts past its finished parts).
    pub start_offset: u64,
}

/// One page of records, at its offset: the response body, checked to
/// hold `records` records where `api.records` says, and what the pager's
/// reader made of it (`T`: the reader's output).
#[derive(Debug)]
pub struct Page<T = ()> {
    pub offset: u64,
    pub limit: u64,
    pub body: Bytes,
    /// How many records `body` holds.
    pub records: u64,
    /// `count` from a response envelope.
    pub envelope_count: Option<u64>,
    /// Why an envelope's `count` was ignored.
    pub count_ignored: Option<String>,
    /// What the reader made of `body`; `None` when the body arrived before
    /// a reader was set (or the pager has none): it was only checked.
    pub read: Option<T>,
}

impl<T> Page<T> {
    fn is_last(&self) -> bool {
        self.records < self.limit
    }
}

pub struct Pager<R: PageReader = CheckOnly> {
    client: Arc<ApiClient>,
    plan: PagerPlan,
    /// The plan's body, serialized once.
    body: PageBody,
    /// The run's reader, once it has one (shared with the page tasks).
    slot: Arc<ReaderSlot<R>>,
    next_offset: u64,
    in_flight: VecDeque<JoinHandle<Result<Page<R::Output>, FetchError>>>,
    finished: bool,
    /// Records handed out so far, counting the offsets a resumed run
    /// skipped.
    received: u64,
    /// The first believable envelope `count`.
    envelope_total: Option<u64>,
    /// An ignored envelope count was warned about.
    warned_count: bool,
}

impl Pager {
    /// A pager whose pages are only checked (no reader).
    pub fn new(client: Arc<ApiClient>, plan: PagerPlan) -> Pager {
        Pager::with_slot(client, plan, ReaderSlot::new())
    }
}

impl<R: PageReader> Pager<R> {
    /// A pager whose page tasks read each body with the reader in `slot`
    /// from the moment it is set.
    pub fn with_slot(client: Arc<ApiClient>, plan: PagerPlan, slot: Arc<ReaderSlot<R>>) -> Pager<R> {
        Pager {
            slot,
            body: PageBody::new(&plan.body),
            next_offset: plan.start_offset,
            received: plan.start_offset,
            client,
            plan,
            in_flight: VecDeque::new(),
            finished: false,
            envelope_total: None,
            warned_count: false,
        }
    }

    /// The end of the offsets this run may ask for.
    fn offset_end(&self) -> Option<u64> {
        self.plan.max_records.map(|m| self.plan.start_offset.saturating_add(m))
    }

    fn may_issue(&self) -> bool {
        if let Some(end) = self.offset_end()
            && self.next_offset >= end
        {
            return false;
        }
        match self.plan.expected {
            // Up to and including one page at the total (the probe).
            Some(total) => self.next_offset <= total,
            None => true,
        }
    }

    fn issue(&mut self) {
        let offset = self.next_offset;
        let mut limit = self.plan.page_size;
        if let Some(end) = self.offset_end() {
            limit = limit.min(end.saturating_sub(offset));
        }
        self.next_offset = self.next_offset.saturating_add(limit);
        let bytes = self.body.at(offset, limit);
        let client = self.client.clone();
        let url = self.plan.url.clone();
        let records_at = self.plan.records_at.clone();
        let slot = self.slot.clone();
        self.in_flight.push_back(tokio::spawn(async move {
            let started = std::time::Instant::now();
            let (body, shape, read) = client
                .post_checked(&url, bytes, Some(offset), |answer| {
                    slot.read(answer, offset, &records_at)
                        .map(|(shape, read)| (answer.clone(), shape, read))
                })
                .await?;
            let Shape {
                records,
                count,
                count_ignored,
            } = shape;
            tracing::debug!(
                url = %url,
                offset,
                records,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "page fetched"
            );
            Ok(Page {
                offset,
                limit,
                body,
                records,
                envelope_count: count,
                count_ignored,
                read,
            })
        }));
    }

    /// The next page in offset order, or `None` when paging is over.
    pub async fn next(&mut self) -> Option<Result<Page<R::Output>, FetchError>> {
        if self.finished {
            return None;
        }
        while self.in_flight.len() < self.plan.concurrency && self.may_issue() {
            self.issue();
        }
        let Some(handle) = self.in_flight.pop_front() else {
            self.finished = true;
            return None;
        };
        let page = match handle.await {
            Ok(result) => result,
            Err(join) => {
                self.stop();
                std::panic::resume_unwind(join.into_panic());
            }
        };
        if let Ok(p) = &page {
            self.received = self.received.saturating_add(p.records);
            self.envelope_total = self.envelope_total.or(p.envelope_count);
            if let Some(why) = &p.count_ignored
                && !self.warned_count
            {
                self.warned_count = true;
                tracing::warn!(offset = p.offset, reason = %why, "ignoring the page envelope's count");
            }
        }
        match &page {
            Ok(p) if p.is_last() && !self.short_before_total(p) => self.stop(),
            Ok(p) if p.is_last() => {}
            Ok(p) => {
                // A full page at or past the expected total: the data grew
                // since the count; keep paging until a short page.
                if let Some(total) = self.plan.expected
                    && p.offset.saturating_add(p.limit) > total
                {
                    self.plan.expected = None;
                }
            }
            Err(_) => self.stop(),
        }
        Some(page)
    }

    /// A short (not empty) page while the known total is not reached: a
    /// record went missing on the server's side, not the end. Warns; the
    /// caller goes on paging by offset.
    fn short_before_total(&self, p: &Page<R::Output>) -> bool {
        let Some(total) = self.plan.expected.or(self.envelope_total) else {
            return false;
        };
        if p.records == 0 || self.received >= total {
            return false;
        }
        tracing::warn!(
            offset = p.offset,
            records = p.records,
            limit = p.limit,
            received = self.received,
            expected = total,
            "short page before the known total; paging on"
        );
        true
    }

    /// Stop paging: abandon what is in flight (offsets past the end).
    pub fn stop(&mut self) {
        self.finished = true;
        for handle in self.in_flight.drain(..) {
            handle.abort();
        }
    }
}

impl<R: PageReader> Drop for Pager<R> {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A page's request body: the plan's body with `offset` and `limit`, as
/// serde_json prints the map with the two inserted (appended last, the map
/// keeping insertion order), without cloning and printing the whole map
/// for every page.
#[derive(Debug)]
enum PageBody {
    /// The map's JSON text without its closing brace, and a comma when it
    /// has members.
    Prefix(Vec<u8>),
    /// A map that already holds `offset` or `limit`: each page prints it
    /// with them replaced where they stand.
    Whole(Map<String, Value>),
}

impl PageBody {
    fn new(map: &Map<String, Value>) -> PageBody {
        if map.contains_key("offset") || map.contains_key("limit") {
            return PageBody::Whole(map.clone());
        }
        let mut text = serde_json::to_vec(map).expect("a JSON map serializes");
        text.pop(); // the closing brace
        if !map.is_empty() {
            text.push(b',');
        }
        PageBody::Prefix(text)
    }

    fn at(&self, offset: u64, limit: u64) -> Bytes {
        match self {
            PageBody::Prefix(prefix) => {
                let mut text = Vec::with_capacity(prefix.len() + 48);
                text.extend_from_slice(prefix);
                text.extend_from_slice(format!("\"offset\":{offset},\"limit\":{limit}}}").as_bytes());
                Bytes::from(text)
            }
            PageBody::Whole(map) => {
                let mut body = map.clone();
                body.insert("offset".into(), Value::from(offset));
                body.insert("limit".into(), Value::from(limit));
                Bytes::from(serde_json::to_vec(&Value::Object(body)).expect("a JSON value serializes"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// The bytes the pager sent before: the map cloned, the two inserted,
    /// printed.
    fn printed_whole(map: &Map<String, Value>, offset: u64, limit: u64) -> Vec<u8> {
        let mut body = map.clone();
        body.insert("offset".into(), Value::from(offset));
        body.insert("limit".into(), Value::from(limit));
        serde_json::to_vec(&Value::Object(body)).unwrap()
    }

    #[test]
    fn page_bodies_are_the_map_with_offset_and_limit_table() {
        let maps = [
            json!({}),
            json!({"database": "FI", "query": {"?ALL": []}, "fields": ["a", "b.c"], "order": "business_id"}),
            json!({"query": {"s": "quote \" and \\ and \u{e4}"}}),
            // Already there: replaced where they stand.
            json!({"limit": 5, "database": "FI", "offset": 0}),
        ];
        for map in maps {
            let map = map.as_object().unwrap().clone();
            let body = PageBody::new(&map);
            for (offset, limit) in [(0, 100), (100, 100), (u64::MAX, 1), (9_999_900, 37)] {
                let got = body.at(offset, limit);
                assert_eq!(
                    &got[..],
                    &printed_whole(&map, offset, limit)[..],
                    "{map:?} at {offset}/{limit}"
                );
                let back: Value = serde_json::from_slice(&got).unwrap();
                assert_eq!(back["offset"], json!(offset));
                assert_eq!(back["limit"], json!(limit));
            }
        }
    }
}
