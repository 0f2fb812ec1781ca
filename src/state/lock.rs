//! One run per job and per target at a time. [`acquire`] takes an exclusive
//! `flock(LOCK_EX | LOCK_NB)` on a small file under the state folder
//! (`<state>/locks/job-<name>.lock`, `<state>/locks/target-<sha256>.lock`
//! keyed by the resolved absolute target path) and writes the holder (pid,
//! run id, start, job) into it; the returned [`LockGuard`] releases it when
//! dropped. The kernel drops an flock when its process dies, so a run killed
//! with `kill -9` leaves no stale lock. A lock that is held makes
//! [`acquire`] fail at once with [`LockError::Busy`] naming the holder
//! (exit 5). Lock files are never removed: unlinking a locked file would let
//! a third run lock a new inode while the second still waits on the old one.
//! This file knows nothing of runs or requests; a later lock backend (object
//! store) can sit behind the same `acquire -> guard` shape.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::exit::{Exit, ExitStatus};

/// What a lock guards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockKey {
    /// Every run of the job of this name (one state folder).
    Job(String),
    /// Every run writing this snapshot folder, whatever its job.
    Target(PathBuf),
}

/// Who holds a lock: written into the lock file, read back by a run that
/// finds it taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub pid: u32,
    pub run_id: String,
    /// RFC 3339, UTC.
    pub started_at: String,
    pub job: String,
}

impl Holder {
    /// The one line stored in a lock file: `pid=.. run_id=.. started_at=.. job=..`.
    pub fn line(&self) -> String {
        format!(
            "pid={} run_id={} started_at={} job={}\n",
            self.pid,
            clean(&self.run_id),
            clean(&self.started_at),
            clean(&self.job)
        )
    }

    /// Reads a holder line back; `None` for anything that is not one (an
    /// empty file, a torn write, garbage). Never panics.
    pub fn parse(text: &str) -> Option<Holder> {
        let line = text.lines().next()?;
        let (mut pid, mut run_id, mut started_at, mut job) = (None, None, None, None);
        for field in line.split_whitespace() {
            let (key, value) = field.split_once('=')?;
            match key {
                "pid" => pid = Some(value.parse::<u32>().ok()?),
                "run_id" => run_id = Some(value.to_string()),
                "started_at" => started_at = Some(value.to_string()),
                "job" => job = Some(value.to_string()),
                _ => {}
            }
        }
        Some(Holder {
            pid: pid?,
            run_id: run_id?,
            started_at: started_at?,
            job: job?,
        })
    }
}

/// Values are single words in the line; whitespace would split them.
fn clean(value: &str) -> String {
    value.chars().map(|c| if c.is_whitespace() { '_' } else { c }).collect()
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another run holds the lock.
    #[error(
        "{what} is already being written by another run ({}); this run stopped before touching \
         anything: wait for that run to end, or stop it (lock file {})",
        describe(holder.as_deref()),
        path.display()
    )]
    Busy {
        /// "job fi_bulk" or "target /data/exports/fi".
        what: String,
        holder: Option<Box<Holder>>,
        path: PathBuf,
    },
    /// A lock object in a bucket stopped being ours while the run went
    /// (its renewal failed, or another run took it over): the run stops
    /// before publishing.
    #[error(
        "{what}: this run lost its lock {} ({reason}); it stopped before publishing so that two runs \
         never publish at once. Run again (with --resume to keep the finished parts) once the other \
         run is over",
        path.display()
    )]
    Lost {
        what: String,
        path: PathBuf,
        reason: String,
    },
    /// A lock object in a bucket could not be read or written.
    #[error("cannot lock {}: {reason} (check the bucket's permissions and AWS_ENDPOINT_URL)", path.display())]
    Store { path: PathBuf, reason: String },
    /// The lock file could not be created, opened or locked.
    #[error("cannot lock {}: {source} (check that the state folder is writable and on a local disk)", path.display())]
    Io { path: PathBuf, source: io::Error },
}

/// "job fi" or "target s3://b/x": what a lock of `key` guards.
pub fn what(key: &LockKey) -> String {
    match key {
        LockKey::Job(name) => format!("job {name}"),
        LockKey::Target(target) => format!("target {}", resolve(target).display()),
    }
}

fn describe(holder: Option<&Holder>) -> String {
    match holder {
        Some(h) => format!(
            "job {}, pid {}, run {}, started {}",
            h.job, h.pid, h.run_id, h.started_at
        ),
        None => "holder unknown: its lock file has no holder line yet".to_string(),
    }
}

impl ExitStatus for LockError {
    fn exit(&self) -> Exit {
        match self {
            LockError::Busy { .. } | LockError::Lost { .. } => Exit::Busy,
            LockError::Io { .. } | LockError::Store { .. } => Exit::Failed,
        }
    }
}

/// A held lock; dropping it (or the process ending, however it ends)
/// releases it.
#[derive(Debug)]
pub struct LockGuard {
    file: File,
    path: PathBuf,
}

impl LockGuard {
    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Replaces the holder line (a resumed run takes over the interrupted
    /// run's id and start).
    pub fn set_holder(&mut self, holder: &Holder) -> Result<(), LockError> {
        write_holder(&self.file, &self.path, holder)
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        // Closing the file releases the lock too; unlocking first makes the
        // release independent of any other copy of the descriptor.
        // SAFETY: flock on a descriptor this guard owns.
        unsafe {
            libc::flock(self.file.as_raw_fd(), libc::LOCK_UN);
        }
    }
}

/// The lock file of `key` under `state_dir`.
pub fn lock_path(state_dir: &Path, key: &LockKey) -> PathBuf {
    let dir = state_dir.join("locks");
    match key {
        LockKey::Job(name) => dir.join(format!("job-{name}.lock")),
        LockKey::Target(target) => {
            let digest = Sha256::digest(resolve(target).as_os_str().as_encoded_bytes());
            dir.join(format!("target-{}.lock", &crate::sink::hex(&digest)[..32]))
        }
    }
}

/// The absolute path of `target` with its nearest existing ancestor
/// canonicalized (symlinks and `..` resolved there), so two spellings of one
/// folder get one lock. A bucket URL (`s3://...`) is its own name, as it is.
pub fn resolve(target: &Path) -> PathBuf {
    if target.to_str().and_then(crate::sink::object::scheme).is_some() {
        return target.to_path_buf();
    }
    let abs = std::path::absolute(target).unwrap_or_else(|_| target.to_path_buf());
    let mut existing = abs.as_path();
    let mut rest = Vec::new();
    loop {
        if let Ok(mut path) = fs::canonicalize(existing) {
            for name in rest.iter().rev() {
                path.push(name);
            }
            return path;
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_os_string());
                existing = parent;
            }
            _ => return abs,
        }
    }
}

/// Takes the lock of `key` at once or fails: [`LockError::Busy`] naming the
/// holder when another run (of any process) has it. Creates the lock folder
/// and file if needed, and writes `holder` into the file once it is ours.
pub fn acquire(state_dir: &Path, key: &LockKey, holder: &Holder) -> Result<LockGuard, LockError> {
    let path = lock_path(state_dir, key);
    let io_error = |source| LockError::Io {
        path: path.clone(),
        source,
    };
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(io_error)?;
    }
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io_error)?;
    loop {
        // SAFETY: flock on a descriptor we own; no memory is passed.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc == 0 {
            break;
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::EWOULDBLOCK) => {
                return Err(LockError::Busy {
                    what: what(key),
                    holder: read_holder(&path).map(Box::new),
                    path,
                });
            }
            _ => return Err(io_error(err)),
        }
    }
    write_holder(&file, &path, holder)?;
    Ok(LockGuard { file, path })
}

fn write_holder(file: &File, path: &Path, holder: &Holder) -> Result<(), LockError> {
    let line = holder.line();
    file.set_len(0)
        .and_then(|()| file.write_all_at(line.as_bytes(), 0))
        .map_err(|source| LockError::Io {
            path: path.to_path_buf(),
            source,
        })
}

/// The holder named in a taken lock's file. The holder writes its line
/// right after locking, so a run that looks in that instant may find the
/// file empty: it looks a few more times, briefly.
fn read_holder(path: &Path) -> Option<Holder> {
    for _ in 0..10 {
        if let Some(h) = fs::read_to_string(path).ok().as_deref().and_then(Holder::parse) {
            return Some(h);
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    None
}

#[cfg(test)]
#[path = "lock_tests.rs"]
mod tests;
