//! Keyset windows: paging on past an API's offset limit. A run pages by
//! offset inside a window; when the API refuses an offset (a 400 whose text
//! mentions the offset, see [`is_offset_refusal`]) or the next offset would
//! pass `[query] max_offset`, and the job's `order` is its `key`
//! (ascending), the next window asks for `{"?ALL": [<filter>, {"?GT":
//! {<key>: <last key>}}]}` from offset 0 ([`window_filter`]). Each window
//! is a [`Pager`] (up to `concurrency` pages in flight); pages keep coming
//! in key order, so the snapshot is what one unlimited pass would give.
//! Page offsets are inside the current window; [`Windows::mark`] says which
//! window, for the checkpoint. Without a keyset an offset refusal fails the
//! run (exit 4) saying what to set. Every window's pager shares the run's
//! reader slot ([`Windows::set_reader`]): once the run has its decoder,
//! each page is decoded in its own task (`read.rs`). Knows nothing of
//! writing or checkpoint files.

use std::sync::Arc;

use bytes::Bytes;
use serde_json::{Value, json};

use super::RunError;
use super::read::{PageRead, RunReader};
use crate::fetch::{self, ApiClient, FetchError, Page, Pager, PagerPlan, ReaderSlot};
use crate::job::{Job, RecordsAt};
use crate::schema::FieldPath;
use crate::state::KeysetWindow;

/// Whether a rejection with `status` and the API's `detail` text is the API
/// refusing an offset as too deep: a 400 whose text mentions the offset, or
/// a search backend's result-window limit (`from + size`, `result window`).
pub fn is_offset_refusal(status: u16, detail: &str) -> bool {
    if status != 400 {
        return false;
    }
    let text = detail.to_lowercase();
    ["offset", "result window", "result_window", "from + size"]
        .iter()
        .any(|word| text.contains(word))
}

/// The filter of the window after the record whose key is `after`.
pub fn window_filter(filter: &Value, key: &str, after: &Value) -> Value {
    json!({ "?ALL": [filter, { "?GT": { key: after } }] })
}

/// Records a window may page through when the deepest offset served is
/// `max_offset`: every page whose offset is at most `max_offset`. `None`
/// when that does not fit in a u64 (no limit in practice).
pub fn window_capacity(max_offset: u64, page_size: u64) -> Option<u64> {
    let page_size = page_size.max(1);
    (max_offset / page_size).checked_add(1)?.checked_mul(page_size)
}

/// The key of the last record of a page body (`Null` if it has none).
fn last_key_of(body: &[u8], offset: u64, at: &RecordsAt, path: &FieldPath) -> Result<Value, RunError> {
    let records = fetch::page_records(body, at).map_err(|reason| RunError::Decode { offset, reason })?;
    Ok(records.last().map_or(Value::Null, |r| path.extract_value(r)))
}

/// The run's pages, window after window.
pub struct Windows {
    client: Arc<ApiClient>,
    /// The run's plan: the original body, the total, the start offset of
    /// the first window this process pages.
    base: PagerPlan,
    /// The run's filter (the job's, with the incremental window).
    filter: Value,
    /// `[query] key` when `order` = `key` (keyset windows possible).
    key: Option<(String, FieldPath)>,
    /// Records a window pages through at most (`max_offset`).
    capacity: Option<u64>,
    /// `--max-records`, counted from the run's start.
    max_records: Option<u64>,
    /// The current window (`None`: the first, unnarrowed one).
    mark: Option<KeysetWindow>,
    /// The run's page reader, once set; shared by every window's pager.
    slot: Arc<ReaderSlot<RunReader>>,
    pager: Pager<RunReader>,
    /// The offset after the last page handed out, inside the window.
    offset: u64,
    /// The last page handed out was full.
    last_full: bool,
    /// The body of the last page with records handed out (while keyset
    /// windows are possible): its last key is read only when a window ends.
    last_page: Option<(u64, Bytes)>,
    /// The key value of the last record before `offset`, once read.
    last_key: Value,
    windows_opened: u64,
}

impl Windows {
    /// Pages for `job` from `base.start_offset` inside the window `mark`
    /// (a resumed run's checkpoint; `None` from the start). `base.expected`
    /// is the run's total; `max_records` counts from the run's start.
    pub fn new(
        client: Arc<ApiClient>,
        job: &Job,
        base: PagerPlan,
        filter: &Value,
        max_records: Option<u64>,
        mark: Option<KeysetWindow>,
    ) -> Windows {
        let key = job.query.keyset_key().map(|k| (k.to_string(), FieldPath::parse(k)));
        let capacity = job.query.max_offset.and_then(|m| window_capacity(m, base.page_size));
        let start = base.start_offset;
        let slot = ReaderSlot::new();
        let mut windows = Windows {
            // Replaced below by the window's own pager (nothing is issued
            // before the first `next`).
            pager: Pager::with_slot(client.clone(), base.clone(), slot.clone()),
            slot,
            client,
            base,
            filter: filter.clone(),
            key,
            capacity,
            max_records,
            mark,
            offset: start,
            last_full: true,
            last_page: None,
            last_key: Value::Null,
            windows_opened: 0,
        };
        windows.pager = Pager::with_slot(windows.client.clone(), windows.plan(start), windows.slot.clone());
        windows
    }

    /// From now on each page is decoded in its page task by `reader`
    /// (pages whose bodies arrived before come only checked). A second
    /// call keeps the first reader.
    pub fn set_reader(&self, reader: RunReader) {
        self.slot.set(reader);
    }

    /// The reader the run set, if any.
    pub fn reader(&self) -> Option<&RunReader> {
        self.slot.get()
    }

    /// The window the pages handed out last are in (for the checkpoint).
    pub fn mark(&self) -> Option<KeysetWindow> {
        self.mark.clone()
    }

    /// Records paged through over the run before the window's `offset`.
    pub fn position(&self) -> u64 {
        self.records_before().saturating_add(self.offset)
    }

    fn records_before(&self) -> u64 {
        self.mark.as_ref().map_or(0, |m| m.records_before)
    }

    /// The pager plan of the current window from `start` (inside it).
    fn plan(&self, start: u64) -> PagerPlan {
        let mut plan = self.base.clone();
        let before = self.records_before();
        if let (Some(mark), Some((key, _))) = (&self.mark, &self.key) {
            plan.body
                .insert("query".into(), window_filter(&self.filter, key, &mark.after));
        }
        // The window's share of the total: the pager must not run past it.
        plan.expected = self.base.expected.map(|t| t.saturating_sub(before));
        let cap_left = self.capacity.map(|c| c.saturating_sub(start));
        let run_left = self.max_records.map(|m| m.saturating_sub(before.saturating_add(start)));
        plan.max_records = match (cap_left, run_left) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        plan.start_offset = start;
        plan
    }

    /// The next page in key order (its offset inside the current window),
    /// or `None` when paging is over.
    pub async fn next(&mut self) -> Option<Result<Page<PageRead>, RunError>> {
        loop {
            match self.pager.next().await {
                Some(Ok(page)) => {
                    self.offset = page.offset.saturating_add(page.records);
                    self.last_full = page.records >= page.limit;
                    if self.key.is_some() && page.records > 0 {
                        // A cheap clone (reference counted); parsed only
                        // if this window ends here.
                        self.last_page = Some((page.offset, page.body.clone()));
                        self.last_key = Value::Null;
                    }
                    return Some(Ok(page));
                }
                Some(Err(FetchError::Rejected {
                    url,
                    offset: Some(offset),
                    status,
                    detail,
                })) if offset > 0 && is_offset_refusal(status.as_u16(), &detail) => {
                    let refused = FetchError::Rejected {
                        url,
                        offset: Some(offset),
                        status,
                        detail,
                    };
                    if let Err(e) = self.learn_last_key().await {
                        return Some(Err(e));
                    }
                    match self.open_next(&format!("the API refused offset {offset}")) {
                        Ok(()) => continue,
                        Err(why) => {
                            return Some(Err(RunError::OffsetLimit {
                                source: Box::new(refused),
                                why,
                            }));
                        }
                    }
                }
                Some(Err(e)) => return Some(Err(e.into())),
                None => {
                    if self.window_full() {
                        if let Err(e) = self.learn_last_key().await {
                            return Some(Err(e));
                        }
                        let reason = format!("max_offset reached at offset {}", self.offset);
                        match self.open_next(&reason) {
                            Ok(()) => continue,
                            Err(why) => return Some(Err(RunError::Setup(why))),
                        }
                    }
                    return None;
                }
            }
        }
    }

    /// The window ended at `max_offset` with a full page (more may follow)
    /// and `--max-records` is not reached.
    fn window_full(&self) -> bool {
        let at_cap = self.capacity.is_some_and(|c| self.offset >= c);
        let run_done = self.max_records.is_some_and(|m| self.position() >= m);
        at_cap && self.last_full && !run_done
    }

    /// Makes sure the key of the record just before `offset` is known: a
    /// resumed run whose checkpoint ends exactly at a window's limit has
    /// handed out no page yet. It asks again for the page (at a page
    /// boundary, which the API served before) that ends at `offset`.
    async fn learn_last_key(&mut self) -> Result<(), RunError> {
        let Some((_, path)) = &self.key else {
            return Ok(());
        };
        let path = path.clone();
        if let Some((offset, body)) = self.last_page.take() {
            self.last_key = last_key_of(&body, offset, &self.base.records_at, &path)?;
        }
        if self.offset == 0 || matches!(self.last_key, Value::String(_) | Value::Number(_)) {
            return Ok(());
        }
        let size = self.base.page_size.max(1);
        let first = (self.offset - 1) / size * size;
        let mut plan = self.plan(first);
        plan.max_records = Some(self.offset - first);
        plan.expected = None;
        plan.concurrency = 1;
        tracing::info!(offset = first, "asking again for the last key before the offset limit");
        let mut pager = Pager::new(self.client.clone(), plan);
        match pager.next().await {
            Some(Ok(page)) => {
                self.last_key = last_key_of(&page.body, page.offset, &self.base.records_at, &path)?;
                Ok(())
            }
            Some(Err(e)) => Err(e.into()),
            None => Ok(()),
        }
    }

    /// Opens the window after the last key handed out; `Err` says why the
    /// run cannot go on past the limit.
    fn open_next(&mut self, reason: &str) -> Result<(), String> {
        let Some((key, _)) = &self.key else {
            return Err(
                "the API refuses offsets this deep, and paging on past the limit needs [query] order and key \
                 set to the same unique field (e.g. order = \"business_id\" and key = \"business_id\"; not \
                 possible with a saved list): set them, or use mode = \"export\""
                    .to_string(),
            );
        };
        if self.offset == 0 {
            return Err(format!(
                "{reason} before any record of the window: no progress is possible past the limit"
            ));
        }
        if !matches!(self.last_key, Value::String(_) | Value::Number(_)) {
            return Err(format!(
                "{reason}, and the last record before it has no string or number {key} ({}) to page on after: \
                 every record needs its key to page past an offset limit; use mode = \"export\"",
                self.last_key
            ));
        }
        let mark = KeysetWindow {
            after: self.last_key.clone(),
            records_before: self.position(),
        };
        self.windows_opened = self.windows_opened.saturating_add(1);
        tracing::info!(
            reason,
            key = %key,
            after = %mark.after,
            records_before = mark.records_before,
            window = self.windows_opened,
            "offset limit: continuing in a keyset window"
        );
        self.mark = Some(mark);
        self.offset = 0;
        self.last_full = true;
        self.pager.stop();
        self.pager = Pager::with_slot(self.client.clone(), self.plan(0), self.slot.clone());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn offset_refusal_table() {
        let cases: &[(u16, &str, bool)] = &[
            (400, "offset 1100 exceeds the maximum offset 1000", true),
            (400, "Offset too large", true),
            (400, "max_offset exceeded", true),
            (
                400,
                "Result window is too large, from + size must be less than or equal to: [10000]",
                true,
            ),
            (400, "index.max_result_window exceeded", true),
            (400, "invalid order by value", false),
            (400, "limit must be between 1 and 100", false),
            (400, "Invalid query: unknown operator ?NOPE", false),
            (400, "", false),
            (403, "offset 1100 exceeds the maximum offset 1000", false),
            (404, "offset not found", false),
            (422, "offset", false),
        ];
        for (status, detail, want) in cases {
            assert_eq!(is_offset_refusal(*status, detail), *want, "{status} {detail:?}");
        }
    }

    #[test]
    fn window_filter_table() {
        let all = json!({"?ALL": []});
        let eq = json!({"?EQ": {"official_industries.code": "62"}});
        let cases = [
            (
                &all,
                "business_id",
                json!("FI10007700"),
                json!({"?ALL": [{"?ALL": []}, {"?GT": {"business_id": "FI10007700"}}]}),
            ),
            (
                &eq,
                "id",
                json!(17),
                json!({"?ALL": [{"?EQ": {"official_industries.code": "62"}}, {"?GT": {"id": 17}}]}),
            ),
            (
                &all,
                "a.b",
                json!("x\"y"),
                json!({"?ALL": [{"?ALL": []}, {"?GT": {"a.b": "x\"y"}}]}),
            ),
        ];
        for (filter, key, after, want) in cases {
            assert_eq!(window_filter(filter, key, &after), want);
        }
    }

    #[test]
    fn window_capacity_table() {
        let cases = [
            (1000, 100, Some(1100)),
            (1050, 100, Some(1100)),
            (999, 100, Some(1000)),
            (0, 100, Some(100)),
            (0, 1, Some(1)),
            (10, 0, Some(11)),
            (u64::MAX, 1, None),
            (u64::MAX - 5, 100, None),
        ];
        for (max, size, want) in cases {
            assert_eq!(window_capacity(max, size), want, "{max} {size}");
        }
    }

    proptest! {
        #[test]
        fn refusal_classifier_never_panics(status in any::<u16>(), detail in ".{0,200}") {
            let got = is_offset_refusal(status, &detail);
            prop_assert!(!got || status == 400);
        }

        #[test]
        fn capacity_never_panics_and_covers_max_offset(max in any::<u64>(), size in 0u64..=100) {
            if let Some(c) = window_capacity(max, size) {
                prop_assert!(c > max);
                prop_assert_eq!(c % size.max(1), 0);
            }
        }
    }
}
