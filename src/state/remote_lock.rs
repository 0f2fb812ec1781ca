//! The run lock when state lives in a bucket: one lock object per job
//! (`<state>/locks/job-<name>.lock`) and per target
//! (`<state>/locks/target-<sha256>.lock`), the same names as the local lock
//! files. [`acquire_remote`] creates it with a conditional put (create-only,
//! `If-None-Match: *`); a lock that exists is judged by its lease
//! (`lease.rs`): held is exit 5 naming the holder, stale is taken over by a
//! conditional replace on the ETag it was read with (of two runs taking
//! over at once, one wins). A background thread renews the lease every
//! lease/3, conditional on the ETag of its last write; when a renewal is
//! refused (another run took the lock) or none succeeded for a whole lease,
//! the lock is lost and [`RemoteLock::check`] fails (exit 5), which the run
//! asks before it publishes. Dropping the guard stops the renewals and
//! deletes the object. A run killed with `kill -9` leaves its object
//! behind: the next run waits out the lease (exit 5 until then).

use std::path::PathBuf;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use chrono::Utc;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion};

use super::lease::{LeaseRecord, Verdict, host_name, judge, renew_every, stamp};
use super::lock::{Holder, LockError, LockKey, lock_path, what};
use crate::sink::object::{Bucket, block, scrub};

/// What the renewal thread shares with the guard.
struct Shared {
    bucket: Bucket,
    key: ObjectPath,
    url: String,
    what: String,
    record: Mutex<LeaseRecord>,
    e_tag: Mutex<Option<String>>,
    /// Why the lock is no longer ours, once it is not.
    lost: Mutex<Option<String>>,
}

/// A held lock object, renewed until dropped.
pub struct RemoteLock {
    shared: Arc<Shared>,
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for RemoteLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteLock").field("url", &self.shared.url).finish()
    }
}

/// The object key of `key`'s lock under the state prefix (`locks/...`).
fn object_name(key: &LockKey) -> String {
    let file = lock_path(std::path::Path::new(""), key);
    file.to_string_lossy().into_owned()
}

enum Put {
    Done(Option<String>),
    Refused,
}

fn put(shared: &Shared, body: Vec<u8>, mode: PutMode) -> Result<Put, String> {
    let store = shared.bucket.store.clone();
    let key = shared.key.clone();
    let got = block(async move {
        store
            .put_opts(&key, PutPayload::from(body), PutOptions::from(mode))
            .await
    })?;
    match got {
        Ok(r) => Ok(Put::Done(r.e_tag)),
        Err(object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. }) => Ok(Put::Refused),
        Err(e) => Err(scrub(&e.to_string())),
    }
}

/// The lock object as it is: content, ETag and last-modified; `None` if gone.
type Found = (Vec<u8>, Option<String>, chrono::DateTime<Utc>);

fn read(shared: &Shared) -> Result<Option<Found>, String> {
    let store = shared.bucket.store.clone();
    let key = shared.key.clone();
    let got = block(async move {
        match store.get(&key).await {
            Ok(r) => {
                let meta = r.meta.clone();
                r.bytes()
                    .await
                    .map(|b| Some((b.to_vec(), meta.e_tag, meta.last_modified)))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    })?;
    got.map_err(|e| scrub(&e.to_string()))
}

/// Takes the lock object of `key` under `bucket`'s prefix for `holder`, or
/// fails: [`LockError::Busy`] (exit 5) while a live run holds it.
pub fn acquire_remote(
    bucket: &Bucket,
    key: &LockKey,
    holder: &Holder,
    lease: Duration,
) -> Result<RemoteLock, LockError> {
    let name = object_name(key);
    let url = format!("{}/{name}", bucket.url);
    let record = LeaseRecord::new(holder, &host_name(), Utc::now());
    let shared = Arc::new(Shared {
        bucket: bucket.clone(),
        key: ObjectPath::from(bucket.url.key(&name)),
        url: url.clone(),
        what: what(key),
        record: Mutex::new(record.clone()),
        e_tag: Mutex::new(None),
        lost: Mutex::new(None),
    });
    let store_err = |reason: String| LockError::Store {
        path: PathBuf::from(&url),
        reason,
    };
    let busy = |found: Option<&LeaseRecord>| LockError::Busy {
        what: what(key),
        holder: found.map(|r| Box::new(r.holder())),
        path: PathBuf::from(&url),
    };
    // A lock deleted between our create and our read is tried again.
    for _ in 0..3 {
        if let Put::Done(e_tag) = put(&shared, record.to_bytes(), PutMode::Create).map_err(store_err)? {
            *lock(&shared.e_tag) = e_tag;
            return Ok(start(shared, lease));
        }
        let Some((bytes, e_tag, modified)) = read(&shared).map_err(store_err)? else {
            continue;
        };
        let found = LeaseRecord::parse(&bytes);
        match judge(found.as_ref(), Some(modified), Utc::now(), lease, &record) {
            Verdict::Held => return Err(busy(found.as_ref())),
            Verdict::Stale | Verdict::Own => {
                let mode = PutMode::Update(UpdateVersion { e_tag, version: None });
                match put(&shared, record.to_bytes(), mode).map_err(store_err)? {
                    Put::Done(new_tag) => {
                        tracing::warn!(
                            lock = %url,
                            holder = found.as_ref().map_or("unreadable".to_string(), |r| r.run_id.clone()),
                            renewed_at = found.as_ref().map_or(String::new(), |r| r.renewed_at.clone()),
                            lease_secs = lease.as_secs(),
                            "took over a stale lock: its run stopped renewing it (killed?)"
                        );
                        *lock(&shared.e_tag) = new_tag;
                        return Ok(start(shared, lease));
                    }
                    // Another run took it over (or renewed it) first.
                    Put::Refused => return Err(busy(found.as_ref())),
                }
            }
        }
    }
    Err(store_err("the lock object kept appearing and vanishing".to_string()))
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Starts the renewal thread.
fn start(shared: Arc<Shared>, lease: Duration) -> RemoteLock {
    let (stop, stopped) = mpsc::channel::<()>();
    let renewing = shared.clone();
    let thread = std::thread::Builder::new()
        .name("orgsync-lock-renew".into())
        .spawn(move || renew_loop(&renewing, lease, &stopped))
        .map_err(|e| tracing::warn!(error = %e, "cannot start the lock renewal; the lock may go stale"))
        .ok();
    RemoteLock {
        shared,
        stop: Some(stop),
        thread,
    }
}

fn renew_loop(shared: &Shared, lease: Duration, stopped: &mpsc::Receiver<()>) {
    let mut last_ok = Instant::now();
    loop {
        match stopped.recv_timeout(renew_every(lease)) {
            Err(RecvTimeoutError::Timeout) => {}
            Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
        }
        let body = {
            let mut record = lock(&shared.record);
            record.renewed_at = stamp(Utc::now());
            record.to_bytes()
        };
        let e_tag = lock(&shared.e_tag).clone();
        let mode = PutMode::Update(UpdateVersion { e_tag, version: None });
        let reason = match put(shared, body, mode) {
            Ok(Put::Done(e_tag)) => {
                *lock(&shared.e_tag) = e_tag;
                last_ok = Instant::now();
                tracing::debug!(lock = %shared.url, "renewed the lock");
                continue;
            }
            Ok(Put::Refused) => "another run replaced the lock object".to_string(),
            Err(e) if last_ok.elapsed() < lease => {
                tracing::warn!(lock = %shared.url, error = %e, "could not renew the lock; trying again");
                continue;
            }
            Err(e) => format!("no renewal succeeded for a whole lease ({} s): {e}", lease.as_secs()),
        };
        tracing::error!(lock = %shared.url, reason = %reason, "lost the lock");
        *lock(&shared.lost) = Some(reason);
        return;
    }
}

impl RemoteLock {
    /// Fails (exit 5) once the lock is no longer this run's.
    pub fn check(&self) -> Result<(), LockError> {
        match lock(&self.shared.lost).clone() {
            None => Ok(()),
            Some(reason) => Err(LockError::Lost {
                what: self.shared.what.clone(),
                path: PathBuf::from(&self.shared.url),
                reason,
            }),
        }
    }

    /// Replaces the holder (a resumed run takes over the interrupted
    /// run's id and start); written with the next renewal.
    pub fn set_holder(&self, holder: &Holder) {
        let mut record = lock(&self.shared.record);
        record.run_id = holder.run_id.clone();
        record.started_at = holder.started_at.clone();
    }

    /// The lock object's URL.
    pub fn url(&self) -> &str {
        &self.shared.url
    }
}

impl Drop for RemoteLock {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        if lock(&self.shared.lost).is_some() {
            return; // Not ours any more: leave it to its new holder.
        }
        let store = self.shared.bucket.store.clone();
        let key = self.shared.key.clone();
        match block(async move { store.delete(&key).await }) {
            Ok(Ok(())) => tracing::debug!(lock = %self.shared.url, "released the lock"),
            Ok(Err(e)) => tracing::warn!(lock = %self.shared.url, error = %scrub(&e.to_string()),
                "could not delete the lock object; the next run takes it over once the lease is over"),
            Err(e) => tracing::warn!(lock = %self.shared.url, error = %e, "could not delete the lock object"),
        }
    }
}
