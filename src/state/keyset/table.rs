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
//! On Linux a table of at least [`HUGE_FROM`] bytes is an anonymous
//! mapping of its own, rounded up to whole 2 MiB, starting on a 2 MiB
//! boundary and marked `MADV_HUGEPAGE` (transparent huge pages in `madvise`
//! mode, the common default, then back it with huge pages; in `never` mode
//! it is ordinary memory). Smaller tables, and every table elsewhere, come
//! zeroed from the allocator as before. Either way the table reads as `len`
//! zeroed elements; nothing else about the key set changes.

use std::alloc::{Layout, alloc_zeroed, dealloc, handle_alloc_error};
use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;

/// A huge page's size on x86-64 and aarch64 Linux (with 4 KiB base pages).
const HUGE_PAGE: usize = 2 << 20;

/// Tables from this size on go on huge pages: at 1 MiB (the filter's and
/// the recent keys' default size) rounding up to 2 MiB costs at most as
/// much memory again, and both tables are touched all over within the
/// first few thousand keys anyway.
const HUGE_FROM: usize = HUGE_PAGE / 2;

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
    memory: Memory,
}

/// Where a table's memory came from, to give it back the same way.
#[derive(Debug, Clone, Copy)]
enum Memory {
    /// The global allocator, with this layout.
    Heap(Layout),
    /// Its own anonymous mapping of this many bytes (a multiple of 2 MiB).
    Mapped(usize),
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
        let layout = Layout::array::<T>(len).expect("table size overflows isize");
        if let Some(size) = huge_size(layout.size())
            && let Some(p) = map_huge(size)
        {
            return Table {
                ptr: p.cast::<T>(),
                len,
                memory: Memory::Mapped(size),
            };
        }
        // SAFETY: the layout has a non-zero size (len >= 1, T is not
        // zero-sized: u64 or [u32; 8]).
        let p = unsafe { alloc_zeroed(layout) };
        let Some(ptr) = NonNull::new(p.cast::<T>()) else {
            handle_alloc_error(layout)
        };
        Table {
            ptr,
            len,
            memory: Memory::Heap(layout),
        }
    }

    /// Bytes the table holds (a huge table's rounded size) and whether it
    /// is a mapping of its own.
    #[cfg(test)]
    pub(super) fn allocated(&self) -> (usize, bool) {
        match self.memory {
            Memory::Heap(layout) => (layout.size(), false),
            Memory::Mapped(size) => (size, true),
        }
    }
}

/// The size of a table of `bytes` on huge pages: rounded up to whole huge
/// pages. `None` below [`HUGE_FROM`] (or if the rounding overflows).
fn huge_size(bytes: usize) -> Option<usize> {
    if bytes < HUGE_FROM {
        return None;
    }
    bytes.checked_next_multiple_of(HUGE_PAGE)
}

/// A zeroed anonymous mapping of `size` bytes (a multiple of [`HUGE_PAGE`])
/// that starts on a huge page boundary, marked for huge pages; `None` if
/// the system will not map it (the caller falls back to the heap).
///
/// Mapped directly rather than taken from the allocator: the kernel's
/// pages come zeroed and cost memory only once written, unmapping gives
/// them back at once, and glibc does not raise its mmap and trim
/// thresholds after the free of a big block (which made the heap keep more
/// memory: peak RSS at 100k records +4.4 MB through the allocator).
#[cfg(target_os = "linux")]
fn map_huge(size: usize) -> Option<NonNull<u8>> {
    let len = size.checked_add(HUGE_PAGE)?;
    // SAFETY: a new private anonymous mapping; no existing memory is named.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return None;
    }
    let start = p as usize;
    let aligned = start.next_multiple_of(HUGE_PAGE);
    let head = aligned - start;
    let tail = len - head - size;
    // SAFETY: the head `start..aligned` and the tail after `aligned + size`
    // are parts of the mapping just made (head + size + tail = len), page
    // aligned (mmap returns page-aligned memory; HUGE_PAGE and `size` are
    // multiples of the page size), and nothing points into them. madvise
    // changes only how the table's own range is backed.
    unsafe {
        if head > 0 {
            libc::munmap(p, head);
        }
        if tail > 0 {
            libc::munmap((aligned + size) as *mut libc::c_void, tail);
        }
        // A hint: when transparent huge pages are off it changes nothing.
        libc::madvise(aligned as *mut libc::c_void, size, libc::MADV_HUGEPAGE);
    }
    NonNull::new(aligned as *mut u8)
}

#[cfg(not(target_os = "linux"))]
fn map_huge(_: usize) -> Option<NonNull<u8>> {
    None
}

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
        match self.memory {
            // SAFETY: allocated in `zeroed` with exactly this layout.
            Memory::Heap(layout) => unsafe { dealloc(self.ptr.as_ptr().cast(), layout) },
            // SAFETY: the mapping `map_huge` made, of this size; the table
            // is its only user and goes away with it.
            #[cfg(target_os = "linux")]
            Memory::Mapped(size) => unsafe {
                libc::munmap(self.ptr.as_ptr().cast(), size);
            },
            #[cfg(not(target_os = "linux"))]
            Memory::Mapped(_) => {}
        }
    }
}

impl<T: Zeroable> std::fmt::Debug for Table<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Table").field("len", &self.len).finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_zeroed_writable_and_sized() {
        let huge = cfg!(target_os = "linux");
        // (elements of u64, bytes held, a mapping of its own on Linux)
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
        for &(len, bytes, mapped) in cases {
            let mut t = Table::<u64>::zeroed(len);
            let mapped = mapped && huge;
            assert_eq!(t.len(), len.max(1), "len {len}");
            let held = if mapped { bytes } else { t.len() * 8 };
            assert_eq!(t.allocated(), (held, mapped), "len {len}");
            if mapped {
                assert!((t.as_ptr() as usize).is_multiple_of(HUGE_PAGE), "len {len}: alignment");
            }
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
        assert_eq!(
            t.allocated().0,
            if cfg!(target_os = "linux") {
                HUGE_PAGE
            } else {
                t.len() * 32
            }
        );
        assert!(t.iter().all(|b| *b == [0; 8]));
    }

    #[test]
    fn huge_sizes_table() {
        // (bytes asked, bytes mapped)
        let cases = [
            (0, None),
            (HUGE_FROM - 1, None),
            (HUGE_FROM, Some(HUGE_PAGE)),
            (HUGE_PAGE, Some(HUGE_PAGE)),
            (HUGE_PAGE + 1, Some(2 * HUGE_PAGE)),
            (usize::MAX - 7, None),
        ];
        for (bytes, want) in cases {
            assert_eq!(huge_size(bytes), want, "{bytes} bytes");
        }
    }

    /// Many tables made and dropped: each mapping is given back whole (a
    /// leak or a wrong unmap would show in the mappings count or crash).
    #[cfg(target_os = "linux")]
    #[test]
    fn mappings_are_given_back() {
        let maps = || std::fs::read_to_string("/proc/self/maps").unwrap().lines().count();
        let before = maps();
        for _ in 0..64 {
            let mut t = Table::<u64>::zeroed(3 * HUGE_PAGE / 8);
            let last = t.len() - 1;
            t[last] = 1;
        }
        assert!(maps() <= before + 2, "mappings {before} -> {}", maps());
    }
}
