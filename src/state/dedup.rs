//! De-duplication by `[query] key`: a record whose key was already written
//! is dropped and counted. Keys are kept as 64-bit hashes (the first 8
//! bytes of the sha256 of the key's JSON text: stable across builds, so a
//! checkpoint's keys stay valid for a resumed run; a collision needs ~4e9
//! records). Keys added since the last checkpoint are appended to the
//! checkpoint's keys file (8 bytes each, little-endian); the checkpoint
//! records how many of them are valid. Records without a key are kept.
//! In memory a key costs about 8 bytes: older keys sit in a sorted vector
//! (binary search), the most recent in a small hash set merged into it every
//! 64 Ki keys, so a million-record pull holds ~8 MB of keys, not a hash
//! table's ~18 MB (and twice that while it grows).

use std::collections::HashSet;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::error::StateError;
use crate::schema::FieldPath;

/// The stable 64-bit hash of a key value.
pub fn key_hash(value: &Value) -> u64 {
    hash_text(value.to_string().as_bytes())
}

/// The first 8 bytes of the sha256 of a key's JSON text, little-endian
/// (the hash of a key whose compact JSON text is `text`).
pub fn hash_text(text: &[u8]) -> u64 {
    let digest = Sha256::digest(text);
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_le_bytes(first)
}

/// Keys merged into the sorted vector at a time.
const RECENT_MAX: usize = 1 << 16;

/// A set of key hashes at about 8 bytes a key.
#[derive(Debug, Default)]
struct KeySet {
    /// Older keys, sorted, no repeats.
    sorted: Vec<u64>,
    /// Keys since the last merge.
    recent: HashSet<u64>,
}

impl KeySet {
    fn from_keys(mut keys: Vec<u64>) -> KeySet {
        keys.sort_unstable();
        keys.dedup();
        keys.shrink_to_fit();
        KeySet {
            sorted: keys,
            recent: HashSet::new(),
        }
    }

    /// True when `key` was not in the set (and now is).
    fn insert(&mut self, key: u64) -> bool {
        if self.sorted.binary_search(&key).is_ok() || !self.recent.insert(key) {
            return false;
        }
        if self.recent.len() >= RECENT_MAX {
            self.merge();
        }
        true
    }

    /// Move the recent keys into the sorted vector: sort them, grow the
    /// vector by exactly that many, merge from the back (no scratch copy of
    /// the vector).
    fn merge(&mut self) {
        let mut tail: Vec<u64> = self.recent.drain().collect();
        tail.sort_unstable();
        let n = self.sorted.len();
        self.sorted.reserve_exact(tail.len());
        self.sorted.resize(n + tail.len(), 0);
        let (mut i, mut j, mut k) = (n, tail.len(), n + tail.len());
        while j > 0 {
            if i > 0 && self.sorted[i - 1] > tail[j - 1] {
                self.sorted[k - 1] = self.sorted[i - 1];
                i -= 1;
            } else {
                self.sorted[k - 1] = tail[j - 1];
                j -= 1;
            }
            k -= 1;
        }
    }
}

/// The keys seen so far in one run.
#[derive(Debug)]
pub struct Dedup {
    key: FieldPath,
    seen: KeySet,
    /// The key's JSON text, reused from record to record.
    text: Vec<u8>,
    /// Added since the last `flush`, in order.
    pending: Vec<u64>,
    /// How many keys the keys file holds.
    flushed: u64,
    dropped: u64,
}

impl Dedup {
    pub fn new(key: &str) -> Dedup {
        Dedup::restore(key, Vec::new(), 0)
    }

    /// The state a checkpoint saved: its keys (see [`read_keys`]) and
    /// duplicates dropped.
    pub fn restore(key: &str, keys: Vec<u64>, dropped: u64) -> Dedup {
        Dedup {
            key: FieldPath::parse(key),
            flushed: keys.len() as u64,
            seen: KeySet::from_keys(keys),
            text: Vec::with_capacity(64),
            pending: Vec::new(),
            dropped,
        }
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
        if self.seen.insert(hash) {
            self.pending.push(hash);
            true
        } else {
            self.dropped += 1;
            false
        }
    }

    /// True when the record whose key hashes to `hash` ([`hash_text`] of
    /// the key's compact JSON text) is to be written: its key is new.
    pub fn keep_hash(&mut self, hash: u64) -> bool {
        if self.seen.insert(hash) {
            self.pending.push(hash);
            true
        } else {
            self.dropped += 1;
            false
        }
    }

    /// Keeps the records whose key is new (or missing), in order.
    pub fn retain(&mut self, records: &mut Vec<Value>) {
        records.retain(|r| self.keep(r));
    }

    /// Duplicates dropped so far.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Appends the keys added since the last flush to `path` (fsynced) and
    /// returns how many keys the file now holds.
    pub fn flush(&mut self, path: &Path) -> Result<u64, StateError> {
        if self.pending.is_empty() && (self.flushed > 0 || path.exists()) {
            return Ok(self.flushed);
        }
        let mut bytes = Vec::with_capacity(self.pending.len() * 8);
        for k in &self.pending {
            bytes.extend_from_slice(&k.to_le_bytes());
        }
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(StateError::write(path))?;
        file.write_all(&bytes).map_err(StateError::write(path))?;
        file.sync_all().map_err(StateError::write(path))?;
        self.flushed += self.pending.len() as u64;
        self.pending.clear();
        Ok(self.flushed)
    }
}

/// The first `count` keys of a keys file; the file is cut to them (keys
/// appended after the checkpoint was written belong to no finished part).
pub fn read_keys(path: &Path, count: u64) -> Result<Vec<u64>, StateError> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound && count == 0 => Vec::new(),
        Err(e) => return Err(StateError::read(path)(e)),
    };
    let want = usize::try_from(count.saturating_mul(8)).unwrap_or(usize::MAX);
    if bytes.len() < want {
        return Err(StateError::BadCheckpoint {
            path: path.to_path_buf(),
            reason: format!("it holds {} keys, the checkpoint says {count}", bytes.len() / 8),
        });
    }
    if bytes.len() > want {
        let file = OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(StateError::write(path))?;
        file.set_len(want as u64).map_err(StateError::write(path))?;
        file.sync_all().map_err(StateError::write(path))?;
    }
    Ok(bytes[..want]
        .chunks_exact(8)
        .map(|c| {
            let mut k = [0u8; 8];
            k.copy_from_slice(c);
            u64::from_le_bytes(k)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
    fn the_key_set_holds_every_key_across_merges() {
        let mut set = KeySet::default();
        // Spread-out keys, inserted out of order, across several merges.
        let key = |i: u64| i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let n = (RECENT_MAX as u64) * 3 + 17;
        for i in 0..n {
            assert!(set.insert(key(i)), "new key {i}");
        }
        assert!(set.sorted.windows(2).all(|w| w[0] < w[1]), "sorted, no repeats");
        assert_eq!(set.sorted.len() + set.recent.len(), n as usize);
        for i in (0..n).step_by(97) {
            assert!(!set.insert(key(i)), "repeat {i}");
        }
        assert!(set.insert(key(n)));
        let restored = KeySet::from_keys(vec![5, 3, 5, 9]);
        assert_eq!(restored.sorted, vec![3, 5, 9]);
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
