//! Number texts the lexer has already checked against JSON's grammar,
//! read as serde_json holds them: integers that fit `u64` or `i64`, and
//! doubles by Clinger's fast path where it is exact. Anything else is the
//! caller's to parse in full.

use super::lex::Num;

/// An integer's text (JSON grammar already checked) as serde_json holds
/// it, when it fits `u64` or (negative, not `-0`) `i64`: then serde_json
/// prints the same text.
pub(super) fn integer(text: &str) -> Option<Num> {
    let (neg, digits) = match text.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, text),
    };
    let mut v: u64 = 0;
    for d in digits.bytes() {
        v = v.checked_mul(10)?.checked_add(u64::from(d.wrapping_sub(b'0')))?;
    }
    match neg {
        false => Some(Num::U(v)),
        true if v == 0 => None,
        true => i64::try_from(-i128::from(v)).ok().map(Num::I),
    }
}

/// Exact powers of ten a double holds (10^22 is the last).
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20,
    1e21, 1e22,
];

/// A number's text (JSON grammar already checked) as `str::parse::<f64>`
/// reads it, when Clinger's fast path applies ([`clinger`]). `None`:
/// parse it in full. The lexer reads the same digits as it scans
/// (`Lexer::number`); this is the same rule over a finished text, which
/// the tests hold against the full parser.
#[cfg_attr(not(test), allow(dead_code))]
pub(super) fn fast_float(text: &str) -> Option<f64> {
    let b = text.as_bytes();
    let (neg, b) = match b.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, b),
    };
    let mut mantissa: u64 = 0;
    let mut exp: i64 = 0;
    let mut i = 0;
    let mut fraction = false;
    while let Some(&c) = b.get(i) {
        match c {
            b'0'..=b'9' => {
                mantissa = mantissa.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
                exp -= i64::from(fraction);
            }
            b'.' if !fraction => fraction = true,
            _ => break,
        }
        i += 1;
    }
    if let Some(b'e' | b'E') = b.get(i) {
        let (sign, digits) = match b.get(i + 1..)? {
            [b'-', rest @ ..] => (-1, rest),
            [b'+', rest @ ..] => (1, rest),
            rest => (1, rest),
        };
        let mut e: i64 = 0;
        for &c in digits {
            if !c.is_ascii_digit() {
                return None;
            }
            e = e.checked_mul(10)?.checked_add(i64::from(c - b'0'))?;
        }
        exp = exp.checked_add(sign * e)?;
    } else if i != b.len() {
        return None;
    }
    clinger(mantissa, exp, neg)
}

/// `±mantissa * 10^exp` correctly rounded, when Clinger's fast path
/// applies: the mantissa at most 2^53 and the power of ten at most 22
/// either way. Both are exact doubles, so one multiplication or division
/// rounds the value correctly, as the full parser does (coordinates are
/// these). `None`: parse the text in full.
#[inline]
pub(super) fn clinger(mantissa: u64, exp: i64, neg: bool) -> Option<f64> {
    if mantissa > 1 << 53 {
        return None;
    }
    let power = *POW10.get(usize::try_from(exp.unsigned_abs()).ok()?)?;
    let value = if exp < 0 {
        mantissa as f64 / power
    } else {
        mantissa as f64 * power
    };
    Some(if neg { -value } else { value })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Clinger's fast path against the full parser, and where it steps aside.
    #[test]
    fn fast_float_table() {
        // (text, whether the fast path answers)
        let cases = [
            ("25.726716", true),
            ("-62.262676", true),
            ("0.1", true),
            ("-0.0", true),
            ("1e22", true),
            ("1.5E-3", true),
            ("12345678901234567e-5", false),
            ("9007199254740993.0", false),
            ("1e23", false),
            ("1e-23", false),
            ("123456789012345678901.5", false),
            ("1e99999999999999999999", false),
        ];
        for (text, fast) in cases {
            let want: f64 = text.parse().unwrap();
            match fast_float(text) {
                Some(got) => {
                    assert!(fast, "{text}: fast path answered");
                    assert_eq!(got.to_bits(), want.to_bits(), "{text}");
                }
                None => assert!(!fast, "{text}: fast path stepped aside"),
            }
        }
    }

    proptest::proptest! {
        /// Any JSON number (integer, fraction, exponent), wherever the fast
        /// path answers: the same bits as `str::parse::<f64>`.
        #[test]
        fn fast_float_equals_the_full_parser(
            neg in proptest::bool::ANY,
            int in "(0|[1-9][0-9]{0,19})",
            frac in proptest::option::of("[0-9]{1,19}"),
            exp in proptest::option::of((proptest::sample::select(vec!["e", "E"]), proptest::sample::select(vec!["", "+", "-"]), 0u32..40)),
        ) {
            let mut text = format!("{}{int}", if neg { "-" } else { "" });
            if let Some(f) = frac {
                text.push('.');
                text.push_str(&f);
            }
            if let Some((e, sign, n)) = exp {
                text.push_str(&format!("{e}{sign}{n}"));
            }
            let want: f64 = text.parse().unwrap();
            if let Some(got) = fast_float(&text) {
                proptest::prop_assert_eq!(got.to_bits(), want.to_bits(), "{}", text);
            }
        }
    }
}
