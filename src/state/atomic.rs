//! Atomic replacement of a small file: write a temporary sibling, fsync it,
//! rename it over the destination, fsync the folder. A reader (or a run
//! after a crash) sees the old content or the new, never a torn file.
//! Creates the folder if needed; knows nothing of what the bytes mean.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::error::StateError;

/// Replaces `path` with `bytes` atomically and durably.
/// `value` as pretty JSON with a final newline, written atomically.
pub fn write_json_atomic(path: &Path, value: &impl serde::Serialize) -> Result<(), StateError> {
    let mut text = serde_json::to_vec_pretty(value).map_err(|e| StateError::Write {
        path: path.to_path_buf(),
        source: std::io::Error::other(e),
    })?;
    text.push(b'\n');
    write_atomic(path, &text)
}

pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StateError> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&dir).map_err(StateError::write(&dir))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = write_synced(&tmp, bytes).and_then(|()| fs::rename(&tmp, path).map_err(StateError::write(path)));
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result?;
    File::open(&dir)
        .and_then(|d| d.sync_all())
        .map_err(StateError::write(&dir))
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), StateError> {
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .map_err(StateError::write(path))?;
    file.write_all(bytes).map_err(StateError::write(path))?;
    file.sync_all().map_err(StateError::write(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn writes_replaces_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/fi.json");
        let cases: &[&[u8]] = &[b"{\"v\":1}\n", b"{\"v\":2, \"longer\": true}\n", b""];
        for bytes in cases {
            write_atomic(&path, bytes).unwrap();
            assert_eq!(fs::read(&path).unwrap(), *bytes);
            assert_eq!(names(&dir.path().join("a/b")), ["fi.json"]);
        }
    }

    #[test]
    fn a_failed_write_keeps_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fi.json");
        write_atomic(&path, b"old").unwrap();
        // A folder where the file should go: the rename fails.
        let blocked = dir.path().join("blocked");
        fs::create_dir_all(blocked.join("inside")).unwrap();
        let err = write_atomic(&blocked, b"new").err().unwrap();
        assert!(matches!(err, StateError::Write { .. }), "{err}");
        assert_eq!(fs::read(&path).unwrap(), b"old");
        assert_eq!(names(dir.path()), ["blocked", "fi.json"], "temporary file removed");
    }
}
