//! Table-driven unit tests of the decoder: page shapes and which path reads
//! them, envelope counts, type errors naming offset, column and value, key
//! hashes equal to `state::key_hash`, and the one documented difference
//! from the `Value` path (subtrees no column reads are only checked for
//! syntax).

use serde_json::{Value, json};

use super::diff_tests::columns;
use super::{DecodeError, DecodePath, PageDecoder};
use crate::job::RecordsAt;
use crate::schema::{OnTypeError, TypeErrors};

fn decode(body: &str, at: RecordsAt, policy: OnTypeError) -> (Result<super::DecodedBatch, DecodeError>, TypeErrors) {
    let decoder = PageDecoder::new(&columns(true), Some("id"), at);
    let mut errors = TypeErrors::new(policy);
    (decoder.decode_page(body.as_bytes(), 100, &mut errors), errors)
}

#[test]
fn shapes_table() {
    use DecodePath::*;
    let auto = || RecordsAt::Auto;
    let data = || RecordsAt::Key("data".into());
    // (body, records at, Ok((path, rows, count)) or Err(part of the message))
    type Want = Result<(DecodePath, usize, Option<u64>), &'static str>;
    let cases: Vec<(&str, RecordsAt, Want)> = vec![
        (r#"[{"id":"a"},{"id":"b"}]"#, auto(), Ok((Scanned, 2, None))),
        (r#"[]"#, auto(), Ok((Scanned, 0, None))),
        (
            r#"{"count":5,"result":[{"id":"a"}]}"#,
            auto(),
            Ok((Scanned, 1, Some(5))),
        ),
        (
            r#"{"result":[{"id":"a"}],"count":5,"count":"6"}"#,
            auto(),
            Ok((Scanned, 1, None)),
        ),
        (
            r#"{"results":[{}],"next":{"deep":[1]}}"#,
            auto(),
            Ok((Scanned, 1, None)),
        ),
        (r#"{"result":[{}],"results":5}"#, auto(), Ok((Scanned, 1, None))),
        (r#"{"data":[{},{}],"count":2}"#, data(), Ok((Scanned, 2, Some(2)))),
        // The scanner hands over repeated or escaped keys on a column's path,
        // and `-0`, to the serde walk.
        (r#"[{"id":"a","id":"b"}]"#, auto(), Ok((Streamed, 1, None))),
        (r#"[{"\u0069d":"a"}]"#, auto(), Ok((Streamed, 1, None))),
        (r#"[{"id":"a","n":{"i":-0}}]"#, auto(), Ok((Streamed, 1, None))),
        // Whitespace, escaped strings and keys no column reads: scanned.
        (
            "[ {\"id\" : \"a\\n\", \"zz\":{\"\\u0061\":[1.5e3, -0]}} ]",
            auto(),
            Ok((Scanned, 1, None)),
        ),
        // Duplicate or out-of-order envelope keys: the Value path decides.
        (r#"{"result":[{}],"result":[{},{}]}"#, auto(), Ok((Values, 2, None))),
        (r#"{"results":[{}],"result":[{},{},{}]}"#, auto(), Ok((Values, 3, None))),
        // A value that does not fit (here: under on_type_error = "null").
        (r#"[{"id":"a","n":{"i":"12"}}]"#, auto(), Ok((Values, 1, None))),
        (r#"{"result":{"a":1}}"#, auto(), Err("\"result\" is an object")),
        (r#"[{"id":"a"}]"#, data(), Err("expected an object with \"data\"")),
        (r#"{"detail":"no"}"#, auto(), Err("the object has keys [\"detail\"]")),
        (r#"[{"id":"a"}"#, auto(), Err("not valid JSON")),
        (r#"[{"id":"a"}] x"#, auto(), Err("trailing characters")),
        (r#"[{"id":1e400}]"#, auto(), Err("number out of range")),
    ];
    for (body, at, want) in cases {
        let (got, _) = decode(body, at, OnTypeError::Null);
        match (got, want) {
            (Ok(d), Ok((path, rows, count))) => {
                assert_eq!((d.path, d.batch.num_rows(), d.count), (path, rows, count), "{body}");
            }
            (Err(e), Err(part)) => assert!(e.to_string().contains(part), "{body}: {e} lacks {part}"),
            (got, want) => panic!("{body}: got {got:?}, want {want:?}"),
        }
    }
}

#[test]
fn type_error_names_api_offset_column_and_value() {
    let body = r#"[{"id":"a"},{"id":"b","n":{"i":"12"}}]"#;
    let (got, _) = decode(body, RecordsAt::Auto, OnTypeError::Fail);
    match got {
        Err(DecodeError::Type(m)) => assert_eq!((m.record, m.column.as_str(), m.value.as_str()), (101, "i", "\"12\"")),
        other => panic!("{other:?}"),
    }
    let (got, errors) = decode(body, RecordsAt::Auto, OnTypeError::Null);
    assert!(got.unwrap().batch.column(2).is_null(1));
    assert_eq!(errors.counts().get("i"), Some(&1));
    // A column that is not nullable refuses a missing value whatever the policy.
    let decoder = PageDecoder::new(&columns(false), Some("id"), RecordsAt::Auto);
    let err = decoder
        .decode_page(br#"[{"id":"a"},{"s":"x"}]"#, 7, &mut TypeErrors::new(OnTypeError::Null))
        .unwrap_err();
    assert!(
        matches!(err, DecodeError::Type(ref m) if m.record == 8 && m.column == "id"),
        "{err}"
    );
}

/// The key hash is the one `state::Dedup` stores, so checkpoints written
/// before the decoder resume with it.
#[test]
fn key_hashes_equal_state_key_hash() {
    let keys = [
        json!("FI1"),
        json!("Ä \"q\"\n"),
        json!(12),
        json!(-1.5),
        json!(true),
        json!({"b": 1, "a": [null]}),
    ];
    let records: Vec<Value> = keys
        .iter()
        .map(|k| json!({"id": k}))
        .chain([json!({}), json!({"id": null})])
        .collect();
    let body = serde_json::to_string(&records).unwrap();
    let (got, _) = decode(&body, RecordsAt::Auto, OnTypeError::Null);
    let mut want: Vec<Option<u64>> = keys.iter().map(|k| Some(crate::state::key_hash(k))).collect();
    want.extend([None, None]);
    assert_eq!(got.unwrap().key_hashes, Some(want));
}

/// The one difference, by design: a subtree no column reads is skipped
/// (by the scanner, or with `IgnoredAny` by the serde walk), which checks
/// JSON syntax but not number range or lone surrogate escapes; the `Value`
/// path parses it and fails the page.
#[test]
fn skipped_subtrees_are_only_checked_for_syntax() {
    for body in [r#"[{"id":"a","zz":1e400}]"#, r#"[{"id":"a","zz":"\ud800"}]"#] {
        assert!(serde_json::from_str::<Value>(body).is_err(), "{body}");
        let (got, _) = decode(body, RecordsAt::Auto, OnTypeError::Fail);
        assert_eq!(got.unwrap().path, DecodePath::Scanned, "{body}");
    }
    // Read subtrees are parsed in full: the same error as the Value path.
    let body = r#"[{"id":"\ud800"}]"#;
    let want = serde_json::from_str::<Value>(body).unwrap_err().to_string();
    let (got, _) = decode(body, RecordsAt::Auto, OnTypeError::Fail);
    let got = got.unwrap_err().to_string();
    assert!(got.contains(&want), "{got} vs {want}");
}

/// A JSON Lines line that is JSON but not an object is not a record: the
/// decoder refuses it naming its line (never a row of nulls), whichever
/// path would have read the other lines.
#[test]
fn lines_that_are_not_objects_are_refused() {
    let decoder = PageDecoder::new(&columns(true), Some("id"), RecordsAt::Auto);
    for (text, line) in [
        ("{\"id\":\"a\"}\n\"damaged\"\n", 2),
        ("\n[1,2]\n{\"id\":\"a\"}\n", 2),
        ("{\"id\":\"a\"}\n{\"id\":\"b\"}\n7\n", 3),
        ("null\n", 1),
        // a repeated key sends the others to the serde walk first
        ("{\"id\":\"a\",\"id\":\"b\"}\n true \n", 2),
    ] {
        let mut errors = TypeErrors::new(OnTypeError::Null);
        match decoder.decode_lines(text.as_bytes(), 0, &mut errors) {
            Err(DecodeError::NotObject { line: got }) => assert_eq!(got, line, "{text:?}"),
            other => panic!("{text:?}: {:?}", other.map(|d| d.batch.num_rows())),
        }
    }
    let mut errors = TypeErrors::new(OnTypeError::Null);
    let ok = decoder
        .decode_lines(b"{\"id\":\"a\"}\n \t\n{\"id\":\"b\"}\n", 0, &mut errors)
        .unwrap();
    assert_eq!(ok.batch.num_rows(), 2, "blank lines are skipped, not refused");
}

/// A page whose records array holds a value that is not an object is not
/// a page of records, on every path (the scanner, the serde walk and the
/// `Value` path): never a row of nulls.
#[test]
fn records_that_are_not_objects_are_refused() {
    for (body, want) in [
        (r#"[{"id":"a"},"x",7]"#, "record 1 of the page is a string"),
        (r#"[7]"#, "record 0 of the page is a number"),
        (r#"{"result":[{"id":"a"},null]}"#, "record 1 of the page is null"),
        // a repeated key sends the page past the scanner to the serde walk
        (r#"[{"id":"a","id":"b"},[1]]"#, "record 1 of the page is an array"),
    ] {
        let (got, _) = decode(body, RecordsAt::Auto, OnTypeError::Null);
        match got {
            Err(e) => assert!(e.to_string().contains(want), "{body}: {e}"),
            Ok(d) => panic!("{body}: {} rows", d.batch.num_rows()),
        }
    }
}

/// Keys are matched with their closing quote and colon when the key records usually
/// have next is there: a key that only starts like a column's, a key that
/// holds a quote or a backslash in the schema, keys out of order and
/// whitespace around the colon read the same as through the general lookup.
#[test]
fn keys_matched_with_their_quote_table() {
    use crate::schema::{Column, ColumnType, FieldPath};
    let col = |name: &str, path: &str| Column {
        name: name.into(),
        path: FieldPath::parse(path),
        kind: ColumnType::String,
        nullable: true,
    };
    let columns = [col("a", "a"), col("q", "q\"x"), col("bs", "b\\s"), col("ab", "ab")];
    // (page, Ok(the four columns of the one row) or Err(part of the message))
    type Want = Result<[Option<&'static str>; 4], &'static str>;
    let cases: Vec<(&str, Want)> = vec![
        (
            r#"[{"a":"1","q\"x":"2","b\\s":"3","ab":"4"}]"#,
            Ok([Some("1"), Some("2"), Some("3"), Some("4")]),
        ),
        (r#"[{"ab":"4","a":"1"}]"#, Ok([Some("1"), None, None, Some("4")])),
        (r#"[{"abc":"9","a":"1"}]"#, Ok([Some("1"), None, None, None])),
        (
            r#"[ { "a" : "1" , "q\"x":"2" } ]"#,
            Ok([Some("1"), Some("2"), None, None]),
        ),
        (r#"[{"a":"1","ab" :"4"}]"#, Ok([Some("1"), None, None, Some("4")])),
        (
            r#"[ { "a" : "1" , "q\"x":"2" } ]"#,
            Ok([Some("1"), Some("2"), None, None]),
        ),
        (
            r#"[{"a":"1","q":"9","ab":"4"}]"#,
            Ok([Some("1"), None, None, Some("4")]),
        ),
        // Not JSON: a quote inside a key must be escaped.
        (r#"[{"a":"1","q"x":"2"}]"#, Err("")),
    ];
    for (body, want) in cases {
        let decoder = PageDecoder::new(&columns, None, RecordsAt::Auto);
        let mut errors = TypeErrors::new(OnTypeError::Fail);
        let got = decoder.decode_page(body.as_bytes(), 0, &mut errors);
        match (got, want) {
            (Ok(d), Ok(want)) => {
                let row: Vec<Option<String>> = (0..4)
                    .map(|c| {
                        let col = d
                            .batch
                            .column(c)
                            .as_any()
                            .downcast_ref::<arrow_array::StringArray>()
                            .unwrap();
                        (!arrow_array::Array::is_null(col, 0)).then(|| col.value(0).to_string())
                    })
                    .collect();
                let want: Vec<Option<String>> = want.iter().map(|v| v.map(String::from)).collect();
                assert_eq!(row, want, "{body}");
            }
            (Err(e), Err(part)) => assert!(e.to_string().contains(part), "{body}: {e}"),
            (got, want) => panic!("{body}: got {:?}, want {want:?}", got.map(|d| d.batch.num_rows())),
        }
    }
}

/// The scanner checks UTF-8 as it reads (there is no separate pass): a page
/// with a byte that is not UTF-8, in a string a column reads, in a key or
/// outside strings, is never scanned; it goes the slower ways, which refuse
/// it as serde_json does. In a subtree no column reads the serde walk
/// accepts it, as it did before this check moved into the scanner (the
/// documented difference: such subtrees are only checked for syntax). A
/// letter that is UTF-8 is scanned.
#[test]
fn bytes_that_are_not_utf8_table() {
    use DecodePath::*;
    let decoder = PageDecoder::new(&columns(true), Some("id"), RecordsAt::Auto);
    // (body, the path that decodes it, or None: refused)
    let cases: [(&[u8], Option<DecodePath>); 9] = [
        (b"[{\"id\":\"M\xc3\xa4kel\xc3\xa4\"}]", Some(Scanned)),
        (b"[{\"id\":\"sixteen ascii bytes \xf0\x9d\x84\x9e\"}]", Some(Scanned)),
        (b"[{\"id\":\"M\xe4kel\xe4\"}]", None),
        (b"[{\"id\":\"\xed\xa0\x80\"}]", None),
        (b"[{\"id\":\"a\",\"z\xff\":1}]", None),
        (b"[{\"id\":\"a\"}]\xc3\xa4", None),
        (b"[{\"id\":\"a\"} \xa0]", None),
        (b"[{\"id\":\"a\",\"n\":{\"i\":1},\"s\":\"\xc3\"}]", None),
        (b"[{\"id\":\"a\",\"zz\":\"\xc3\"}]", Some(Streamed)),
    ];
    for (body, want) in cases {
        let mut errors = TypeErrors::new(OnTypeError::Fail);
        let got = decoder.decode_page(body, 0, &mut errors);
        assert_eq!(got.as_ref().ok().map(|d| d.path), want, "{body:?}: {:?}", got.err());
    }
}

proptest::proptest! {
    /// Any byte of a page replaced by any other: the scanner never accepts
    /// text that is not UTF-8 (a page it decodes is UTF-8), and a page
    /// that is not UTF-8 in what a column reads is refused.
    #[test]
    fn a_page_that_is_not_utf8_is_never_scanned(at in 0usize..200, byte in proptest::num::u8::ANY) {
        let page = "[{\"id\":\"Välitys Lähteenmäki Oy\",\"n\":{\"i\":1},\"s\":\"Jyväskylä\",\"zz\":[\"€\",{\"k\":\"𝄞\"}]},{\"id\":\"b€\"}]";
        let mut bytes = page.as_bytes().to_vec();
        let at = at % bytes.len();
        bytes[at] = byte;
        let decoder = PageDecoder::new(&columns(true), Some("id"), RecordsAt::Auto);
        let mut errors = TypeErrors::new(OnTypeError::Fail);
        let got = decoder.decode_page(&bytes, 0, &mut errors);
        let utf8 = std::str::from_utf8(&bytes).is_ok();
        if let Ok(d) = &got {
            proptest::prop_assert!(utf8 || d.path != DecodePath::Scanned, "scanned {:?}", bytes);
        }
        // Outside the unread `zz` subtree, text that is not UTF-8 is refused.
        let zz = page.find("\"zz\"").unwrap_or(0)..page.find("]},{").unwrap_or(0);
        if !utf8 && !zz.contains(&at) {
            proptest::prop_assert!(got.is_err(), "accepted {:?}", bytes);
        }
    }
}

proptest::proptest! {
    /// A list of floats in its own array (coordinates): numbers of every
    /// shape, sometimes a value that is not a number, read by the scanner's
    /// float-item shortcut exactly as the `Value` path reads them.
    #[test]
    fn float_items_read_like_the_value_path(
        items in proptest::collection::vec(
            proptest::sample::select(&[
                "25.726716", "-62.262676", "0", "-7", "12.0", "1e22", "1.5E-3", "9007199254740993",
                "18446744073709551615", "-9223372036854775808", "123456789012345678901.5", "null", "\"1.5\"", "true",
            ][..]),
            0..5,
        ),
    ) {
        use crate::schema::{Column, ColumnType, FieldPath};
        let columns = vec![
            Column { name: "id".into(), path: FieldPath::parse("id"), kind: ColumnType::String, nullable: true },
            Column { name: "c".into(), path: FieldPath::parse("c"), kind: ColumnType::ListFloat64, nullable: true },
        ];
        let page = format!("[{{\"id\":\"a\",\"c\":[{}]}}]", items.join(","));
        let decoder = PageDecoder::new(&columns, None, RecordsAt::Auto);
        let mut errors = TypeErrors::new(OnTypeError::Fail);
        let got = decoder.decode_page(page.as_bytes(), 0, &mut errors).map(|d| d.batch);
        let records: Vec<Value> = serde_json::from_str(&page).unwrap();
        let mut want_errors = TypeErrors::new(OnTypeError::Fail);
        let want = super::decode_values(&columns, None, &records, 0, &mut want_errors).map(|d| d.batch);
        proptest::prop_assert_eq!(got.map_err(|e| e.to_string()), want.map_err(|e| e.to_string()), "{}", page);
    }
}

#[test]
fn rows_of_a_batch_table() {
    let (decoded, _) = decode(
        r#"[{"id":"a"},{"id":"b"},{"id":"c"}]"#,
        RecordsAt::Auto,
        OnTypeError::Fail,
    );
    let decoded = decoded.unwrap();
    // (start, len, shares the batch's arrays)
    let cases = [
        (0, 3, true),
        (0, 2, false),
        (1, 2, false),
        (2, 1, false),
        (3, 0, false),
        (0, 0, false),
    ];
    for (start, len, whole) in cases {
        let rows = decoded.rows(start, len);
        assert_eq!(rows, decoded.batch.slice(start, len), "rows {start}+{len}");
        let shared = rows
            .columns()
            .iter()
            .zip(decoded.batch.columns())
            .all(|(a, b)| std::sync::Arc::ptr_eq(a, b));
        assert_eq!(shared, whole, "rows {start}+{len}: the batch itself");
    }
}
