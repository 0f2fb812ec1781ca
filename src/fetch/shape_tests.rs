//! Tests of `shape.rs`: a table of bodies, and a differential property
//! test: on any JSON body, [`check_page`] answers what
//! `extract_records(parse_body(..))` answers (records, count, the reason a
//! count is ignored, the error message), and on any bytes it never panics.

use proptest::collection::vec;
use proptest::prelude::*;
use serde_json::{Map, Number, Value, json};

use super::*;
use crate::fetch::parse_body;

/// What the `Value` path answers.
fn reference(bytes: &[u8], at: &RecordsAt) -> Result<Shape, String> {
    let value = parse_body(bytes).map_err(|e| format!("not JSON: {e}"))?;
    extract_records(value, at).map(|e| Shape {
        records: e.records.len() as u64,
        count: e.count,
        count_ignored: e.count_ignored,
    })
}

#[test]
fn shapes_table() {
    let auto = RecordsAt::Auto;
    let data = RecordsAt::Key("data".into());
    type Want = Result<(u64, Option<u64>), &'static str>;
    let cases: Vec<(&str, &RecordsAt, Want)> = vec![
        (r#"[{"a": 1}, {"a": 2}]"#, &auto, Ok((2, None))),
        ("[]", &auto, Ok((0, None))),
        // Records are objects: anything else in the array is not a page
        // of records (retried like any malformed body), never a row of nulls.
        (
            r#" [ 1 , "x" , [ ] , { } ] "#,
            &auto,
            Err("record 0 of the page is a number, not a JSON object"),
        ),
        (
            r#"[{}, {"a": [1, "x"]}, "x"]"#,
            &auto,
            Err("record 2 of the page is a string, not a JSON object"),
        ),
        (
            r#"{"result": [{}, null]}"#,
            &auto,
            Err("record 1 of the page is null, not a JSON object"),
        ),
        (r#" [ { } , {"a": 1} ] "#, &auto, Ok((2, None))),
        (
            r#"{"result": [{"a": 1}], "count": 10, "next": 1}"#,
            &auto,
            Ok((1, Some(10))),
        ),
        (r#"{"results": [{"a": 1}, {}]}"#, &auto, Ok((2, None))),
        (r#"{"results": [{}], "result": [{}, {}]}"#, &auto, Ok((2, None))),
        (r#"{"result": [{}], "result": [{}, {}, {}]}"#, &auto, Ok((3, None))),
        (r#"{"result": [{"a": 1}], "count": -4}"#, &auto, Ok((1, None))),
        (r#"{"result": [{"a": 1}], "count": "10"}"#, &auto, Ok((1, None))),
        (r#"{"result": [], "count": 1e30}"#, &auto, Ok((0, None))),
        (r#"{"result": [], "count": 5, "count": null}"#, &auto, Ok((0, None))),
        (r#"{"data": [{"a": 1}], "count": 3}"#, &data, Ok((1, Some(3)))),
        (r#"{"detail": "x"}"#, &auto, Err("the object has keys [\"detail\"]")),
        (r#"{"result": {"a": 1}}"#, &auto, Err("\"result\" is an object")),
        (r#"{"result": null}"#, &auto, Err("\"result\" is null")),
        (r#"[{"a": 1}]"#, &data, Err("expected an object with \"data\"")),
        (r#""text""#, &auto, Err("got a string")),
        ("<html>back soon</html>", &auto, Err("not JSON")),
        (r#"[{"a": 1},"#, &auto, Err("not JSON")),
        (r#"[1] x"#, &auto, Err("not JSON")),
        ("", &auto, Err("not JSON")),
    ];
    for (body, at, want) in cases {
        let got = check_page(body.as_bytes(), at);
        match (&got, want) {
            (Ok(s), Ok((n, c))) => assert_eq!((s.records, s.count), (n, c), "{body}"),
            (Err(msg), Err(part)) => assert!(msg.contains(part), "{body}: {msg} lacks {part}"),
            (got, want) => panic!("{body}: got {got:?}, want {want:?}"),
        }
        if !matches!(want, Err("not JSON")) {
            assert_eq!(got, reference(body.as_bytes(), at), "{body}: same as the Value path");
        }
    }
}

#[test]
fn page_records_reads_the_records() {
    let body = br#"{"count": 2, "result": [{"a": 1}, {"a": "x"}]}"#;
    let records = page_records(body, &RecordsAt::Auto).unwrap();
    assert_eq!(records, vec![json!({"a": 1}), json!({"a": "x"})]);
    let err = page_records(b"{\"x\": 1}", &RecordsAt::Auto).unwrap_err();
    assert!(err.contains("\"x\""), "{err}");
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec!["result", "results", "count", "data", "detail", "next"]).prop_map(str::to_string),
        1 => ".{0,6}",
    ]
}

fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| Number::from_f64(f).map_or(Value::Null, Value::Number)),
        ".{0,8}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 40, 6, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Value::Array),
            vec((key(), inner), 0..6).prop_map(|entries| Value::Object(entries.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// JSON text with duplicate keys kept (a `Value` would merge them).
fn envelope_text() -> impl Strategy<Value = String> {
    vec((key(), json()), 0..6).prop_map(|entries| {
        let fields: Vec<String> = entries
            .iter()
            .map(|(k, v)| format!("{}: {v}", Value::String(k.clone())))
            .collect();
        format!("{{{}}}", fields.join(", "))
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn check_page_answers_like_the_value_path(
        text in prop_oneof![json().prop_map(|v| v.to_string()), envelope_text()],
        named in key(),
    ) {
        for at in [RecordsAt::Auto, RecordsAt::Key(named.clone())] {
            if named == "count" {
                continue; // records under "count": the count's warning differs (documented)
            }
            prop_assert_eq!(check_page(text.as_bytes(), &at), reference(text.as_bytes(), &at), "{}", text);
        }
    }

    #[test]
    fn check_page_never_panics(bytes in vec(any::<u8>(), 0..200), cut in any::<prop::sample::Index>(), v in json()) {
        let _ = check_page(&bytes, &RecordsAt::Auto);
        let text = v.to_string().into_bytes();
        let short = &text[..cut.index(text.len() + 1)];
        if let Ok(s) = check_page(short, &RecordsAt::Auto) {
            prop_assert!(s.count.is_none_or(|c| c <= crate::fetch::MAX_COUNT));
        }
    }
}
