//! The names of the files a run's checkpoint keeps in the snapshot's
//! temporary folder (SPEC section 7). The snapshot writer (`sink`) only
//! needs them to keep these files on resume and to take them out before
//! publishing; what they hold is `checkpoint.rs`' and `dedup.rs`' business.

/// A run's checkpoint inside its temporary folder (never published).
pub const CHECKPOINT_FILE: &str = "_checkpoint.json";
/// The de-duplication keys of a checkpoint (never published).
pub const KEYS_FILE: &str = "_checkpoint.keys";
/// Files of a temporary folder that belong to the checkpoint, not the snapshot.
pub const CHECKPOINT_FILES: [&str; 2] = [CHECKPOINT_FILE, KEYS_FILE];
