//! What a run in export mode keeps so that `--resume` continues the same
//! async export instead of creating a new one: `<state_dir>/<job>.export.json`
//! (written atomically as soon as the export exists, before any record is
//! fetched: a kill -9 while waiting loses nothing) and the [`ExportMark`] a
//! checkpoint carries (the export and how far its download got). It holds
//! the export's poll link, never a download link (a pre-signed download
//! link is a credential; a fresh one is had by polling again). It does not
//! talk to the API.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::atomic::write_json_atomic;
use super::error::StateError;

/// The export a checkpoint's parts come from.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ExportMark {
    /// The export's poll link as the API gave it (absolute URL or path).
    pub link: String,
    /// The export's id (the link's last path segment).
    pub id: String,
    /// Bytes of the (uncompressed) download before the record at the
    /// checkpoint's `next_offset`: where a `Range` request resumes. `None`
    /// for a gzip download (resumed by skipping records instead).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
}

/// `<state_dir>/<job>.export.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ExportFile {
    pub job: String,
    /// sha256 of the request body the export was created with: a resume
    /// with a different body creates a new export.
    pub request_sha256: String,
    pub link: String,
    pub id: String,
    /// RFC 3339, UTC.
    pub created_at: String,
}

/// `<state_dir>/<job>.export.json`.
pub fn export_file_path(state_dir: &Path, job: &str) -> PathBuf {
    state_dir.join(format!("{job}.export.json"))
}

impl ExportFile {
    /// Written atomically.
    pub fn save(&self, state_dir: &Path) -> Result<(), StateError> {
        write_json_atomic(&export_file_path(state_dir, &self.job), self)
    }

    /// The job's export file, `None` if it has none.
    pub fn load(state_dir: &Path, job: &str) -> Result<Option<ExportFile>, StateError> {
        let path = export_file_path(state_dir, job);
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(StateError::read(&path)(e)),
        };
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| StateError::BadCheckpoint {
                path,
                reason: e.to_string(),
            })
    }

    /// Removes the job's export file (the export was published or ended
    /// in a failure state); a missing file is fine.
    pub fn remove(state_dir: &Path, job: &str) -> Result<(), StateError> {
        let path = export_file_path(state_dir, job);
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StateError::write(&path)(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_file_round_trips_and_goes_away() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(ExportFile::load(dir.path(), "j").unwrap(), None);
        let file = ExportFile {
            job: "j".into(),
            request_sha256: "abc".into(),
            link: "/v3/organizations/async/exp1/".into(),
            id: "exp1".into(),
            created_at: "2026-11-30T12:00:00Z".into(),
        };
        file.save(dir.path()).unwrap();
        assert_eq!(ExportFile::load(dir.path(), "j").unwrap(), Some(file));
        ExportFile::remove(dir.path(), "j").unwrap();
        ExportFile::remove(dir.path(), "j").unwrap();
        assert_eq!(ExportFile::load(dir.path(), "j").unwrap(), None);
    }

    #[test]
    fn a_torn_export_file_is_a_bad_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(export_file_path(dir.path(), "j"), "{\"job\": ").unwrap();
        let err = ExportFile::load(dir.path(), "j").unwrap_err();
        assert!(matches!(err, StateError::BadCheckpoint { .. }), "{err}");
    }
}
