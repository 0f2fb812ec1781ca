//! Block search over bytes: the first quote, backslash, control character
//! or byte of 0x80 or more (the end of a string's plain ASCII run), or the
//! first given byte
//! (a line splitter's newline). Sixteen bytes at a time with SSE2 on
//! x86-64, eight at a time in a `u64` elsewhere, then byte by byte. It
//! knows nothing of JSON beyond which bytes end a string's plain run.

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// High bit set in each byte of `w` that is zero, exactly in the lowest
/// such byte (bytes above it may be flagged falsely: only the lowest is read).
#[inline]
fn zero_bytes(w: u64) -> u64 {
    w.wrapping_sub(LO) & !w & HI
}

/// What a block search looks for.
#[derive(Debug, Clone, Copy)]
enum Find {
    /// A quote, a backslash, a byte below 0x20 or a byte of 0x80 or more
    /// (the end of a string's plain ASCII run: a letter is checked to be
    /// UTF-8 where it is met).
    Special,
    /// This byte.
    Byte(u8),
}

impl Find {
    /// High bit set in the bytes of `w` that match (exactly in the lowest
    /// one; bytes above it may be flagged falsely: only the lowest is read).
    #[inline]
    fn swar(self, w: u64) -> u64 {
        match self {
            Find::Special => {
                zero_bytes(w ^ (LO * u64::from(b'"')))
                    | zero_bytes(w ^ (LO * u64::from(b'\\')))
                    | (w.wrapping_sub(LO * 0x20) & !w & HI)
                    | (w & HI)
            }
            Find::Byte(needle) => zero_bytes(w ^ (LO * u64::from(needle))),
        }
    }

    #[inline]
    fn byte(self, c: u8) -> bool {
        match self {
            Find::Special => c == b'"' || c == b'\\' || !(0x20..0x80).contains(&c),
            Find::Byte(needle) => c == needle,
        }
    }
}

/// The index of the first byte `what` looks for in `b` at or after `i`:
/// sixteen bytes at a time with SSE2 on x86-64 (part of its baseline: no
/// run-time detection, any x86-64 runs it), eight at a time in a `u64`
/// elsewhere, then byte by byte.
#[inline]
fn find_from(b: &[u8], mut i: usize, what: Find) -> Option<usize> {
    #[cfg(target_arch = "x86_64")]
    {
        while let Some(chunk) = b.get(i..i + 16) {
            match sse2::first(chunk, what) {
                Some(at) => return Some(i + at),
                None => i += 16,
            }
        }
    }
    while let Some(chunk) = b.get(i..i + 8) {
        let mut w = [0u8; 8];
        w.copy_from_slice(chunk);
        let m = what.swar(u64::from_le_bytes(w));
        if m != 0 {
            return Some(i + (m.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    b.get(i..)?.iter().position(|&c| what.byte(c)).map(|at| i + at)
}

/// The index of the first quote, backslash, byte below 0x20 or byte of
/// 0x80 or more in `b` at or after `i`, or `b.len()`.
#[inline]
pub(super) fn special_from(b: &[u8], i: usize) -> usize {
    find_from(b, i, Find::Special).unwrap_or(b.len())
}

/// The index of the first `needle` in `b` at or after `i`, if any (a line
/// splitter's `\n`).
#[inline]
pub(crate) fn byte_from(b: &[u8], needle: u8, i: usize) -> Option<usize> {
    find_from(b, i, Find::Byte(needle))
}

#[cfg(target_arch = "x86_64")]
mod sse2 {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_max_epu8, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8,
    };

    use super::Find;

    /// The index in `chunk` (16 bytes) of the first byte `what` looks for.
    #[inline]
    pub(super) fn first(chunk: &[u8], what: Find) -> Option<usize> {
        assert!(chunk.len() >= 16);
        // SAFETY: SSE2 is in every x86-64 CPU (the target's baseline), and
        // the unaligned load reads 16 bytes that `chunk` holds (checked above).
        let mask = unsafe {
            let x = _mm_loadu_si128(chunk.as_ptr().cast::<__m128i>());
            let found = match what {
                Find::Special => {
                    let quote = _mm_cmpeq_epi8(x, _mm_set1_epi8(b'"' as i8));
                    let backslash = _mm_cmpeq_epi8(x, _mm_set1_epi8(b'\\' as i8));
                    // x <= 0x1f (unsigned) exactly when max(x, 0x1f) == 0x1f.
                    let low = _mm_set1_epi8(0x1f);
                    let control = _mm_cmpeq_epi8(_mm_max_epu8(x, low), low);
                    // A byte of 0x80 or more has its high bit set already.
                    _mm_or_si128(_mm_or_si128(_mm_or_si128(quote, backslash), control), x)
                }
                Find::Byte(needle) => _mm_cmpeq_epi8(x, _mm_set1_epi8(needle as i8)),
            };
            _mm_movemask_epi8(found)
        };
        (mask != 0).then(|| mask.trailing_zeros() as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first special byte found in blocks (sixteen, eight, one at a
    /// time) is the first one a byte-by-byte search finds: every block
    /// size, every position, each kind of special byte, bytes above 0x7f.
    #[test]
    fn special_from_finds_what_a_byte_search_finds() {
        let naive = |b: &[u8], i: usize| {
            (i..b.len())
                .find(|&j| b[j] == b'"' || b[j] == b'\\' || b[j] < 0x20 || b[j] >= 0x80)
                .unwrap_or(b.len())
        };
        for len in 0..40 {
            for at in 0..=len {
                for special in [b'"', b'\\', 0x00, 0x1f, 0x20, 0x7f, 0x80, 0xff] {
                    let mut b = vec![b'a'; len];
                    if at < len {
                        b[at] = special;
                    }
                    for start in [0, 1, 7, 9, 17].into_iter().filter(|&s| s <= len) {
                        assert_eq!(
                            special_from(&b, start),
                            naive(&b, start),
                            "len {len} at {at} byte {special:#x} from {start}"
                        );
                    }
                }
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn special_from_agrees_with_a_byte_search(b in proptest::collection::vec(proptest::num::u8::ANY, 0..80), start in 0usize..80) {
            let start = start.min(b.len());
            let want = (start..b.len()).find(|&j| b[j] == b'"' || b[j] == b'\\' || b[j] < 0x20 || b[j] >= 0x80).unwrap_or(b.len());
            proptest::prop_assert_eq!(special_from(&b, start), want);
        }
    }

    proptest::proptest! {
        #[test]
        fn byte_from_agrees_with_position(b in proptest::collection::vec(proptest::sample::select(vec![b'\n', b'a', 0u8, 0xff, 0x8a]), 0..80), start in 0usize..90) {
            let want = b.get(start..).and_then(|rest| rest.iter().position(|&c| c == b'\n')).map(|at| start + at);
            proptest::prop_assert_eq!(byte_from(&b, b'\n', start), want);
        }
    }
}
