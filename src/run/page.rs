//! The page-to-part loop of a run: [`write_page`] feeds one API page to the
//! snapshot writer record by record, closes a part the moment it is full
//! and then has the run checkpoint, with the API offset of the first record
//! not in a finished part (de-duplication drops records, offsets still
//! advance; the keys saved are exactly those of records before that
//! offset). What a checkpoint holds and how it is saved is `state`'s; the
//! pager and HTTP are `fetch`'s.

use serde_json::Value;

use crate::sink::{SinkError, SnapshotWriter};
use crate::state::Dedup;

/// Writes `records` (the page at API offset `offset`, in order) into `w`,
/// dropping duplicates by `dedup`. Whenever the current part fills up it is
/// closed and `checkpoint(w, next_offset, dedup)` is called.
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
    for (i, record) in records.into_iter().enumerate() {
        if let Some(d) = dedup.as_deref_mut()
            && !d.keep(&record)
        {
            continue;
        }
        buf.push(record);
        if buf.len() as u64 >= w.room() {
            w.write(&buf)?;
            buf.clear();
            w.close_part()?;
            checkpoint(w, offset.saturating_add(i as u64 + 1), dedup.as_deref_mut())?;
        }
    }
    if !buf.is_empty() {
        w.write(&buf)?;
    }
    Ok(())
}

#[cfg(test)]
#[path = "page_tests.rs"]
mod tests;
