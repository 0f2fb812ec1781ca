//! The state module's one error type: reading or writing the state file,
//! the checkpoint and its pointer, and a resume refused because the job
//! changed. Each variant names the file and says what to do; it maps to an
//! exit code (2 for what the user must fix, 1 for I/O).

use std::io;
use std::path::PathBuf;

use crate::exit::{Exit, ExitStatus};

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// A state, checkpoint or pointer file exists but cannot be read.
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },

    /// Writing, syncing or renaming a state file failed.
    #[error("cannot write {}: {source}{hint}", path.display(), hint = io_hint(source))]
    Write { path: PathBuf, source: io::Error },

    /// The state file of the last successful run is not what orgsync wrote.
    #[error(
        "state file {} is not valid ({reason}): fix it, or delete it to make the next run start \
         its incremental window at [incremental] start again",
        path.display()
    )]
    BadState { path: PathBuf, reason: String },

    /// The checkpoint (or its pointer) of an interrupted run is not valid.
    #[error("checkpoint {} is not valid ({reason}): run without --resume to drop it and start over", path.display())]
    BadCheckpoint { path: PathBuf, reason: String },

    /// `--resume` refused: the job is not the one that was interrupted.
    #[error(
        "cannot resume job {job}: {what} changed since the checkpoint of run {run_id} ({detail}); \
         restore the job as it was to resume, or run without --resume to drop the {records} records \
         in finished parts and start over"
    )]
    Changed {
        job: String,
        run_id: String,
        what: &'static str,
        detail: String,
        records: u64,
    },

    /// The state in a bucket (`--state-dir s3://...`) could not be read or written.
    #[error(
        "state in the bucket: {url}: {reason} (check the bucket's permissions and AWS_ENDPOINT_URL; the run can be resumed once it works)"
    )]
    Remote { url: String, reason: String },

    /// `--state-dir s3://...` (or the lock lease) is not usable as given.
    #[error("--state-dir {url}: {reason}")]
    RemoteConfig { url: String, reason: String },

    /// A finished part the checkpoint lists is missing or not what was written.
    #[error("cannot resume: finished part {} {reason}; run without --resume to start over", path.display())]
    DamagedPart { path: PathBuf, reason: String },
}

impl StateError {
    pub(crate) fn write(path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> StateError {
        let path = path.into();
        move |source| StateError::Write { path, source }
    }

    pub(crate) fn read(path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> StateError {
        let path = path.into();
        move |source| StateError::Read { path, source }
    }
}

fn io_hint(source: &io::Error) -> &'static str {
    match source.kind() {
        io::ErrorKind::StorageFull => " (the disk is full: free some space and run again)",
        io::ErrorKind::PermissionDenied => " (check the permissions of the --out-dir folder)",
        _ => "",
    }
}

impl ExitStatus for StateError {
    fn exit(&self) -> Exit {
        match self {
            StateError::Read { .. } | StateError::Write { .. } | StateError::Remote { .. } => Exit::Failed,
            StateError::RemoteConfig { .. } => Exit::Invalid,
            StateError::BadState { .. }
            | StateError::BadCheckpoint { .. }
            | StateError::Changed { .. }
            | StateError::DamagedPart { .. } => Exit::Invalid,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_and_messages_table() {
        let p = || PathBuf::from("/out/.orgsync/state/fi.json");
        let cases: Vec<(StateError, Exit, &[&str])> = vec![
            (
                StateError::Write {
                    path: p(),
                    source: io::Error::from(io::ErrorKind::StorageFull),
                },
                Exit::Failed,
                &["/out/.orgsync/state/fi.json", "disk is full"],
            ),
            (
                StateError::BadState {
                    path: p(),
                    reason: "expected value at line 1".into(),
                },
                Exit::Invalid,
                &["fi.json", "expected value", "delete it"],
            ),
            (
                StateError::Changed {
                    job: "fi".into(),
                    run_id: "20261122T043000Z-abcdef".into(),
                    what: "the request",
                    detail: "sha256 aaa then, bbb now".into(),
                    records: 200,
                },
                Exit::Invalid,
                &[
                    "cannot resume job fi",
                    "the request changed",
                    "20261122T043000Z-abcdef",
                    "200 records",
                    "without --resume",
                ],
            ),
        ];
        for (err, exit, parts) in cases {
            assert_eq!(err.exit(), exit, "{err}");
            let text = err.to_string();
            for part in parts {
                assert!(text.contains(part), "{text} lacks {part}");
            }
        }
    }
}
