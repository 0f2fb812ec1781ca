//! Tests of `read.rs`: the run's page reader gives, for every body, the
//! verdict (accept, or refuse with the same reason: the client retries)
//! and the counts (records, envelope `count`, why a count was ignored)
//! that `fetch::check_page` gives; a table of bodies, and a property test
//! over generated pages (records with fitting and misfitting values,
//! envelopes with duplicate and escaped keys, cut and random bytes).

use proptest::collection::vec;
use proptest::prelude::*;
use serde_json::{Map, Number, Value};

use super::*;
use crate::schema::{Column, ColumnType};

fn decoder(at: &RecordsAt) -> PageDecoder {
    let columns = vec![
        Column::for_field("a", ColumnType::Int64),
        Column::for_field("s", ColumnType::String),
        Column::for_field("l.c", ColumnType::ListString),
        Column::for_field("j", ColumnType::Json),
    ];
    PageDecoder::new(&columns, Some("s"), at.clone())
}

/// What the page holds for the writer, in short.
#[derive(Debug, PartialEq)]
enum Kind {
    Decoded(usize),
    Values(usize),
}

fn kind(read: &PageRead) -> Kind {
    match read {
        Ok(PageRows::Decoded(d)) => Kind::Decoded(d.batch.num_rows()),
        Ok(PageRows::Values(v)) => Kind::Values(v.len()),
        Err(e) => panic!("a bug: {e}"),
    }
}

#[test]
fn read_table() {
    let auto = RecordsAt::Auto;
    let data = RecordsAt::Key("data".into());
    type Want = Result<(u64, Option<u64>, bool, Kind), &'static str>;
    let cases: Vec<(&str, &RecordsAt, Want)> = vec![
        (
            r#"[{"a": 1, "s": "x"}, {"a": null}]"#,
            &auto,
            Ok((2, None, false, Kind::Decoded(2))),
        ),
        ("[]", &auto, Ok((0, None, false, Kind::Decoded(0)))),
        (
            r#"[{"a": "12"}, {"a": 1}]"#,
            &auto,
            Ok((2, None, false, Kind::Values(2))),
        ),
        (
            r#"{"result": [{"a": 1}], "count": 10}"#,
            &auto,
            Ok((1, Some(10), false, Kind::Decoded(1))),
        ),
        (
            r#"{"result": [{"a": 1}], "count": "10"}"#,
            &auto,
            Ok((1, None, true, Kind::Decoded(1))),
        ),
        (
            r#"{"result": [{"a": 1}], "count": -4}"#,
            &auto,
            Ok((1, None, true, Kind::Decoded(1))),
        ),
        (
            r#"{"result": [], "co\u0075nt": 1e30}"#,
            &auto,
            Ok((0, None, true, Kind::Decoded(0))),
        ),
        (
            r#"{"result": [], "count": null}"#,
            &auto,
            Ok((0, None, false, Kind::Decoded(0))),
        ),
        (
            r#"{"result": [{"count": "x"}]}"#,
            &auto,
            Ok((1, None, false, Kind::Decoded(1))),
        ),
        (
            r#"{"results": [{"a": 1.5}], "count": 3}"#,
            &auto,
            Ok((1, Some(3), false, Kind::Values(1))),
        ),
        (
            r#"{"data": [{"a": 1}], "count": 3}"#,
            &data,
            Ok((1, Some(3), false, Kind::Decoded(1))),
        ),
        (r#"{"detail": "x"}"#, &auto, Err("the object has keys [\"detail\"]")),
        (r#"{"result": {"a": 1}}"#, &auto, Err("\"result\" is an object")),
        (r#"[{"a": 1}]"#, &data, Err("expected an object with \"data\"")),
        ("<html>back soon</html>", &auto, Err("not JSON")),
        (r#"[{"a": 1},"#, &auto, Err("not JSON")),
        ("", &auto, Err("not JSON")),
    ];
    for (body, at, want) in cases {
        let got = read_body(&decoder(at), body.as_bytes(), 40, at);
        match (&got, want) {
            (Ok((shape, read)), Ok((records, count, ignored, k))) => {
                assert_eq!(
                    (shape.records, shape.count, shape.count_ignored.is_some(), kind(read)),
                    (records, count, ignored, k),
                    "{body}"
                );
            }
            (Err(msg), Err(part)) => assert!(msg.contains(part), "{body}: {msg} lacks {part}"),
            (got, want) => panic!("{body}: got {got:?}, want {want:?}"),
        }
        let verdict = got.map(|(shape, _)| shape);
        assert_eq!(verdict, check_page(body.as_bytes(), at), "{body}: check_page's verdict");
    }
}

/// A decoded page's rows carry their API offsets from the page's offset.
#[test]
fn decoded_rows_start_at_the_page_offset() {
    let at = RecordsAt::Auto;
    let (_, read) = read_body(&decoder(&at), br#"[{"a": 1}, {"a": 2}]"#, 700, &at).unwrap();
    match read {
        Ok(PageRows::Decoded(d)) => assert_eq!((d.first_offset, d.offset(1)), (700, 701)),
        other => panic!("{other:?}"),
    }
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec!["a", "s", "l", "c", "j", "result", "results", "count", "data"])
            .prop_map(str::to_string),
        1 => ".{0,5}",
    ]
}

fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-1e6f64..1e6).prop_map(|f| Number::from_f64(f).map_or(Value::Null, Value::Number)),
        ".{0,8}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 30, 5, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..5).prop_map(Value::Array),
            vec((key(), inner), 0..5).prop_map(|entries| Value::Object(entries.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// An object as JSON text with its duplicate keys kept, some keys written
/// with `\u` escapes.
fn object_text(entries: &[(String, String)], escape: bool) -> String {
    let fields: Vec<String> = entries
        .iter()
        .map(|(k, v)| {
            let quoted = Value::String(k.clone()).to_string();
            let key = match (escape, k.starts_with('c')) {
                // `"c...` -> `"\u0063...`: the same key, escaped.
                (true, true) => format!("\"\\u0063{}", &quoted[2..]),
                _ => quoted,
            };
            format!("{key}: {v}")
        })
        .collect();
    format!("{{{}}}", fields.join(", "))
}

/// A record: mostly the decoder's columns, with values of any type.
fn record_text() -> impl Strategy<Value = String> {
    (vec((key(), json().prop_map(|v| v.to_string())), 0..5), any::<bool>())
        .prop_map(|(entries, escape): (Vec<(String, String)>, bool)| object_text(&entries, escape))
}

fn records_text() -> impl Strategy<Value = String> {
    vec(record_text(), 0..5).prop_map(|r| format!("[{}]", r.join(", ")))
}

/// A page body: a bare array of records, or an envelope (records under a
/// records key, `count`s of any kind, other keys, duplicates).
fn page_text() -> impl Strategy<Value = String> {
    let member = prop_oneof![
        2 => (prop::sample::select(vec!["result", "results", "data"]), records_text())
            .prop_map(|(k, v)| (k.to_string(), v)),
        2 => json().prop_map(|v| ("count".to_string(), v.to_string())),
        1 => (key(), json()).prop_map(|(k, v)| (k, v.to_string())),
    ];
    prop_oneof![
        2 => records_text(),
        3 => (vec(member, 0..5), any::<bool>())
            .prop_map(|(m, escape): (Vec<(String, String)>, bool)| object_text(&m, escape)),
        1 => json().prop_map(|v| v.to_string()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn the_reader_answers_what_check_page_answers(
        text in page_text(),
        cut in any::<prop::sample::Index>(),
        named in prop::sample::select(vec!["data", "result", "count"]),
    ) {
        let whole = text.as_bytes();
        // Whole bodies, and bodies cut short (invalid JSON, mostly).
        let short = &whole[..cut.index(whole.len() + 1)];
        for body in [whole, short] {
            for at in [RecordsAt::Auto, RecordsAt::Key(named.to_string())] {
                let got = read_body(&decoder(&at), body, 0, &at);
                let want = check_page(body, &at);
                if let Ok((shape, read)) = &got {
                    let rows = match read {
                        Ok(PageRows::Decoded(d)) => d.batch.num_rows(),
                        Ok(PageRows::Values(v)) => v.len(),
                        Err(e) => return Err(TestCaseError::fail(format!("a bug for {text}: {e}"))),
                    };
                    prop_assert_eq!(rows as u64, shape.records, "{}", text);
                }
                prop_assert_eq!(got.map(|(shape, _)| shape), want, "{}", text);
            }
        }
    }

    #[test]
    fn the_reader_never_panics(bytes in vec(any::<u8>(), 0..200)) {
        let at = RecordsAt::Auto;
        let _ = read_body(&decoder(&at), &bytes, 0, &at);
    }
}
