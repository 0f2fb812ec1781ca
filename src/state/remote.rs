//! State in a bucket (`--state-dir s3://bucket/prefix`): a local working
//! copy (a fresh temporary folder, removed at the end) that every state
//! code path reads and writes as before, hydrated from the bucket per job
//! before the job reads its state, and mirrored back with [`RemoteState::sync`]
//! right after each state or checkpoint write. Only a job's own names
//! travel: `<job>.json`, the pointer `<job>.checkpoint.json`, and the
//! checkpoint folder `<job>.orgsync-tmp/` of a run into a bucket target.
//! The bucket copy is never torn: a sync uploads the checkpoint folder's
//! other files first, its `_checkpoint.json` next, the pointer after it
//! (the pointer names what is valid), the state file last; it deletes the
//! pointer before anything else it deletes. A pointer's temporary folder
//! inside the working copy is stored relative to it, so a fresh pod finds
//! it under its own working copy. Changed files are uploaded whole (the
//! de-duplication keys too). Locks are `remote_lock.rs`'s.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use futures_util::TryStreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use super::error::StateError;
use super::lease::{LEASE_ENV, lease_from};
use super::lock::{Holder, LockError, LockKey};
use super::paths::{last_run_path, pointer_path};
use super::remote_lock::{RemoteLock, acquire_remote};
use crate::sink::CHECKPOINT_FILE;
use crate::sink::object::{self, Bucket, ObjectUrl, block, scrub};

/// What a file was like when it was last uploaded (or downloaded).
type Stamp = (u64, Option<SystemTime>);

/// The bucket copy of the state and its local working copy.
pub struct RemoteState {
    bucket: Bucket,
    root: PathBuf,
    lease: Duration,
    /// Working-copy files (relative, `/`-separated) as last mirrored.
    pushed: Mutex<BTreeMap<String, Stamp>>,
}

impl std::fmt::Debug for RemoteState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteState")
            .field("url", &self.bucket.url.to_string())
            .field("root", &self.root)
            .finish()
    }
}

/// The folder of a checkpoint kept in the state folder (runs into a bucket).
pub fn checkpoint_dir(state_dir: &Path, job: &str) -> PathBuf {
    state_dir.join(format!("{job}.orgsync-tmp"))
}

fn remote_err(url: impl std::fmt::Display, what: &str, e: impl std::fmt::Display) -> StateError {
    StateError::Remote {
        url: url.to_string(),
        reason: scrub(&format!("{what}: {e}")),
    }
}

impl RemoteState {
    /// Connects to the bucket of `url` (`s3://bucket/prefix`) and makes an
    /// empty working copy. Nothing is sent yet. A bad URL or lease is exit 2.
    pub fn open(url: &str) -> Result<RemoteState, StateError> {
        let bad = |reason: String| StateError::RemoteConfig {
            url: url.to_string(),
            reason,
        };
        let parsed = ObjectUrl::parse(url).map_err(bad)?;
        let lease = lease_from(std::env::var(LEASE_ENV).ok().as_deref()).map_err(bad)?;
        let bucket = object::connect(&parsed).map_err(|e| bad(e.to_string()))?;
        let root = std::env::temp_dir().join(format!(
            "orgsync-state-{}-{}",
            std::process::id(),
            chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()
        ));
        fs::create_dir_all(&root).map_err(StateError::write(&root))?;
        Ok(RemoteState {
            bucket,
            root,
            lease,
            pushed: Mutex::new(BTreeMap::new()),
        })
    }

    /// The working copy: what the run uses as its state folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `s3://bucket/prefix`.
    pub fn url(&self) -> String {
        self.bucket.url.to_string()
    }

    /// Takes the lock object of `key` (exit 5 while a live run holds it).
    pub fn lock(&self, key: &LockKey, holder: &Holder) -> Result<RemoteLock, LockError> {
        acquire_remote(&self.bucket, key, holder, self.lease)
    }

    /// Whether `rel` (a working-copy path) belongs to `job`.
    fn owned(job: &str, rel: &str) -> bool {
        rel == format!("{job}.json")
            || rel == format!("{job}.checkpoint.json")
            || rel == format!("{job}.export.json")
            || rel.starts_with(&format!("{job}.orgsync-tmp/"))
    }

    fn list(&self) -> Result<Vec<String>, StateError> {
        let store = self.bucket.store.clone();
        let prefix = ObjectPath::from(self.bucket.url.prefix.as_str());
        let metas = block(async move { store.list(Some(&prefix)).try_collect::<Vec<_>>().await })
            .map_err(|e| remote_err(self.url(), "cannot list the state", e))?
            .map_err(|e| remote_err(self.url(), "cannot list the state", e))?;
        let skip = self.bucket.url.prefix.len().saturating_add(1);
        Ok(metas
            .into_iter()
            .filter_map(|m| m.location.as_ref().get(skip..).map(str::to_string))
            .collect())
    }

    /// Copies `job`'s state, pointer and checkpoint folder from the bucket
    /// into the working copy (replacing what was there).
    pub fn hydrate(&self, job: &str) -> Result<(), StateError> {
        let names: Vec<String> = self.list()?.into_iter().filter(|n| Self::owned(job, n)).collect();
        for rel in &names {
            let store = self.bucket.store.clone();
            let key = ObjectPath::from(self.bucket.url.key(rel));
            let url = format!("{}/{rel}", self.url());
            let bytes = block(async move { store.get(&key).await?.bytes().await })
                .map_err(|e| remote_err(&url, "cannot read", e))?
                .map_err(|e| remote_err(&url, "cannot read", e))?;
            let local = self.root.join(rel);
            let bytes = match rel.ends_with(".checkpoint.json") {
                true => local_pointer(&self.root, &bytes),
                false => bytes.to_vec(),
            };
            if let Some(dir) = local.parent() {
                fs::create_dir_all(dir).map_err(StateError::write(dir))?;
            }
            fs::write(&local, &bytes).map_err(StateError::write(&local))?;
            lock(&self.pushed).insert(rel.clone(), stamp(&local));
        }
        if !names.is_empty() {
            tracing::info!(state = %self.url(), job, files = names.len(), "read the job's state from the bucket");
        }
        Ok(())
    }

    /// Mirrors `job`'s files of the working copy into the bucket: uploads
    /// what changed (checkpoint folder, its checkpoint, the pointer, the
    /// state file, in that order), then deletes what is gone (the pointer
    /// first).
    pub fn sync(&self, job: &str) -> Result<(), StateError> {
        let mut order = Vec::new();
        // The async export being read (`mode = "export"`), first: it exists
        // before any checkpoint names it.
        let export = super::export_file_path(&self.root, job);
        if export.is_file() {
            order.push(rel_name(&self.root, &export));
        }
        let dir = checkpoint_dir(&self.root, job);
        let mut inside: Vec<String> = match fs::read_dir(&dir) {
            Ok(entries) => entries
                .flatten()
                .filter(|e| e.path().is_file())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| !n.starts_with('.'))
                .collect(),
            Err(_) => Vec::new(),
        };
        inside.sort_by_key(|n| (n == CHECKPOINT_FILE, n.clone()));
        order.extend(inside.into_iter().map(|n| format!("{job}.orgsync-tmp/{n}")));
        for path in [pointer_path(&self.root, job), last_run_path(&self.root, job)] {
            if path.is_file() {
                order.push(rel_name(&self.root, &path));
            }
        }
        for rel in &order {
            let local = self.root.join(rel);
            let now = stamp(&local);
            if lock(&self.pushed).get(rel) == Some(&now) {
                continue;
            }
            let bytes = fs::read(&local).map_err(StateError::read(&local))?;
            let bytes = match rel.ends_with(".checkpoint.json") {
                true => bucket_pointer(&self.root, &bytes),
                false => bytes,
            };
            self.put(rel, bytes)?;
            lock(&self.pushed).insert(rel.clone(), now);
        }
        let mut gone: Vec<String> = lock(&self.pushed)
            .keys()
            .filter(|k| Self::owned(job, k) && !order.contains(k))
            .cloned()
            .collect();
        gone.sort_by_key(|n| {
            (
                !n.ends_with(".checkpoint.json"),
                !n.ends_with(CHECKPOINT_FILE),
                n.clone(),
            )
        });
        for rel in gone {
            self.delete(&rel)?;
            lock(&self.pushed).remove(&rel);
        }
        Ok(())
    }

    fn put(&self, rel: &str, bytes: Vec<u8>) -> Result<(), StateError> {
        let store = self.bucket.store.clone();
        let key = ObjectPath::from(self.bucket.url.key(rel));
        let url = format!("{}/{rel}", self.url());
        block(async move { store.put(&key, PutPayload::from(bytes)).await })
            .map_err(|e| remote_err(&url, "cannot write", e))?
            .map_err(|e| remote_err(&url, "cannot write", e))?;
        tracing::debug!(file = %url, "mirrored a state file to the bucket");
        Ok(())
    }

    fn delete(&self, rel: &str) -> Result<(), StateError> {
        let store = self.bucket.store.clone();
        let key = ObjectPath::from(self.bucket.url.key(rel));
        let url = format!("{}/{rel}", self.url());
        match block(async move { store.delete(&key).await }).map_err(|e| remote_err(&url, "cannot delete", e))? {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(remote_err(&url, "cannot delete", e)),
        }
    }
}

/// A pointer as stored in the bucket: its `temp_dir` relative when it is
/// inside the working copy `root`.
fn bucket_pointer(root: &Path, bytes: &[u8]) -> Vec<u8> {
    map_temp_dir(bytes, |p| p.strip_prefix(root).ok().map(Path::to_path_buf))
}

/// A pointer from the bucket: a relative `temp_dir` put under `root`.
fn local_pointer(root: &Path, bytes: &[u8]) -> Vec<u8> {
    map_temp_dir(bytes, |p| p.is_relative().then(|| root.join(p)))
}

fn map_temp_dir(bytes: &[u8], f: impl Fn(&Path) -> Option<PathBuf>) -> Vec<u8> {
    let Ok(mut value) = serde_json::from_slice::<serde_json::Value>(bytes) else {
        return bytes.to_vec(); // Left as it is: loading it reports the problem.
    };
    let new = value
        .get("temp_dir")
        .and_then(|t| t.as_str())
        .and_then(|t| f(Path::new(t)));
    match new {
        Some(new) => {
            value["temp_dir"] = serde_json::Value::String(new.to_string_lossy().into_owned());
            serde_json::to_vec_pretty(&value).unwrap_or_else(|_| bytes.to_vec())
        }
        None => bytes.to_vec(),
    }
}

impl Drop for RemoteState {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.root);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn stamp(path: &Path) -> Stamp {
    match fs::metadata(path) {
        Ok(m) => (m.len(), m.modified().ok()),
        Err(_) => (0, None),
    }
}

fn rel_name(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .to_string_lossy()
        .replace('\\', "/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointer_temp_dir_table() {
        let root = Path::new("/tmp/orgsync-state-1-2");
        let text = |dir: &str| format!(r#"{{"job":"fi","run_id":"r","target":"s3://b/x","temp_dir":"{dir}"}}"#);
        let temp_dir = |bytes: &[u8]| -> String {
            let v: serde_json::Value = serde_json::from_slice(bytes).unwrap();
            v["temp_dir"].as_str().unwrap().to_string()
        };
        let cases = [
            // (local temp_dir, as stored in the bucket, as read back on another root)
            (
                "/tmp/orgsync-state-1-2/fi.orgsync-tmp",
                "fi.orgsync-tmp",
                "/pod2/fi.orgsync-tmp",
            ),
            (
                "/data/exports/.fi.orgsync-tmp",
                "/data/exports/.fi.orgsync-tmp",
                "/data/exports/.fi.orgsync-tmp",
            ),
        ];
        for (local, stored, back) in cases {
            let up = bucket_pointer(root, text(local).as_bytes());
            assert_eq!(temp_dir(&up), stored, "{local}");
            let down = local_pointer(Path::new("/pod2"), &up);
            assert_eq!(temp_dir(&down), back, "{local}");
        }
        for junk in [&b"not json"[..], b"{}", b"{\"temp_dir\": 3}"] {
            assert_eq!(local_pointer(root, junk), junk, "left as it is");
            assert_eq!(bucket_pointer(root, junk), junk, "left as it is");
        }
    }

    #[test]
    fn owned_names_table() {
        let cases = [
            ("fi.json", true),
            ("fi.checkpoint.json", true),
            ("fi.export.json", true),
            ("fi.orgsync-tmp/_checkpoint.json", true),
            ("fi.orgsync-tmp/_checkpoint.keys", true),
            ("fi_bulk.json", false),
            ("fi.orgsync-tmp", false),
            ("locks/job-fi.lock", false),
            ("se.json", false),
        ];
        for (rel, want) in cases {
            assert_eq!(RemoteState::owned("fi", rel), want, "{rel}");
        }
    }
}
