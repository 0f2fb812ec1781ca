//! Differential property tests: generated pages (random nesting, nulls,
//! missing and duplicate keys, unicode and escapes, big and negative
//! numbers, integral floats, wrong types, envelopes, JSON Lines) decoded by
//! the streaming [`PageDecoder`] and by the `Value` path (parse ->
//! `extract_records` -> `BatchBuilder`) give equal batches, key hashes,
//! counts and `on_type_error` counts, or the same error; and no bytes make
//! the decoder panic.

use proptest::prelude::*;
use serde_json::Value;

use super::{DecodeError, DecodePath, DecodedBatch, PageDecoder, decode_values};
use crate::fetch::extract_records;
use crate::job::RecordsAt;
use crate::schema::{Column, ColumnType, FieldPath, OnTypeError, TypeErrors};

/// Every column type, paths through objects and lists of objects, a json
/// column that other paths go through, and the key as a column too.
pub(super) fn columns(id_nullable: bool) -> Vec<Column> {
    let col = |name: &str, path: &str, kind| Column {
        name: name.into(),
        path: FieldPath::parse(path),
        kind,
        nullable: true,
    };
    let mut id = col("id", "id", ColumnType::String);
    id.nullable = id_nullable;
    vec![
        id,
        col("s", "s", ColumnType::String),
        col("i", "n.i", ColumnType::Int64),
        col("f", "n.f", ColumnType::Float64),
        col("b", "b", ColumnType::Bool),
        col("d", "d", ColumnType::Date),
        col("t", "t", ColumnType::Timestamp),
        col("codes", "l.code", ColumnType::ListString),
        col("xs", "l.x", ColumnType::ListFloat64),
        col("li", "li", ColumnType::ListInt64),
        col("deep", "q.r.code", ColumnType::ListString),
        col("j", "j", ColumnType::Json),
        col("m", "m", ColumnType::Json),
        col("mk", "m.k", ColumnType::String),
        col("mi", "m.l.i", ColumnType::ListInt64),
    ]
}

/// A JSON document as text parts, so keys can repeat and strings can be
/// written with escapes.
#[derive(Debug, Clone)]
enum J {
    Raw(&'static str),
    Str(String, bool),
    Arr(Vec<J>),
    Obj(Vec<(String, bool, J)>),
}

fn quote(s: &str, escape_all: bool, out: &mut String) {
    if !escape_all {
        out.push_str(&serde_json::to_string(s).unwrap());
        return;
    }
    out.push('"');
    for unit in s.encode_utf16() {
        out.push_str(&format!("\\u{unit:04x}"));
    }
    out.push('"');
}

fn render(j: &J, out: &mut String) {
    match j {
        J::Raw(t) => out.push_str(t),
        J::Str(s, esc) => quote(s, *esc, out),
        J::Arr(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                render(item, out);
            }
            out.push(']');
        }
        J::Obj(entries) => {
            out.push('{');
            for (i, (k, esc, v)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                quote(k, *esc, out);
                out.push(':');
                render(v, out);
            }
            out.push('}');
        }
    }
}

const NUMBERS: &[&str] = &[
    "0",
    "-0",
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
    "123456789012345678901234567890",
];

const STRINGS: &[&str] = &[
    "2023-01-31",
    "2024-02-29",
    "2023-02-30",
    "2023-01-31T09:24:30.201000",
    "2023-01-31 09:24:30",
    "2023-01-31T09:24:30+02:00",
    "2023-01-31T09:24:30Z",
    "12",
    "true",
    "",
    "Äö \"quoted\", comma\nnewline\\ back",
    "😀 emoji \u{1} ctl",
    "62010",
];

const KEYS: &[&str] = &[
    "id", "s", "n", "i", "f", "b", "d", "t", "l", "code", "x", "li", "q", "r", "j", "m", "k", "zz", "ä",
];

fn leaf() -> impl Strategy<Value = J> {
    prop_oneof![
        Just(J::Raw("null")),
        Just(J::Raw("true")),
        Just(J::Raw("false")),
        proptest::sample::select(NUMBERS).prop_map(J::Raw),
        (proptest::sample::select(STRINGS), any::<bool>()).prop_map(|(s, e)| J::Str(s.to_string(), e)),
        ("\\PC{0,6}", any::<bool>()).prop_map(|(s, e)| J::Str(s, e)),
    ]
}

fn key() -> impl Strategy<Value = (String, bool)> {
    (proptest::sample::select(KEYS), prop::bool::weighted(0.1)).prop_map(|(k, e)| (k.to_string(), e))
}

/// Any JSON, keys mostly from the columns' paths.
fn any_json() -> impl Strategy<Value = J> {
    leaf().prop_recursive(4, 40, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(J::Arr),
            prop::collection::vec((key(), inner), 0..5)
                .prop_map(|es| J::Obj(es.into_iter().map(|((k, e), v)| (k, e, v)).collect())),
        ]
    })
}

fn obj(entries: Vec<(&str, J)>) -> J {
    J::Obj(entries.into_iter().map(|(k, v)| (k.to_string(), false, v)).collect())
}

fn s(text: &str) -> J {
    J::Str(text.to_string(), false)
}

/// A record that mostly fits the columns: each field present or not, null
/// sometimes, and now and then a random value, an unknown subtree or a
/// repeated key.
fn record() -> impl Strategy<Value = J> {
    let maybe = |j: BoxedStrategy<J>| prop_oneof![30 => j.prop_map(Some), 4 => Just(Some(J::Raw("null"))), 8 => Just(None), 1 => any_json().prop_map(Some)];
    let str_leaf = || {
        prop_oneof![
            proptest::sample::select(STRINGS).prop_map(s),
            "\\PC{0,8}".prop_map(|t| s(&t))
        ]
        .boxed()
    };
    let int = || proptest::sample::select(&["0", "-7", "12", "12.0", "9223372036854775807"][..]).prop_map(J::Raw);
    let industry = (
        proptest::option::of(proptest::sample::select(&["62010", "63", "", "Ä"][..])),
        int(),
    )
        .prop_map(|(code, x)| {
            let mut e = vec![("x", x)];
            if let Some(c) = code {
                e.push(("code", s(c)));
            }
            obj(e)
        });
    (
        (
            maybe(str_leaf()),
            maybe(str_leaf()),
            maybe((int(), int()).prop_map(|(i, f)| obj(vec![("i", i), ("f", f)])).boxed()),
        ),
        (
            maybe(prop_oneof![Just(J::Raw("true")), Just(J::Raw("false"))].boxed()),
            maybe(Just(s("2023-01-31")).boxed()),
            maybe(Just(s("2023-01-31T09:24:30.201000")).boxed()),
        ),
        (
            maybe(prop::collection::vec(industry, 0..3).prop_map(J::Arr).boxed()),
            maybe(prop::collection::vec(int(), 0..3).prop_map(J::Arr).boxed()),
            maybe(any_json().boxed()),
            maybe(
                (str_leaf(), prop::collection::vec(int(), 0..3))
                    .prop_map(|(k, is)| {
                        obj(vec![
                            ("k", k),
                            ("l", J::Arr(is.into_iter().map(|i| obj(vec![("i", i)])).collect())),
                        ])
                    })
                    .boxed(),
            ),
        ),
        prop::collection::vec((key(), any_json()), 0..2).prop_map(|mut v| {
            v.truncate(usize::from(v.len() > 1));
            v
        }),
        any::<bool>(),
    )
        .prop_map(|((id, st, n), (b, d, t), (l, li, j, m), extra, shuffle)| {
            let mut entries: Vec<(String, bool, J)> = Vec::new();
            let fields = [
                ("id", id),
                ("s", st),
                ("n", n),
                ("b", b),
                ("d", d),
                ("t", t),
                ("l", l),
                ("li", li),
                ("j", j),
                ("m", m),
            ];
            for (k, v) in fields {
                if let Some(v) = v {
                    entries.push((k.to_string(), false, v));
                }
            }
            for ((k, e), v) in extra {
                entries.push((k, e, v));
            }
            if shuffle {
                entries.reverse();
            }
            J::Obj(entries)
        })
}

/// A page: records, sometimes an odd one, as a bare array or an envelope.
pub(super) fn page() -> impl Strategy<Value = (String, Vec<String>)> {
    (
        prop::collection::vec(prop_oneof![30 => record(), 1 => any_json()], 0..6),
        0..8u8,
        proptest::option::of(proptest::sample::select(
            &["3", "1.5", "\"7\"", "18446744073709551615"][..],
        )),
    )
        .prop_map(|(records, shape, count)| {
            let texts: Vec<String> = records
                .iter()
                .map(|r| {
                    let mut t = String::new();
                    render(r, &mut t);
                    t
                })
                .collect();
            let array = format!("[{}]", texts.join(","));
            let count = count.map(|c| format!(",\"count\":{c}")).unwrap_or_default();
            let body = match shape {
                0 => array,
                1 => format!("{{\"result\":{array}{count}}}"),
                2 => format!("{{\"next\":null{count},\"results\":{array}}}"),
                3..=6 => format!("{{\"data\":1,\"result\":{array}{count},\"results\":7}}"),
                _ => format!("{{\"results\":[],\"result\":{array}{count}}}"),
            };
            (body, texts)
        })
}

/// The `Value` path's answer, as the decoder's result type.
fn reference(
    columns: &[Column],
    key: &FieldPath,
    body: &str,
    policy: OnTypeError,
) -> (Result<DecodedBatch, String>, TypeErrors) {
    let mut errors = TypeErrors::new(policy);
    let result = serde_json::from_str::<Value>(body)
        .map_err(|e| e.to_string())
        .and_then(|v| extract_records(v, &RecordsAt::Auto))
        .and_then(|page| {
            decode_values(columns, Some(key), &page.records, 100, &mut errors)
                .map(|mut d| {
                    d.count = page.count;
                    d
                })
                .map_err(|e| e.to_string())
        });
    (result, errors)
}

fn same(
    got: Result<DecodedBatch, String>,
    want: Result<DecodedBatch, String>,
    body: &str,
) -> Result<(), TestCaseError> {
    match (got, want) {
        (Ok(g), Ok(w)) => {
            prop_assert_eq!(&g.batch, &w.batch, "batch of {}", body);
            prop_assert_eq!(&g.key_hashes, &w.key_hashes, "keys of {}", body);
            prop_assert_eq!(g.count, w.count, "count of {}", body);
            prop_assert_eq!(g.first_offset, w.first_offset);
        }
        (Err(g), Err(w)) => {
            // The decoder's errors are the Value path's (message only differs by prefix).
            prop_assert!(g.contains(&w), "error {} vs {} for {}", g, w, body);
        }
        (g, w) => prop_assert!(
            false,
            "{}: decoder {:?} vs Value path {:?}",
            body,
            g.map(|d| d.path),
            w.map(|d| d.path)
        ),
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 192, ..ProptestConfig::default() })]

    #[test]
    fn decoder_equals_value_path((body, _) in page(), id_nullable in any::<bool>(), null_policy in any::<bool>()) {
        let columns = columns(id_nullable);
        let key = FieldPath::parse("id");
        let policy = if null_policy { OnTypeError::Null } else { OnTypeError::Fail };
        let decoder = PageDecoder::new(&columns, Some("id"), RecordsAt::Auto);
        let mut errors = TypeErrors::new(policy);
        let got = decoder.decode_page(body.as_bytes(), 100, &mut errors).map_err(|e| e.to_string());
        let (want, want_errors) = reference(&columns, &key, &body, policy);
        // Again with the same decoder: the room it makes in its builders
        // from the page before (rows, list items, text bytes) changes nothing.
        let again = decoder
            .decode_page(body.as_bytes(), 100, &mut TypeErrors::new(policy))
            .map_err(|e| e.to_string());
        prop_assert_eq!(&again, &got);
        same(got, want, &body)?;
        prop_assert_eq!(errors.counts(), want_errors.counts());
    }

    #[test]
    fn json_lines_equal_value_path((_, lines) in page(), crlf in any::<bool>()) {
        let columns = columns(true);
        let key = FieldPath::parse("id");
        let decoder = PageDecoder::new(&columns, Some("id"), RecordsAt::Auto);
        let body = lines.join(if crlf { "\r\n" } else { "\n" }) + "\n\n";
        let mut errors = TypeErrors::new(OnTypeError::Null);
        let got = decoder.decode_lines(body.as_bytes(), 100, &mut errors).map_err(|e| e.to_string());
        let mut want_errors = TypeErrors::new(OnTypeError::Null);
        // A line that is not an object is not a record: the first bad line
        // (not JSON, or not an object) is the error.
        let want = lines
            .iter()
            .enumerate()
            .map(|(i, l)| match serde_json::from_str::<Value>(l) {
                Ok(v) if !v.is_object() => Err(DecodeError::NotObject { line: i + 1 }.to_string()),
                parsed => parsed.map_err(|e| e.to_string()),
            })
            .collect::<Result<Vec<_>, _>>()
            .and_then(|records| decode_values(&columns, Some(&key), &records, 100, &mut want_errors).map_err(|e| e.to_string()));
        same(got, want, &body)?;
        prop_assert_eq!(errors.counts(), want_errors.counts());
    }

    /// Whatever the scanner accepts, serde_json accepts: pages with a few
    /// characters deleted, inserted or replaced (JSON's structural
    /// characters mostly) are either refused by the scanner or valid JSON.
    /// The one exception is the documented one (a number out of range or a
    /// lone surrogate escape in a subtree no column reads).
    #[test]
    fn scanner_accepts_only_json(
        (body, _) in page(),
        edits in prop::collection::vec((0usize..600, 0..3u8, proptest::sample::select(&b"{}[]\",:0123456789.eE+-\\ tnfalsru"[..])), 1..4),
    ) {
        let mut bytes = body.into_bytes();
        for (at, op, c) in edits {
            let at = at.min(bytes.len());
            match op {
                0 if at < bytes.len() => { bytes.remove(at); }
                1 => bytes.insert(at, c),
                _ if at < bytes.len() => bytes[at] = c,
                _ => {}
            }
        }
        let decoder = PageDecoder::new(&columns(true), Some("id"), RecordsAt::Auto);
        let mut errors = TypeErrors::new(OnTypeError::Null);
        for lines in [false, true] {
            let got = match lines {
                false => decoder.decode_page(&bytes, 0, &mut errors),
                true => decoder.decode_lines(&bytes, 0, &mut errors),
            };
            if let Ok(d) = got && d.path == DecodePath::Scanned {
                let text = String::from_utf8_lossy(&bytes);
                let parsed: Result<Vec<Value>, _> = match lines {
                    false => serde_json::from_slice::<Value>(&bytes).map(|v| vec![v]),
                    true => text.split('\n').filter(|l| !l.trim().is_empty()).map(serde_json::from_str).collect(),
                };
                if let Err(e) = parsed {
                    let e = e.to_string();
                    // serde_json words a lone surrogate as "lone leading
                    // surrogate" or "unexpected end of hex escape".
                    let documented = ["out of range", "surrogate", "end of hex escape"];
                    prop_assert!(documented.iter().any(|d| e.contains(d)), "scanned {:?}: {}", text, e);
                }
            }
        }
    }

    /// Arbitrary bytes, and mangled pages, never panic.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300), (body, _) in page(), cut in 0usize..400) {
        let columns = columns(false);
        let decoder = PageDecoder::new(&columns, Some("id"), RecordsAt::Key("result".into()));
        let mut errors = TypeErrors::new(OnTypeError::Null);
        let _ = decoder.decode_page(&bytes, u64::MAX, &mut errors);
        let _ = decoder.decode_lines(&bytes, u64::MAX, &mut errors);
        let cut = body.len().min(cut);
        let _ = decoder.decode_page(&body.as_bytes()[..cut], 0, &mut errors);
    }
}

/// The generated pages exercise both streaming walks, not only the fallback.
#[test]
fn clean_pages_stream() {
    let body = r#"{"count": 2, "result": [
        {"id": "FI1", "s": 12, "n": {"i": 12.0, "f": 3}, "b": true, "d": "2023-01-31",
         "t": "2023-01-31T09:24:30.201000", "l": [{"code": "62", "x": 1}, {"x": 2.5}, 7],
         "li": [1, null], "q": [{"r": {"code": "a"}}, {"r": null}], "j": {"a": [1, "x"]},
         "m": {"k": "v", "l": [{"i": 1}, {"i": null}]}, "zz": [[{"deep": "skipped"}]]},
        {"s": "\u00e4\"", "\u0069d": "FI\n2", "id": "FI2", "n": {"i": 1, "i": 2}, "b": null}
    ]}"#;
    let columns = columns(true);
    let decoder = PageDecoder::new(&columns, Some("id"), RecordsAt::Auto);
    let mut errors = TypeErrors::new(OnTypeError::Fail);
    let got = decoder.decode_page(body.as_bytes(), 7, &mut errors).unwrap();
    assert_eq!(got.path, DecodePath::Streamed);
    let (want, _) = reference(&columns, &FieldPath::parse("id"), body, OnTypeError::Fail);
    let want = want.unwrap();
    assert_eq!(want.path, DecodePath::Values);
    assert_eq!(got.batch, want.batch);
    assert_eq!(got.key_hashes, want.key_hashes);
    assert_eq!((got.count, got.offset(1)), (Some(2), 8));
}

/// Most generated pages take a streaming walk, many the scanner (else the
/// differential tests above would only compare the `Value` path with itself).
#[test]
fn most_generated_pages_stream() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let columns = columns(true);
    let decoder = PageDecoder::new(&columns, Some("id"), RecordsAt::Auto);
    let (mut scanned, mut streamed, mut values, mut failed) = (0, 0, 0, 0);
    for _ in 0..300 {
        let (body, _) = page().new_tree(&mut runner).unwrap().current();
        let mut errors = TypeErrors::new(OnTypeError::Null);
        match decoder.decode_page(body.as_bytes(), 0, &mut errors) {
            Ok(d) if d.path == DecodePath::Scanned => scanned += 1,
            Ok(d) if d.path == DecodePath::Streamed => streamed += 1,
            Ok(_) => values += 1,
            Err(_) => failed += 1,
        }
    }
    let seen = format!("scanned {scanned}, streamed {streamed}, Value path {values}, errors {failed}");
    eprintln!("{seen}");
    assert!(scanned >= 50 && streamed >= 10 && scanned + streamed >= 100, "{seen}");
}
