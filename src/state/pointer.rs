//! The pointer from the state folder to an interrupted run's checkpoint:
//! `<out-dir>/.orgsync/state/<job>.checkpoint.json` names the temporary
//! folder (and target) of the run, so `run --resume` finds the checkpoint
//! without knowing the target (whose `{date}` is the interrupted run's).
//! Finding, dropping and describing a pending checkpoint live here; the
//! checkpoint's content is `checkpoint.rs`'s.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::atomic::write_json_atomic;
use super::checkpoint::Checkpoint;
use super::error::StateError;
use super::paths::pointer_path;

/// `<job>.checkpoint.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Pointer {
    pub job: String,
    pub run_id: String,
    /// The snapshot folder the run publishes (absolute).
    pub target: PathBuf,
    /// The hidden temporary folder holding the parts and `_checkpoint.json`.
    pub temp_dir: PathBuf,
}

impl Pointer {
    pub fn save(&self, state_dir: &Path) -> Result<(), StateError> {
        write_json_atomic(&pointer_path(state_dir, &self.job), self)
    }

    /// The pointer of `job`, `None` if there is none.
    pub fn load(state_dir: &Path, job: &str) -> Result<Option<Pointer>, StateError> {
        let path = pointer_path(state_dir, job);
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(StateError::read(&path)(e)),
        };
        let pointer: Pointer = serde_json::from_str(&text).map_err(|e| StateError::BadCheckpoint {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        if pointer.job != job {
            return Err(StateError::BadCheckpoint {
                path,
                reason: format!("it points at a run of job {:?}, not {job:?}", pointer.job),
            });
        }
        Ok(Some(pointer))
    }

    /// Removes the pointer of `job` (none is fine).
    pub fn remove(state_dir: &Path, job: &str) -> Result<(), StateError> {
        let path = pointer_path(state_dir, job);
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StateError::write(&path)(e)),
        }
    }
}

/// What an interrupted run left to resume.
#[derive(Debug, Clone, PartialEq)]
pub struct Pending {
    pub run_id: String,
    pub temp_dir: PathBuf,
    /// Records in the finished parts.
    pub records: u64,
    pub parts: usize,
}

/// The checkpoint `run --resume` continues: `None` when there is no pointer,
/// or its folder or checkpoint is gone (the pointer is then removed). An
/// unreadable pointer or checkpoint is an error (exit 2).
pub fn find_checkpoint(state_dir: &Path, job: &str) -> Result<Option<(Pointer, Checkpoint)>, StateError> {
    let Some(pointer) = Pointer::load(state_dir, job)? else {
        return Ok(None);
    };
    let Some(cp) = Checkpoint::load(&pointer.temp_dir)? else {
        tracing::warn!(
            folder = %pointer.temp_dir.display(),
            "the checkpoint of run {} is gone; starting a fresh run",
            pointer.run_id
        );
        Pointer::remove(state_dir, job)?;
        return Ok(None);
    };
    if cp.job != pointer.job || cp.run_id != pointer.run_id || cp.target != pointer.target {
        return Err(StateError::BadCheckpoint {
            path: pointer_path(state_dir, job),
            reason: format!(
                "it names run {} of job {} at {}, the checkpoint in {} is run {} of job {} at {}",
                pointer.run_id,
                pointer.job,
                pointer.target.display(),
                pointer.temp_dir.display(),
                cp.run_id,
                cp.job,
                cp.target.display()
            ),
        });
    }
    Ok(Some((pointer, cp)))
}

/// What an interrupted run of `job` left, for messages (best effort: any
/// problem reads as nothing pending).
pub fn pending(state_dir: &Path, job: &str) -> Option<Pending> {
    let pointer = Pointer::load(state_dir, job).ok()??;
    let cp = Checkpoint::load(&pointer.temp_dir).ok()??;
    Some(Pending {
        run_id: cp.run_id,
        temp_dir: pointer.temp_dir,
        records: cp.records,
        parts: cp.files.len(),
    })
}

/// A run without `--resume` starts over: removes the pointed-to temporary
/// folder and the pointer, with a notice saying what was dropped. Returns it.
pub fn drop_checkpoint(state_dir: &Path, job: &str) -> Result<Option<Pending>, StateError> {
    let Some(pointer) = Pointer::load(state_dir, job).ok().flatten() else {
        // No pointer, or one too damaged to follow: nothing we can find to drop.
        return Pointer::remove(state_dir, job).map(|()| None);
    };
    let dropped = pending(state_dir, job);
    if let Some(d) = &dropped {
        tracing::warn!(
            folder = %d.temp_dir.display(),
            "dropped the checkpoint of interrupted run {} ({} records in {} finished parts); \
             this run starts over. Next time, run with --resume to continue an interrupted run",
            d.run_id,
            d.records,
            d.parts
        );
    }
    if pointer
        .temp_dir
        .file_name()
        .is_some_and(|n| n.to_string_lossy().ends_with(".orgsync-tmp"))
    {
        match fs::remove_dir_all(&pointer.temp_dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(StateError::write(&pointer.temp_dir)(e)),
        }
    }
    Pointer::remove(state_dir, job)?;
    Ok(dropped)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pointer(dir: &Path) -> Pointer {
        Pointer {
            job: "fi".into(),
            run_id: "20261122T043000Z-abcdef".into(),
            target: dir.join("exports/fi"),
            temp_dir: dir.join("exports/.fi.orgsync-tmp"),
        }
    }

    #[test]
    fn pointer_round_trip_and_problems_table() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        assert_eq!(Pointer::load(&state, "fi").unwrap(), None);
        let p = pointer(dir.path());
        p.save(&state).unwrap();
        assert_eq!(Pointer::load(&state, "fi").unwrap(), Some(p.clone()));

        let path = pointer_path(&state, "fi");
        let cases: &[(&str, &str)] = &[
            ("not json", "expected ident"),
            (
                r#"{"job":"se","run_id":"r","target":"/t","temp_dir":"/d"}"#,
                "job \"se\"",
            ),
            (r#"{"job":"fi","run_id":"r","target":"/t"}"#, "missing field `temp_dir`"),
        ];
        for (text, want) in cases {
            fs::write(&path, text).unwrap();
            let err = Pointer::load(&state, "fi").err().unwrap();
            assert!(matches!(err, StateError::BadCheckpoint { .. }), "{err}");
            assert!(err.to_string().contains(want), "{err} lacks {want}");
        }
    }

    #[test]
    fn a_pointer_to_a_vanished_folder_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        pointer(dir.path()).save(&state).unwrap();
        assert_eq!(find_checkpoint(&state, "fi").unwrap(), None);
        assert!(!pointer_path(&state, "fi").exists());
        assert_eq!(pending(&state, "fi"), None);
    }

    #[test]
    fn drop_removes_the_folder_and_the_pointer() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        let p = pointer(dir.path());
        fs::create_dir_all(&p.temp_dir).unwrap();
        fs::write(p.temp_dir.join("part-00000.csv"), b"x\n").unwrap();
        p.save(&state).unwrap();
        assert_eq!(
            drop_checkpoint(&state, "fi").unwrap(),
            None,
            "no checkpoint in it: nothing described"
        );
        assert!(!p.temp_dir.exists());
        assert!(!pointer_path(&state, "fi").exists());
        assert_eq!(drop_checkpoint(&state, "fi").unwrap(), None, "nothing to drop is fine");
    }
}
