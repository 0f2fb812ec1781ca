//! The cheap check of a page body the pager runs before handing the bytes
//! on: [`check_page`] walks the JSON once without building it (every value
//! is syntax-checked and skipped with `serde::de::IgnoredAny`, only an
//! envelope's `count` is read as a value) and answers how many records sit
//! where `api.records` says, with the envelope's `count`, or the same
//! message [`extract_records`](super::extract_records) gives for a body that
//! is not the records asked for (then the client retries it). It does not
//! read the records: the run's `PageDecoder` does, once. [`page_records`]
//! is the `serde_json::Value` reading of a checked body, for the first page
//! of a run that infers its types and for the pages that go the `Value` way.

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use super::records::{extract_records, parse_body};
use crate::job::RecordsAt;

/// What a checked page body holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shape {
    /// Records in the array where `api.records` says.
    pub records: u64,
    /// A believable `count` from the envelope.
    pub count: Option<u64>,
    /// Why the envelope's `count` was ignored.
    pub count_ignored: Option<String>,
}

/// Checks that `bytes` is JSON with an array of records where `at` says;
/// `Err` is the reason (for the retry and the final error), worded like
/// [`extract_records`](super::extract_records)'s.
pub fn check_page(bytes: &[u8], at: &RecordsAt) -> Result<Shape, String> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let body = TopSeed { at }
        .deserialize(&mut de)
        .and_then(|body| de.end().map(|()| body))
        .map_err(|e| format!("not JSON: {e}"))?;
    body.into_shape(at)
}

/// The records of a checked body as `serde_json::Value`s.
pub fn page_records(bytes: &[u8], at: &RecordsAt) -> Result<Vec<Value>, String> {
    let value = parse_body(bytes).map_err(|e| format!("not JSON: {e}"))?;
    extract_records(value, at).map(|e| e.records)
}

/// A value where records may be: an array of `n`, or something else.
#[derive(Debug, Clone, Copy)]
enum Found {
    /// An array of `n` values; the first that is not an object, if any
    /// (its index and what it is).
    Array(u64, Option<(u64, &'static str)>),
    Other(&'static str),
}

/// What the top level of a body was.
enum Body {
    Found(Found),
    Envelope {
        /// The last value of each wanted key (`result`, `results` or the
        /// named key), in that order.
        wanted: [Option<Found>; 2],
        count: Option<Value>,
        /// Its first keys, for the error message.
        keys: Vec<String>,
    },
}

impl Body {
    fn into_shape(self, at: &RecordsAt) -> Result<Shape, String> {
        match (self, at) {
            (Body::Found(Found::Array(_, Some((i, kind)))), RecordsAt::Auto) => {
                Err(super::records::not_a_record(i, kind))
            }
            (Body::Found(Found::Array(records, None)), RecordsAt::Auto) => Ok(Shape {
                records,
                count: None,
                count_ignored: None,
            }),
            (Body::Envelope { wanted, count, keys }, at) => {
                let (count, count_ignored) = match &count {
                    None | Some(Value::Null) => (None, None),
                    Some(c) => match crate::http::count_value(Some(c)) {
                        Ok(n) => (Some(n), None),
                        Err(why) => (None, Some(why)),
                    },
                };
                let names = wanted_keys(at);
                for (key, found) in names.iter().zip(wanted) {
                    match found {
                        Some(Found::Array(_, Some((i, kind)))) => return Err(super::records::not_a_record(i, kind)),
                        Some(Found::Array(records, None)) => {
                            return Ok(Shape {
                                records,
                                count,
                                count_ignored,
                            });
                        }
                        Some(Found::Other(kind)) => {
                            return Err(format!("\"{key}\" is {kind}, not an array of records"));
                        }
                        None => {}
                    }
                }
                let wanted = match at {
                    RecordsAt::Auto => "a JSON array or an object with \"result\" or \"results\"".to_string(),
                    RecordsAt::Key(key) => format!("an object with \"{key}\" (api.records)"),
                };
                Err(format!("expected {wanted}; the object has keys {keys:?}"))
            }
            (Body::Found(found), RecordsAt::Key(key)) => Err(format!(
                "expected an object with \"{key}\" (api.records), got {}",
                found.kind()
            )),
            (Body::Found(found), RecordsAt::Auto) => {
                Err(format!("expected a JSON array of records, got {}", found.kind()))
            }
        }
    }
}

impl Found {
    fn kind(self) -> &'static str {
        match self {
            Found::Array(..) => "an array",
            Found::Other(kind) => kind,
        }
    }
}

/// The keys records may sit under, in the order they are looked for.
fn wanted_keys(at: &RecordsAt) -> Vec<&str> {
    match at {
        RecordsAt::Auto => vec!["result", "results"],
        RecordsAt::Key(key) => vec![key.as_str()],
    }
}

/// Keys the error message lists at most.
const KEYS_SHOWN: usize = 8;

struct TopSeed<'a> {
    at: &'a RecordsAt,
}

impl<'de> DeserializeSeed<'de> for TopSeed<'_> {
    type Value = Body;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Body, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for TopSeed<'_> {
    type Value = Body;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any valid JSON value")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Body, A::Error> {
        FoundVisitor.visit_seq(seq).map(Body::Found)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Body, A::Error> {
        let names = wanted_keys(self.at);
        let mut wanted = [None, None];
        let mut count = None;
        let mut keys: Vec<String> = Vec::new();
        while let Some(key) = map.next_key_seed(KeySeed {
            names: &names,
            keys: &mut keys,
        })? {
            match key {
                Key::Count => count = Some(map.next_value::<Value>()?),
                Key::Wanted(i) => wanted[i] = Some(map.next_value_seed(FoundSeed)?),
                Key::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Body::Envelope { wanted, count, keys })
    }

    fn visit_bool<E>(self, _: bool) -> Result<Body, E> {
        Ok(Body::Found(Found::Other("a boolean")))
    }

    fn visit_i64<E>(self, _: i64) -> Result<Body, E> {
        Ok(Body::Found(Found::Other("a number")))
    }

    fn visit_u64<E>(self, _: u64) -> Result<Body, E> {
        Ok(Body::Found(Found::Other("a number")))
    }

    fn visit_f64<E>(self, _: f64) -> Result<Body, E> {
        Ok(Body::Found(Found::Other("a number")))
    }

    fn visit_str<E>(self, _: &str) -> Result<Body, E> {
        Ok(Body::Found(Found::Other("a string")))
    }

    fn visit_unit<E>(self) -> Result<Body, E> {
        Ok(Body::Found(Found::Other("null")))
    }
}

/// An envelope key, classified.
enum Key {
    Count,
    Wanted(usize),
    Other,
}

struct KeySeed<'a, 'n> {
    names: &'a [&'n str],
    keys: &'a mut Vec<String>,
}

impl<'de> DeserializeSeed<'de> for KeySeed<'_, '_> {
    type Value = Key;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Key, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed<'_, '_> {
    type Value = Key;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E>(self, v: &str) -> Result<Key, E> {
        if self.keys.len() < KEYS_SHOWN && !self.keys.iter().any(|k| k == v) {
            self.keys.push(v.to_string());
        }
        // The named key wins over `count` when they are the same.
        if let Some(i) = self.names.iter().position(|n| *n == v) {
            return Ok(Key::Wanted(i));
        }
        Ok(if v == "count" { Key::Count } else { Key::Other })
    }
}

struct FoundSeed;

impl<'de> DeserializeSeed<'de> for FoundSeed {
    type Value = Found;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Found, D::Error> {
        deserializer.deserialize_any(FoundVisitor)
    }
}

/// Counts an array's items (each syntax-checked and skipped), or names
/// what came instead.
struct FoundVisitor;

impl<'de> Visitor<'de> for FoundVisitor {
    type Value = Found;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any valid JSON value")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Found, A::Error> {
        let mut n = 0u64;
        let mut first_other = None;
        while let Some(item) = seq.next_element_seed(FoundSeed)? {
            let kind = item.kind();
            if kind != "an object" && first_other.is_none() {
                first_other = Some((n, kind));
            }
            n = n.saturating_add(1);
        }
        Ok(Found::Array(n, first_other))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Found, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Found::Other("an object"))
    }

    fn visit_bool<E>(self, _: bool) -> Result<Found, E> {
        Ok(Found::Other("a boolean"))
    }

    fn visit_i64<E>(self, _: i64) -> Result<Found, E> {
        Ok(Found::Other("a number"))
    }

    fn visit_u64<E>(self, _: u64) -> Result<Found, E> {
        Ok(Found::Other("a number"))
    }

    fn visit_f64<E>(self, _: f64) -> Result<Found, E> {
        Ok(Found::Other("a number"))
    }

    fn visit_str<E>(self, _: &str) -> Result<Found, E> {
        Ok(Found::Other("a string"))
    }

    fn visit_unit<E>(self) -> Result<Found, E> {
        Ok(Found::Other("null"))
    }
}

#[cfg(test)]
#[path = "shape_tests.rs"]
mod tests;
