//! Where the records sit in an organizations response: a bare JSON array,
//! or the array under `result` / `results` (`records = "auto"`), or under a
//! key the job names. An envelope's `count` is returned as a hint. Also
//! [`parse_body`], the response bytes -> `serde_json::Value` parse of the
//! hot path, which sizes every object and array once instead of growing it.

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

use crate::job::RecordsAt;

/// The records of one page, and the envelope's total count if it sent one.
#[derive(Debug, Default)]
pub struct Extracted {
    pub records: Vec<Value>,
    /// A believable `count` from the envelope.
    pub count: Option<u64>,
    /// Why the envelope's `count` was ignored (negative, fractional, huge,
    /// a string), to warn about.
    pub count_ignored: Option<String>,
}

/// The records of one page and the envelope's total count, if it sent one.
pub fn extract_records(body: Value, at: &RecordsAt) -> Result<Extracted, String> {
    let extracted = extract_any(body, at)?;
    match extracted.records.iter().position(|r| !r.is_object()) {
        None => Ok(extracted),
        Some(i) => Err(not_a_record(i as u64, kind(&extracted.records[i]))),
    }
}

/// Why a records array with a value that is not an object is not a page of
/// records (`index` from 0): the same words from `check_page`.
pub(crate) fn not_a_record(index: u64, kind: &str) -> String {
    format!("record {index} of the page is {kind}, not a JSON object")
}

fn extract_any(body: Value, at: &RecordsAt) -> Result<Extracted, String> {
    match (body, at) {
        (Value::Array(records), RecordsAt::Auto) => Ok(Extracted {
            records,
            ..Extracted::default()
        }),
        (Value::Object(mut map), at) => {
            let (count, count_ignored) = match map.get("count") {
                None | Some(Value::Null) => (None, None),
                Some(c) => match crate::http::count_value(Some(c)) {
                    Ok(n) => (Some(n), None),
                    Err(why) => (None, Some(why)),
                },
            };
            let named;
            let keys: &[&str] = match at {
                RecordsAt::Auto => &["result", "results"],
                RecordsAt::Key(key) => {
                    named = [key.as_str()];
                    &named
                }
            };
            for key in keys {
                match map.remove(*key) {
                    Some(Value::Array(records)) => {
                        return Ok(Extracted {
                            records,
                            count,
                            count_ignored,
                        });
                    }
                    Some(other) => return Err(format!("\"{key}\" is {}, not an array of records", kind(&other))),
                    None => {}
                }
            }
            let wanted = match at {
                RecordsAt::Auto => "a JSON array or an object with \"result\" or \"results\"".to_string(),
                RecordsAt::Key(key) => format!("an object with \"{key}\" (api.records)"),
            };
            let found: Vec<&str> = map.keys().map(String::as_str).take(8).collect();
            Err(format!("expected {wanted}; the object has keys {found:?}"))
        }
        (other, RecordsAt::Key(key)) => Err(format!(
            "expected an object with \"{key}\" (api.records), got {}",
            kind(&other)
        )),
        (other, RecordsAt::Auto) => Err(format!("expected a JSON array of records, got {}", kind(&other))),
    }
}

/// Parses a response body into the same `Value` `serde_json::from_slice`
/// builds (same key order, last of duplicate keys wins, same numbers, same
/// errors), but collects each object's entries and each array's items in a
/// scratch buffer per nesting depth first and then allocates the map or
/// vector once at its final size. `serde_json`'s own visitor grows them
/// from empty: that regrowth (IndexMap rehash and copy) was about 8% of a
/// Parquet run's CPU (callgrind).
pub fn parse_body(bytes: &[u8]) -> Result<Value, serde_json::Error> {
    let mut scratch = Scratch::default();
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = ValueSeed {
        scratch: &mut scratch,
        depth: 0,
    }
    .deserialize(&mut de)?;
    de.end()?;
    Ok(value)
}

/// Reused per nesting depth: entries of the object / items of the array
/// being read at that depth.
#[derive(Default)]
struct Scratch {
    entries: Vec<Vec<(String, Value)>>,
    items: Vec<Vec<Value>>,
}

struct ValueSeed<'s> {
    scratch: &'s mut Scratch,
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any valid JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        self.deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let depth = self.depth;
        if self.scratch.items.len() <= depth {
            self.scratch.items.resize_with(depth + 1, Vec::new);
        }
        let mut buf = std::mem::take(&mut self.scratch.items[depth]);
        buf.clear();
        let read = (|| {
            while let Some(v) = seq.next_element_seed(ValueSeed {
                scratch: &mut *self.scratch,
                depth: depth + 1,
            })? {
                buf.push(v);
            }
            Ok(())
        })();
        // Exactly sized; `buf` keeps its capacity for the next array here.
        let mut out = Vec::with_capacity(buf.len());
        out.append(&mut buf);
        self.scratch.items[depth] = buf;
        read.map(|()| Value::Array(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let depth = self.depth;
        if self.scratch.entries.len() <= depth {
            self.scratch.entries.resize_with(depth + 1, Vec::new);
        }
        let mut buf = std::mem::take(&mut self.scratch.entries[depth]);
        buf.clear();
        let read = (|| {
            while let Some(key) = map.next_key::<String>()? {
                let value = map.next_value_seed(ValueSeed {
                    scratch: &mut *self.scratch,
                    depth: depth + 1,
                })?;
                buf.push((key, value));
            }
            Ok(())
        })();
        let mut out = Map::with_capacity(buf.len());
        for (k, v) in buf.drain(..) {
            out.insert(k, v);
        }
        self.scratch.entries[depth] = buf;
        read.map(|()| Value::Object(out))
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// `parse_body` builds exactly what `serde_json::from_slice` builds, and
    /// fails where it fails.
    #[test]
    fn parse_body_equals_serde_json() {
        let docs = [
            r#"[{"b":1,"a":{"y":[1,2.5,-3,18446744073709551615],"x":null},"c":"Ä\n\u00e4"},{}]"#,
            r#"{"result":[{"k":1,"k":2,"j":true}],"count":3,"next":null}"#,
            r#"[[[[]]],{"":""},false,0,-0.0,1.5e-7,"\"q\""]"#,
            "  [ 1 , { \"a\" : [ ] } ]  ",
            r#""text""#,
            "null",
        ];
        for doc in docs {
            let want: Value = serde_json::from_str(doc).unwrap();
            let got = parse_body(doc.as_bytes()).unwrap();
            assert_eq!(got, want, "{doc}");
            assert_eq!(got.to_string(), want.to_string(), "key order of {doc}");
        }
        for bad in ["", "[1e400]", "[1,", "{\"a\" 1}", "[1] x", "[01]", "{\"a\":[}"] {
            let want = serde_json::from_str::<Value>(bad).unwrap_err();
            let got = parse_body(bad.as_bytes()).unwrap_err();
            assert_eq!(got.to_string(), want.to_string(), "{bad:?}");
        }
    }

    #[test]
    fn shapes_table() {
        let auto = RecordsAt::Auto;
        let data = RecordsAt::Key("data".into());
        type Want = Result<(usize, Option<u64>), &'static str>;
        let cases: Vec<(Value, &RecordsAt, Want)> = vec![
            (json!([{"a": 1}, {"a": 2}]), &auto, Ok((2, None))),
            (json!([]), &auto, Ok((0, None))),
            (
                json!({"result": [{"a": 1}], "count": 10, "next": 1}),
                &auto,
                Ok((1, Some(10))),
            ),
            (json!({"results": [{"a": 1}, {}]}), &auto, Ok((2, None))),
            (json!({"result": [{"a": 1}], "count": -4}), &auto, Ok((1, None))),
            (json!({"result": [{"a": 1}], "count": "10"}), &auto, Ok((1, None))),
            (json!({"result": [], "count": 1e30}), &auto, Ok((0, None))),
            (json!({"data": [{"a": 1}], "count": 3}), &data, Ok((1, Some(3)))),
            (json!({"detail": "x"}), &auto, Err("the object has keys [\"detail\"]")),
            (json!({"result": {"a": 1}}), &auto, Err("\"result\" is an object")),
            (json!([{"a": 1}]), &data, Err("expected an object with \"data\"")),
            (json!("text"), &auto, Err("got a string")),
        ];
        for (body, at, want) in cases {
            let got = extract_records(body.clone(), at);
            match (got, want) {
                (Ok(e), Ok((n, c))) => {
                    assert_eq!((e.records.len(), e.count), (n, c), "{body}");
                }
                (Err(msg), Err(part)) => assert!(msg.contains(part), "{msg} lacks {part}"),
                (got, want) => panic!("{body}: got {got:?}, want {want:?}"),
            }
        }
    }
}
