//! De-duplication by `[query] key`: a record whose key was already written
//! is dropped and counted. Keys are kept as 64-bit hashes (the first 8
//! bytes of the sha256 of the key's JSON text: stable across builds, so a
//! checkpoint's keys stay valid for a resumed run; a collision needs ~4e9
//! records). Records without a key are kept.
//!
//! The checkpoint's keys file (8 bytes a key, little-endian, in the order
//! the keys were first seen) is the source of truth: the checkpoint records
//! how many of its keys are valid; keys past that count belong to no
//! finished part and a resume cuts them off. Keys are appended to it at
//! each checkpoint (fsynced) and, once its path is known (`in_dir`), every
//! 64 Ki new keys in between (not fsynced: the checkpoint's count covers them only
//! after the next fsync). In memory the keys sit in a [`KeySet`] (Bloom
//! filter + recent keys; sorted runs in `<checkpoint folder>/_dedup_runs/`),
//! about 1-1.5 bytes a key instead of 8; a resumed run rebuilds the runs
//! from the keys file, streaming it. Does not decide where the keys file
//! lives (the checkpointer does).

use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::error::StateError;
use super::keyset::{KeySet, Limits, RUNS_DIR};
use crate::schema::FieldPath;
use crate::sink::KEYS_FILE;

/// The stable 64-bit hash of a key value.
pub fn key_hash(value: &Value) -> u64 {
    hash_text(value.to_string().as_bytes())
}

/// The first 8 bytes of the sha256 of a key's JSON text, little-endian
/// (the hash of a key whose compact JSON text is `text`).
pub fn hash_text(text: &[u8]) -> u64 {
    if let Some(first) = one_block_prefix(text) {
        return first;
    }
    let digest = Sha256::digest(text);
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_le_bytes(first)
}

/// sha256's initial state (FIPS 180-4, 5.3.3).
const SHA256_IV: [u32; 8] = [
    0x6a09_e667,
    0xbb67_ae85,
    0x3c6e_f372,
    0xa54f_f53a,
    0x510e_527f,
    0x9b05_688c,
    0x1f83_d9ab,
    0x5be0_cd19,
];

/// [`hash_text`] of a text of at most 55 bytes (every key of real records):
/// sha256's one padded block (FIPS 180-4, 5.1.1: the text, a 1 bit, zeros,
/// the length in bits as a big-endian u64) through one compression, without
/// the streaming digest's buffering; the first 8 bytes of the digest are
/// the first two words of the state, big-endian. `None` for longer texts.
fn one_block_prefix(text: &[u8]) -> Option<u64> {
    let len = text.len();
    if len > 55 {
        return None;
    }
    let mut block = [0u8; 64];
    block[..len].copy_from_slice(text);
    block[len] = 0x80;
    block[56..].copy_from_slice(&((len as u64) * 8).to_be_bytes());
    let mut state = SHA256_IV;
    sha2::compress256(&mut state, &[block.into()]);
    let mut first = [0u8; 8];
    first[..4].copy_from_slice(&state[0].to_be_bytes());
    first[4..].copy_from_slice(&state[1].to_be_bytes());
    Some(u64::from_le_bytes(first))
}

/// New keys held before they are appended to a known keys file.
const PENDING_MAX: usize = 1 << 16;

/// The keys seen so far in one run.
#[derive(Debug)]
pub struct Dedup {
    key: FieldPath,
    seen: KeySet,
    /// The key's JSON text, reused from record to record.
    text: Vec<u8>,
    /// Added since they were last appended to the keys file, in order.
    pending: Vec<u64>,
    /// How many keys the keys file holds.
    flushed: u64,
    /// The keys file, once `in_dir`, a flush or a resume named it.
    keys_file: Option<PathBuf>,
    /// False: no keys file will be written, `pending` stays empty.
    track_pending: bool,
    /// Keys were appended without an fsync since the last flush.
    unsynced: bool,
    /// The first failed append, kept: every later flush fails with it.
    failed: Option<(PathBuf, io::ErrorKind, String)>,
    dropped: u64,
}

impl Dedup {
    pub fn new(key: &str) -> Dedup {
        Dedup::with_limits(key, Limits::from_env())
    }

    /// A set with other bounds (tests force spills with small ones).
    pub fn with_limits(key: &str, limits: Limits) -> Dedup {
        Dedup {
            key: FieldPath::parse(key),
            seen: KeySet::new(limits),
            text: Vec::with_capacity(64),
            pending: Vec::new(),
            flushed: 0,
            keys_file: None,
            track_pending: true,
            unsynced: false,
            failed: None,
            dropped: 0,
        }
    }

    /// Spill the key runs into `<dir>/_dedup_runs/` (the checkpoint's
    /// folder; removed by [`Self::close`] or when dropped) instead of a
    /// folder in the system's temp folder.
    pub fn in_dir(mut self, dir: &Path) -> Dedup {
        self.seen = self.seen.in_dir(dir);
        self.keys_file = Some(dir.join(KEYS_FILE));
        self
    }

    /// No keys file will ever be written (a run without checkpoints): the
    /// new keys are not kept for one.
    pub fn without_keys_file(mut self) -> Dedup {
        self.track_pending = false;
        self
    }

    /// The state a checkpoint saved: its keys (see [`read_keys`]) and
    /// duplicates dropped. Holds the keys in memory first: a resume should
    /// use [`Self::resume`], which streams the keys file.
    pub fn restore(key: &str, keys: Vec<u64>, dropped: u64) -> Dedup {
        let mut d = Dedup::new(key);
        for k in &keys {
            d.seen.insert(*k);
        }
        d.flushed = keys.len() as u64;
        d.dropped = dropped;
        d
    }

    /// Continues from a checkpoint: the first `count` keys of the keys file
    /// `path` (the file is cut to them: keys appended after the checkpoint
    /// belong to no finished part), streamed into the set, and the
    /// duplicates dropped so far. Call it after [`Self::in_dir`].
    pub fn resume(mut self, path: &Path, count: u64, dropped: u64) -> Result<Dedup, StateError> {
        for_each_key(path, count, |k| {
            self.seen.insert(k);
        })?;
        self.flushed = count;
        self.dropped = dropped;
        self.keys_file = Some(path.to_path_buf());
        Ok(self)
    }

    /// True when `record` is to be written: its key is new, or it has none.
    pub fn keep(&mut self, record: &Value) -> bool {
        let value = self.key.extract(record);
        if value.is_null() {
            return true;
        }
        self.text.clear();
        // Writing to a Vec cannot fail.
        let _ = value.write_json(&mut self.text);
        let hash = hash_text(&self.text);
        self.keep_hash(hash)
    }

    /// A hint that [`Dedup::keep_hash`] of `hash` comes soon (a few keys
    /// ahead): the memory it reads starts loading. Changes nothing.
    pub fn prefetch(&self, hash: u64) {
        self.seen.prefetch(hash);
    }

    /// [`Self::keep`] for a key already hashed (by [`hash_text`] of its
    /// JSON text): true when the hash is new (and now remembered), false
    /// for a duplicate (counted in [`Self::dropped`]).
    pub fn keep_hash(&mut self, hash: u64) -> bool {
        if !self.seen.insert(hash) {
            self.dropped += 1;
            return false;
        }
        if !self.track_pending {
            return true;
        }
        self.pending.push(hash);
        if self.pending.len() >= PENDING_MAX && self.failed.is_none() {
            self.append_pending();
        }
        true
    }

    /// Keeps the records whose key is new (or missing), in order.
    pub fn retain(&mut self, records: &mut Vec<Value>) {
        records.retain(|r| self.keep(r));
    }

    /// Duplicates dropped so far.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Keys remembered, bytes of the in-memory filter, runs on disk (for
    /// benches and logs).
    pub fn memory(&self) -> (u64, usize, usize) {
        (self.seen.keys(), self.seen.filter_bytes(), self.seen.runs())
    }

    /// Appends the keys added since the last flush to `path` (fsynced) and
    /// returns how many keys the file now holds. Fails, from then on, if an
    /// earlier append or the key runs failed (the run must stop: its
    /// checkpoint would not match the keys file).
    pub fn flush(&mut self, path: &Path) -> Result<u64, StateError> {
        self.check()?;
        if self.keys_file.is_none() {
            self.keys_file = Some(path.to_path_buf());
        }
        if self.pending.is_empty() && !self.unsynced && (self.flushed > 0 || path.exists()) {
            return Ok(self.flushed);
        }
        let file = append(path, &self.pending).map_err(StateError::write(path))?;
        file.sync_all().map_err(StateError::write(path))?;
        self.flushed += self.pending.len() as u64;
        self.pending.clear();
        self.unsynced = false;
        Ok(self.flushed)
    }

    /// Removes the key runs (before the snapshot folder is published);
    /// fails like [`Self::flush`] if the set went wrong.
    pub fn close(self) -> Result<(), StateError> {
        self.check()?;
        let (keys, filter_bytes, runs) = self.memory();
        tracing::debug!(keys, filter_bytes, runs, dropped = self.dropped, "de-duplication done");
        let dir = self.seen.dir().map(Path::to_path_buf);
        self.seen
            .close()
            .map_err(StateError::write(dir.unwrap_or_else(|| PathBuf::from(RUNS_DIR))))
    }

    /// The key set's first I/O error, if any (tests).
    #[cfg(test)]
    pub(crate) fn seen_error(&self) -> Option<String> {
        self.seen.error().map(|(p, e)| format!("{}: {e}", p.display()))
    }

    /// The kept error of an append or of the key runs, if any.
    fn check(&self) -> Result<(), StateError> {
        if let Some((path, kind, message)) = &self.failed {
            return Err(StateError::Write {
                path: path.clone(),
                source: io::Error::new(*kind, message.clone()),
            });
        }
        if let Some((path, e)) = self.seen.error() {
            return Err(StateError::Write {
                path: path.to_path_buf(),
                source: io::Error::new(e.kind(), e.to_string()),
            });
        }
        Ok(())
    }

    /// Appends the pending keys to the known keys file, without an fsync.
    fn append_pending(&mut self) {
        let Some(path) = self.keys_file.clone() else {
            return;
        };
        match append(&path, &self.pending) {
            Ok(_) => {
                self.flushed += self.pending.len() as u64;
                self.pending.clear();
                self.unsynced = true;
            }
            Err(e) => self.failed = Some((path, e.kind(), e.to_string())),
        }
    }
}

/// Appends `keys` to `path` (8 bytes each, little-endian), creating it.
fn append(path: &Path, keys: &[u64]) -> io::Result<File> {
    let mut bytes = Vec::with_capacity(keys.len() * 8);
    for k in keys {
        bytes.extend_from_slice(&k.to_le_bytes());
    }
    let mut file = OpenOptions::new().create(true).append(true).open(path)?;
    file.write_all(&bytes)?;
    Ok(file)
}

/// The first `count` keys of a keys file; the file is cut to them (keys
/// appended after the checkpoint was written belong to no finished part).
/// Holds them all in memory: [`Dedup::resume`] streams instead.
pub fn read_keys(path: &Path, count: u64) -> Result<Vec<u64>, StateError> {
    let mut keys = Vec::with_capacity(usize::try_from(count).unwrap_or(0).min(1 << 20));
    for_each_key(path, count, |k| keys.push(k))?;
    Ok(keys)
}

/// Calls `f` with each of the first `count` keys of the keys file `path`,
/// in order, after cutting the file to them. A missing file is empty.
fn for_each_key(path: &Path, count: u64, mut f: impl FnMut(u64)) -> Result<(), StateError> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound && count == 0 => return Ok(()),
        Err(e) => return Err(StateError::read(path)(e)),
    };
    let len = file.metadata().map_err(StateError::read(path))?.len();
    let want = count.saturating_mul(8);
    if len < want {
        return Err(StateError::BadCheckpoint {
            path: path.to_path_buf(),
            reason: format!("it holds {} keys, the checkpoint says {count}", len / 8),
        });
    }
    if len > want {
        let file = OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(StateError::write(path))?;
        file.set_len(want).map_err(StateError::write(path))?;
        file.sync_all().map_err(StateError::write(path))?;
    }
    let mut reader = BufReader::with_capacity(64 * 1024, file);
    let mut k = [0u8; 8];
    for _ in 0..count {
        reader.read_exact(&mut k).map_err(StateError::read(path))?;
        f(u64::from_le_bytes(k));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;
    use std::fs;

    /// The streaming digest's answer, which every checkpoint's keys were
    /// written with.
    fn digest_prefix(text: &[u8]) -> u64 {
        let digest = Sha256::digest(text);
        u64::from_le_bytes(digest[..8].try_into().unwrap())
    }

    /// The one-block hash against known sha256 digests and the streaming
    /// digest, at the lengths where the padding changes.
    #[test]
    fn one_block_hash_table() {
        // (text, first 8 bytes of its sha256, as hex)
        let known: [(&[u8], &str); 3] = [
            (b"", "e3b0c44298fc1c14"),
            (b"abc", "ba7816bf8f01cfea"),
            (b"\"FI12345678\"", ""),
        ];
        for (text, hex) in known {
            let want = digest_prefix(text);
            if !hex.is_empty() {
                let bytes: Vec<u8> = (0..8)
                    .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
                    .collect();
                assert_eq!(want, u64::from_le_bytes(bytes.try_into().unwrap()), "{text:?}");
            }
            assert_eq!(hash_text(text), want, "{text:?}");
        }
        for len in [54, 55, 56, 63, 64, 65, 119, 120] {
            let text = vec![b'k'; len];
            assert_eq!(hash_text(&text), digest_prefix(&text), "len {len}");
            assert_eq!(one_block_prefix(&text).is_some(), len <= 55, "len {len}");
        }
    }

    proptest! {
        /// Any text, either side of the one-block limit: the same hash as
        /// the streaming digest (a resumed run's keys file stays valid).
        #[test]
        fn hash_text_equals_the_streaming_digest(text in prop::collection::vec(any::<u8>(), 0..130)) {
            prop_assert_eq!(hash_text(&text), digest_prefix(&text));
        }
    }

    #[test]
    fn drops_repeated_keys_across_pages() {
        let mut d = Dedup::new("id");
        let mut page1 = vec![json!({"id": "a"}), json!({"id": "b"}), json!({"id": null})];
        let mut page2 = vec![json!({"id": "b"}), json!({"id": "c"}), json!({})];
        d.retain(&mut page1);
        d.retain(&mut page2);
        assert_eq!(page1.len(), 3, "records without a key are kept");
        assert_eq!(page2, vec![json!({"id": "c"}), json!({})]);
        assert_eq!(d.dropped(), 1);
    }

    #[test]
    fn the_key_set_holds_every_key_across_spills() {
        let dir = tempfile::tempdir().unwrap();
        let limits = Limits {
            recent_max: 64,
            block_keys: 8,
            max_runs: 3,
            min_capacity: 16,
        };
        let mut d = Dedup::with_limits("id", limits).in_dir(dir.path());
        // Spread-out keys, inserted out of order, across many spills.
        let key = |i: u64| i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let n = 64 * 40 + 17;
        for i in 0..n {
            assert!(d.keep_hash(key(i)), "new key {i}");
        }
        assert!(d.seen.runs() >= 1 && d.seen.runs() <= 3, "{} runs", d.seen.runs());
        assert!(dir.path().join(RUNS_DIR).is_dir());
        for i in (0..n).step_by(7) {
            assert!(!d.keep_hash(key(i)), "repeat {i}");
        }
        assert!(d.keep_hash(key(n)));
        assert_eq!(d.dropped(), n.div_ceil(7));
        d.close().unwrap();
        assert!(!dir.path().join(RUNS_DIR).exists(), "close removes the runs");
    }

    #[test]
    fn records_hash_their_key_like_key_hash_does() {
        // keep() hashes the key's text from a buffer; key_hash() from a Value:
        // the keys file must not depend on which one computed a key.
        for (record, key) in [
            (json!({"id": "FI1"}), json!("FI1")),
            (json!({"id": 12}), json!(12)),
            (json!({"id": {"a": [1, "x"]}}), json!({"a": [1, "x"]})),
        ] {
            let mut d = Dedup::new("id");
            assert!(d.keep(&record));
            assert_eq!(d.pending, vec![key_hash(&key)], "{record}");
        }
        let mut d = Dedup::new("tags.code");
        assert!(d.keep(&json!({"tags": [{"code": "62"}, {"code": "63"}]})));
        assert_eq!(d.pending, vec![key_hash(&json!(["62", "63"]))]);
    }

    #[test]
    fn key_hashes_are_stable_and_typed() {
        // Fixed values: a resumed run (maybe a newer build) must agree.
        // sha256 of `"FI0000001"` starts 0f 0d 1a 05 2a 67 8c 20.
        assert_eq!(key_hash(&json!("FI0000001")), 0x208c_672a_051a_0d0f);
        assert_ne!(key_hash(&json!("1")), key_hash(&json!(1)), "a string is not a number");
    }

    #[test]
    fn keys_reach_the_keys_file_between_checkpoints_and_a_resume_cuts_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(KEYS_FILE);
        let mut d = Dedup::new("id").in_dir(dir.path());
        let n = PENDING_MAX as u64 + 10;
        for k in 0..n {
            assert!(d.keep_hash(k));
        }
        // (when, keys in the file)
        let size = |p: &Path| fs::metadata(p).map_or(0, |m| m.len() / 8);
        assert_eq!(size(&path), PENDING_MAX as u64, "appended without a checkpoint");
        assert_eq!(d.pending.len(), 10);
        assert_eq!(d.flush(&path).unwrap(), n);
        assert_eq!(size(&path), n);
        for k in n..n + PENDING_MAX as u64 {
            d.keep_hash(k);
        }
        assert_eq!(size(&path), n + PENDING_MAX as u64);
        drop(d); // killed before the next checkpoint
        let mut r = Dedup::new("id").in_dir(dir.path()).resume(&path, n, 0).unwrap();
        assert_eq!(size(&path), n, "cut to the checkpoint's count");
        assert!(!r.keep_hash(n - 1), "checkpointed key");
        assert!(r.keep_hash(n), "key after the checkpoint is new again");
        r.close().unwrap();

        let mut o = Dedup::new("id").without_keys_file();
        for k in 0..3 {
            assert!(o.keep_hash(k));
        }
        assert!(!o.keep_hash(1));
        assert!(o.pending.is_empty(), "nothing kept for a keys file");
        assert_eq!(o.dropped(), 1);
    }

    #[test]
    fn flush_then_restore_keeps_only_the_checkpointed_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("_checkpoint.keys");
        let mut d = Dedup::new("id");
        for id in ["a", "b", "a"] {
            d.keep(&json!({"id": id}));
        }
        assert_eq!(d.flush(&path).unwrap(), 2);
        assert_eq!(d.flush(&path).unwrap(), 2, "nothing new: nothing appended");
        d.keep(&json!({"id": "c"}));
        assert_eq!(d.flush(&path).unwrap(), 3);
        d.keep(&json!({"id": "d"}));
        assert_eq!(d.flush(&path).unwrap(), 4);
        assert_eq!(fs::metadata(&path).unwrap().len(), 32);

        // The checkpoint said 3: "d" belongs to no finished part.
        let keys = read_keys(&path, 3).unwrap();
        assert_eq!(fs::metadata(&path).unwrap().len(), 24, "file cut to the checkpoint");
        let mut r = Dedup::restore("id", keys, d.dropped());
        assert_eq!(r.dropped(), 1);
        let cases = [("a", false), ("c", false), ("d", true), ("e", true), ("d", false)];
        for (id, keep) in cases {
            assert_eq!(r.keep(&json!({"id": id})), keep, "{id}");
        }
        assert_eq!(r.dropped(), 4, "1 before the checkpoint, a c d after");

        let err = read_keys(&path, 10).err().unwrap();
        assert!(err.to_string().contains("holds 3 keys"), "{err}");
        assert_eq!(read_keys(&dir.path().join("missing"), 0).unwrap(), Vec::<u64>::new());
    }
}
