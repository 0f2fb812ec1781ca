//! Table tests of the bounded readers of server numbers. The no-panic
//! property tests over arbitrary input are in `src/parser_proptests.rs`.

use super::*;
use chrono::TimeZone;
use serde_json::json;

#[test]
fn retry_after_table() {
    let now = Utc.with_ymd_and_hms(2015, 10, 21, 7, 28, 0).unwrap();
    let cases: &[(&str, Option<Duration>)] = &[
        ("0", Some(Duration::ZERO)),
        ("7", Some(Duration::from_secs(7))),
        (" 7 ", Some(Duration::from_secs(7))),
        ("+7", Some(Duration::from_secs(7))),
        ("1.5", Some(Duration::from_millis(1500))),
        ("0.001", Some(Duration::from_millis(1))),
        // Huge: no panic, the longest wait; the schedule clamps it.
        ("1e20", Some(Duration::MAX)),
        ("99999999999999999999", Some(Duration::MAX)),
        ("1e308", Some(Duration::MAX)),
        ("18446744073709551615", Some(Duration::from_secs(u64::MAX))),
        // Negative: no wait.
        ("-3", Some(Duration::ZERO)),
        ("-1e20", Some(Duration::ZERO)),
        ("-0.5", Some(Duration::ZERO)),
        // Garbage: ignored (the backoff schedule decides).
        ("", None),
        ("   ", None),
        ("soon", None),
        ("NaN", None),
        ("inf", None),
        ("-inf", None),
        ("+", None),
        ("1,5", None),
        ("\u{fffd}\u{0}", None),
        // HTTP dates: future, past, far future, far past.
        ("Wed, 21 Oct 2015 07:28:30 GMT", Some(Duration::from_secs(30))),
        ("Wed, 21 Oct 2015 07:27:00 GMT", Some(Duration::ZERO)),
        (
            "Fri, 31 Dec 9999 23:59:59 GMT",
            Some(Duration::from_secs(251_956_888_319)),
        ),
        ("Mon, 01 Jan 1900 00:00:00 GMT", Some(Duration::ZERO)),
        ("Wed, 32 Oct 2015 07:28:30 GMT", None),
    ];
    for (value, want) in cases {
        assert_eq!(parse_retry_after(value, now), *want, "Retry-After: {value:?}");
    }
}

#[test]
fn token_lifetime_table() {
    let h = DEFAULT_TOKEN_LIFETIME;
    // (expires_in, lifetime used, warned)
    let cases: Vec<(Option<Value>, Duration, bool)> = vec![
        (None, h, false),
        (Some(Value::Null), h, false),
        (Some(json!(3600)), Duration::from_secs(3600), false),
        (Some(json!(2)), Duration::from_secs(2), false),
        (Some(json!(1.5)), Duration::from_millis(1500), false),
        (Some(json!(86400)), MAX_TOKEN_LIFETIME, false),
        (Some(json!("600")), Duration::from_secs(600), false),
        (Some(json!(1e30)), MAX_TOKEN_LIFETIME, true),
        (Some(json!(u64::MAX)), MAX_TOKEN_LIFETIME, true),
        (Some(json!(86401)), MAX_TOKEN_LIFETIME, true),
        (Some(json!(0.001)), MIN_TOKEN_LIFETIME, true),
        (Some(json!(0)), h, true),
        (Some(json!(-5)), h, true),
        (Some(json!(-1e30)), h, true),
        (Some(json!("soon")), h, true),
        (Some(json!("")), h, true),
        (Some(json!("NaN")), h, true),
        (Some(json!("inf")), h, true),
        (Some(json!(true)), h, true),
        (Some(json!([3600])), h, true),
        (Some(json!({"secs": 3600})), h, true),
    ];
    for (value, want, warned) in cases {
        let (got, note) = token_lifetime(value.as_ref());
        assert_eq!(got, want, "expires_in {value:?}");
        assert_eq!(note.is_some(), warned, "expires_in {value:?}: {note:?}");
        if let Some(note) = note {
            assert!(note.contains("expires_in"), "{note}");
        }
    }
}

#[test]
fn count_table() {
    let cases: Vec<(Option<Value>, Result<u64, &str>)> = vec![
        (Some(json!(0)), Ok(0)),
        (Some(json!(3000)), Ok(3000)),
        (Some(json!(MAX_COUNT)), Ok(MAX_COUNT)),
        (Some(json!(MAX_COUNT + 1)), Err("not believable")),
        (Some(json!(u64::MAX)), Err("not believable")),
        (Some(json!(-1)), Err("not a whole number")),
        (Some(json!(2.5)), Err("not a whole number")),
        (Some(json!(3000.0)), Err("not a whole number")),
        (Some(json!(1e30)), Err("not a whole number")),
        (Some(json!("3000")), Err("not a whole number")),
        (Some(Value::Null), Err("not a whole number")),
        (None, Err("no \"count\"")),
    ];
    for (value, want) in cases {
        match (count_value(value.as_ref()), want) {
            (Ok(got), Ok(want)) => assert_eq!(got, want),
            (Err(got), Err(part)) => assert!(got.contains(part), "{value:?}: {got}"),
            (got, want) => panic!("{value:?}: got {got:?}, want {want:?}"),
        }
    }
}
