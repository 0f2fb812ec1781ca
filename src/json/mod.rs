//! JSON text read without building it: the byte-level lexer of the
//! decoder's fast scanner (`lex.rs`), with its block search (`find.rs`,
//! also the line splitter's) and its number readers (`number.rs`);
//! [`is_object`], the cheap check that one line of a JSON Lines stream is
//! one JSON object; and the UTF-8 check of a letter (`utf8.rs`). A
//! leaf: it knows nothing of records, columns or HTTP.

pub(crate) mod find;
pub(crate) mod lex;
mod number;
pub(crate) mod utf8;

/// True when `line` is certainly one JSON object (whitespace around it
/// allowed), as serde_json would read it; false when the lexer cannot say
/// (invalid JSON, another kind of value, or nesting past its limit): then
/// ask serde_json. Numbers are not range-checked and `\u` escapes are not
/// paired, as serde_json's `IgnoredAny` does not either.
pub fn is_object(line: &[u8]) -> bool {
    let mut lx = lex::Lexer::new(line);
    matches!(lx.peek(), Ok(b'{')) && lx.skip().is_ok() && lx.end().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_object_table() {
        for (line, want) in [
            (r#"{"a":1}"#, true),
            (" {\"a\":[1,{\"b\":null}]} \r", true),
            ("{}", true),
            ("[1]", false),
            ("\"x\"", false),
            ("7", false),
            ("{\"a\":1", false),
            ("{\"a\":1} {}", false),
            ("", false),
        ] {
            assert_eq!(is_object(line.as_bytes()), want, "{line}");
        }
        assert!(!is_object(b"{\"a\":\"\xff\"}"), "not UTF-8: serde_json decides");
    }

    proptest::proptest! {
        /// Never panics, and what it vouches for serde_json's `IgnoredAny`
        /// accepts as one object (the check it stands in front of).
        #[test]
        fn is_object_only_vouches_for_objects(line in "[ {}\\[\\]\",:0-9eE.+\\-tnrulfas\\\\]{0,40}") {
            use serde::Deserialize;
            if is_object(line.as_bytes()) {
                let mut de = serde_json::Deserializer::from_str(&line);
                let ok = serde::de::IgnoredAny::deserialize(&mut de).and_then(|_| de.end()).is_ok();
                proptest::prop_assert!(ok && line.trim_start().starts_with('{'), "{:?}", line);
            }
        }
    }
}
