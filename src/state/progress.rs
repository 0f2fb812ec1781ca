//! Checkpointing while a run writes: [`write_page`] feeds one API page to
//! the snapshot writer record by record, closes a part the moment it is
//! full and then has the run checkpoint, with the API offset of the first
//! record not in a finished part (de-duplication drops records, offsets
//! still advance; the keys saved are exactly those of records before that
//! offset). [`Checkpointer`] writes the checkpoint files and, once, the
//! pointer. Knows nothing of HTTP or the pager.

use std::path::PathBuf;

use serde_json::Value;

use super::checkpoint::Checkpoint;
use super::dedup::Dedup;
use super::error::StateError;
use super::pointer::Pointer;
use crate::sink::{KEYS_FILE, SinkError, SnapshotWriter, Stats};

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
            checkpoint(w, offset + i as u64 + 1, dedup.as_deref_mut())?;
        }
    }
    if !buf.is_empty() {
        w.write(&buf)?;
    }
    Ok(())
}

/// Saves a run's checkpoint after each finished part.
pub struct Checkpointer {
    state_dir: PathBuf,
    /// Identity and fingerprint of the run; the counters are filled per save.
    template: Checkpoint,
    pointer: Pointer,
    pointer_saved: bool,
}

impl Checkpointer {
    /// `template` carries everything but the progress; `pointer_saved` is
    /// true for a resumed run (its pointer exists).
    pub fn new(state_dir: PathBuf, template: Checkpoint, pointer: Pointer, pointer_saved: bool) -> Checkpointer {
        Checkpointer {
            state_dir,
            template,
            pointer,
            pointer_saved,
        }
    }

    /// The keyset window the next saves are in (the run sets it for each
    /// page before writing it).
    pub fn set_window(&mut self, window: Option<super::checkpoint::KeysetWindow>) {
        self.template.window = window;
    }

    /// The export mark the next saves record (`mode = "export"`).
    pub fn set_export(&mut self, mark: Option<crate::state::ExportMark>) {
        self.template.export = mark;
    }

    /// Appends the new de-duplication keys, writes `_checkpoint.json`
    /// atomically, then the pointer (first time only), and makes the writer
    /// keep its folder from now on.
    pub fn save(
        &mut self,
        w: &mut SnapshotWriter,
        next_offset: u64,
        dedup: Option<&mut Dedup>,
        stats: Stats,
    ) -> Result<(), StateError> {
        let tmp = w.temp_dir().to_path_buf();
        let (dedup_keys, duplicates_dropped) = match dedup {
            Some(d) => (Some(d.flush(&tmp.join(KEYS_FILE))?), d.dropped()),
            None => (None, 0),
        };
        let cp = Checkpoint {
            next_offset,
            records: w.records(),
            files: w.files().to_vec(),
            duplicates_dropped,
            type_errors: w.type_errors(),
            null_counts: Some(w.null_counts()),
            dedup_keys,
            stats,
            ..self.template.clone()
        };
        cp.save(&tmp)?;
        if !self.pointer_saved {
            self.pointer.save(&self.state_dir)?;
            self.pointer_saved = true;
        }
        w.set_keep_on_drop(true);
        tracing::debug!(
            next_offset,
            records = cp.records,
            parts = cp.files.len(),
            "checkpoint saved"
        );
        Ok(())
    }
}

#[cfg(test)]
#[path = "progress_tests.rs"]
mod tests;
