//! The `[query]` keys of deep pulls: `list` (a saved list instead of a
//! filter) and `max_offset` (keyset windows past an offset limit), and the
//! rules between them and the rest of the job. Phase two of loading, like
//! `validate.rs`; what the keys do at run time is `run/windows.rs` and
//! `job/body.rs`.

use super::check::Check;
use super::file::{RawJob, RawQuery};

/// `[query] max_offset` at most this (the API's offsets are far below).
const MAX_OFFSET: i64 = 1_000_000_000_000;

/// `list`: a non-empty id, never with `filter` / `filter_file`.
pub(super) fn list(raw: &RawQuery, c: &mut Check<'_>) -> Option<Option<String>> {
    raw.list.as_ref().map_or(Some(None), |l| {
        if let Some(other) = raw
            .filter
            .as_ref()
            .map(|f| f.line)
            .or(raw.filter_file.as_ref().map(|f| f.line))
        {
            c.push(
                Some(l.line.max(other)),
                "set either list or filter/filter_file in [query], not both: a saved list is the query",
            );
            return None;
        }
        c.non_empty(l, "list in [query]").map(|s| Some(s.to_string()))
    })
}

/// `max_offset`: in range, with `order` = `key`, never with `list`.
pub(super) fn max_offset(raw: &RawQuery, c: &mut Check<'_>) -> Option<Option<u64>> {
    raw.max_offset.as_ref().map_or(Some(None), |m| {
        let value = c.int(&raw.max_offset, 0, "max_offset in [query]", 0, MAX_OFFSET, "");
        if value != m.value {
            return None;
        }
        let keyset = matches!((&raw.order, &raw.key), (Some(o), Some(k)) if o.value == k.value);
        if raw.list.is_some() {
            c.push(
                Some(m.line),
                "max_offset in [query] cannot be used with list: keyset windows narrow the query, and a \
                 saved list has none; use a filter, or mode = \"export\"",
            );
            None
        } else if !keyset {
            c.push(
                Some(m.line),
                "max_offset in [query] needs order and key set to the same unique field (e.g. \
                 order = \"business_id\" and key = \"business_id\"): past the limit the run pages on \
                 after the last key written",
            );
            None
        } else {
            u64::try_from(value).ok().map(Some)
        }
    })
}

/// `list` with `[incremental]`: the window needs a query to carry it.
pub(super) fn list_with_incremental(raw: &RawJob, c: &mut Check<'_>) {
    if let (Some(list), Some(inc)) = (&raw.query.list, &raw.incremental) {
        c.push(
            inc.line.or(Some(list.line)),
            format!(
                "[incremental] cannot be used with list = {} in [query]: the window is a ?RANGE condition \
                 on the query, and a body naming a saved list carries no query; add the time condition \
                 to a filter instead of the list, or drop [incremental]",
                list.shown()
            ),
        );
    }
}
