//! The sink's one error type: every way writing or publishing a snapshot can
//! fail, each variant carrying the path (and, for encoding, the record and
//! column) a user needs, and the exit code it maps to. It does not decide
//! retries or print anything.

use std::io;
use std::path::PathBuf;

use crate::exit::{Exit, ExitStatus};

/// What went wrong while checking, writing or publishing a snapshot.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// The target exists and `--overwrite` was not given.
    #[error("output path {} already exists: pass --overwrite to replace it, or change [output] path", path.display())]
    TargetExists { path: PathBuf },

    /// The folder the snapshot would go into cannot be written.
    #[error("output folder {} is not writable ({source}): fix its permissions or choose another [output] path", path.display())]
    NotWritable { path: PathBuf, source: io::Error },

    /// Something on the output path that must be a folder is not one.
    #[error("{} is not a directory: choose another [output] path", path.display())]
    NotADirectory { path: PathBuf },

    /// The output path has no final component to name the snapshot by.
    #[error("output path {} does not name a folder: give [output] path a final folder name", path.display())]
    BadTarget { path: PathBuf },

    /// A format/compression pair this writer does not produce.
    #[error("{format} output{with} is not supported by this writer", with = with_compression(compression))]
    Unsupported {
        format: &'static str,
        compression: Option<&'static str>,
    },

    /// `rows_per_file` must be at least 1.
    #[error("rows_per_file must be at least 1, got {rows_per_file}")]
    BadRowsPerFile { rows_per_file: u64 },

    /// Reading, writing, syncing or removing one file or folder failed
    /// (a full disk shows up here, naming the file).
    #[error("I/O error on {}: {source}{hint}", path.display(), hint = io_hint(source))]
    Io { path: PathBuf, source: io::Error },

    /// Renaming a folder (publish, moving an old snapshot aside) failed.
    #[error("cannot rename {} to {}: {source}{hint}", from.display(), to.display(), hint = io_hint(source))]
    Rename {
        from: PathBuf,
        to: PathBuf,
        source: io::Error,
    },

    /// A record's value could not be encoded in its column.
    #[error("cannot encode the record at offset {record}, column {column:?} into {}: {reason}", path.display())]
    Encode {
        path: PathBuf,
        /// The record's API offset (in export mode: its line in the
        /// download, from 0).
        record: u64,
        column: String,
        reason: String,
    },

    /// The Parquet writer failed for a reason other than I/O (those are `Io`).
    #[error("cannot write Parquet file {}: {reason}", path.display())]
    Parquet { path: PathBuf, reason: String },

    /// Publishing found the folder is not exactly what the manifest lists.
    #[error(
        "the snapshot in {} is not whole ({problems}); nothing was published. Something else wrote \
         into the folder or a part was damaged: run again with --resume (finished parts are verified, \
         the rest fetched again) or without it to start over",
        path.display()
    )]
    Incomplete { path: PathBuf, problems: String },

    /// The object store cannot be configured (endpoint, credentials setup).
    #[error("cannot use {url}: {reason}")]
    StoreConfig { url: String, reason: String },

    /// A request to the object store failed (credentials never in `reason`).
    #[error("object store request for {url} failed: {reason}")]
    Store { url: String, reason: String },

    /// Another run published a snapshot at the same target first.
    #[error(
        "another run published a snapshot at {url} while this one was writing (its _SUCCESS came first);          this run's files were removed and nothing of the other run was touched: make sure one run at a          time writes a target (e.g. concurrencyPolicy: Forbid), or pass --overwrite to replace it"
    )]
    Raced { url: String },

    /// The manifest could not be serialized.
    #[error("cannot serialize the manifest for {}: {source}", path.display())]
    Manifest { path: PathBuf, source: serde_json::Error },
}

impl SinkError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> SinkError {
        let path = path.into();
        move |source| SinkError::Io { path, source }
    }
}

fn with_compression(compression: &Option<&'static str>) -> String {
    match compression {
        Some(c) => format!(" with {c} compression"),
        None => String::new(),
    }
}

fn io_hint(source: &io::Error) -> &'static str {
    match source.kind() {
        io::ErrorKind::StorageFull => " (the disk is full: free some space and run again)",
        io::ErrorKind::PermissionDenied => " (check the output folder's permissions)",
        io::ErrorKind::QuotaExceeded => " (disk quota exceeded: free some space and run again)",
        _ => "",
    }
}

impl ExitStatus for SinkError {
    fn exit(&self) -> Exit {
        match self {
            SinkError::TargetExists { .. }
            | SinkError::NotWritable { .. }
            | SinkError::NotADirectory { .. }
            | SinkError::BadTarget { .. }
            | SinkError::StoreConfig { .. } => Exit::Invalid,
            SinkError::Raced { .. } => Exit::Busy,
            _ => Exit::Failed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes() {
        let p = || PathBuf::from("/x");
        let cases: Vec<(SinkError, Exit)> = vec![
            (SinkError::TargetExists { path: p() }, Exit::Invalid),
            (
                SinkError::NotWritable {
                    path: p(),
                    source: io::Error::from(io::ErrorKind::PermissionDenied),
                },
                Exit::Invalid,
            ),
            (SinkError::NotADirectory { path: p() }, Exit::Invalid),
            (
                SinkError::Io {
                    path: p(),
                    source: io::Error::from(io::ErrorKind::StorageFull),
                },
                Exit::Failed,
            ),
            (
                SinkError::Unsupported {
                    format: "parquet",
                    compression: None,
                },
                Exit::Failed,
            ),
        ];
        for (err, want) in cases {
            assert_eq!(err.exit(), want, "{err}");
        }
    }

    #[test]
    fn messages_name_the_path_and_what_to_do() {
        let full = SinkError::Io {
            path: PathBuf::from("/out/part-00000.csv"),
            source: io::Error::from(io::ErrorKind::StorageFull),
        };
        let text = full.to_string();
        assert!(text.contains("/out/part-00000.csv"), "{text}");
        assert!(text.contains("disk is full"), "{text}");
        let exists = SinkError::TargetExists {
            path: PathBuf::from("/out/snap"),
        }
        .to_string();
        assert!(
            exists.contains("/out/snap") && exists.contains("--overwrite"),
            "{exists}"
        );
        let unsupported = SinkError::Unsupported {
            format: "csv",
            compression: Some("snappy"),
        }
        .to_string();
        assert_eq!(
            unsupported,
            "csv output with snappy compression is not supported by this writer"
        );
    }
}
