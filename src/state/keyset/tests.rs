//! Tests of the key set as a whole: table-driven spill/merge/rebuild cases,
//! I/O failures that must not drop a key, and a proptest that the set (and
//! `Dedup` around it, across checkpoints and resumes) agrees exactly with
//! a `HashSet<u64>` oracle.

use std::collections::HashSet;
use std::path::Path;

use proptest::prelude::*;

use super::{KeySet, Limits, RUNS_DIR};
use crate::state::Dedup;

fn limits(recent_max: usize, block_keys: usize, max_runs: usize, min_capacity: u64) -> Limits {
    Limits {
        recent_max,
        block_keys,
        max_runs,
        min_capacity,
    }
}

/// Spread-out keys (the multiplier is odd: all distinct).
fn key(i: u64) -> u64 {
    i.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17)
}

#[test]
fn spills_merges_and_rebuilds_table() {
    // (recent_max, block_keys, max_runs, min_capacity, keys, most runs after)
    let cases: &[(usize, usize, usize, u64, u64, usize)] = &[
        (4, 2, 4, 1, 0, 0),
        (4, 2, 4, 1, 3, 0),
        (4, 2, 4, 1, 4, 1),
        (4, 2, 4, 1, 5, 1),
        (4, 1, 1, 1, 100, 1),
        (4, 3, 2, 2, 100, 2),
        (16, 4, 4, 8, 1000, 4),
        (1, 1, 3, 1, 50, 3),
        (1000, 64, 4, 1 << 20, 999, 0),
    ];
    for &(recent, block, max_runs, cap, n, most_runs) in cases {
        let dir = tempfile::tempdir().unwrap();
        let what = format!("recent {recent} block {block} max_runs {max_runs} cap {cap} n {n}");
        let mut set = KeySet::new(limits(recent, block, max_runs, cap)).in_dir(dir.path());
        for i in 0..n {
            assert!(set.insert(key(i)), "{what}: new key {i}");
        }
        assert_eq!(set.keys(), n, "{what}");
        assert!(set.runs() <= most_runs, "{what}: {} runs", set.runs());
        for i in 0..n {
            assert!(!set.insert(key(i)), "{what}: repeat {i}");
        }
        for i in n..n + 50 {
            assert!(set.insert(key(i)), "{what}: never-seen key {i}");
        }
        assert!(set.error().is_none(), "{what}: {:?}", set.error());
        // About a byte a key: the filter is sized for at most 1.5 times the keys.
        let most = (set.keys() + set.keys() / 2).max(cap) + 32;
        assert!(
            set.filter_bytes() as u64 <= most,
            "{what}: {} filter bytes",
            set.filter_bytes()
        );
        let runs_dir = dir.path().join(RUNS_DIR);
        assert_eq!(runs_dir.exists(), set.runs() > 0, "{what}");
        set.close().unwrap();
        assert!(!runs_dir.exists(), "{what}: close removes the runs");
    }
}

#[test]
fn a_leftover_runs_folder_is_replaced_and_a_dropped_set_removes_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let runs_dir = dir.path().join(RUNS_DIR);
    std::fs::create_dir(&runs_dir).unwrap();
    std::fs::write(runs_dir.join("run-000001.keys"), b"garbage!").unwrap();
    let mut set = KeySet::new(limits(2, 1, 2, 1)).in_dir(dir.path());
    for i in 0..10 {
        assert!(set.insert(key(i)));
    }
    assert!(!set.insert(key(3)), "the garbage run was not read");
    assert!(set.insert(u64::from_le_bytes(*b"garbage!")), "nor its key");
    drop(set);
    assert!(!runs_dir.exists());
}

#[test]
fn without_a_folder_the_runs_go_to_the_temp_folder_and_away() {
    let mut set = KeySet::new(limits(2, 1, 2, 1));
    for i in 0..10 {
        assert!(set.insert(key(i)));
    }
    let dir = set.dir().map(Path::to_path_buf).unwrap();
    assert!(
        dir.starts_with(std::env::temp_dir()) && dir.is_dir(),
        "{}",
        dir.display()
    );
    drop(set);
    assert!(!dir.exists());
}

#[test]
fn a_runs_folder_that_cannot_be_made_drops_no_key_and_fails_the_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    // A file where the folder should be made: no runs folder inside it.
    let blocker = dir.path().join("not-a-folder");
    std::fs::write(&blocker, b"x").unwrap();
    let mut d = Dedup::with_limits("id", limits(4, 2, 2, 1)).in_dir(&blocker);
    for i in 0..40 {
        assert!(d.keep_hash(key(i)), "new key {i}");
    }
    for i in 0..40 {
        assert!(!d.keep_hash(key(i)), "repeat {i}: the keys stayed in memory");
    }
    let err = d.flush(&dir.path().join("_checkpoint.keys")).unwrap_err().to_string();
    assert!(err.contains("not-a-folder") && err.contains("cannot write"), "{err}");
    let err = d.close().unwrap_err().to_string();
    assert!(err.contains("not-a-folder"), "{err}");
}

#[derive(Debug, Clone)]
enum Op {
    /// keep_hash of a key.
    Keep(u64),
    /// A checkpoint: flush to the keys file.
    Checkpoint,
    /// kill -9 and `--resume`: the set is rebuilt from the keys file and
    /// the last checkpoint's count.
    Resume,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        // Few distinct small keys: many repeats.
        20 => (0u64..64).prop_map(Op::Keep),
        10 => any::<u64>().prop_map(Op::Keep),
        1 => Just(Op::Checkpoint),
        1 => Just(Op::Resume),
    ]
}

fn small_limits() -> impl Strategy<Value = Limits> {
    (2usize..9, 1usize..5, 1usize..4, 1u64..10).prop_map(|(r, b, m, c)| limits(r, b, m, c))
}

// Few cases: each spill, merge, checkpoint (fsync) and resume touches files.
proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    #[test]
    fn agrees_with_a_hash_set_across_spills_merges_and_resumes(
        lim in small_limits(),
        ops in proptest::collection::vec(op(), 0..300),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let keys_file = dir.path().join("_checkpoint.keys");
        let mut d = Dedup::with_limits("id", lim).in_dir(dir.path());
        let mut oracle = HashSet::new();
        // The last checkpoint: its key count and the oracle then.
        let mut saved = (0u64, HashSet::new());
        let mut dropped = 0u64;
        for op in ops {
            match op {
                Op::Keep(k) => {
                    let new = oracle.insert(k);
                    dropped += u64::from(!new);
                    prop_assert_eq!(d.keep_hash(k), new, "key {}", k);
                }
                Op::Checkpoint => {
                    let count = d.flush(&keys_file).unwrap();
                    prop_assert_eq!(count, oracle.len() as u64);
                    saved = (count, oracle.clone());
                }
                Op::Resume => {
                    drop(d);
                    d = Dedup::with_limits("id", lim)
                        .in_dir(dir.path())
                        .resume(&keys_file, saved.0, 0)
                        .unwrap();
                    oracle = saved.1.clone();
                    dropped = 0;
                }
            }
            prop_assert_eq!(d.dropped(), dropped);
        }
        prop_assert!(d.seen_error().is_none());
        d.close().unwrap();
    }

    #[test]
    fn the_key_set_alone_agrees_with_a_hash_set(
        lim in small_limits(),
        keys in proptest::collection::vec(prop_oneof![0u64..32, any::<u64>()], 0..300),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut set = KeySet::new(lim).in_dir(dir.path());
        let mut oracle = HashSet::new();
        for k in keys {
            prop_assert_eq!(set.insert(k), oracle.insert(k), "key {}", k);
            prop_assert_eq!(set.keys(), oracle.len() as u64);
            prop_assert!(set.runs() <= lim.max_runs.max(1));
        }
    }
}
