//! Typed conversion: one extracted JSON value -> a [`Cell`] of its column's
//! type, and [`TypeErrors`], the `on_type_error` policy with its per-column
//! counts. Every encoder (Parquet, CSV, JSON Lines) converts through here,
//! so a value is accepted or refused the same way in every format.
//!
//! What each type accepts (strict, as a warehouse wants it):
//! - `string`: JSON strings; numbers and bools as their JSON text
//!   (`12` -> `"12"`, lossless). Not objects or lists.
//! - `int64`: JSON integers that fit i64, and integral floats (`12.0`).
//!   Not strings (`"12"` is refused), not `12.5`.
//! - `float64`: any JSON number. `bool`: only `true` / `false`.
//! - `date` / `timestamp`: strings, see `time.rs` (zone-less = UTC).
//! - `list<T>`: a JSON array, or a path through a list of objects, whose
//!   items are T by the rules above; a null item stays a null item.
//! - `json`: anything; the value's compact JSON text (a string keeps its quotes).
//!
//! Null or missing is null in every type, unless the column is not nullable:
//! then it is a mismatch that `on_type_error = "null"` cannot repair.
//! Writing the cells is the encoders' business, not this file's.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde_json::{Number, Value};

use super::column::{Column, ColumnType, Extracted};
use super::error::TypeMismatch;
use super::file::OnTypeError;

/// Longest value text (bytes) quoted in an error before it is cut.
const VALUE_TEXT_MAX: usize = 80;

/// One converted value.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell<'v> {
    Null,
    Str(Cow<'v, str>),
    Int(i64),
    Float(f64),
    Bool(bool),
    /// Days since 1970-01-01.
    Date(i32),
    /// Microseconds since the epoch, UTC.
    Timestamp(i64),
    /// The items of a `list<...>` column: `Null`, `Str`, `Int` or `Float`.
    List(Vec<Cell<'v>>),
    /// A `json` column's value, to be written as JSON text.
    Json(&'v Extracted<'v>),
}

/// Why a value was refused, for each type.
fn why(kind: ColumnType) -> &'static str {
    match kind {
        ColumnType::String => "expected a string, number or bool",
        ColumnType::Int64 => "expected a JSON integer that fits in 64 bits",
        ColumnType::Float64 => "expected a JSON number",
        ColumnType::Bool => "expected true or false",
        ColumnType::Date => "expected a date YYYY-MM-DD or an ISO 8601 timestamp",
        ColumnType::Timestamp => "expected an ISO 8601 timestamp such as 2023-01-31T09:24:30",
        ColumnType::ListString => "expected a list of strings",
        ColumnType::ListInt64 => "expected a list of integers",
        ColumnType::ListFloat64 => "expected a list of numbers",
        ColumnType::Json => "any value fits json",
    }
}

const NOT_NULLABLE: &str = "the column is not nullable (nullable = false) but the value is null or missing";

/// Converts `value` to `kind`. `Err` carries why it does not fit.
pub fn convert<'v>(kind: ColumnType, value: &'v Extracted<'_>) -> Result<Cell<'v>, &'static str> {
    if kind == ColumnType::Json {
        return Ok(if value.is_null() { Cell::Null } else { Cell::Json(value) });
    }
    let item_kind = match kind {
        ColumnType::ListString => ColumnType::String,
        ColumnType::ListInt64 => ColumnType::Int64,
        ColumnType::ListFloat64 => ColumnType::Float64,
        scalar_kind => {
            return match value {
                Extracted::Missing => Ok(Cell::Null),
                Extracted::One(v) => scalar(scalar_kind, v).ok_or(why(kind)),
                Extracted::Many(_) => Err(why(kind)),
            };
        }
    };
    match value {
        Extracted::Missing | Extracted::One(Value::Null) => Ok(Cell::Null),
        Extracted::One(Value::Array(items)) => items
            .iter()
            .map(|v| scalar(item_kind, v).ok_or(why(kind)))
            .collect::<Result<Vec<_>, _>>()
            .map(Cell::List),
        Extracted::Many(items) => items
            .iter()
            .map(|item| match item {
                Extracted::Missing => Ok(Cell::Null),
                Extracted::One(v) => scalar(item_kind, v).ok_or(why(kind)),
                Extracted::Many(_) => Err(why(kind)),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Cell::List),
        Extracted::One(_) => Err(why(kind)),
    }
}

/// One JSON scalar, as both readers of records see it: the `serde_json::Value`
/// path ([`convert`]) and the streaming decoder (`crate::decode`), so the type
/// rules below are written once. Numbers are `serde_json::Number`s built the
/// way `Value` builds them (`From<u64>`, `From<i64>`, `from_f64`).
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar<'a> {
    Null,
    Bool(bool),
    Num(Number),
    Str(&'a str),
}

impl<'a> Scalar<'a> {
    /// The scalar of a `Value`; `None` for arrays and objects.
    pub fn of(v: &'a Value) -> Option<Scalar<'a>> {
        match v {
            Value::Null => Some(Scalar::Null),
            Value::Bool(b) => Some(Scalar::Bool(*b)),
            Value::Number(n) => Some(Scalar::Num(n.clone())),
            Value::String(s) => Some(Scalar::Str(s)),
            Value::Array(_) | Value::Object(_) => None,
        }
    }
}

/// One JSON value as a scalar type; `None` when it does not fit.
fn scalar(kind: ColumnType, v: &Value) -> Option<Cell<'_>> {
    scalar_cell(kind, Scalar::of(v)?)
}

/// The type rules of a scalar column (and of a list column's items): one
/// JSON scalar as `kind`; `None` when it does not fit. Null is `Cell::Null`.
pub fn scalar_cell(kind: ColumnType, s: Scalar<'_>) -> Option<Cell<'_>> {
    match (kind, s) {
        (_, Scalar::Null) => Some(Cell::Null),
        (ColumnType::String, Scalar::Str(s)) => Some(Cell::Str(Cow::Borrowed(s))),
        (ColumnType::String, Scalar::Num(n)) => Some(Cell::Str(Cow::Owned(n.to_string()))),
        (ColumnType::String, Scalar::Bool(b)) => Some(Cell::Str(Cow::Borrowed(if b { "true" } else { "false" }))),
        (ColumnType::Int64, Scalar::Num(n)) => int64_of(&n).map(Cell::Int),
        (ColumnType::Float64, Scalar::Num(n)) => n.as_f64().map(Cell::Float),
        (ColumnType::Bool, Scalar::Bool(b)) => Some(Cell::Bool(b)),
        (ColumnType::Date, Scalar::Str(s)) => date_days(s).map(Cell::Date),
        (ColumnType::Timestamp, Scalar::Str(s)) => timestamp_micros(s).map(Cell::Timestamp),
        _ => None,
    }
}

/// Days since 1970-01-01 of a date or timestamp string: the shapes the API
/// sends (`YYYY-MM-DD`, `YYYY-MM-DDTHH:MM:SS[.f]`) parsed by hand, anything
/// else through `time::parse_date` (chrono, with its format strings, costs
/// about ten times more and was 5% of a Parquet run's CPU).
pub(crate) fn date_days(s: &str) -> Option<i32> {
    let b = s.as_bytes();
    if b.len() == 10
        && let Some(days) = plain_date(b)
    {
        return Some(days as i32);
    }
    super::time::parse_date(s)
}

/// Microseconds since the epoch, UTC; the API's zone-less shape by hand,
/// anything else through `time::parse_timestamp`.
pub(crate) fn timestamp_micros(s: &str) -> Option<i64> {
    fast_timestamp(s.as_bytes()).or_else(|| super::time::parse_timestamp(s))
}

/// `YYYY-MM-DD` as days since the epoch; `None` for anything else
/// (including dates that do not exist).
fn plain_date(b: &[u8]) -> Option<i64> {
    let d: &[u8; 10] = b.get(..10)?.try_into().ok()?;
    if d[4] != b'-' || d[7] != b'-' {
        return None;
    }
    let year = two_digits(d[0], d[1])? * 100 + two_digits(d[2], d[3])?;
    let month = two_digits(d[5], d[6])?;
    let day = two_digits(d[8], d[9])?;
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    Some(days_from_civil(year as i64, month, day))
}

/// Powers of ten that scale a fraction of `n` digits (n <= 6) to microseconds.
const TO_MICROS: [u32; 7] = [1_000_000, 100_000, 10_000, 1_000, 100, 10, 1];

/// `YYYY-MM-DD[T ]HH:MM:SS` with an optional `.` and 1 to 9 fraction digits,
/// no zone. `None` means "not this shape": the caller falls back to chrono.
/// Fixed positions, two digits at a time: the API's timestamps all have
/// this shape, one or two per record.
fn fast_timestamp(b: &[u8]) -> Option<i64> {
    let t: &[u8; 19] = b.get(..19)?.try_into().ok()?;
    if !(t[10] == b'T' || t[10] == b' ') || t[13] != b':' || t[16] != b':' {
        return None;
    }
    let days = plain_date(t)?;
    let (h, m, sec) = (
        two_digits(t[11], t[12])?,
        two_digits(t[14], t[15])?,
        two_digits(t[17], t[18])?,
    );
    // A leap second (60) and anything out of range: let chrono decide.
    if h > 23 || m > 59 || sec > 59 {
        return None;
    }
    let micros = match &b[19..] {
        [] => 0,
        [b'.', frac @ ..] if (1..=9).contains(&frac.len()) => {
            let mut micros = 0u32;
            for (i, &c) in frac.iter().enumerate() {
                let d = c.wrapping_sub(b'0');
                if d > 9 {
                    return None;
                }
                if i < 6 {
                    micros = micros * 10 + u32::from(d);
                }
            }
            micros * TO_MICROS[frac.len().min(6)]
        }
        _ => return None,
    };
    let secs = days * 86_400 + i64::from(h * 3600 + m * 60 + sec);
    Some(secs * 1_000_000 + i64::from(micros))
}

/// Two ASCII digits as a number; `None` if either is not a digit.
#[inline]
fn two_digits(tens: u8, ones: u8) -> Option<u32> {
    let (t, o) = (tens.wrapping_sub(b'0'), ones.wrapping_sub(b'0'));
    (t < 10 && o < 10).then(|| u32::from(t) * 10 + u32::from(o))
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// (year, month, day) to days since 1970-01-01, proleptic Gregorian
/// (Howard Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A JSON integer that fits i64, or an integral float in i64's range.
pub(crate) fn int64(v: &Value) -> Option<i64> {
    int64_of(v.as_number()?)
}

/// [`int64`] of a number.
pub(crate) fn int64_of(n: &Number) -> Option<i64> {
    if let Some(i) = n.as_i64() {
        return Some(i);
    }
    if n.is_u64() {
        return None; // above i64::MAX
    }
    let f = n.as_f64()?;
    // 2^63 is exactly representable; i64 covers [-2^63, 2^63).
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    (f.fract() == 0.0 && (-LIMIT..LIMIT).contains(&f)).then_some(f as i64)
}

/// The value as compact JSON text, cut to about [`VALUE_TEXT_MAX`] bytes.
pub fn value_text(value: &Extracted<'_>) -> String {
    let mut out = Vec::new();
    if value.write_json(&mut out).is_err() {
        return String::from("<unprintable>");
    }
    let mut text = String::from_utf8_lossy(&out).into_owned();
    if text.len() > VALUE_TEXT_MAX {
        let mut cut = VALUE_TEXT_MAX;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push('…');
    }
    text
}

/// The `on_type_error` policy of one snapshot, and what it has counted.
/// One per snapshot: the counts and the once-per-column warning span parts.
#[derive(Debug, Clone, Default)]
pub struct TypeErrors {
    policy: OnTypeError,
    counts: BTreeMap<String, u64>,
    /// Cells written as null (null or missing, or nulled by the policy),
    /// per column name: the manifest's `null_count`.
    nulls: BTreeMap<String, u64>,
}

impl TypeErrors {
    pub fn new(policy: OnTypeError) -> TypeErrors {
        TypeErrors {
            policy,
            counts: BTreeMap::new(),
            nulls: BTreeMap::new(),
        }
    }

    pub fn policy(&self) -> OnTypeError {
        self.policy
    }

    /// Values written as null because they did not fit, per column name
    /// (only columns with at least one). This is the manifest's `type_errors`.
    pub fn counts(&self) -> &BTreeMap<String, u64> {
        &self.counts
    }

    /// Cells converted to null so far, per column name (only columns with
    /// at least one). Every encoder converts every cell here, so this is
    /// what the part files hold as null.
    pub fn null_counts(&self) -> &BTreeMap<String, u64> {
        &self.nulls
    }

    fn count_null(&mut self, column: &Column) {
        match self.nulls.get_mut(column.name.as_str()) {
            Some(n) => *n = n.saturating_add(1),
            None => {
                self.nulls.insert(column.name.clone(), 1);
            }
        }
    }

    /// Converts the value of `column` in the record at API offset `record`. A value that does not fit is an error under `Fail` (and
    /// always in a non-nullable column); under `Null` it becomes null, is
    /// counted, and the first one per column is logged as a warning.
    pub fn convert<'v>(
        &mut self,
        column: &Column,
        value: &'v Extracted<'_>,
        record: u64,
    ) -> Result<Cell<'v>, TypeMismatch> {
        let refused = match convert(column.kind, value) {
            Ok(Cell::Null) if !column.nullable => NOT_NULLABLE,
            Ok(Cell::Null) => {
                self.count_null(column);
                return Ok(Cell::Null);
            }
            Ok(cell) => return Ok(cell),
            Err(why) => why,
        };
        let mismatch = || TypeMismatch {
            record,
            column: column.name.clone(),
            expected: column.kind.name(),
            value: value_text(value),
            why: refused,
        };
        if self.policy == OnTypeError::Fail || !column.nullable {
            return Err(mismatch());
        }
        let count = self.counts.entry(column.name.clone()).or_insert(0);
        *count += 1;
        if *count == 1 {
            let m = mismatch();
            tracing::warn!(
                column = %m.column,
                offset = m.record,
                value = %m.value,
                expected = m.expected,
                "value does not fit its column type; writing null (on_type_error = \"null\"), \
                 further ones in this column are only counted in the manifest"
            );
        }
        self.count_null(column);
        Ok(Cell::Null)
    }
}

#[cfg(test)]
#[path = "convert_tests.rs"]
mod tests;
