//! Sorted runs of key hashes on disk: a run is a file of distinct u64 keys,
//! ascending, 8 bytes each (little-endian), no header, written once and
//! never changed. In memory a run keeps only a sparse index (the first key
//! of every block of `block_keys` keys: 8 bytes per 512 keys by default), so
//! a lookup is a binary search of the index and one positioned read of one
//! block. Also: writing a run from sorted keys, reading it front to back,
//! merging two runs into a third. Runs are a cache: nothing here is
//! fsynced, the checkpoint's keys file is the source of truth (`dedup.rs`).

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// Buffer of the sequential writers and readers.
const IO_BUF: usize = 64 * 1024;

/// One immutable sorted run.
#[derive(Debug)]
pub(super) struct Run {
    path: PathBuf,
    file: File,
    len: u64,
    /// The first key of each block.
    index: Vec<u64>,
    block_keys: usize,
}

impl Run {
    /// Keys in the run.
    pub(super) fn len(&self) -> u64 {
        self.len
    }

    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// Whether `key` is in the run: the block it would be in is read into
    /// `buf` (at most `block_keys * 8` bytes) and searched.
    pub(super) fn contains(&self, key: u64, buf: &mut Vec<u8>) -> io::Result<bool> {
        let after = self.index.partition_point(|&first| first <= key);
        let Some(block) = after.checked_sub(1) else {
            return Ok(false);
        };
        if self.index[block] == key {
            return Ok(true);
        }
        let start = (block as u64).saturating_mul(self.block_keys as u64);
        let n = self.len.saturating_sub(start).min(self.block_keys as u64) as usize;
        buf.resize(n * 8, 0);
        self.file.read_exact_at(buf, start.saturating_mul(8))?;
        let at = |i: usize| {
            let mut k = [0u8; 8];
            k.copy_from_slice(&buf[i * 8..i * 8 + 8]);
            u64::from_le_bytes(k)
        };
        let (mut lo, mut hi) = (0usize, n);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match at(mid).cmp(&key) {
                std::cmp::Ordering::Equal => return Ok(true),
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
            }
        }
        Ok(false)
    }

    /// The run's keys, in order.
    pub(super) fn reader(&self) -> io::Result<RunReader> {
        Ok(RunReader {
            inner: BufReader::with_capacity(IO_BUF, File::open(&self.path)?),
            left: self.len,
        })
    }

    /// Deletes the run's file.
    pub(super) fn remove(self) -> io::Result<()> {
        drop(self.file);
        fs::remove_file(&self.path)
    }
}

/// Writes a run from keys given in ascending order.
pub(super) struct RunWriter {
    out: BufWriter<File>,
    path: PathBuf,
    len: u64,
    index: Vec<u64>,
    block_keys: usize,
    last: Option<u64>,
}

impl RunWriter {
    /// Creates (or truncates) the run file at `path`.
    pub(super) fn create(path: &Path, block_keys: usize) -> io::Result<RunWriter> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)?;
        Ok(RunWriter {
            out: BufWriter::with_capacity(IO_BUF, file),
            path: path.to_path_buf(),
            len: 0,
            index: Vec::new(),
            block_keys: block_keys.max(1),
            last: None,
        })
    }

    /// Appends `key`, which must be greater than the one before; an equal
    /// key is skipped (a run holds each key once).
    pub(super) fn push(&mut self, key: u64) -> io::Result<()> {
        match self.last {
            Some(last) if key == last => return Ok(()),
            Some(last) if key < last => {
                return Err(io::Error::other(format!(
                    "run keys out of order ({key:#x} after {last:#x}): a bug in orgsync"
                )));
            }
            _ => {}
        }
        if self.len.is_multiple_of(self.block_keys as u64) {
            self.index.push(key);
        }
        self.out.write_all(&key.to_le_bytes())?;
        self.len += 1;
        self.last = Some(key);
        Ok(())
    }

    /// Flushes the file and opens the run for lookups.
    pub(super) fn finish(self) -> io::Result<Run> {
        let file = self.out.into_inner().map_err(io::IntoInnerError::into_error)?;
        let mut index = self.index;
        index.shrink_to_fit();
        Ok(Run {
            path: self.path,
            file,
            len: self.len,
            index,
            block_keys: self.block_keys,
        })
    }
}

/// A run's keys front to back.
pub(super) struct RunReader {
    inner: BufReader<File>,
    left: u64,
}

impl Iterator for RunReader {
    type Item = io::Result<u64>;

    fn next(&mut self) -> Option<io::Result<u64>> {
        if self.left == 0 {
            return None;
        }
        let mut k = [0u8; 8];
        match self.inner.read_exact(&mut k) {
            Ok(()) => {
                self.left -= 1;
                Some(Ok(u64::from_le_bytes(k)))
            }
            Err(e) => {
                self.left = 0;
                Some(Err(e))
            }
        }
    }
}

/// Merges two runs into a new run at `path` (a key in both is kept once).
pub(super) fn merge(a: &Run, b: &Run, path: &Path, block_keys: usize) -> io::Result<Run> {
    let mut out = RunWriter::create(path, block_keys)?;
    let mut a = a.reader()?.peekable();
    let mut b = b.reader()?.peekable();
    loop {
        let next = match (a.peek(), b.peek()) {
            (None, None) => break,
            (Some(Err(_)), _) | (Some(_), None) => a.next(),
            (_, Some(Err(_))) | (None, Some(_)) => b.next(),
            (Some(Ok(x)), Some(Ok(y))) => {
                if x <= y {
                    a.next()
                } else {
                    b.next()
                }
            }
        };
        if let Some(key) = next {
            out.push(key?)?;
        }
    }
    out.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, keys: &[u64], block_keys: usize) -> Run {
        let mut w = RunWriter::create(&dir.join(name), block_keys).unwrap();
        for &k in keys {
            w.push(k).unwrap();
        }
        w.finish().unwrap()
    }

    #[test]
    fn lookups_table() {
        let dir = tempfile::tempdir().unwrap();
        let keys = [3u64, 5, 9, 10, 11, 40, 41, 100, u64::MAX];
        // Blocks of 1, 2, 4 and more keys than the run holds.
        for block_keys in [1, 2, 4, 64] {
            let run = write(dir.path(), &format!("r{block_keys}"), &keys, block_keys);
            assert_eq!(run.len(), keys.len() as u64);
            assert_eq!(fs::metadata(run.path()).unwrap().len(), 8 * keys.len() as u64);
            let mut buf = Vec::new();
            // (key, present)
            let cases = [
                (0, false),
                (3, true),
                (4, false),
                (9, true),
                (12, false),
                (41, true),
                (99, false),
                (100, true),
                (u64::MAX - 1, false),
                (u64::MAX, true),
            ];
            for (key, present) in cases {
                assert_eq!(
                    run.contains(key, &mut buf).unwrap(),
                    present,
                    "{key} in blocks of {block_keys}"
                );
            }
            let back: Vec<u64> = run.reader().unwrap().map(Result::unwrap).collect();
            assert_eq!(back, keys);
        }
    }

    #[test]
    fn writer_skips_repeats_and_refuses_disorder() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = RunWriter::create(&dir.path().join("r"), 2).unwrap();
        for k in [1, 1, 2] {
            w.push(k).unwrap();
        }
        let err = w.push(0).unwrap_err();
        assert!(err.to_string().contains("out of order"), "{err}");
        assert_eq!(w.finish().unwrap().len(), 2);
    }

    #[test]
    fn merge_interleaves_and_removes() {
        let dir = tempfile::tempdir().unwrap();
        let a = write(dir.path(), "a", &[1, 4, 6, 8], 2);
        let b = write(dir.path(), "b", &[2, 3, 6, 9, 10], 2);
        let m = merge(&a, &b, &dir.path().join("m"), 2).unwrap();
        let back: Vec<u64> = m.reader().unwrap().map(Result::unwrap).collect();
        assert_eq!(back, vec![1, 2, 3, 4, 6, 8, 9, 10]);
        let mut buf = Vec::new();
        assert!(m.contains(9, &mut buf).unwrap());
        assert!(!m.contains(5, &mut buf).unwrap());
        let path = a.path().to_path_buf();
        a.remove().unwrap();
        assert!(!path.exists());
        let empty = write(dir.path(), "e", &[], 2);
        assert!(!empty.contains(1, &mut buf).unwrap());
        let m2 = merge(&empty, &b, &dir.path().join("m2"), 3).unwrap();
        assert_eq!(m2.len(), 5);
    }
}
