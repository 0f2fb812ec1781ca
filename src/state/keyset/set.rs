//! [`KeySet`]: an exact set of 64-bit key hashes whose memory does not grow
//! at 8 bytes a key. The most recent keys sit in a hash table (`recent.rs`,
//! at most `recent_max`, 64 Ki by default: 1 MiB); when it is full they are sorted and
//! written out as an immutable run file (`run.rs`), and runs are merged so
//! there are only a few (at most `max_runs`; like a binary counter, a run
//! is merged into the one before it once that one is no bigger). Every key
//! is also in a Bloom filter (`filter.rs`, 1 byte a key). A key the filter
//! has never seen is new: no disk access. A key the filter may have seen is
//! looked up exactly: in the recent set, then in each run (one positioned
//! read of one block). So a key is reported as seen only when it really is
//! in the set: the filter can only add lookups, never drop a key.
//!
//! An I/O error on the runs (disk full, ...) never drops a key either: the
//! set stops spilling (the recent set then grows in memory), a lookup it
//! cannot finish answers "new", and the error is kept for [`KeySet::error`],
//! which the checkpoint turns into a failed run. Does not know the keys
//! file or the records: see `dedup.rs`.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::filter::Filter;
use super::recent::Recent;
use super::run::{Run, RunWriter, merge};

/// The sizes that bound a key set. Tests shrink them to force spills,
/// merges and filter rebuilds with a few keys.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Keys held in the recent hash table before they are spilled to a run.
    pub recent_max: usize,
    /// Keys per block of a run (one positioned read per lookup).
    pub block_keys: usize,
    /// Most runs kept; more are merged.
    pub max_runs: usize,
    /// Keys the first filter is sized for.
    pub min_capacity: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            recent_max: 1 << 16,
            block_keys: 512,
            max_runs: 4,
            min_capacity: 1 << 20,
        }
    }
}

/// Test knob: the recent keys held before a spill (integration tests set
/// it small to exercise runs, merges and resumes through the binary with a
/// few thousand records). Unset or not a positive number: the default.
pub const SPILL_KEYS_VAR: &str = "ORGSYNC_DEDUP_SPILL_KEYS";

impl Limits {
    /// The default limits, with [`SPILL_KEYS_VAR`] applied.
    pub fn from_env() -> Limits {
        let mut limits = Limits::default();
        let knob = std::env::var(SPILL_KEYS_VAR).ok();
        if let Some(n) = knob.and_then(|v| v.trim().parse::<usize>().ok()).filter(|&n| n > 0) {
            limits.recent_max = n;
            limits.block_keys = (n / 4).clamp(1, limits.block_keys);
        }
        limits
    }
}

/// Name of the runs folder inside a directory given to [`KeySet::in_dir`].
pub const RUNS_DIR: &str = "_dedup_runs";

/// An exact set of u64 keys: a Bloom filter and a small hash set in memory,
/// sorted runs on disk.
#[derive(Debug)]
pub struct KeySet {
    limits: Limits,
    recent: Recent,
    filter: Filter,
    /// False after a filter rebuild failed half-way: every lookup is exact.
    filter_complete: bool,
    /// Distinct keys in the set.
    keys: u64,
    /// Oldest (biggest) first.
    runs: Vec<Run>,
    /// Where the runs folder goes (`None`: the system's temp folder).
    base: Option<PathBuf>,
    /// The runs folder, once made (removed when the set is dropped).
    dir: Option<PathBuf>,
    next_run: u64,
    buf: Vec<u8>,
    error: Option<(PathBuf, io::Error)>,
}

/// Tells runs folders of the same process apart.
static FOLDERS: AtomicU64 = AtomicU64::new(0);

impl KeySet {
    pub fn new(limits: Limits) -> KeySet {
        KeySet {
            limits,
            recent: Recent::with_capacity(limits.recent_max),
            filter: Filter::with_capacity(limits.min_capacity),
            filter_complete: true,
            keys: 0,
            runs: Vec::new(),
            base: None,
            dir: None,
            next_run: 0,
            buf: Vec::new(),
            error: None,
        }
    }

    /// Runs go into `<dir>/_dedup_runs/` (made at the first spill, after
    /// removing a leftover one) instead of a folder in the system's temp
    /// folder.
    pub fn in_dir(mut self, dir: &Path) -> KeySet {
        self.base = Some(dir.to_path_buf());
        self
    }

    /// Distinct keys in the set.
    pub fn keys(&self) -> u64 {
        self.keys
    }

    /// The runs folder, once made.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// Runs on disk now.
    pub fn runs(&self) -> usize {
        self.runs.len()
    }

    /// Bytes the filter holds (the set's main memory cost).
    pub fn filter_bytes(&self) -> usize {
        self.filter.bytes()
    }

    /// The first I/O error on the runs, if any (the set still answered
    /// every lookup without dropping a key, see the module header).
    pub fn error(&self) -> Option<(&Path, &io::Error)> {
        self.error.as_ref().map(|(p, e)| (p.as_path(), e))
    }

    /// True when `key` was not in the set (and now is).
    /// A hint that `key` will be [`KeySet::insert`]ed soon: its filter
    /// block and its slot in the recent keys start loading (see
    /// `Filter::prefetch`, `Recent::prefetch`).
    pub fn prefetch(&self, key: u64) {
        self.filter.prefetch(key);
        self.recent.prefetch(key);
    }

    pub fn insert(&mut self, key: u64) -> bool {
        if (!self.filter_complete || self.filter.may_contain(key)) && self.contains_exact(key) {
            return false;
        }
        self.recent.insert(key);
        self.filter.insert(key);
        self.keys += 1;
        if self.keys > self.filter.capacity() {
            self.grow_filter();
        }
        if self.recent.len() >= self.limits.recent_max && self.error.is_none() {
            self.spill();
        }
        true
    }

    /// Whether `key` is in the set, without the filter. A run that cannot
    /// be read counts as not holding it.
    fn contains_exact(&mut self, key: u64) -> bool {
        if self.recent.contains(key) {
            return true;
        }
        let mut failed = None;
        for run in &self.runs {
            match run.contains(key, &mut self.buf) {
                Ok(true) => return true,
                Ok(false) => {}
                Err(e) => {
                    failed = Some((run.path().to_path_buf(), e));
                    break;
                }
            }
        }
        if let Some((path, e)) = failed {
            self.fail(path, e);
        }
        false
    }

    fn fail(&mut self, path: PathBuf, e: io::Error) {
        tracing::warn!(path = %path.display(), error = %e, "de-duplication key runs unusable");
        self.error.get_or_insert((path, e));
    }

    /// Resizes the filter to 1.5 times the keys (bounded steps: the
    /// rebuild reads every key once, so the total read stays below 3 times
    /// the keys) and fills it from the recent set and the runs.
    fn grow_filter(&mut self) {
        let capacity = self.keys.saturating_add(self.keys / 2).max(self.limits.min_capacity);
        // The old filter goes first: both at once would double the peak.
        self.filter = Filter::with_capacity(capacity);
        self.filter_complete = false;
        for k in self.recent.iter() {
            self.filter.insert(k);
        }
        let mut failed = None;
        'runs: for run in &self.runs {
            let reader = match run.reader() {
                Ok(r) => r,
                Err(e) => {
                    failed = Some((run.path().to_path_buf(), e));
                    break;
                }
            };
            for key in reader {
                match key {
                    Ok(k) => self.filter.insert(k),
                    Err(e) => {
                        failed = Some((run.path().to_path_buf(), e));
                        break 'runs;
                    }
                }
            }
        }
        match failed {
            Some((path, e)) => self.fail(path, e),
            None => self.filter_complete = true,
        }
    }

    /// The runs folder, made on first use.
    fn runs_dir(&mut self) -> io::Result<PathBuf> {
        if let Some(dir) = &self.dir {
            return Ok(dir.clone());
        }
        let dir = match &self.base {
            Some(base) => base.join(RUNS_DIR),
            None => std::env::temp_dir().join(format!(
                "orgsync-dedup-{}-{}",
                std::process::id(),
                FOLDERS.fetch_add(1, Ordering::Relaxed)
            )),
        };
        if std::fs::symlink_metadata(&dir).is_ok() {
            std::fs::remove_dir_all(&dir)?;
        }
        std::fs::create_dir_all(&dir)?;
        self.dir = Some(dir.clone());
        Ok(dir)
    }

    fn run_path(&mut self, dir: &Path) -> PathBuf {
        self.next_run += 1;
        dir.join(format!("run-{:06}.keys", self.next_run))
    }

    /// Writes the recent keys out as a run, then merges runs.
    fn spill(&mut self) {
        let dir = match self.runs_dir() {
            Ok(d) => d,
            Err(e) => {
                let path = self.base.clone().unwrap_or_else(std::env::temp_dir).join(RUNS_DIR);
                return self.fail(path, e);
            }
        };
        let path = self.run_path(&dir);
        let mut keys: Vec<u64> = self.recent.iter().collect();
        keys.sort_unstable();
        let written = RunWriter::create(&path, self.limits.block_keys).and_then(|mut w| {
            keys.iter().try_for_each(|&k| w.push(k))?;
            w.finish()
        });
        match written {
            Ok(run) => {
                self.runs.push(run);
                self.recent.clear();
                self.compact(&dir);
            }
            Err(e) => {
                let _ = std::fs::remove_file(&path);
                self.fail(path, e);
            }
        }
    }

    /// Merges the two newest runs while the one before the newest is no
    /// bigger than it, or there are too many: at most `max_runs` runs, and
    /// a key is rewritten about log2(keys / recent_max) times in all.
    fn compact(&mut self, dir: &Path) {
        loop {
            let n = self.runs.len();
            if n < 2 || (self.runs[n - 2].len() > self.runs[n - 1].len() && n <= self.limits.max_runs.max(1)) {
                return;
            }
            let path = self.run_path(dir);
            match merge(&self.runs[n - 2], &self.runs[n - 1], &path, self.limits.block_keys) {
                Ok(merged) => {
                    let newest = self.runs.pop();
                    let older = self.runs.pop();
                    self.runs.push(merged);
                    for run in [newest, older].into_iter().flatten() {
                        let p = run.path().to_path_buf();
                        if let Err(e) = run.remove() {
                            tracing::warn!(path = %p.display(), error = %e, "cannot remove a merged key run");
                        }
                    }
                }
                Err(e) => {
                    // Both inputs stay: the set is still exact, only slower.
                    let _ = std::fs::remove_file(&path);
                    return self.fail(path, e);
                }
            }
        }
    }

    /// Removes the runs folder; the set is gone.
    pub fn close(mut self) -> io::Result<()> {
        self.runs.clear();
        match self.dir.take() {
            Some(dir) => std::fs::remove_dir_all(&dir).or_else(|e| match e.kind() {
                io::ErrorKind::NotFound => Ok(()),
                _ => Err(e),
            }),
            None => Ok(()),
        }
    }
}

impl Drop for KeySet {
    fn drop(&mut self) {
        self.runs.clear();
        if let Some(dir) = self.dir.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}
