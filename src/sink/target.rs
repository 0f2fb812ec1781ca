//! The target path of a snapshot: the exit-2 check done before anything is
//! fetched ([`check_target`]), the hidden sibling names (`.<name>.orgsync-tmp`,
//! `.<name>.orgsync-old`), folder fsync, and replacing an existing target
//! (an atomic `RENAME_EXCHANGE` swap, or two renames where that is not
//! supported). It writes no part files.

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use super::error::SinkError;

/// Exit-2 check done BEFORE fetching: `Err(SinkError::TargetExists)` if
/// `target` exists and `!overwrite`; an error if the nearest existing folder
/// on the way to it is not a folder or not writable (found by creating and
/// removing a probe file).
pub fn check_target(target: &Path, overwrite: bool) -> Result<(), SinkError> {
    let (parent, _) = split_target(target)?;
    match fs::symlink_metadata(target) {
        Ok(_) if !overwrite => {
            return Err(SinkError::TargetExists {
                path: target.to_path_buf(),
            });
        }
        Ok(_) => {}
        Err(e) if matches!(e.kind(), io::ErrorKind::NotFound | io::ErrorKind::NotADirectory) => {}
        Err(source) => {
            return Err(SinkError::NotWritable {
                path: target.to_path_buf(),
                source,
            });
        }
    }
    let existing = nearest_existing(&parent);
    let meta = fs::metadata(&existing).map_err(|source| SinkError::NotWritable {
        path: existing.clone(),
        source,
    })?;
    if !meta.is_dir() {
        return Err(SinkError::NotADirectory { path: existing });
    }
    probe_writable(&existing)
}

/// `(parent, file name)` of `target`; the parent of a bare name is `.`.
pub(crate) fn split_target(target: &Path) -> Result<(PathBuf, OsString), SinkError> {
    let Some(name) = target.file_name() else {
        return Err(SinkError::BadTarget {
            path: target.to_path_buf(),
        });
    };
    let parent = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    Ok((parent, name.to_os_string()))
}

/// `<parent>/.<name>.<suffix>`.
pub(crate) fn sibling(parent: &Path, name: &OsString, suffix: &str) -> PathBuf {
    let mut hidden = OsString::from(".");
    hidden.push(name);
    hidden.push(".");
    hidden.push(suffix);
    parent.join(hidden)
}

fn nearest_existing(path: &Path) -> PathBuf {
    let mut current = path;
    loop {
        if fs::symlink_metadata(current).is_ok() {
            return current.to_path_buf();
        }
        match current.parent() {
            Some(p) if !p.as_os_str().is_empty() => current = p,
            _ => return PathBuf::from("."),
        }
    }
}

fn probe_writable(dir: &Path) -> Result<(), SinkError> {
    let probe = dir.join(format!(".orgsync-probe-{}", std::process::id()));
    let not_writable = |source| SinkError::NotWritable {
        path: dir.to_path_buf(),
        source,
    };
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
        .map_err(not_writable)?;
    fs::remove_file(&probe).map_err(not_writable)
}

/// fsyncs a folder so the entries created or renamed in it are durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), SinkError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(SinkError::io(dir))
}

/// Removes a file or a folder tree.
pub(crate) fn remove_any(path: &Path) -> io::Result<()> {
    if fs::symlink_metadata(path)?.is_dir() {
        fs::remove_dir_all(path)
    } else {
        fs::remove_file(path)
    }
}

fn rename(from: &Path, to: &Path) -> Result<(), SinkError> {
    fs::rename(from, to).map_err(|source| SinkError::Rename {
        from: from.to_path_buf(),
        to: to.to_path_buf(),
        source,
    })
}

/// Moves the finished folder `ready` to `target` with one rename. An
/// existing target is an error unless `overwrite`; then the two folders are
/// swapped atomically with `renameat2(RENAME_EXCHANGE)`, so there is no
/// moment without a snapshot at `target`, and the old one (now at `ready`)
/// is removed. Where the filesystem or kernel cannot exchange, the old one
/// is renamed aside to `old`, `ready` renamed in (on failure the old one is
/// put back), and the old one removed. fsyncs `parent` after the renames.
pub(crate) fn publish(
    ready: &Path,
    target: &Path,
    old: &Path,
    parent: &Path,
    overwrite: bool,
) -> Result<(), SinkError> {
    let exists = fs::symlink_metadata(target).is_ok();
    if exists && !overwrite {
        return Err(SinkError::TargetExists {
            path: target.to_path_buf(),
        });
    }
    if !exists {
        // Note: rename(2) would silently replace an *empty* folder created
        // at `target` since the check above; std has no RENAME_NOREPLACE.
        rename(ready, target)?;
        return sync_dir(parent);
    }
    match exchange(ready, target) {
        Ok(()) => {
            sync_dir(parent)?;
            tracing::debug!(target = %target.display(), "snapshot swapped in with RENAME_EXCHANGE");
            if let Err(e) = remove_any(ready) {
                tracing::warn!(path = %ready.display(), error = %e, "snapshot published, but the replaced one could not be removed");
            }
            Ok(())
        }
        Err(e) if exchange_unsupported(&e) => {
            tracing::debug!(error = %e, "RENAME_EXCHANGE not supported here; replacing with two renames");
            replace_by_renames(ready, target, old, parent)
        }
        Err(source) => Err(SinkError::Rename {
            from: ready.to_path_buf(),
            to: target.to_path_buf(),
            source,
        }),
    }
}

/// Swaps two existing paths atomically (Linux `renameat2` with
/// `RENAME_EXCHANGE`; ENOSYS elsewhere).
#[cfg(target_os = "linux")]
pub(crate) fn exchange(a: &Path, b: &Path) -> io::Result<()> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let a = CString::new(a.as_os_str().as_bytes())?;
    let b = CString::new(b.as_os_str().as_bytes())?;
    // SAFETY: two NUL-terminated paths that outlive the call; the syscall
    // keeps no pointer to them.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_renameat2,
            libc::AT_FDCWD,
            a.as_ptr(),
            libc::AT_FDCWD,
            b.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    match rc {
        0 => Ok(()),
        _ => Err(io::Error::last_os_error()),
    }
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn exchange(_a: &Path, _b: &Path) -> io::Result<()> {
    Err(io::Error::from_raw_os_error(libc::ENOSYS))
}

/// The errors that mean "this kernel or filesystem cannot exchange", not
/// "this exchange failed".
fn exchange_unsupported(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EINVAL | libc::ENOSYS | libc::EOPNOTSUPP | libc::EPERM)
    )
}

/// The fallback of [`publish`]: `target` aside to `old`, `ready` in, `old`
/// removed; on failure the old snapshot is put back.
fn replace_by_renames(ready: &Path, target: &Path, old: &Path, parent: &Path) -> Result<(), SinkError> {
    if fs::symlink_metadata(old).is_ok() {
        tracing::warn!(path = %old.display(), "removing a leftover old snapshot from an earlier run");
        remove_any(old).map_err(SinkError::io(old))?;
    }
    rename(target, old)?;
    if let Err(err) = rename(ready, target) {
        if let Err(back) = fs::rename(old, target) {
            tracing::error!(old = %old.display(), target = %target.display(), error = %back,
                "could not put the previous snapshot back; it is still at the old path");
        }
        return Err(err);
    }
    sync_dir(parent)?;
    if let Err(e) = remove_any(old) {
        tracing::warn!(path = %old.display(), error = %e, "snapshot published, but the replaced one could not be removed");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// True when permission bits do not stop this process (root, CAP_DAC_OVERRIDE).
    fn permissions_ignored(dir: &Path) -> bool {
        let probe = dir.join("probe");
        let ok = File::create(&probe).is_ok();
        let _ = fs::remove_file(&probe);
        ok
    }

    #[test]
    fn names_table() {
        let cases: &[(&str, &str, &str)] = &[
            ("out/snap", "out", "out/.snap.orgsync-tmp"),
            ("snap", ".", "./.snap.orgsync-tmp"),
            ("/a/b/2026-01-01", "/a/b", "/a/b/.2026-01-01.orgsync-tmp"),
            ("out/snap/", "out", "out/.snap.orgsync-tmp"),
        ];
        for (target, parent, tmp) in cases {
            let (p, name) = split_target(Path::new(target)).unwrap();
            assert_eq!(p, Path::new(parent), "{target}");
            assert_eq!(sibling(&p, &name, "orgsync-tmp"), Path::new(tmp), "{target}");
        }
        assert!(matches!(split_target(Path::new("/")), Err(SinkError::BadTarget { .. })));
        assert!(matches!(
            split_target(Path::new("a/..")),
            Err(SinkError::BadTarget { .. })
        ));
    }

    #[test]
    fn check_target_table() {
        let dir = tempfile::tempdir().unwrap();
        let existing = dir.path().join("snap");
        fs::create_dir(&existing).unwrap();
        let file = dir.path().join("file");
        fs::write(&file, b"x").unwrap();

        assert!(matches!(check_target(&existing, false), Err(SinkError::TargetExists { path }) if path == existing));
        assert!(check_target(&existing, true).is_ok());
        assert!(check_target(&dir.path().join("new"), false).is_ok());
        assert!(check_target(&dir.path().join("a/b/c/new"), false).is_ok());
        assert!(!dir.path().join("a").exists(), "the check creates nothing");
        assert!(
            matches!(check_target(&file.join("snap"), false), Err(SinkError::NotADirectory { path }) if path == file)
        );
        let leftovers: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers.len(), 2, "probe file removed: {leftovers:?}");
    }

    #[test]
    fn check_target_unwritable_parent() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let locked = dir.path().join("locked");
        fs::create_dir(&locked).unwrap();
        fs::set_permissions(&locked, fs::Permissions::from_mode(0o555)).unwrap();
        let result = check_target(&locked.join("snap"), false);
        let ignored = permissions_ignored(&locked);
        fs::set_permissions(&locked, fs::Permissions::from_mode(0o755)).unwrap();
        if ignored {
            // Running as root: mode 555 does not stop writes, so the check
            // rightly passes; nothing more to assert here.
            assert!(result.is_ok());
            return;
        }
        let err = result.err().unwrap();
        let text = err.to_string();
        assert!(
            matches!(&err, SinkError::NotWritable { path, .. } if *path == locked),
            "{err:?}"
        );
        assert!(
            text.contains(&locked.display().to_string()) && text.contains("permissions"),
            "{text}"
        );
    }

    fn folder(path: &Path, file: &str, text: &str) {
        fs::create_dir_all(path).unwrap();
        fs::write(path.join(file), text).unwrap();
    }

    #[test]
    fn overwrite_swaps_the_new_snapshot_in_and_removes_the_old() {
        let dir = tempfile::tempdir().unwrap();
        let (ready, target, old) = (
            dir.path().join(".snap.tmp"),
            dir.path().join("snap"),
            dir.path().join(".snap.old"),
        );
        folder(&target, "old.txt", "old");
        folder(&ready, "new.txt", "new");
        publish(&ready, &target, &old, dir.path(), true).unwrap();
        assert_eq!(fs::read_to_string(target.join("new.txt")).unwrap(), "new");
        assert!(!target.join("old.txt").exists());
        assert!(!ready.exists() && !old.exists(), "nothing left beside it");
    }

    #[test]
    fn exchange_swaps_two_folders_in_one_step() {
        // The temp folder's filesystem (ext4, tmpfs, overlayfs...) supports
        // RENAME_EXCHANGE on Linux; a kernel or filesystem that does not is
        // what the fallback is for, tested below.
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        folder(&a, "x", "from a");
        folder(&b, "x", "from b");
        match exchange(&a, &b) {
            Ok(()) => {
                assert_eq!(fs::read_to_string(a.join("x")).unwrap(), "from b");
                assert_eq!(fs::read_to_string(b.join("x")).unwrap(), "from a");
            }
            Err(e) => assert!(exchange_unsupported(&e), "an unexpected error: {e}"),
        }
        let missing = exchange(&dir.path().join("none"), &b).unwrap_err();
        assert!(!exchange_unsupported(&missing), "ENOENT is a real failure: {missing}");
    }

    #[test]
    fn the_two_rename_fallback_replaces_too() {
        let dir = tempfile::tempdir().unwrap();
        let (ready, target, old) = (
            dir.path().join(".snap.tmp"),
            dir.path().join("snap"),
            dir.path().join(".snap.old"),
        );
        folder(&target, "old.txt", "old");
        folder(&ready, "new.txt", "new");
        folder(&old, "leftover", "x");
        replace_by_renames(&ready, &target, &old, dir.path()).unwrap();
        assert_eq!(fs::read_to_string(target.join("new.txt")).unwrap(), "new");
        assert!(!ready.exists() && !old.exists());
    }

    #[test]
    fn unsupported_errors_table() {
        let cases = [
            (libc::EINVAL, true),
            (libc::ENOSYS, true),
            (libc::EOPNOTSUPP, true),
            (libc::ENOENT, false),
            (libc::ENOSPC, false),
            (libc::EACCES, false),
        ];
        for (errno, want) in cases {
            assert_eq!(
                exchange_unsupported(&io::Error::from_raw_os_error(errno)),
                want,
                "{errno}"
            );
        }
    }

    #[test]
    fn publish_restores_the_old_target_when_rename_in_fails() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("snap");
        fs::create_dir(&target).unwrap();
        fs::write(target.join("old.txt"), b"old").unwrap();
        let old = dir.path().join(".snap.orgsync-old");
        let missing = dir.path().join("does-not-exist");
        let err = publish(&missing, &target, &old, dir.path(), true).err().unwrap();
        assert!(matches!(err, SinkError::Rename { .. }), "{err}");
        assert_eq!(fs::read(target.join("old.txt")).unwrap(), b"old");
        assert!(!old.exists());
    }
}
