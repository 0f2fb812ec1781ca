//! UTF-8 validation of a response body or a JSON Lines line, with the
//! answer of `std::str::from_utf8` but faster on text that is mostly ASCII
//! with a few letters like `ä` in every record: `std` skips ASCII a word
//! pair at a time only from an aligned address, and after every multibyte
//! letter it walks byte by byte back to alignment. Here ASCII runs are
//! skipped sixteen bytes at a time from wherever they start (the lexer's
//! block search, `find::non_ascii_from`), and each multibyte letter is
//! checked on its own by the table of the Unicode standard (table 3-7,
//! "Well-Formed UTF-8 Byte Sequences"), which is what `std` checks too.
//! Text that is mostly letters of two or three bytes with single spaces
//! (Cyrillic, CJK) goes letter by letter without the block search, about
//! as fast as `std`.

use super::find::non_ascii_from;

/// `bytes` as `&str` when they are UTF-8; `None` exactly when
/// `std::str::from_utf8` would refuse them.
pub fn text(bytes: &[u8]) -> Option<&str> {
    let mut i = 0;
    while let Some(&c) = bytes.get(i) {
        if c >= 0x80 {
            i = letter_end(bytes, i)?;
        } else if bytes.get(i + 1).is_some_and(|&c| c < 0x80) {
            // A run of ASCII: by blocks.
            i = non_ascii_from(bytes, i + 2);
        } else {
            // One ASCII byte between letters (a space in Cyrillic text).
            i += 1;
        }
    }
    debug_assert!(std::str::from_utf8(bytes).is_ok());
    // SAFETY: every byte was read above, either in an ASCII run or inside
    // one well-formed sequence of table 3-7 (`letter_end`), and a sequence
    // starts only where the byte before it is ASCII or ends a sequence:
    // that is the definition of UTF-8, which `str` requires.
    Some(unsafe { std::str::from_utf8_unchecked(bytes) })
}

/// The end of the well-formed multibyte sequence that starts at `b[i]` (a
/// byte of 0x80 or more), or `None` when none starts there.
#[inline]
fn letter_end(b: &[u8], i: usize) -> Option<usize> {
    let first = b[i];
    let second = *b.get(i + 1)?;
    // Two bytes (Latin letters with marks, Cyrillic, Greek): the common
    // case, first; the match below takes three and four.
    if (0xC2..=0xDF).contains(&first) {
        return (second & 0xC0 == 0x80).then_some(i + 2);
    }
    let (len, second_ok) = match first {
        0xE0 => (3, (0xA0..=0xBF).contains(&second)),
        0xE1..=0xEC | 0xEE..=0xEF => (3, (0x80..=0xBF).contains(&second)),
        0xED => (3, (0x80..=0x9F).contains(&second)),
        0xF0 => (4, (0x90..=0xBF).contains(&second)),
        0xF1..=0xF3 => (4, (0x80..=0xBF).contains(&second)),
        0xF4 => (4, (0x80..=0x8F).contains(&second)),
        _ => return None,
    };
    let rest = b.get(i + 2..i + len)?;
    (second_ok && rest.iter().all(|&c| c & 0xC0 == 0x80)).then_some(i + len)
}

#[cfg(test)]
mod tests {
    use proptest::strategy::Strategy as _;

    use super::*;

    fn std_says(b: &[u8]) -> bool {
        std::str::from_utf8(b).is_ok()
    }

    #[test]
    fn text_table() {
        for (bytes, want) in [
            (&b""[..], true),
            (b"plain ascii, longer than sixteen bytes {\"a\":1}", true),
            ("Välitys Lähteenmäki Oy, Osakeyhtiö, Jyväskylä".as_bytes(), true),
            ("€ 𝄞 \u{7ff} \u{800} \u{ffff} \u{10000} \u{10ffff}".as_bytes(), true),
            (b"\x80", false),
            (b"a\xc3", false),
            (b"\xc3\xa4\xc3", false),
            (b"\xc0\x80", false),
            (b"\xc1\xbf", false),
            (b"\xe0\x80\x80", false),
            (b"\xed\xa0\x80", false),
            (b"\xf4\x90\x80\x80", false),
            (b"\xf5\x80\x80\x80", false),
            (b"\xff", false),
            (b"sixteen ascii bytes\xc3\xa4 then a stray \xa4 here", false),
            (b"\xe2\x82", false),
            (b"\xe2\x82\xac", true),
            (b"\xf0\x9d\x84", false),
        ] {
            assert_eq!(text(bytes).is_some(), want, "{bytes:?}");
            assert_eq!(want, std_says(bytes), "the table agrees with std: {bytes:?}");
        }
        assert_eq!(text("Mäkelä".as_bytes()), Some("Mäkelä"));
    }

    #[test]
    fn every_sequence_of_up_to_three_bytes_agrees_with_std() {
        let mut buf = Vec::with_capacity(24);
        for a in 0..=255u8 {
            for b in 0..=255u8 {
                for c in [
                    0x00u8, 0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc2, 0xe0, 0xf0, 0xff,
                ] {
                    // Alone, and after sixteen ASCII bytes (the block search).
                    for pad in [0, 16] {
                        buf.clear();
                        buf.resize(pad, b'x');
                        buf.extend_from_slice(&[a, b, c]);
                        assert_eq!(text(&buf).is_some(), std_says(&buf), "{buf:?}");
                    }
                }
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn text_agrees_with_std(
            parts in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::collection::vec(0x20u8..0x7f, 0..40),
                    "\\PC{0,8}".prop_map(String::into_bytes),
                    proptest::collection::vec(proptest::num::u8::ANY, 0..6),
                ],
                0..8,
            ),
        ) {
            let bytes: Vec<u8> = parts.concat();
            proptest::prop_assert_eq!(text(&bytes).is_some(), std_says(&bytes));
            if let Some(s) = text(&bytes) {
                proptest::prop_assert_eq!(s.as_bytes(), &bytes[..]);
            }
        }
    }
}
