//! State between runs (SPEC section 7): the last successful run of each job
//! (`<out-dir>/.orgsync/state/<job>.json`, the incremental watermark), the
//! checkpoint a run keeps in its temporary folder so `run --resume` can
//! continue it, the pointer from the state folder to that checkpoint, the
//! de-duplication keys that travel with it, the atomic file write they
//! all use, and the locks that keep one run per job and per target (local
//! flock files, or lock objects with a lease when the state is in a bucket,
//! whose working copy `remote.rs` mirrors). This file only declares and re-exports.

mod atomic;
mod checkpoint;
mod dedup;
mod error;
mod export;
mod files;
mod keyset;
mod last_run;
mod lease;
mod lock;
mod paths;
mod pointer;
mod progress;
mod remote;
mod remote_lock;

pub use atomic::write_atomic;
pub use checkpoint::{CHECKPOINT_VERSION, Checkpoint, Fingerprint, KeysetWindow, verify_parts};
pub use dedup::{Dedup, hash_text, key_hash, read_keys};
pub use error::StateError;
pub use export::{ExportFile, ExportMark, export_file_path};
pub use files::{CHECKPOINT_FILE, CHECKPOINT_FILES, KEYS_FILE};
pub use keyset::Limits as KeySetLimits;
pub use last_run::{LAST_RUN_VERSION, LastRun, record_success};
pub use lease::{DEFAULT_LEASE_SECS, LEASE_ENV, LeaseRecord, Verdict, judge};
pub use lock::{Holder, LockError, LockGuard, LockKey, acquire};
pub use paths::{last_run_path, pointer_path, state_dir};
pub use pointer::{Pending, Pointer, drop_checkpoint, find_checkpoint, pending};
pub use progress::Checkpointer;
pub use remote::{RemoteState, checkpoint_dir};
pub use remote_lock::RemoteLock;
