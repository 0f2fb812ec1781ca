//! Output columns and the dotted field paths that feed them. A path walks
//! nested objects; through a list of objects it yields a list
//! (`official_industries.code` -> `["62", "63"]`). Missing or null on the way
//! gives null. This file knows nothing of formats or types' encodings.

use std::io::{self, Write};

use serde_json::Value;

/// The type of an output column (SPEC section 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    String,
    Int64,
    Float64,
    Bool,
    Date,
    Timestamp,
    ListString,
    ListInt64,
    ListFloat64,
    Json,
}

impl ColumnType {
    /// The name used in schema files and the manifest.
    pub fn name(self) -> &'static str {
        match self {
            ColumnType::String => "string",
            ColumnType::Int64 => "int64",
            ColumnType::Float64 => "float64",
            ColumnType::Bool => "bool",
            ColumnType::Date => "date",
            ColumnType::Timestamp => "timestamp",
            ColumnType::ListString => "list<string>",
            ColumnType::ListInt64 => "list<int64>",
            ColumnType::ListFloat64 => "list<float64>",
            ColumnType::Json => "json",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|t| t.name() == s)
    }

    pub const ALL: [ColumnType; 10] = [
        ColumnType::String,
        ColumnType::Int64,
        ColumnType::Float64,
        ColumnType::Bool,
        ColumnType::Date,
        ColumnType::Timestamp,
        ColumnType::ListString,
        ColumnType::ListInt64,
        ColumnType::ListFloat64,
        ColumnType::Json,
    ];
}

/// One output column.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub name: String,
    pub path: FieldPath,
    pub kind: ColumnType,
    pub nullable: bool,
}

impl Column {
    /// A column for a job field without a schema: named by the path with
    /// `.` replaced by `_`.
    pub fn for_field(path: &str, kind: ColumnType) -> Column {
        Column {
            name: path.replace('.', "_"),
            path: FieldPath::parse(path),
            kind,
            nullable: true,
        }
    }
}

/// A dotted path into a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldPath {
    text: String,
    segments: Vec<String>,
}

impl FieldPath {
    pub fn parse(text: &str) -> FieldPath {
        FieldPath {
            text: text.to_string(),
            segments: text.split('.').map(str::to_string).collect(),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn segments(&self) -> &[String] {
        &self.segments
    }

    /// The value at this path. Through a list of objects, a list of the
    /// values at the rest of the path (one per element, null where missing).
    pub fn extract<'a>(&self, record: &'a Value) -> Extracted<'a> {
        extract_from(record, &self.segments)
    }

    /// Follows the path without building anything: stops at the first list
    /// met with path left, handing back its items and the path still to
    /// follow inside each (what [`extract`](Self::extract) would turn into
    /// `Extracted::Many`). For the hot path of list columns.
    pub(crate) fn walk<'a, 'p>(&'p self, record: &'a Value) -> Walk<'a, 'p> {
        walk_from(record, &self.segments)
    }

    /// Like [`extract`](Self::extract), as an owned JSON value.
    pub fn extract_value(&self, record: &Value) -> Value {
        self.extract(record).into_value()
    }
}

/// The result of following a path: borrowed when it is one value in the
/// record, built when the path went through a list.
#[derive(Debug, Clone, PartialEq)]
pub enum Extracted<'a> {
    Missing,
    One(&'a Value),
    Many(Vec<Extracted<'a>>),
}

impl Extracted<'_> {
    pub fn into_value(self) -> Value {
        match self {
            Extracted::Missing => Value::Null,
            Extracted::One(v) => v.clone(),
            Extracted::Many(items) => Value::Array(items.into_iter().map(|e| e.into_value()).collect()),
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Extracted::Missing | Extracted::One(Value::Null))
    }

    /// Writes the value as compact JSON text (missing is `null`; a path
    /// through a list gives a JSON array). No allocation beyond what `out` does.
    pub fn write_json<W: Write>(&self, out: &mut W) -> io::Result<()> {
        match self {
            Extracted::Missing => out.write_all(b"null"),
            Extracted::One(v) => serde_json::to_writer(out, v).map_err(io::Error::from),
            Extracted::Many(items) => {
                out.write_all(b"[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.write_all(b",")?;
                    }
                    item.write_json(out)?;
                }
                out.write_all(b"]")
            }
        }
    }
}

/// Maps up to this size are searched by comparing keys in order.
const LINEAR_LOOKUP_MAX: usize = 16;

/// `map[key]`. A record's objects are small (a few to a dozen keys) and
/// `serde_json`'s map hashes with SipHash: comparing the keys in order is
/// several times cheaper than hashing the key (measured with callgrind:
/// ~470 instructions per extract before, 5% of a Parquet run).
fn lookup<'a>(map: &'a serde_json::Map<String, Value>, key: &str) -> Option<&'a Value> {
    if map.len() <= LINEAR_LOOKUP_MAX {
        map.iter().find_map(|(k, v)| (k == key).then_some(v))
    } else {
        map.get(key)
    }
}

/// Where a path leads, borrowed (see [`FieldPath::walk`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Walk<'a, 'p> {
    Missing,
    One(&'a Value),
    /// A list met with `rest` of the path left: each item continues there.
    Fan {
        items: &'a [Value],
        rest: &'p [String],
    },
}

/// [`FieldPath::walk`] from `value` along `rest`.
pub(crate) fn walk_from<'a, 'p>(value: &'a Value, rest: &'p [String]) -> Walk<'a, 'p> {
    let Some((head, tail)) = rest.split_first() else {
        return Walk::One(value);
    };
    match value {
        Value::Object(map) => match lookup(map, head) {
            Some(next) => walk_from(next, tail),
            None => Walk::Missing,
        },
        Value::Array(items) => Walk::Fan { items, rest },
        _ => Walk::Missing,
    }
}

/// The value at the path `rest` below `value` (what [`FieldPath::extract`]
/// does from a record's root), for a reader that stopped part way down.
pub(crate) fn extract_at<'a>(value: &'a Value, rest: &[String]) -> Extracted<'a> {
    extract_from(value, rest)
}

fn extract_from<'a>(value: &'a Value, rest: &[String]) -> Extracted<'a> {
    let Some((head, tail)) = rest.split_first() else {
        return Extracted::One(value);
    };
    match value {
        Value::Object(map) => match lookup(map, head) {
            Some(next) => extract_from(next, tail),
            None => Extracted::Missing,
        },
        Value::Array(items) => Extracted::Many(items.iter().map(|item| extract_from(item, rest)).collect()),
        _ => Extracted::Missing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn extract_table() {
        let record = json!({
            "business_id": "FI1",
            "financial_data": {"revenue": 10, "profit": null},
            "empty": null,
            "official_industries": [{"code": "62"}, {"code": "63", "description": "x"}, {}],
            "tags": ["a", "b"],
            "nested": [[{"a": 1}], [{"a": 2}]],
        });
        let cases: &[(&str, Value)] = &[
            ("business_id", json!("FI1")),
            ("financial_data.revenue", json!(10)),
            ("financial_data.profit", Value::Null),
            ("financial_data.missing", Value::Null),
            ("empty.deeper", Value::Null),
            ("nope", Value::Null),
            ("business_id.deeper", Value::Null),
            ("official_industries.code", json!(["62", "63", null])),
            (
                "official_industries",
                json!([{"code": "62"}, {"code": "63", "description": "x"}, {}]),
            ),
            ("tags", json!(["a", "b"])),
            ("nested.a", json!([[1], [2]])),
            ("financial_data", json!({"revenue": 10, "profit": null})),
        ];
        for (path, want) in cases {
            assert_eq!(&FieldPath::parse(path).extract_value(&record), want, "path {path}");
        }
    }

    /// `walk` agrees with `extract`: a Fan's items, each walked on, are
    /// exactly the items of `Extracted::Many`.
    #[test]
    fn walk_matches_extract() {
        let record = json!({
            "a": {"b": 1},
            "l": [{"c": "62"}, {}, {"c": [1]}, 5],
            "tags": ["x"],
        });
        fn flatten<'a>(w: Walk<'a, '_>) -> Extracted<'a> {
            match w {
                Walk::Missing => Extracted::Missing,
                Walk::One(v) => Extracted::One(v),
                Walk::Fan { items, rest } => {
                    Extracted::Many(items.iter().map(|i| flatten(walk_from(i, rest))).collect())
                }
            }
        }
        for path in ["a.b", "a", "a.x", "l.c", "l", "tags", "tags.x", "nope.deeper", "a.b.c"] {
            let p = FieldPath::parse(path);
            assert_eq!(flatten(p.walk(&record)), p.extract(&record), "path {path}");
        }
        assert!(matches!(FieldPath::parse("l.c").walk(&record), Walk::Fan { items, .. } if items.len() == 4));
    }

    #[test]
    fn lookup_finds_keys_in_small_and_large_maps() {
        for n in [0usize, 1, 16, 17, 40] {
            let map: serde_json::Map<String, Value> = (0..n).map(|i| (format!("k{i}"), json!(i))).collect();
            for i in 0..n {
                assert_eq!(lookup(&map, &format!("k{i}")), Some(&json!(i)), "{n} keys");
            }
            assert_eq!(lookup(&map, "absent"), None, "{n} keys");
        }
    }

    #[test]
    fn column_names_replace_dots() {
        assert_eq!(
            Column::for_field("financial_data.revenue", ColumnType::Json).name,
            "financial_data_revenue"
        );
    }

    #[test]
    fn type_names_round_trip() {
        for t in ColumnType::ALL {
            assert_eq!(ColumnType::parse(t.name()), Some(t));
        }
        assert_eq!(ColumnType::parse("decimal"), None);
    }
}
