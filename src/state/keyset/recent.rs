//! The recent keys of a [`KeySet`](super::KeySet): a hash table of `u64`
//! with open addressing (linear probing). Unlike `std`'s `HashSet` it can
//! say where a key's slot is before the key is inserted, so
//! `KeySet::prefetch` starts loading it a few rows ahead: at its default
//! size the table is 1 MiB read at random, and each insert otherwise waits
//! for memory (`HashSet::insert` was ~2% of a Parquet run with a key).
//! A slot holding 0 is empty; the key 0 is held in a flag beside.

use super::table::Table;

/// Slots a table starts with (it doubles past half full).
const MIN_SLOTS: usize = 1 << 10;

/// Spreads the bits of keys that are not uniform (the golden ratio's
/// multiplier; the slot is read from the high bits).
const MIX: u64 = 0x9E37_79B9_7F4A_7C15;

#[derive(Debug)]
pub(super) struct Recent {
    /// A power of two of them, at most half full.
    slots: Table<u64>,
    /// Keys held, the key 0 included.
    len: usize,
    zero: bool,
}

impl Recent {
    /// Room for `keys` keys before the table grows.
    pub fn with_capacity(keys: usize) -> Recent {
        let slots = keys.saturating_mul(2).clamp(MIN_SLOTS, 1 << 40).next_power_of_two();
        Recent {
            slots: Table::zeroed(slots),
            len: 0,
            zero: false,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// The slot a key's probe starts at.
    #[inline]
    fn home(&self, key: u64) -> usize {
        let bits = self.slots.len().trailing_zeros();
        (key.wrapping_mul(MIX) >> (64 - bits)) as usize
    }

    /// A hint that `key` will be looked up or inserted soon: its slot starts
    /// loading into the cache. Changes nothing else.
    #[inline]
    pub fn prefetch(&self, key: u64) {
        super::filter::prefetch_line(&self.slots[self.home(key)]);
    }

    pub fn contains(&self, key: u64) -> bool {
        if key == 0 {
            return self.zero;
        }
        let mask = self.slots.len() - 1;
        let mut i = self.home(key);
        loop {
            match self.slots[i] {
                0 => return false,
                k if k == key => return true,
                _ => i = (i + 1) & mask,
            }
        }
    }

    /// True when `key` was not held (and now is).
    pub fn insert(&mut self, key: u64) -> bool {
        if key == 0 {
            let new = !self.zero;
            self.zero = true;
            self.len += usize::from(new);
            return new;
        }
        if self.len.saturating_add(1).saturating_mul(2) > self.slots.len() {
            self.grow();
        }
        let mask = self.slots.len() - 1;
        let mut i = self.home(key);
        loop {
            match self.slots[i] {
                0 => {
                    self.slots[i] = key;
                    self.len += 1;
                    return true;
                }
                k if k == key => return false,
                _ => i = (i + 1) & mask,
            }
        }
    }

    /// Twice the slots, every key placed again.
    fn grow(&mut self) {
        let slots = Table::zeroed(self.slots.len().saturating_mul(2));
        let old = std::mem::replace(&mut self.slots, slots);
        let zero = self.zero;
        self.len = usize::from(zero);
        for k in old.iter().copied().filter(|&k| k != 0) {
            self.insert(k);
        }
    }

    /// Every key held, in no order.
    pub fn iter(&self) -> impl Iterator<Item = u64> + '_ {
        self.zero
            .then_some(0)
            .into_iter()
            .chain(self.slots.iter().copied().filter(|&k| k != 0))
    }

    /// Forgets every key (the slots stay allocated).
    pub fn clear(&mut self) {
        self.slots.fill(0);
        self.len = 0;
        self.zero = false;
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use proptest::prelude::*;

    use super::*;

    #[test]
    fn table() {
        let mut r = Recent::with_capacity(4);
        // (key, inserted as new)
        let steps = [
            (5, true),
            (5, false),
            (0, true),
            (0, false),
            (u64::MAX, true),
            (1, true),
            (5, false),
        ];
        for (key, new) in steps {
            assert_eq!(r.insert(key), new, "insert {key}");
            assert!(r.contains(key));
        }
        assert_eq!(r.len(), 4);
        assert!(!r.contains(2));
        let mut all: Vec<u64> = r.iter().collect();
        all.sort_unstable();
        assert_eq!(all, vec![0, 1, 5, u64::MAX]);
        r.clear();
        assert_eq!(
            (r.len(), r.iter().count(), r.contains(0), r.contains(5)),
            (0, 0, false, false)
        );
    }

    #[test]
    fn grows_past_half_full_and_keeps_every_key() {
        let mut r = Recent::with_capacity(0);
        let start = r.slots.len();
        for k in 0..(start as u64 * 3) {
            assert!(r.insert(k * 7));
        }
        assert!(r.slots.len() > start);
        assert!(r.len() * 2 <= r.slots.len());
        assert!((0..(start as u64 * 3)).all(|k| r.contains(k * 7)));
    }

    proptest! {
        /// Any keys (clustered ones too: small and equal-high-bit ones),
        /// inserted and looked up in any order, with prefetches between:
        /// the same answers as `HashSet`.
        #[test]
        fn agrees_with_hash_set(
            ops in prop::collection::vec((0u8..4, prop_oneof![0u64..64, any::<u64>(), (0u64..64).prop_map(|k| k << 58)]), 0..400),
            capacity in 0usize..100,
        ) {
            let mut r = Recent::with_capacity(capacity);
            let mut want = HashSet::new();
            for (op, key) in ops {
                match op {
                    0 | 1 => prop_assert_eq!(r.insert(key), want.insert(key)),
                    2 => prop_assert_eq!(r.contains(key), want.contains(&key)),
                    _ => r.prefetch(key),
                }
                prop_assert_eq!(r.len(), want.len());
            }
            let got: HashSet<u64> = r.iter().collect();
            prop_assert_eq!(got, want);
        }
    }
}
