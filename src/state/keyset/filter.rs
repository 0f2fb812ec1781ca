//! The in-memory filter in front of the key set: a split-block Bloom filter
//! (the layout Parquet uses) over 64-bit key hashes, 8 bits a key at its
//! capacity. A key that was inserted is always reported as maybe present
//! (no false negatives); a key that was not is reported present with a
//! probability of about 2 % at capacity (less below it), and the key set
//! then asks the exact check. Does not grow by itself: the key set rebuilds
//! it bigger (see `set.rs`). Knows nothing of files.

use super::table::Table;

/// Bits of filter per key at capacity.
pub(super) const BITS_PER_KEY: u64 = 8;
/// Bits in one block: one cache line's half, eight 32-bit words.
const BLOCK_BITS: u64 = 256;
/// Most blocks a filter has (2^32 blocks = 128 GiB: never reached in practice;
/// it keeps the block arithmetic in range).
const MAX_BLOCKS: u64 = 1 << 32;
/// Parquet's split-block Bloom filter salts: one odd multiplier per word.
const SALT: [u32; 8] = [
    0x47b6_137b,
    0x4497_4d91,
    0x8824_ad5b,
    0xa2b7_289d,
    0x7054_95c7,
    0x2df1_424b,
    0x9efc_4947,
    0x5c6b_fb31,
];

/// A split-block Bloom filter sized for `capacity` keys.
#[derive(Debug)]
pub(super) struct Filter {
    blocks: Table<[u32; 8]>,
    capacity: u64,
}

impl Filter {
    /// An empty filter of `capacity.max(1) * BITS_PER_KEY` bits (rounded up
    /// to whole blocks), zeroed, on huge pages from 1 MiB on (`table.rs`).
    pub(super) fn with_capacity(capacity: u64) -> Filter {
        let blocks = capacity
            .max(1)
            .saturating_mul(BITS_PER_KEY)
            .div_ceil(BLOCK_BITS)
            .clamp(1, MAX_BLOCKS);
        let blocks = usize::try_from(blocks).unwrap_or(usize::MAX >> 6);
        Filter {
            blocks: Table::zeroed(blocks),
            capacity: capacity.max(1),
        }
    }

    /// The number of keys the filter was sized for.
    pub(super) fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Bytes the filter holds.
    pub(super) fn bytes(&self) -> usize {
        self.blocks.len() * 32
    }

    pub(super) fn insert(&mut self, key: u64) {
        let (block, x) = self.locate(key);
        let words = &mut self.blocks[block];
        for (word, salt) in words.iter_mut().zip(SALT) {
            *word |= bit(x, salt);
        }
    }

    /// Asks the CPU to start loading `key`'s block, so that a lookup a few
    /// keys later finds it in cache. The filter is bigger than the caches
    /// (1 MiB at its smallest) and its blocks are read at random: without
    /// this, each lookup waited for memory (perf, the bench's job: ~4% of
    /// the run in `may_contain`, while `insert` of the same block right
    /// after cost ~0.1%). A hint only: nothing is read or changed.
    pub(super) fn prefetch(&self, key: u64) {
        let (block, _) = self.locate(key);
        prefetch_line(&self.blocks[block]);
    }

    /// False: the key was never inserted. True: it may have been.
    pub(super) fn may_contain(&self, key: u64) -> bool {
        let (block, x) = self.locate(key);
        let words = &self.blocks[block];
        words.iter().zip(SALT).all(|(word, salt)| word & bit(x, salt) != 0)
    }

    /// The block a key falls in (from its high 32 bits) and the 32 bits that
    /// choose its bit in each word. The key is mixed first: hashes from
    /// `keep_hash` callers need not be uniform for the filter to work.
    fn locate(&self, key: u64) -> (usize, u32) {
        let h = mix(key);
        let n = self.blocks.len() as u64;
        // (h >> 32) < 2^32 and n <= 2^32: the product fits in 64 bits.
        let block = ((h >> 32).wrapping_mul(n) >> 32) as usize;
        (block, h as u32)
    }
}

fn bit(x: u32, salt: u32) -> u32 {
    1 << (x.wrapping_mul(salt) >> 27)
}

/// SplitMix64's finalizer: a bijection that spreads every input bit.
/// Asks the CPU to start loading the cache line holding `data` (x86-64;
/// nothing elsewhere). A hint only: nothing is read or changed. Shared by
/// the filter and the recent keys (`recent.rs`).
#[inline]
pub(super) fn prefetch_line<T>(data: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch never faults and does not access memory in the
    // language's sense; the pointer comes from a live reference anyway.
    unsafe {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        _mm_prefetch::<_MM_HINT_T0>(std::ptr::from_ref(data).cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = data;
}

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_table() {
        // (capacity, blocks)
        let cases: &[(u64, usize)] = &[(0, 1), (1, 1), (32, 1), (33, 2), (1 << 20, 1 << 15)];
        for &(capacity, blocks) in cases {
            let f = Filter::with_capacity(capacity);
            assert_eq!(f.blocks.len(), blocks, "capacity {capacity}");
            assert_eq!(f.bytes(), blocks * 32);
        }
        assert_eq!(Filter::with_capacity(0).capacity(), 1);
    }

    #[test]
    fn no_false_negatives_and_few_false_positives_at_capacity() {
        let n = 100_000u64;
        let mut f = Filter::with_capacity(n);
        // Sequential keys: the filter mixes them itself.
        for k in 0..n {
            f.insert(k);
        }
        assert!((0..n).all(|k| f.may_contain(k)), "an inserted key is always found");
        let false_positives = (n..2 * n).filter(|&k| f.may_contain(k)).count();
        // About 2 % expected at 8 bits a key; 4 % would mean a broken layout.
        assert!(
            false_positives < (n / 25) as usize,
            "{false_positives} false positives of {n}"
        );
        assert!(false_positives > 0, "8 bits a key cannot be exact");
    }

    proptest::proptest! {
        /// A prefetch is a hint: any key, on a filter of any size, changes
        /// no answer and panics nowhere.
        #[test]
        fn prefetch_changes_nothing(
            capacity in 0u64..5_000,
            inserted in proptest::collection::vec(proptest::num::u64::ANY, 0..200),
            asked in proptest::collection::vec(proptest::num::u64::ANY, 0..200),
        ) {
            let mut f = Filter::with_capacity(capacity);
            for &k in &inserted {
                f.insert(k);
            }
            let before: Vec<bool> = asked.iter().map(|&k| f.may_contain(k)).collect();
            let blocks = f.blocks.to_vec();
            for &k in inserted.iter().chain(&asked) {
                f.prefetch(k);
            }
            proptest::prop_assert_eq!(&f.blocks[..], &blocks[..]);
            let after: Vec<bool> = asked.iter().map(|&k| f.may_contain(k)).collect();
            proptest::prop_assert_eq!(before, after);
            proptest::prop_assert!(inserted.iter().all(|&k| f.may_contain(k)));
        }
    }
}
