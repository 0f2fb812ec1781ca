//! UTF-8 of a response body or a JSON Lines line, checked by the lexer
//! as it reads (`lex.rs`): outside strings only JSON's ASCII tokens and
//! whitespace pass, and inside a string the block search that looks for
//! the closing quote also stops at every byte of 0x80 or more, where
//! [`letter_end`] checks one multibyte letter by the table of the Unicode
//! standard (table 3-7, "Well-Formed UTF-8 Byte Sequences"), which is what
//! `std::str::from_utf8` checks too. So a page is not walked once for
//! UTF-8 and again for JSON: the records of the sandbox, ASCII with a few
//! letters like `ä` each, cost one pass. The tests hold the lexer's answer
//! to `std`'s.

/// The end of the well-formed multibyte sequence that starts at `b[i]` (a
/// byte of 0x80 or more), or `None` when none starts there.
#[inline]
pub(super) fn letter_end(b: &[u8], i: usize) -> Option<usize> {
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

    use super::super::lex::Lexer;

    fn std_says(b: &[u8]) -> bool {
        std::str::from_utf8(b).is_ok()
    }

    /// Whether the lexer reads `bytes` as the content of a JSON string:
    /// quotes, backslashes and control bytes are first replaced by `x`
    /// (ASCII for ASCII: the same answer from `std`), so only UTF-8 can
    /// make it refuse.
    fn lexer_says(bytes: &[u8]) -> bool {
        let mut token = vec![b'"'];
        token.extend(bytes.iter().map(|&c| match c {
            b'"' | b'\\' | 0..=0x1f => b'x',
            c => c,
        }));
        token.push(b'"');
        let mut lx = Lexer::new(&token);
        let read = lx.string();
        if let Ok((a, b, _)) = read {
            // What it hands out is the content, as `str`.
            assert_eq!(lx.span(a, b).as_bytes(), &token[1..token.len() - 1]);
        }
        read.is_ok()
    }

    #[test]
    fn letters_in_strings_table() {
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
            assert_eq!(lexer_says(bytes), want, "{bytes:?}");
            assert_eq!(want, std_says(bytes), "the table agrees with std: {bytes:?}");
        }
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
                        assert_eq!(lexer_says(&buf), std_says(&buf), "{buf:?}");
                    }
                }
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn lexer_agrees_with_std(
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
            proptest::prop_assert_eq!(lexer_says(&bytes), std_says(&bytes));
        }
    }
}
