//! Dates and timestamps as the API sends them, and as orgsync writes them.
//!
//! Accepted timestamps (ISO 8601): `2023-01-31T09:24:30.201000`, with `T` or
//! a space between date and time, seconds and fraction optional, and an
//! optional zone (`Z`, `+02:00`, `+0200`). A timestamp without a zone is
//! read as UTC (the Vainu API sends zone-less UTC); one with an offset is
//! converted to UTC. A bare date `2023-01-31` is a timestamp at midnight UTC.
//! Stored as microseconds since the Unix epoch (finer digits are cut).
//!
//! Accepted dates: `YYYY-MM-DD`, or any accepted timestamp, whose date part
//! *as written* is the date (no zone conversion: a date has no zone).
//! Stored as days since 1970-01-01.
//!
//! This file does not decide what happens to a value that does not parse.

use chrono::{DateTime, NaiveDate, NaiveDateTime};

/// Zone-less layouts, tried in order.
const NAIVE: &[&str] = &[
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M",
];

/// Layouts with a zone (`%#z` takes `Z`, `+02:00`, `+0200`, `+02`).
const ZONED: &[&str] = &[
    "%Y-%m-%dT%H:%M:%S%.f%#z",
    "%Y-%m-%d %H:%M:%S%.f%#z",
    "%Y-%m-%dT%H:%M%#z",
    "%Y-%m-%d %H:%M%#z",
];

fn epoch() -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default()
}

/// `YYYY-MM-DD` exactly.
fn parse_plain_date(s: &str) -> Option<NaiveDate> {
    if s.len() != 10 {
        return None;
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
}

/// Microseconds since the epoch, UTC, or `None` when `s` is not an accepted timestamp.
pub fn parse_timestamp(s: &str) -> Option<i64> {
    if let Some(d) = parse_plain_date(s) {
        return Some(d.and_hms_opt(0, 0, 0)?.and_utc().timestamp_micros());
    }
    // Every accepted timestamp starts with a date and is at least `YYYY-MM-DDTHH:MM`.
    if s.len() < 16 || !s.is_char_boundary(10) {
        return None;
    }
    let zoned = s[10..].contains(['Z', 'z', '+']) || s.get(16..).is_some_and(|t| t.contains('-'));
    if zoned {
        ZONED
            .iter()
            .find_map(|f| DateTime::parse_from_str(s, f).ok())
            .map(|dt| dt.timestamp_micros())
    } else {
        NAIVE
            .iter()
            .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
            .map(|dt| dt.and_utc().timestamp_micros())
    }
}

/// Days since 1970-01-01, or `None` when `s` is neither a date nor a timestamp.
pub fn parse_date(s: &str) -> Option<i32> {
    let date = match parse_plain_date(s) {
        Some(d) => d,
        None => {
            parse_timestamp(s)?;
            // A timestamp that parsed starts with an ASCII `YYYY-MM-DD`.
            parse_plain_date(s.get(..10)?)?
        }
    };
    i32::try_from(date.signed_duration_since(epoch()).num_days()).ok()
}

/// `2023-01-31T09:24:30.201000Z`: what CSV and JSON Lines write for a timestamp.
pub fn format_timestamp(micros: i64) -> String {
    match DateTime::from_timestamp_micros(micros) {
        Some(dt) => dt.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
        None => micros.to_string(),
    }
}

/// `2023-01-31`: what CSV and JSON Lines write for a date.
pub fn format_date(days: i32) -> String {
    match epoch().checked_add_signed(chrono::Duration::days(i64::from(days))) {
        Some(d) => d.format("%Y-%m-%d").to_string(),
        None => days.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2023-01-31T09:24:30Z in microseconds.
    const BASE: i64 = 1_675_157_070_000_000;

    #[test]
    fn timestamp_table() {
        let cases: &[(&str, Option<i64>)] = &[
            ("2023-01-31T09:24:30", Some(BASE)),
            ("2023-01-31T09:24:30.201000", Some(BASE + 201_000)),
            ("2023-01-31T09:24:30.201", Some(BASE + 201_000)),
            ("2023-01-31T09:24:30.123456789", Some(BASE + 123_456)),
            ("2023-01-31 09:24:30", Some(BASE)),
            ("2023-01-31 09:24:30.5", Some(BASE + 500_000)),
            ("2023-01-31T09:24", Some(BASE - 30_000_000)),
            ("2023-01-31T09:24:30Z", Some(BASE)),
            ("2023-01-31T09:24:30.201000Z", Some(BASE + 201_000)),
            ("2023-01-31T11:24:30+02:00", Some(BASE)),
            ("2023-01-31T11:24:30.201+02:00", Some(BASE + 201_000)),
            ("2023-01-31T11:24:30+0200", Some(BASE)),
            ("2023-01-31T07:24:30-02:00", Some(BASE)),
            ("2023-01-31 11:24:30+02:00", Some(BASE)),
            ("2023-01-31", Some(BASE - 33_870_000_000)),
            ("1969-12-31T23:59:59", Some(-1_000_000)),
            ("", None),
            ("garbage", None),
            ("2023-13-01T00:00:00", None),
            ("2023-01-31T25:00:00", None),
            ("2023-01-31T09:24:30 extra", None),
            ("31.01.2023 09:24", None),
            ("2023-01-31T", None),
            ("1675157070", None),
            ("Ä023-01-31T09:24:30", None),
        ];
        for (text, want) in cases {
            assert_eq!(parse_timestamp(text), *want, "{text:?}");
        }
    }

    #[test]
    fn date_table() {
        let cases: &[(&str, Option<i32>)] = &[
            ("1970-01-01", Some(0)),
            ("2023-01-31", Some(19_388)),
            ("1969-12-31", Some(-1)),
            ("2023-01-31T09:24:30.201000", Some(19_388)),
            ("2023-01-31T23:30:00-02:00", Some(19_388)),
            ("2023-1-31", None),
            ("2023-02-30", None),
            ("20230131", None),
            ("", None),
            ("yesterday", None),
        ];
        for (text, want) in cases {
            assert_eq!(parse_date(text), *want, "{text:?}");
        }
    }

    #[test]
    fn formats_round_trip() {
        assert_eq!(format_timestamp(BASE + 201_000), "2023-01-31T09:24:30.201000Z");
        assert_eq!(format_timestamp(-1), "1969-12-31T23:59:59.999999Z");
        assert_eq!(parse_timestamp(&format_timestamp(BASE + 7)), Some(BASE + 7));
        assert_eq!(format_date(19_388), "2023-01-31");
        assert_eq!(format_date(-1), "1969-12-31");
        assert_eq!(parse_date(&format_date(12_345)), Some(12_345));
    }
}
