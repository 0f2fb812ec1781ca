//! The byte-level half of the decoder's fast scanner (`decode/scan.rs`),
//! also used alone to check JSON Lines (`super::is_object`): a cursor over a
//! page's bytes that finds strings, numbers and literals, and skips whole
//! values without building anything, checking JSON's grammar as strictly as
//! serde_json does. Strings are scanned sixteen bytes at a time for a
//! quote, a backslash, a control character or a letter (a byte of 0x80 or
//! more); each letter is checked to be well-formed UTF-8 where it is met
//! (`super::utf8`). Every byte outside strings must be one of JSON's ASCII
//! tokens or whitespace, so a text the lexer reads to its end is UTF-8:
//! the page needs no separate UTF-8 pass, and the text handed out
//! ([`Lexer::span`]) is only ever bytes the lexer has passed.
//!
//! While a `json` column's value is read (a *capture*), the lexer also
//! tracks whether the text it passes is exactly what serde_json prints for
//! the same value ([`Lexer::canon`]): no whitespace, no escapes, integers
//! only, no repeated keys. Then the column's text is the input's own bytes;
//! otherwise the caller re-prints the value with serde_json.
//!
//! It never decides types or columns, and it never reports an error of its
//! own: anything it cannot prove it reads like serde_json is a [`Bail`],
//! and the page goes to the slower paths, which own the answer.

use super::find::special_from;
use super::number::{clinger, integer};
use super::utf8::letter_end;

/// The scanner cannot prove it reads this input like the `Value` path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Bail;

pub(crate) type R<T> = Result<T, Bail>;

/// Deepest nesting the scanner follows (serde_json refuses more than 128).
const MAX_DEPTH: usize = 100;

/// Keys of one captured object compared for repeats; more keys than this
/// make the capture re-printed instead.
const CAPTURE_KEYS_MAX: usize = 8;

/// A number: what serde_json's `Value` would hold.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Num {
    U(u64),
    I(i64),
    F(f64),
}

impl From<Num> for serde_json::Number {
    fn from(n: Num) -> serde_json::Number {
        match n {
            Num::U(u) => u.into(),
            Num::I(i) => i.into(),
            // Only finite numbers are made (`Lexer::number`).
            Num::F(f) => serde_json::Number::from_f64(f).unwrap_or_else(|| 0.into()),
        }
    }
}

/// A number's text and digits, as [`Lexer::digits`] read them.
struct Digits<'de> {
    text: &'de str,
    neg: bool,
    /// No fraction and no exponent.
    integral: bool,
    /// Every digit, before and after the point, as one integer; `None`
    /// past 19 digits.
    mantissa: Option<u64>,
    /// The power of ten that scales `mantissa` to the number; `None` out of `i64`.
    exp: Option<i64>,
}

impl Digits<'_> {
    /// As `number::integer`: an integral number that fits `u64`, or a
    /// negative one that fits `i64` (not `-0`).
    #[inline]
    fn integer(&self) -> Option<Num> {
        if !self.integral {
            return None;
        }
        match (self.mantissa, self.neg) {
            (Some(m), false) => Some(Num::U(m)),
            (Some(0), true) => None,
            (Some(m), true) => i64::try_from(-i128::from(m)).ok().map(Num::I),
            (None, _) => integer(self.text),
        }
    }
}

pub(crate) struct Lexer<'de> {
    /// The text; not known to be UTF-8 past `pos`.
    pub b: &'de [u8],
    pub pos: usize,
    depth: usize,
    /// Since the innermost capture began: the text read is what serde_json
    /// would print. Meaningless outside a capture.
    pub canon: bool,
    /// Open captures.
    pub captures: usize,
    /// Key spans of the open objects inside captures.
    keys: Vec<(usize, usize)>,
}

impl<'de> Lexer<'de> {
    pub fn new(b: &'de [u8]) -> Lexer<'de> {
        Lexer {
            b,
            pos: 0,
            depth: 0,
            canon: true,
            captures: 0,
            keys: Vec::new(),
        }
    }

    /// Skips whitespace (which a capture's text may not hold).
    #[inline]
    pub fn ws(&mut self) {
        let b = self.b;
        // Compact JSON has none: one comparison, no loop (whitespace is at
        // most b' '; the control bytes below it are no token either, and
        // the loop below stops at them).
        if b.get(self.pos).is_none_or(|&c| c > b' ') {
            return;
        }
        let start = self.pos;
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = b.get(self.pos) {
            self.pos += 1;
        }
        if self.pos != start {
            self.canon = false;
        }
    }

    /// The next byte after whitespace, not consumed.
    #[inline]
    pub fn peek(&mut self) -> R<u8> {
        self.ws();
        self.b.get(self.pos).copied().ok_or(Bail)
    }

    /// Consumes `c` after whitespace.
    #[inline]
    pub fn eat(&mut self, c: u8) -> R<()> {
        if self.peek()? != c {
            return Err(Bail);
        }
        self.pos += 1;
        Ok(())
    }

    /// After the last value: only whitespace is left.
    pub fn end(&mut self) -> R<()> {
        self.ws();
        if self.pos == self.b.len() { Ok(()) } else { Err(Bail) }
    }

    /// Consumes the opening `[` or `{` at `pos`, one level deeper.
    #[inline]
    pub fn open(&mut self) -> R<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(Bail);
        }
        self.pos += 1;
        Ok(())
    }

    /// After a member or element: `true` for a comma (more follow), `false`
    /// for the closing `close` (consumed, one level up).
    #[inline]
    pub fn more(&mut self, close: u8) -> R<bool> {
        match self.peek()? {
            b',' => {
                self.pos += 1;
                Ok(true)
            }
            c if c == close => {
                self.pos += 1;
                self.depth -= 1;
                Ok(false)
            }
            _ => Err(Bail),
        }
    }

    /// Right after an opening bracket: consumes `close` if the container is empty.
    #[inline]
    pub fn empty(&mut self, close: u8) -> R<bool> {
        if self.peek()? == close {
            self.pos += 1;
            self.depth -= 1;
            return Ok(true);
        }
        Ok(false)
    }

    /// At a quote: the string's content span (without quotes) and whether
    /// it holds escapes (then it is not canonical).
    #[inline]
    pub fn string(&mut self) -> R<(usize, usize, bool)> {
        let b = self.b;
        let start = self.pos + 1;
        let mut i = start;
        let mut escaped = false;
        loop {
            i = special_from(b, i);
            match *b.get(i).ok_or(Bail)? {
                b'"' => {
                    self.pos = i + 1;
                    if escaped {
                        self.canon = false;
                    }
                    return Ok((start, i, escaped));
                }
                b'\\' => {
                    escaped = true;
                    i = escape_end(b, i)?;
                }
                0..=0x1f => return Err(Bail),
                // A letter: one well-formed UTF-8 sequence, else not JSON text.
                0x80..=0xff => i = letter_end(b, i).ok_or(Bail)?,
                _ => i += 1,
            }
        }
    }

    /// A string's content with no escapes, else `None` (the caller
    /// unescapes the quoted text with serde_json).
    #[inline]
    pub fn plain_string(&mut self) -> R<Result<&'de str, &'de str>> {
        let (a, b, escaped) = self.string()?;
        Ok(if escaped {
            Err(self.span(a - 1, b + 1))
        } else {
            Ok(self.span(a, b))
        })
    }

    /// The text from `a` to `b`, both positions the scanner stopped at, `b`
    /// at most `pos`: the text's end, or a byte right after or at an ASCII
    /// byte it read (a quote, a digit, a bracket). The bytes between were
    /// all passed by the lexer, so they are UTF-8 and both ends are char
    /// boundaries; no check is repeated here, four of them for each string
    /// value a record has.
    #[inline]
    pub fn span(&self, a: usize, b: usize) -> &'de str {
        debug_assert!(a <= b && b <= self.pos);
        debug_assert!(std::str::from_utf8(&self.b[a..b]).is_ok());
        // SAFETY: `a..b` lies before `pos` (asserted in tests above), so
        // the lexer passed every byte of it: outside strings only ASCII
        // tokens and whitespace get past it, inside strings ASCII and
        // letters it checked to be well-formed UTF-8 (`Lexer::string`, by
        // table 3-7 of the Unicode standard), and keys it matched byte for
        // byte with the schema's (`str`s). `a` and `b` are the text's end
        // or next to an ASCII byte it read, never inside a letter (a
        // continuation byte follows only a lead byte or another
        // continuation byte). So the bytes are UTF-8 and both ends are char
        // boundaries, which is all `str` requires.
        unsafe { std::str::from_utf8_unchecked(self.b.get_unchecked(a..b)) }
    }

    /// At `t`, `f` or `n`: the literal.
    #[inline]
    pub fn literal(&mut self) -> R<Option<bool>> {
        let rest = self.b.get(self.pos..).unwrap_or_default();
        let (value, len) = if rest.starts_with(b"true") {
            (Some(true), 4)
        } else if rest.starts_with(b"false") {
            (Some(false), 5)
        } else if rest.starts_with(b"null") {
            (None, 4)
        } else {
            return Err(Bail);
        };
        self.pos += len;
        Ok(value)
    }

    /// At `-` or a digit: the number's digits, after checking JSON's
    /// grammar. One pass: they are read into a mantissa and a power of ten
    /// as they go (19 digits always fit a u64; a number of more is read
    /// again from its text).
    // Always inlined: a call and a `Digits` returned through memory cost
    // ~0.75% of a pull's instructions (callgrind), once per number.
    #[inline(always)]
    fn digits(&mut self) -> R<Digits<'de>> {
        let b = self.b;
        let start = self.pos;
        let mut i = start;
        let neg = b.get(i) == Some(&b'-');
        if neg {
            i += 1;
        }
        // Every digit, before and after the point, while they fit: 19
        // digits always fit a u64 (more are read from the text again).
        let mut m: u64 = 0;
        let mut digits: u32 = 0;
        let mut push = |c: u8| {
            m = m.wrapping_mul(10).wrapping_add(u64::from(c - b'0'));
            digits += 1;
        };
        match b.get(i) {
            Some(&c @ b'0') => {
                push(c);
                i += 1;
            }
            Some(b'1'..=b'9') => {
                while let Some(&c @ b'0'..=b'9') = b.get(i) {
                    push(c);
                    i += 1;
                }
            }
            _ => return Err(Bail),
        }
        let mut integral = true;
        let mut exp: Option<i64> = Some(0);
        if b.get(i) == Some(&b'.') {
            integral = false;
            let first = i + 1;
            i = first;
            while let Some(&c @ b'0'..=b'9') = b.get(i) {
                push(c);
                i += 1;
            }
            if i == first {
                return Err(Bail);
            }
            exp = i64::try_from(i - first).ok().map(|n| -n);
        }
        if let Some(b'e' | b'E') = b.get(i) {
            integral = false;
            i += 1;
            let sign = match b.get(i) {
                Some(b'-') => -1,
                Some(b'+') => 1,
                _ => 0,
            };
            if sign != 0 {
                i += 1;
            }
            if !b.get(i).is_some_and(u8::is_ascii_digit) {
                return Err(Bail);
            }
            let mut e = Some(0i64);
            while let Some(&c @ b'0'..=b'9') = b.get(i) {
                e = e.and_then(|e| e.checked_mul(10)?.checked_add(i64::from(c - b'0')));
                i += 1;
            }
            let sign = if sign < 0 { -1 } else { 1 };
            exp = exp.zip(e).and_then(|(x, e)| x.checked_add(sign * e));
        }
        self.pos = i;
        let text = self.span(start, i);
        Ok(Digits {
            text,
            neg,
            integral,
            mantissa: (digits <= 19).then_some(m),
            exp,
        })
    }

    /// At `-` or a digit: the number as serde_json reads it (`u64`, else
    /// `i64`, else `f64`). A number out of `f64`'s range, and `-0` (which
    /// serde_json reads as the float -0.0), bail. A float is
    /// `number::clinger`'s where Clinger's fast path applies, else its text
    /// is parsed again, in full.
    pub fn number(&mut self) -> R<(Num, &'de str)> {
        let d = self.digits()?;
        if let Some(n) = d.integer() {
            return Ok((n, d.text));
        }
        if d.integral && d.neg && d.mantissa == Some(0) {
            return Err(Bail);
        }
        // A float, or an integer out of 64 bits: serde_json (float_roundtrip)
        // and Rust's parser both round correctly, so they agree.
        self.canon = false;
        let fast = d.mantissa.zip(d.exp).and_then(|(m, e)| clinger(m, e, d.neg));
        match fast.or_else(|| d.text.parse::<f64>().ok()) {
            Some(f) if f.is_finite() => Ok((Num::F(f), d.text)),
            _ => Err(Bail),
        }
    }

    /// Skips one value: grammar checked, nothing built, numbers not parsed
    /// (as serde_json's `IgnoredAny`).
    pub fn skip(&mut self) -> R<()> {
        match self.peek()? {
            b'"' => self.string().map(drop),
            b'{' => self.skip_object(),
            b'[' => {
                self.open()?;
                if self.empty(b']')? {
                    return Ok(());
                }
                loop {
                    self.skip()?;
                    if !self.more(b']')? {
                        return Ok(());
                    }
                }
            }
            b't' | b'f' | b'n' => self.literal().map(drop),
            b'-' | b'0'..=b'9' => {
                // serde_json prints a float or a long integer otherwise.
                if self.digits()?.integer().is_none() {
                    self.canon = false;
                }
                Ok(())
            }
            _ => Err(Bail),
        }
    }

    fn skip_object(&mut self) -> R<()> {
        self.open()?;
        let keys_at = self.keys.len();
        if self.empty(b'}')? {
            return Ok(());
        }
        loop {
            if self.peek()? != b'"' {
                return Err(Bail);
            }
            let (a, b, _) = self.string()?;
            self.note_key(keys_at, a, b);
            self.eat(b':')?;
            self.skip()?;
            if !self.more(b'}')? {
                self.keys.truncate(keys_at);
                return Ok(());
            }
        }
    }

    /// Inside a capture: a key of the object whose keys start at `keys_at`.
    /// A repeated key (serde_json keeps the last value at the first place)
    /// or too many keys to compare make the capture not canonical.
    #[inline]
    pub fn note_key(&mut self, keys_at: usize, a: usize, b: usize) {
        if self.captures == 0 || !self.canon {
            return;
        }
        let key = &self.b[a..b];
        let earlier = self.keys.get(keys_at..).unwrap_or_default();
        if earlier.len() >= CAPTURE_KEYS_MAX || earlier.iter().any(|&(x, y)| &self.b[x..y] == key) {
            self.canon = false;
        }
        self.keys.push((a, b));
    }

    /// Where the key spans of an object opened now start.
    pub fn keys_mark(&self) -> usize {
        self.keys.len()
    }

    /// Forgets the key spans of an object closed now.
    pub fn keys_reset(&mut self, mark: usize) {
        self.keys.truncate(mark);
    }
}

/// At a backslash at `i`: the index after the escape, if it is one JSON allows.
#[inline]
fn escape_end(b: &[u8], i: usize) -> R<usize> {
    match b.get(i + 1) {
        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => Ok(i + 2),
        Some(b'u') => match b.get(i + 2..i + 6) {
            Some(hex) if hex.iter().all(u8::is_ascii_hexdigit) => Ok(i + 6),
            _ => Err(Bail),
        },
        _ => Err(Bail),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn skip_all(text: &str) -> R<bool> {
        let mut lx = Lexer::new(text.as_bytes());
        lx.canon = true;
        lx.captures = 1;
        lx.skip()?;
        lx.end()?;
        Ok(lx.canon)
    }

    #[test]
    fn skip_table() {
        // (text, Ok(canonical) or Err)
        let cases: &[(&str, R<bool>)] = &[
            (r#"{"a":[1,"x",true,null,{"b":-2}]}"#, Ok(true)),
            (r#"{"a": 1}"#, Ok(false)),
            (r#"{"a":1,"a":2}"#, Ok(false)),
            (r#"{"a":"\n"}"#, Ok(false)),
            (r#"[1.5]"#, Ok(false)),
            (r#"[-0]"#, Ok(false)),
            (r#"[-9223372036854775808,18446744073709551615]"#, Ok(true)),
            (r#"[-9223372036854775809]"#, Ok(false)),
            (r#"[18446744073709551616]"#, Ok(false)),
            (r#"[1e5]"#, Ok(false)),
            (r#"["ä😀"]"#, Ok(true)),
            (r#"[]"#, Ok(true)),
            (r#"{}"#, Ok(true)),
            (r#"[1,]"#, Err(Bail)),
            (r#"[,1]"#, Err(Bail)),
            (r#"{"a":1,}"#, Err(Bail)),
            (r#"{"a"1}"#, Err(Bail)),
            (r#"{1:1}"#, Err(Bail)),
            (r#"[01]"#, Err(Bail)),
            (r#"[1.]"#, Err(Bail)),
            (r#"[.5]"#, Err(Bail)),
            (r#"[1e]"#, Err(Bail)),
            (r#"[+1]"#, Err(Bail)),
            (r#"[tru]"#, Err(Bail)),
            (r#"["a\x"]"#, Err(Bail)),
            (r#"["a\u12"]"#, Err(Bail)),
            ("[\"a\u{1}\"]", Err(Bail)),
            (r#"["abc"#, Err(Bail)),
            (r#"[1] 2"#, Err(Bail)),
            (r#"[1}"#, Err(Bail)),
        ];
        for (text, want) in cases {
            assert_eq!(skip_all(text), *want, "{text}");
            // Whatever the scanner accepts, serde_json accepts.
            if want.is_ok() {
                assert!(serde_json::from_str::<serde_json::Value>(text).is_ok(), "{text}");
            }
        }
        let deep = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
        assert_eq!(skip_all(&deep), Err(Bail));
        let ok = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
        assert_eq!(skip_all(&ok), Ok(true));
    }

    #[test]
    fn numbers_read_like_serde_json() {
        for text in [
            "0",
            "12",
            "-7",
            "9223372036854775807",
            "9223372036854775808",
            "-9223372036854775808",
            "-9223372036854775809",
            "18446744073709551615",
            "18446744073709551616",
            "1.5",
            "12.0",
            "-0.0",
            "1e3",
            "2.5E-3",
            "1e300",
            "1e-400",
            "123456789012345678901234567890",
            "0.1",
            "2.2250738585072011e-308",
        ] {
            let mut lx = Lexer::new(text.as_bytes());
            let (n, raw) = lx.number().unwrap();
            assert_eq!(raw, text);
            let want: serde_json::Number = serde_json::from_str(text).unwrap();
            assert_eq!(serde_json::Number::from(n), want, "{text}");
        }
        for text in ["-0", "1e400", "-1e400", "-", "01x"] {
            let mut lx = Lexer::new(text.as_bytes());
            let got = lx.number().and_then(|_| lx.end());
            assert_eq!(got, Err(Bail), "{text}");
        }
    }

    proptest::proptest! {
        /// Any JSON number (integer, fraction, exponent; long mantissas,
        /// exponents past f64's range): `Lexer::number` reads in one pass
        /// what serde_json's `Value` holds (u64, i64, or the same f64
        /// bits), and bails only on `-0` and where serde_json refuses.
        #[test]
        fn number_reads_like_serde_json(
            neg in proptest::bool::ANY,
            int in "(0|[1-9][0-9]{0,24})",
            frac in proptest::option::of("[0-9]{1,22}"),
            exp in proptest::option::of((proptest::sample::select(vec!["e", "E"]), proptest::sample::select(vec!["", "+", "-"]), 0u32..400)),
        ) {
            let mut text = format!("{}{int}", if neg { "-" } else { "" });
            if let Some(f) = frac {
                text.push('.');
                text.push_str(&f);
            }
            if let Some((e, sign, n)) = exp {
                text.push_str(&format!("{e}{sign}{n}"));
            }
            let mut lx = Lexer::new(text.as_bytes());
            let got = lx.number().and_then(|(n, raw)| lx.end().map(|()| (n, raw)));
            let want = serde_json::from_str::<serde_json::Number>(&text);
            match (got, want) {
                (Ok((n, raw)), Ok(w)) => {
                    proptest::prop_assert_eq!(raw, text.as_str());
                    if let (Num::F(f), Some(wf)) = (n, w.as_f64().filter(|_| w.is_f64())) {
                        proptest::prop_assert_eq!(f.to_bits(), wf.to_bits(), "{}", text);
                    }
                    proptest::prop_assert_eq!(serde_json::Number::from(n), w, "{}", text);
                }
                (Err(Bail), Ok(_)) => proptest::prop_assert_eq!(text.as_str(), "-0"),
                (Ok((n, _)), Err(e)) => proptest::prop_assert!(false, "{}: {:?}, serde_json: {}", text, n, e),
                (Err(Bail), Err(_)) => {}
            }
        }
    }

    #[test]
    fn strings_find_their_end_past_eight_byte_blocks() {
        for text in [
            r#""""#,
            r#""abcdefghijklmnopq""#,
            r#""abcdefgh\"ijklmnop""#,
            r#""äöüäöüäöü\u00e4x""#,
        ] {
            let mut lx = Lexer::new(text.as_bytes());
            let (a, b, escaped) = lx.string().unwrap();
            assert_eq!((a, b, lx.pos), (1, text.len() - 1, text.len()), "{text}");
            assert_eq!(escaped, text.contains('\\'));
        }
        let mut lx = Lexer::new("\"abcdefghijklm\u{1f}\"".as_bytes());
        assert_eq!(lx.string(), Err(Bail));
    }
}
