//! [`Table`]: a fixed-size, zeroed array for the key set's two tables read
//! at random (the Bloom filter's blocks, the recent keys' slots), placed on
//! 2 MiB pages where the kernel gives them.
//!
//! Why: every key looks at one random cache line of each table. With 4 KiB
//! pages a 1 MiB table is 256 pages, and between two pages of keys the
//! decoder and the Parquet writer push the tables' page translations out of
//! the TLB, so each lookup also waited for a page walk (perf, the peers'
//! pull on an AMD EPYC family 25 VM: the key set's share of the samples
//! 2.7-4.2% before, 1.5-2.0% with huge pages; the prefetch a few keys ahead
//! cannot hide a walk the way it hides a cache miss).
//!
//! A table of at least [`HUGE_FROM`] bytes is allocated aligned to 2 MiB,
//! rounded up to whole 2 MiB, and marked `MADV_HUGEPAGE` on Linux before its
//! first byte is written (transparent huge pages in `madvise` mode, the
//! common default, then back it with huge pages; in `never` mode, or
//! elsewhere, it is ordinary memory). Smaller tables come zeroed from the
//! allocator as before. Either way the table reads as `len` zeroed
//! elements; nothing else about the key set changes.

use std::alloc::{Layout, alloc, alloc_zeroed, dealloc, handle_alloc_error};
use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;

/// A huge page's size on x86-64 and aarch64 Linux (with 4 KiB base pages).
const HUGE_PAGE: usize = 2 << 20;

/// Tables from this size on go on huge pages: at 1 MiB (the filter's and
/// the recent keys' default size) rounding up to 2 MiB costs at most as
/// much memory again, and both tables are touched all over within the
/// first few thousand keys anyway.
pub(super) const HUGE_FROM: usize = HUGE_PAGE / 2;

/// Element types whose all-zero bytes are a valid value.
///
/// # Safety
/// Implement only for plain integer types and arrays of them.
pub(super) unsafe trait Zeroable: Copy {}
// SAFETY: integers and arrays of integers are valid for any bit pattern.
unsafe impl Zeroable for u64 {}
// SAFETY: as above.
unsafe impl Zeroable for [u32; 8] {}

/// `len` zeroed elements of `T` in one allocation (see the module doc).
pub(super) struct Table<T: Zeroable> {
    ptr: NonNull<T>,
    len: usize,
    layout: Layout,
}

// SAFETY: a Table owns its elements like a Vec; sending or sharing it is
// sending or sharing them.
unsafe impl<T: Zeroable + Send> Send for Table<T> {}
// SAFETY: as above (`&Table` only hands out `&[T]`).
unsafe impl<T: Zeroable + Sync> Sync for Table<T> {}

impl<T: Zeroable> Table<T> {
    /// `len` zeroed elements (at least one).
    ///
    /// Panics, like `vec!`, when the size overflows `isize`.
    pub(super) fn zeroed(len: usize) -> Table<T> {
        let len = len.max(1);
        let plain = Layout::array::<T>(len).expect("table size overflows isize");
        let layout = huge_layout(plain).unwrap_or(plain);
        let ptr = if layout.align() == HUGE_PAGE {
            // SAFETY: the layout has a non-zero size (len >= 1, T is not
            // zero-sized: u64 or [u32; 8]).
            let p = unsafe { alloc(layout) };
            if !p.is_null() {
                advise_huge(p, layout.size());
                // SAFETY: `p` is valid for `layout.size()` bytes, just
                // allocated; zeroing makes every `T` in it valid.
                unsafe { std::ptr::write_bytes(p, 0, layout.size()) };
            }
            p
        } else {
            // SAFETY: as above.
            unsafe { alloc_zeroed(layout) }
        };
        let Some(ptr) = NonNull::new(ptr.cast::<T>()) else {
            handle_alloc_error(layout)
        };
        Table { ptr, len, layout }
    }

    /// Bytes the allocation holds (a huge table's rounded size).
    #[cfg(test)]
    pub(super) fn allocated(&self) -> usize {
        self.layout.size()
    }
}

/// The layout of a table of `plain` on huge pages: its size rounded up to
/// whole huge pages, aligned to one. `None` below [`HUGE_FROM`] (or if the
/// rounding overflows).
fn huge_layout(plain: Layout) -> Option<Layout> {
    if plain.size() < HUGE_FROM {
        return None;
    }
    let size = plain.size().checked_next_multiple_of(HUGE_PAGE)?;
    Layout::from_size_align(size, HUGE_PAGE).ok()
}

/// Asks Linux to back `len` bytes at `p` with huge pages. A hint: when the
/// kernel declines (transparent huge pages off), nothing changes.
#[cfg(target_os = "linux")]
fn advise_huge(p: *mut u8, len: usize) {
    // SAFETY: `p..p+len` is one live allocation of ours, aligned to a
    // page; madvise(MADV_HUGEPAGE) changes only how it is backed, never
    // its contents or validity.
    let _ = unsafe { libc::madvise(p.cast(), len, libc::MADV_HUGEPAGE) };
}

#[cfg(not(target_os = "linux"))]
fn advise_huge(_: *mut u8, _: usize) {}

impl<T: Zeroable> Deref for Table<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        // SAFETY: `ptr` holds `len` initialized (zeroed, then written)
        // elements for as long as `self` lives.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl<T: Zeroable> DerefMut for Table<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        // SAFETY: as in `deref`, and `&mut self` is unique.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl<T: Zeroable> Drop for Table<T> {
    fn drop(&mut self) {
        // SAFETY: allocated in `zeroed` with exactly this layout.
        unsafe { dealloc(self.ptr.as_ptr().cast(), self.layout) }
    }
}

impl<T: Zeroable + std::fmt::Debug> std::fmt::Debug for Table<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Table").field("len", &self.len).finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_zeroed_writable_and_sized() {
        // (elements of u64, bytes allocated, on huge pages)
        let cases: &[(usize, usize, bool)] = &[
            (0, 8, false),
            (1, 8, false),
            (1024, 8 << 10, false),
            ((HUGE_FROM / 8) - 1, HUGE_FROM - 8, false),
            (HUGE_FROM / 8, HUGE_PAGE, true),
            (HUGE_PAGE / 8, HUGE_PAGE, true),
            (HUGE_PAGE / 8 + 1, 2 * HUGE_PAGE, true),
            (5 * HUGE_PAGE / 8 - 3, 5 * HUGE_PAGE, true),
        ];
        for &(len, bytes, huge) in cases {
            let mut t = Table::<u64>::zeroed(len);
            assert_eq!(t.len(), len.max(1), "len {len}");
            assert_eq!(t.allocated(), bytes, "len {len}");
            assert_eq!(
                (t.as_ptr() as usize).is_multiple_of(HUGE_PAGE),
                huge,
                "len {len}: alignment"
            );
            assert!(t.iter().all(|&x| x == 0), "len {len}: zeroed");
            let last = t.len() - 1;
            t[last] = 9;
            t[0] = 7;
            assert_eq!((t[0], t[last]), (7, if last == 0 { 7 } else { 9 }), "len {len}");
        }
    }

    #[test]
    fn blocks_of_words_are_zeroed_too() {
        let t = Table::<[u32; 8]>::zeroed(HUGE_FROM / 32 + 5);
        assert_eq!(t.allocated(), HUGE_PAGE);
        assert!(t.iter().all(|b| *b == [0; 8]));
    }

    #[test]
    fn sizes_that_overflow_the_rounding_stay_plain() {
        let near_max = Layout::from_size_align(isize::MAX as usize - 7, 8).unwrap();
        assert_eq!(huge_layout(near_max), None);
        let small = Layout::array::<u64>(16).unwrap();
        assert_eq!(huge_layout(small), None);
    }
}
