//! Tests of `convert.rs`: every type with good and bad values, under both
//! `on_type_error` policies, nullability, and the error's value text.

use std::borrow::Cow;

use serde_json::{Value, json};

use super::*;
use crate::schema::FieldPath;

fn col(kind: ColumnType) -> Column {
    Column {
        name: "c".into(),
        path: FieldPath::parse("v"),
        kind,
        nullable: true,
    }
}

fn s(text: &str) -> Cell<'_> {
    Cell::Str(Cow::Borrowed(text))
}

/// (type, value, Some(expected cell) or None for a mismatch)
fn cases() -> Vec<(ColumnType, Value, Option<Cell<'static>>)> {
    use ColumnType::*;
    vec![
        (String, json!("Äkäs"), Some(s("Äkäs"))),
        (String, json!(""), Some(s(""))),
        (String, json!(12), Some(Cell::Str(Cow::Owned("12".into())))),
        (String, json!(1.5), Some(Cell::Str(Cow::Owned("1.5".into())))),
        (String, json!(true), Some(s("true"))),
        (String, json!(null), Some(Cell::Null)),
        (String, json!({"a": 1}), None),
        (String, json!(["a"]), None),
        (Int64, json!(12), Some(Cell::Int(12))),
        (Int64, json!(-9223372036854775808i64), Some(Cell::Int(i64::MIN))),
        (Int64, json!(12.0), Some(Cell::Int(12))),
        (Int64, json!(12.5), None),
        (Int64, json!("12"), None),
        (Int64, json!(9223372036854775808u64), None),
        (Int64, json!(1e19), None),
        (Int64, json!(true), None),
        (Int64, json!(null), Some(Cell::Null)),
        (Float64, json!(1.5), Some(Cell::Float(1.5))),
        (Float64, json!(3), Some(Cell::Float(3.0))),
        (Float64, json!("1.5"), None),
        (Float64, json!([1.5]), None),
        (Bool, json!(false), Some(Cell::Bool(false))),
        (Bool, json!("true"), None),
        (Bool, json!(1), None),
        (Date, json!("2023-01-31"), Some(Cell::Date(19_388))),
        (Date, json!("2023-01-31T09:24:30.201000"), Some(Cell::Date(19_388))),
        (Date, json!("31.1.2023"), None),
        (Date, json!(19388), None),
        (
            Timestamp,
            json!("2023-01-31T09:24:30.201000"),
            Some(Cell::Timestamp(1_675_157_070_201_000)),
        ),
        (
            Timestamp,
            json!("2023-01-31T11:24:30.201+02:00"),
            Some(Cell::Timestamp(1_675_157_070_201_000)),
        ),
        (
            Timestamp,
            json!("2023-01-31 09:24:30"),
            Some(Cell::Timestamp(1_675_157_070_000_000)),
        ),
        (Timestamp, json!("not a time"), None),
        (Timestamp, json!(1_675_157_070), None),
        (
            ListString,
            json!(["a", null, 5]),
            Some(Cell::List(vec![s("a"), Cell::Null, Cell::Str(Cow::Owned("5".into()))])),
        ),
        (ListString, json!([]), Some(Cell::List(vec![]))),
        (ListString, json!(null), Some(Cell::Null)),
        (ListString, json!("a"), None),
        (ListString, json!([{"a": 1}]), None),
        (
            ListInt64,
            json!([1, 2.0, null]),
            Some(Cell::List(vec![Cell::Int(1), Cell::Int(2), Cell::Null])),
        ),
        (ListInt64, json!([1, 2.5]), None),
        (ListInt64, json!(["1"]), None),
        (
            ListFloat64,
            json!([24.9, 60]),
            Some(Cell::List(vec![Cell::Float(24.9), Cell::Float(60.0)])),
        ),
        (ListFloat64, json!([true]), None),
        (ListFloat64, json!(1.0), None),
    ]
}

#[test]
fn convert_table() {
    for (kind, value, want) in cases() {
        let extracted = Extracted::One(&value);
        let got = convert(kind, &extracted).ok();
        assert_eq!(got, want, "{} <- {value}", kind.name());
    }
}

#[test]
fn json_keeps_any_value() {
    for value in [json!("abc"), json!(1), json!({"a": [1]}), json!([null])] {
        let extracted = Extracted::One(&value);
        assert_eq!(convert(ColumnType::Json, &extracted), Ok(Cell::Json(&extracted)));
    }
    assert_eq!(convert(ColumnType::Json, &Extracted::Missing), Ok(Cell::Null));
}

#[test]
fn paths_through_lists_of_objects() {
    let record = json!({"ind": [{"code": "62"}, {}, {"code": null}], "nested": [{"x": [1]}],
                        "nums": [{"n": 1}, {"n": "x"}]});
    let cases: Vec<(&str, ColumnType, Option<Cell<'_>>)> = vec![
        (
            "ind.code",
            ColumnType::ListString,
            Some(Cell::List(vec![s("62"), Cell::Null, Cell::Null])),
        ),
        ("nested.x", ColumnType::ListInt64, None),
        ("nums.n", ColumnType::ListInt64, None),
        ("ind.code", ColumnType::String, None),
        ("ind.code", ColumnType::Json, None), // checked below: Json keeps it
    ];
    for (path, kind, want) in cases {
        let extracted = FieldPath::parse(path).extract(&record);
        let got = convert(kind, &extracted);
        if kind == ColumnType::Json {
            assert!(matches!(got, Ok(Cell::Json(_))), "{path}");
            continue;
        }
        assert_eq!(got.ok(), want, "{path} as {}", kind.name());
    }
}

#[test]
fn fail_policy_names_record_column_and_value() {
    let mut errors = TypeErrors::new(OnTypeError::Fail);
    let value = json!("12x");
    let err = errors
        .convert(&col(ColumnType::Int64), &Extracted::One(&value), 41)
        .unwrap_err();
    assert_eq!(err.record, 41);
    assert_eq!(err.column, "c");
    assert_eq!(err.value, "\"12x\"");
    assert_eq!(err.expected, "int64");
    assert!(err.to_string().contains("\"12x\""), "{err}");
    assert!(errors.counts().is_empty());
}

#[test]
fn null_policy_writes_null_and_counts_per_column() {
    let mut errors = TypeErrors::new(OnTypeError::Null);
    for (kind, value, want) in cases() {
        let extracted = Extracted::One(&value);
        let got = errors.convert(&col(kind), &extracted, 0).unwrap();
        assert_eq!(got, want.unwrap_or(Cell::Null), "{} <- {value}", kind.name());
    }
    let bad = cases().iter().filter(|c| c.2.is_none()).count() as u64;
    assert_eq!(errors.counts().get("c"), Some(&bad));
    let mut other = col(ColumnType::Bool);
    other.name = "other".into();
    errors.convert(&other, &Extracted::One(&json!(1)), 9).unwrap();
    assert_eq!(errors.counts().get("other"), Some(&1));
}

#[test]
fn non_nullable_refuses_null_under_both_policies() {
    for policy in [OnTypeError::Fail, OnTypeError::Null] {
        let mut errors = TypeErrors::new(policy);
        let mut c = col(ColumnType::String);
        c.nullable = false;
        let err = errors.convert(&c, &Extracted::Missing, 3).unwrap_err();
        assert!(err.why.contains("not nullable"), "{err}");
        let bad = json!({"a": 1});
        assert!(errors.convert(&c, &Extracted::One(&bad), 3).is_err(), "{policy:?}");
        assert_eq!(errors.convert(&c, &Extracted::One(&json!("ok")), 3), Ok(s("ok")));
    }
}

#[test]
fn value_text_is_shortened() {
    let long = json!("x".repeat(500));
    let text = value_text(&Extracted::One(&long));
    assert!(text.chars().count() <= 82 && text.ends_with('…'), "{text}");
    let multi = json!("ä".repeat(100));
    assert!(value_text(&Extracted::One(&multi)).ends_with('…'));
    assert_eq!(value_text(&Extracted::Missing), "null");
}

/// The hand-parsed shapes agree with chrono (`time.rs`) on every input:
/// the API's shapes, edge dates, and shapes the fast path must hand over.
#[test]
fn fast_date_and_timestamp_parsing_agree_with_chrono() {
    use crate::schema::{parse_date, parse_timestamp};
    let mut cases: Vec<String> = [
        "2023-01-31T09:24:30.201000",
        "2023-01-31 09:24:30.5",
        "2023-01-31T09:24:30",
        "2023-01-31T09:24:30.123456789",
        "2023-01-31T09:24:30.1234567891",
        "2023-01-31T09:24:30.",
        "2023-01-31T09:24:30.12x",
        "2023-01-31T09:24:30Z",
        "2023-01-31T11:24:30+02:00",
        "2023-01-31T09:24",
        "2024-02-29T00:00:00",
        "2023-02-29T00:00:00",
        "2023-02-29",
        "2000-02-29",
        "1900-02-29",
        "1969-12-31T23:59:59.999999",
        "0000-01-01T00:00:00",
        "9999-12-31T23:59:59.999999",
        "2023-01-31T24:00:00",
        "2023-01-31T23:60:00",
        "2023-01-31T23:59:60",
        "2023-13-01",
        "2023-00-10",
        "2023-01-00",
        "2023-1-31",
        "+023-01-31",
        "2023-01-31",
        "2023-01-31x",
        "",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for days in (-30_000..40_000).step_by(37) {
        let base = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap() + chrono::Duration::days(days);
        cases.push(base.format("%Y-%m-%d").to_string());
        cases.push(format!(
            "{}T{:02}:{:02}:{:02}.{:06}",
            base.format("%Y-%m-%d"),
            days.rem_euclid(24),
            days.rem_euclid(60),
            (days * 7).rem_euclid(60),
            (days * 7919).rem_euclid(1_000_000)
        ));
    }
    for text in &cases {
        assert_eq!(super::date_days(text), parse_date(text), "date {text:?}");
        assert_eq!(
            super::timestamp_micros(text),
            parse_timestamp(text),
            "timestamp {text:?}"
        );
    }
}

proptest::proptest! {
    /// Any text of the API's timestamp shape, digits anywhere (months 13,
    /// hour 24, second 60, February 30...), a `T` or a space, 0 to 10
    /// fraction digits, sometimes a stray byte: the hand parser answers
    /// as chrono does.
    #[test]
    fn timestamp_shapes_agree_with_chrono(
        text in "[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{0,10})?[x0-9]?",
    ) {
        use crate::schema::{parse_date, parse_timestamp};
        proptest::prop_assert_eq!(super::timestamp_micros(&text), parse_timestamp(&text), "{}", text);
        proptest::prop_assert_eq!(super::date_days(&text[..10]), parse_date(&text[..10]), "{}", &text[..10]);
    }
}
