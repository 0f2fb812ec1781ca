//! Sinks: part-file encoders (CSV, JSON Lines, Parquet), the snapshot folder, the
//! manifest and the atomic publish, and (`object/`) snapshots in a bucket. This file only declares and re-exports.

mod batch_text;
mod compress;
mod csv;
mod encoder;
mod error;
mod fault;
mod jsonl;
mod manifest;
pub mod object;
mod parquet;
mod rotation;
mod snapshot;
mod target;

/// The checkpoint files' names are `state`'s; re-exported for older callers.
pub use crate::state::{CHECKPOINT_FILE, CHECKPOINT_FILES, KEYS_FILE};
pub(crate) use compress::hex;
pub use compress::{Compressed, PartSink, SinkSummary, compression_name};
pub use encoder::{PartEncoder, WRITE_BUFFER_BYTES, check_supported, open_encoder, write_cell_json, write_json};
pub use error::SinkError;
pub use fault::{FAULT_VAR, at as fault_at};
pub use manifest::*;
pub use parquet::{ParquetEncoder, ROW_GROUP_ROWS, writer_properties};
pub use snapshot::{
    FinishedParts, MANIFEST_FILE, Published, SUCCESS_FILE, SnapshotOptions, SnapshotWriter, write_manifest,
};
pub use target::check_target;
