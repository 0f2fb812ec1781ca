//! The page-to-part loop of a run: a page is decoded once, in its page task
//! (`read.rs`), or by [`page_rows`] for a page that arrived before the run
//! had its decoder; [`write_decoded`] feeds its rows to the
//! snapshot writer (or [`write_page`] its `serde_json::Value` records, for a
//! page with a value that does not fit its column, each record written with
//! its API offset, which a type error names), closes a part the moment
//! it is full and then has the run checkpoint, with the API offset of the
//! first record not in a finished part (de-duplication drops records,
//! offsets still advance; the keys saved are exactly those of records
//! before that offset). What a checkpoint holds and how it is saved is
//! `state`'s; the pager and HTTP are `fetch`'s.

use std::path::PathBuf;

use arrow_array::BooleanArray;
use arrow_select::filter::filter_record_batch;
use serde_json::Value;

use super::RunError;
use crate::decode::{DecodeError, DecodedBatch, PageDecoder};
use crate::fetch::{Page, page_records};
use crate::job::RecordsAt;
use crate::schema::{OnTypeError, TypeErrors};
use crate::sink::object::ObjectSnapshotWriter;
use crate::sink::{SinkError, SnapshotWriter};
use crate::state::Dedup;

/// A page's records, ready for the writer.
#[derive(Debug)]
pub enum PageRows {
    /// Decoded straight from the bytes: every value fits its column.
    Decoded(DecodedBatch),
    /// A value does not fit its column: the records go the `Value` way
    /// ([`write_page`]), so `on_type_error` (its counts, its one warning
    /// per column, its error naming the record, column and value) and
    /// de-duplication before conversion behave exactly as they always did.
    Values(Vec<Value>),
}

/// Decodes `page` (its body checked by the pager). The decoder is strict:
/// the first value that does not fit sends the page to the `Value` path,
/// which applies the snapshot's policy.
pub fn page_rows<T>(decoder: &PageDecoder, page: &Page<T>, at: &RecordsAt) -> Result<PageRows, RunError> {
    let failed = |reason: String| RunError::Decode {
        offset: page.offset,
        reason,
    };
    let mut strict = TypeErrors::new(OnTypeError::Fail);
    match decoder.decode_page(&page.body, page.offset, &mut strict) {
        Ok(decoded) if decoded.batch.num_rows() as u64 == page.records => Ok(PageRows::Decoded(decoded)),
        Ok(decoded) => Err(failed(format!(
            "{} records decoded, the page holds {} (a bug)",
            decoded.batch.num_rows(),
            page.records
        ))),
        Err(DecodeError::Type(_)) => page_records(&page.body, at).map(PageRows::Values).map_err(failed),
        Err(e) => Err(failed(e.to_string())),
    }
}

/// How many keys ahead of the one being checked [`write_decoded`] asks the
/// key set to start loading (enough to overlap the memory waits of a few
/// keys, few enough that nothing is evicted before it is used).
const PREFETCH_AHEAD: usize = 8;

/// Writes the rows of `decoded` (row `i` at API offset `decoded.offset(i)`)
/// into `w` exactly like [`write_page`] writes records: duplicates dropped
/// by their key hashes, the part closed and `checkpoint(w, next_offset,
/// dedup)` called the moment it is full. Kept rows go to the writer as
/// slices of the batch (a filtered copy only where duplicates were dropped).
pub fn write_decoded<E, F, W>(
    w: &mut W,
    decoded: &DecodedBatch,
    mut dedup: Option<&mut Dedup>,
    mut checkpoint: F,
) -> Result<(), E>
where
    E: From<SinkError>,
    W: RowSink,
    F: FnMut(&mut W, u64, Option<&mut Dedup>) -> Result<(), E>,
{
    let hashes = match (&dedup, &decoded.key_hashes) {
        (None, _) => None,
        (Some(_), Some(hashes)) if hashes.len() == decoded.batch.num_rows() => Some(hashes.as_slice()),
        (Some(_), _) => return Err(bug(w, decoded, "the decoded page has no key hashes").into()),
    };
    let rows = decoded.batch.num_rows();
    // Rows `start..` not yet written; `keep` says which of them are kept
    // (only with a key), `kept` how many.
    let mut start = 0;
    let mut keep: Vec<bool> = Vec::new();
    let mut kept = 0u64;
    if let (Some(d), Some(hashes)) = (dedup.as_deref(), hashes) {
        hashes
            .iter()
            .take(PREFETCH_AHEAD)
            .flatten()
            .for_each(|&h| d.prefetch(h));
    }
    for i in 0..rows {
        if let (Some(d), Some(hashes)) = (dedup.as_deref_mut(), hashes) {
            if let Some(Some(ahead)) = hashes.get(i.saturating_add(PREFETCH_AHEAD)) {
                d.prefetch(*ahead);
            }
            let new = hashes[i].is_none_or(|h| d.keep_hash(h));
            keep.push(new);
            if !new {
                continue;
            }
        }
        kept += 1;
        if kept >= w.room() {
            write_kept(w, decoded, start, i + 1 - start, hashes.map(|_| keep.as_slice()))?;
            start = i + 1;
            keep.clear();
            kept = 0;
            w.close_part()?;
            checkpoint(w, decoded.offset(i).saturating_add(1), dedup.as_deref_mut())?;
        }
    }
    if kept > 0 {
        write_kept(w, decoded, start, rows - start, hashes.map(|_| keep.as_slice()))?;
    }
    Ok(())
}

/// A snapshot writer decoded rows go to: a local folder's or a bucket's.
pub trait RowSink {
    /// Records the current part still takes.
    fn room(&self) -> u64;
    /// Appends decoded rows (already de-duplicated), cutting parts.
    fn write_rows(&mut self, decoded: &DecodedBatch) -> Result<(), SinkError>;
    /// Closes the current part.
    fn close_part(&mut self) -> Result<(), SinkError>;
    /// Where the snapshot is being written, for errors.
    fn place(&self) -> PathBuf;
}

impl RowSink for SnapshotWriter {
    fn room(&self) -> u64 {
        SnapshotWriter::room(self)
    }
    fn write_rows(&mut self, decoded: &DecodedBatch) -> Result<(), SinkError> {
        SnapshotWriter::write_rows(self, decoded)
    }
    fn close_part(&mut self) -> Result<(), SinkError> {
        SnapshotWriter::close_part(self)
    }
    fn place(&self) -> PathBuf {
        self.temp_dir().to_path_buf()
    }
}

impl RowSink for ObjectSnapshotWriter {
    fn room(&self) -> u64 {
        ObjectSnapshotWriter::room(self)
    }
    fn write_rows(&mut self, decoded: &DecodedBatch) -> Result<(), SinkError> {
        ObjectSnapshotWriter::write_rows(self, decoded)
    }
    fn close_part(&mut self) -> Result<(), SinkError> {
        ObjectSnapshotWriter::close_part(self)
    }
    fn place(&self) -> PathBuf {
        PathBuf::from(self.url())
    }
}

/// Writes the kept rows among `len` rows from `start` (`keep`: which).
fn write_kept(
    w: &mut impl RowSink,
    decoded: &DecodedBatch,
    start: usize,
    len: usize,
    keep: Option<&[bool]>,
) -> Result<(), SinkError> {
    let mut batch = decoded.rows(start, len);
    if let Some(keep) = keep.filter(|k| k.contains(&false)) {
        batch = filter_record_batch(&batch, &BooleanArray::from(keep.to_vec()))
            .map_err(|e| bug(w, decoded, &format!("dropping duplicate rows failed: {e}")))?;
    }
    w.write_rows(&DecodedBatch {
        batch,
        key_hashes: None,
        first_offset: decoded.offset(start),
        count: None,
        path: decoded.path,
    })
}

/// An error that means a bug in orgsync, naming the page.
fn bug(w: &impl RowSink, decoded: &DecodedBatch, what: &str) -> SinkError {
    SinkError::Encode {
        path: w.place(),
        record: decoded.first_offset,
        column: String::new(),
        reason: format!("{what} (a bug in orgsync: please report it)"),
    }
}

/// Writes `records` (the page at API offset `offset`, in order) into `w`,
/// dropping duplicates by `dedup`. Whenever the current part fills up it is
/// closed and `checkpoint(w, next_offset, dedup)` is called. Each record
/// reaches the writer with its API offset (records are written in runs of
/// consecutive offsets: a dropped duplicate ends a run), so a type error
/// names the offset the API sent the record at, not its index in the
/// snapshot.
pub fn write_page<E, F>(
    w: &mut SnapshotWriter,
    offset: u64,
    records: Vec<Value>,
    mut dedup: Option<&mut Dedup>,
    mut checkpoint: F,
) -> Result<(), E>
where
    E: From<SinkError>,
    F: FnMut(&mut SnapshotWriter, u64, Option<&mut Dedup>) -> Result<(), E>,
{
    let mut buf = Vec::new();
    // The API offset of `buf[0]`.
    let mut first = offset;
    for (i, record) in records.into_iter().enumerate() {
        let at = offset.saturating_add(i as u64);
        if let Some(d) = dedup.as_deref_mut()
            && !d.keep(&record)
        {
            if !buf.is_empty() {
                w.write_at(&buf, first)?;
                buf.clear();
            }
            continue;
        }
        if buf.is_empty() {
            first = at;
        }
        buf.push(record);
        if buf.len() as u64 >= w.room() {
            w.write_at(&buf, first)?;
            buf.clear();
            w.close_part()?;
            checkpoint(w, at.saturating_add(1), dedup.as_deref_mut())?;
        }
    }
    if !buf.is_empty() {
        w.write_at(&buf, first)?;
    }
    Ok(())
}

#[cfg(test)]
#[path = "page_tests.rs"]
mod tests;
