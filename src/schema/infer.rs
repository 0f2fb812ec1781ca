//! Schema inference for runs without a schema file, and the schema file
//! text `orgsync schema infer` prints. Rules, per field over the sample:
//! - null or missing everywhere -> `string`;
//! - strings that all parse as `YYYY-MM-DD` -> `date`; that all parse as an
//!   ISO timestamp (dates allowed among them) -> `timestamp`; else `string`;
//! - integers -> `int64`; any float among them (or an integer beyond i64)
//!   -> `float64`; bools -> `bool`;
//! - lists (or paths through lists of objects) of strings / integers /
//!   numbers -> `list<string|int64|float64>` (empty lists and null items
//!   say nothing; a list never seen with an item is `list<string>`);
//! - objects, lists of objects or lists, lists of bools, and mixed kinds
//!   -> `json`.
//!
//! A type known beforehand (the API's fields catalog, see [`infer_with`])
//! wins over all of these; the sample decides only where there is none.
//!
//! Columns are named by the path with `.` replaced by `_`, all nullable.
//! It does not read files or talk to the API.

use serde_json::Value;

use super::column::{Column, ColumnType, Extracted, FieldPath};
use super::file::OnTypeError;
use super::time::{parse_date, parse_timestamp};

/// What the sample says about one field (or one list's items).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    Nothing,
    Int,
    Float,
    Bool,
    Date,
    Timestamp,
    Text,
    /// A list whose items were seen as the inner kind (`Nothing`, `Int`,
    /// `Float` or `Text`).
    List(Item),
    Json,
}

/// The kinds a list item may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Item {
    Nothing,
    Int,
    Float,
    Text,
}

/// Infers column types for `fields` from `sample` records.
pub fn infer(fields: &[String], sample: &[Value]) -> Vec<Column> {
    infer_with(fields, sample, &|_| None)
        .into_iter()
        .map(|(c, _)| c)
        .collect()
}

/// Where an inferred column's type came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypeSource {
    /// The API's fields catalog.
    Catalog,
    /// The sampled records (the first page, for a run).
    Sample,
}

/// Like [`infer`], with the type `known` gives for a path (the fields
/// catalog's) taking precedence; the sample decides only where it gives none.
pub fn infer_with(
    fields: &[String],
    sample: &[Value],
    known: &dyn Fn(&str) -> Option<ColumnType>,
) -> Vec<(Column, TypeSource)> {
    fields
        .iter()
        .map(|field| {
            if let Some(kind) = known(field) {
                return (Column::for_field(field, kind), TypeSource::Catalog);
            }
            let path = FieldPath::parse(field);
            let seen = sample
                .iter()
                .fold(Seen::Nothing, |acc, record| merge(acc, classify(&path.extract(record))));
            (Column::for_field(field, kind_of(seen)), TypeSource::Sample)
        })
        .collect()
}

fn kind_of(seen: Seen) -> ColumnType {
    match seen {
        Seen::Nothing | Seen::Text => ColumnType::String,
        Seen::Int => ColumnType::Int64,
        Seen::Float => ColumnType::Float64,
        Seen::Bool => ColumnType::Bool,
        Seen::Date => ColumnType::Date,
        Seen::Timestamp => ColumnType::Timestamp,
        Seen::List(Item::Int) => ColumnType::ListInt64,
        Seen::List(Item::Float) => ColumnType::ListFloat64,
        Seen::List(Item::Nothing | Item::Text) => ColumnType::ListString,
        Seen::Json => ColumnType::Json,
    }
}

fn classify(value: &Extracted<'_>) -> Seen {
    match value {
        Extracted::Missing => Seen::Nothing,
        Extracted::One(v) => classify_value(v),
        Extracted::Many(items) => items.iter().fold(Seen::List(Item::Nothing), |acc, item| {
            let one = match item {
                Extracted::Missing => Item::Nothing,
                Extracted::One(v) => match item_of(v) {
                    Some(i) => i,
                    None => return Seen::Json,
                },
                Extracted::Many(_) => return Seen::Json,
            };
            merge(acc, Seen::List(one))
        }),
    }
}

fn classify_value(v: &Value) -> Seen {
    match v {
        Value::Null => Seen::Nothing,
        Value::Bool(_) => Seen::Bool,
        Value::Number(n) if n.is_i64() => Seen::Int,
        Value::Number(_) => Seen::Float,
        Value::String(s) if parse_date(s).is_some() && s.len() == 10 => Seen::Date,
        Value::String(s) if parse_timestamp(s).is_some() => Seen::Timestamp,
        Value::String(_) => Seen::Text,
        Value::Array(items) => items.iter().fold(Seen::List(Item::Nothing), |acc, v| match item_of(v) {
            Some(i) => merge(acc, Seen::List(i)),
            None => Seen::Json,
        }),
        Value::Object(_) => Seen::Json,
    }
}

/// A list item's kind; `None` when lists cannot hold it (objects, lists, bools).
fn item_of(v: &Value) -> Option<Item> {
    match v {
        Value::Null => Some(Item::Nothing),
        Value::Number(n) if n.is_i64() => Some(Item::Int),
        Value::Number(_) => Some(Item::Float),
        Value::String(_) => Some(Item::Text),
        _ => None,
    }
}

fn merge(a: Seen, b: Seen) -> Seen {
    use Seen::*;
    match (a, b) {
        (x, Nothing) | (Nothing, x) => x,
        (x, y) if x == y => x,
        (Int, Float) | (Float, Int) => Float,
        (Date, Timestamp) | (Timestamp, Date) => Timestamp,
        (Date | Timestamp | Text, Date | Timestamp | Text) => Text,
        (List(x), List(y)) => match merge_item(x, y) {
            Some(i) => List(i),
            None => Json,
        },
        _ => Json,
    }
}

fn merge_item(a: Item, b: Item) -> Option<Item> {
    match (a, b) {
        (x, Item::Nothing) | (Item::Nothing, x) => Some(x),
        (x, y) if x == y => Some(x),
        (Item::Int, Item::Float) | (Item::Float, Item::Int) => Some(Item::Float),
        _ => None,
    }
}

/// A schema file (TOML) that `load_schema` accepts and that reproduces `columns`.
pub fn to_toml(columns: &[Column], on_type_error: OnTypeError) -> String {
    let types: Vec<&str> = ColumnType::ALL.iter().map(|t| t.name()).collect();
    let mut out = String::new();
    out.push_str("# orgsync schema file (SPEC section 4).\n");
    out.push_str("# type: ");
    out.push_str(&types.join(" "));
    out.push('\n');
    out.push_str("# \"fail\": a value that does not fit its column fails the run (exit 1);\n");
    out.push_str("# \"null\": it is written as null, counted in the manifest, warned once per column.\n");
    out.push_str(&format!("on_type_error = {}\n", quote(on_type_error.name())));
    for c in columns {
        out.push_str("\n[[columns]]\n");
        out.push_str(&format!("name = {}\n", quote(&c.name)));
        out.push_str(&format!("path = {}\n", quote(c.path.as_str())));
        out.push_str(&format!("type = {}\n", quote(c.kind.name())));
        out.push_str(&format!("nullable = {}\n", c.nullable));
    }
    out
}

/// A TOML basic string.
fn quote(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::file::parse_schema;
    use serde_json::json;
    use std::path::Path;

    fn one(field: &str, values: &[Value]) -> ColumnType {
        let sample: Vec<Value> = values.iter().map(|v| json!({ "f": v })).collect();
        let path = format!("f{field}");
        infer(&[path], &sample)[0].kind
    }

    #[test]
    fn inference_table() {
        use ColumnType::*;
        let cases: Vec<(&str, Vec<Value>, ColumnType)> = vec![
            ("all null -> string", vec![json!(null), json!(null)], String),
            ("no values -> string", vec![], String),
            ("ints", vec![json!(1), json!(null), json!(-3)], Int64),
            ("ints and floats", vec![json!(1), json!(2.5)], Float64),
            ("u64 beyond i64", vec![json!(18446744073709551615u64)], Float64),
            ("bools", vec![json!(true), json!(false)], Bool),
            (
                "dates",
                vec![json!("2020-01-31"), json!(null), json!("1999-12-01")],
                Date,
            ),
            ("timestamps", vec![json!("2023-01-31T09:24:30.201000")], Timestamp),
            (
                "dates + timestamps",
                vec![json!("2023-01-31"), json!("2023-01-31T09:24:30")],
                Timestamp,
            ),
            ("dates + text", vec![json!("2023-01-31"), json!("soon")], String),
            ("text", vec![json!("Oy"), json!("")], String),
            (
                "list of strings",
                vec![json!(["a"]), json!([]), json!(null)],
                ListString,
            ),
            ("empty lists only", vec![json!([]), json!([])], ListString),
            ("list of ints", vec![json!([1, null, 2])], ListInt64),
            ("list of ints+floats", vec![json!([1]), json!([2.5])], ListFloat64),
            ("list of bools", vec![json!([true])], Json),
            ("list of objects", vec![json!([{"a": 1}])], Json),
            ("list of lists", vec![json!([[1]])], Json),
            ("list of mixed", vec![json!([1, "a"])], Json),
            ("object", vec![json!({"a": 1})], Json),
            ("int + string", vec![json!(1), json!("1")], Json),
            ("string + list", vec![json!("a"), json!(["a"])], Json),
            ("bool + int", vec![json!(true), json!(1)], Json),
        ];
        for (what, values, want) in cases {
            assert_eq!(one("", &values), want, "{what}");
        }
    }

    #[test]
    fn paths_through_lists_of_objects() {
        use ColumnType::*;
        let cases: Vec<(Vec<Value>, ColumnType)> = vec![
            (vec![json!([{"c": "62"}, {"c": null}, {}]), json!([])], ListString),
            (vec![json!([{"c": 1}]), json!([{"c": 2.5}])], ListFloat64),
            (vec![json!([{"c": 1}]), json!(null)], ListInt64),
            (vec![json!([{"c": {"x": 1}}])], Json),
            (vec![json!([{"c": [1]}])], Json),
            (vec![json!([{}])], ListString),
        ];
        for (values, want) in cases {
            assert_eq!(one(".c", &values), want, "{values:?}");
        }
    }

    #[test]
    fn known_types_come_first_the_sample_fills_the_rest() {
        let fields = vec!["a".to_string(), "b".to_string(), "c".to_string()];
        // The sample says a is an int and b a string; the catalog knows a and c.
        let sample = vec![json!({"a": 1, "b": "x", "c": null})];
        let known = |p: &str| match p {
            "a" => Some(ColumnType::Float64),
            "c" => Some(ColumnType::Date),
            _ => None,
        };
        let got: Vec<(ColumnType, TypeSource)> = infer_with(&fields, &sample, &known)
            .into_iter()
            .map(|(c, s)| (c.kind, s))
            .collect();
        assert_eq!(
            got,
            [
                (ColumnType::Float64, TypeSource::Catalog),
                (ColumnType::String, TypeSource::Sample),
                (ColumnType::Date, TypeSource::Catalog),
            ]
        );
    }

    #[test]
    fn columns_are_named_by_path_in_field_order() {
        let fields = vec!["financial_data.revenue".to_string(), "business_id".to_string()];
        let sample = vec![json!({"business_id": "FI1", "financial_data": {"revenue": 10}})];
        let cols = infer(&fields, &sample);
        let names: Vec<&str> = cols.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["financial_data_revenue", "business_id"]);
        assert_eq!(cols[0].path.as_str(), "financial_data.revenue");
        assert!(cols.iter().all(|c| c.nullable));
    }

    #[test]
    fn to_toml_loads_back_to_the_same_columns() {
        let mut columns: Vec<Column> = ColumnType::ALL
            .iter()
            .enumerate()
            .map(|(i, t)| Column::for_field(&format!("a.b{i}"), *t))
            .collect();
        columns[0].name = "odd \"name\" ä\\".into();
        columns[1].nullable = false;
        for policy in [OnTypeError::Fail, OnTypeError::Null] {
            let text = to_toml(&columns, policy);
            let schema = parse_schema(&text, Path::new("inferred.toml"), &["a".to_string()])
                .unwrap_or_else(|e| panic!("{e}\n{text}"));
            assert_eq!(schema.columns, columns);
            assert_eq!(schema.on_type_error, policy);
        }
    }
}
