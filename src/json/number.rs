//! Numbers as serde_json holds them, for the lexer: an integer's text
//! (grammar already checked) that fits `u64` or `i64`, and a mantissa with
//! a power of ten as a double by Clinger's fast path where it is exact.
//! Anything else is the caller's to parse in full.

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
    fn clinger_table() {
        // (mantissa, power of ten, negative, whether the fast path answers)
        let cases = [
            (25_726_716, -6, false, true),
            (62_262_676, -6, true, true),
            (1, -1, false, true),
            (0, -1, true, true),
            (1, 22, false, true),
            (15, -4, false, true),
            (12_345_678_901_234_567, -5, false, false),
            ((1 << 53) + 1, 0, false, false),
            (1 << 53, 0, false, true),
            (1, 23, false, false),
            (1, -23, false, false),
            (0, i64::MIN, false, false),
        ];
        for (mantissa, exp, neg, fast) in cases {
            let text = format!("{}{mantissa}e{exp}", if neg { "-" } else { "" });
            let want: f64 = text.parse().unwrap();
            match clinger(mantissa, exp, neg) {
                Some(got) => {
                    assert!(fast, "{text}: fast path answered");
                    assert_eq!(got.to_bits(), want.to_bits(), "{text}");
                }
                None => assert!(!fast, "{text}: fast path stepped aside"),
            }
        }
    }

    proptest::proptest! {
        /// Any mantissa and power of ten, wherever the fast path answers:
        /// the same bits as `str::parse::<f64>` of the same number.
        #[test]
        fn clinger_equals_the_full_parser(mantissa in 0u64..(1 << 54), exp in -30i64..30, neg in proptest::bool::ANY) {
            if let Some(got) = clinger(mantissa, exp, neg) {
                let text = format!("{}{mantissa}e{exp}", if neg { "-" } else { "" });
                let want: f64 = text.parse().unwrap();
                proptest::prop_assert_eq!(got.to_bits(), want.to_bits(), "{}", text);
            }
        }
    }
}
