//! Dot paths into records: looking values up (through lists of objects),
//! projecting a record onto the `fields` a request asks for, and the sort key
//! `order` uses. Unknown paths yield nothing and never fail, as in the real
//! API. Filters live in `vql.rs`.

use std::cmp::Ordering;

use serde_json::{Map, Value};

/// Split a dot path into its segments.
pub(crate) fn split(path: &str) -> Vec<String> {
    path.split('.').map(str::to_string).collect()
}

/// Every value at `path`; a list of objects on the way fans out, so
/// `official_industries.code` yields each element's code. A list at the end
/// of the path is returned as the list itself.
pub(crate) fn values_at<'a>(value: &'a Value, path: &[String], out: &mut Vec<&'a Value>) {
    let Some((head, rest)) = path.split_first() else {
        out.push(value);
        return;
    };
    match value {
        Value::Object(map) => {
            if let Some(child) = map.get(head) {
                values_at(child, rest, out);
            }
        }
        Value::Array(items) => {
            for item in items {
                values_at(item, path, out);
            }
        }
        _ => {}
    }
}

/// What the API returns for `fields` (dot paths): the record reduced to those
/// paths, nesting kept, lists of objects reduced element-wise. Unknown paths
/// are silently ignored; an empty `fields` means the whole record.
pub fn project(record: &Value, fields: &[String]) -> Value {
    let paths: Vec<Vec<String>> = fields.iter().map(|f| split(f)).collect();
    project_paths(record, &paths)
}

/// [`project`] with the fields already split (a page splits them once,
/// not once per record: serving speed matters, the bench runs against it).
pub(crate) fn project_paths(record: &Value, paths: &[Vec<String>]) -> Value {
    if paths.is_empty() {
        return record.clone();
    }
    let mut out = Value::Object(Map::new());
    for path in paths {
        if let Some(part) = extract(record, path) {
            merge(&mut out, part);
        }
    }
    out
}

/// The sub-tree of `value` along `path`, or None when the path does not exist.
fn extract(value: &Value, path: &[String]) -> Option<Value> {
    let Some((head, rest)) = path.split_first() else {
        return Some(value.clone());
    };
    match value {
        Value::Object(map) => {
            let child = extract(map.get(head)?, rest)?;
            let mut m = Map::new();
            m.insert(head.clone(), child);
            Some(Value::Object(m))
        }
        Value::Array(items) => {
            let parts: Vec<Option<Value>> = items.iter().map(|i| extract(i, path)).collect();
            if !items.is_empty() && parts.iter().all(Option::is_none) {
                return None;
            }
            Some(Value::Array(
                parts
                    .into_iter()
                    .map(|p| p.unwrap_or_else(|| Value::Object(Map::new())))
                    .collect(),
            ))
        }
        // A known parent that is null: the API answers the parent as null.
        Value::Null => Some(Value::Null),
        _ => None,
    }
}

/// Deep-merge `part` into `out` (objects key by key, equal-length lists
/// element by element).
fn merge(out: &mut Value, part: Value) {
    match (out, part) {
        (Value::Object(o), Value::Object(p)) => {
            for (k, v) in p {
                match o.get_mut(&k) {
                    Some(existing) => merge(existing, v),
                    None => {
                        o.insert(k, v);
                    }
                }
            }
        }
        (Value::Array(o), Value::Array(p)) if o.len() == p.len() => {
            for (existing, v) in o.iter_mut().zip(p) {
                merge(existing, v);
            }
        }
        // Whole value beats null or a partial projection of the same value.
        (o, p) => {
            if o.is_null() || !p.is_null() {
                *o = p;
            }
        }
    }
}

/// The value a record sorts by; `None` (null, missing, object) sorts last.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum SortKey {
    Bool(bool),
    Num(f64),
    Str(String),
}

impl SortKey {
    /// The first scalar at `path` (the first element for a list).
    pub(crate) fn of(record: &Value, path: &[String]) -> Option<SortKey> {
        let mut found = Vec::new();
        values_at(record, path, &mut found);
        found.into_iter().find_map(|v| match v {
            Value::Array(items) => items.iter().find_map(Self::scalar),
            other => Self::scalar(other),
        })
    }

    fn scalar(v: &Value) -> Option<SortKey> {
        match v {
            Value::Bool(b) => Some(SortKey::Bool(*b)),
            Value::Number(n) => n.as_f64().map(SortKey::Num),
            Value::String(s) => Some(SortKey::Str(s.clone())),
            _ => None,
        }
    }

    fn rank(&self) -> u8 {
        match self {
            SortKey::Bool(_) => 0,
            SortKey::Num(_) => 1,
            SortKey::Str(_) => 2,
        }
    }

    fn cmp_key(&self, other: &SortKey) -> Ordering {
        match (self, other) {
            (SortKey::Bool(a), SortKey::Bool(b)) => a.cmp(b),
            (SortKey::Num(a), SortKey::Num(b)) => a.total_cmp(b),
            (SortKey::Str(a), SortKey::Str(b)) => a.cmp(b),
            (a, b) => a.rank().cmp(&b.rank()),
        }
    }
}

/// Order two optional keys: `descending` flips present keys, nulls stay last.
pub(crate) fn compare_keys(a: &Option<SortKey>, b: &Option<SortKey>, descending: bool) -> Ordering {
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Greater,
        (Some(_), None) => Ordering::Less,
        (Some(x), Some(y)) if descending => y.cmp_key(x),
        (Some(x), Some(y)) => x.cmp_key(y),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record() -> Value {
        json!({
            "business_id": "FI10000003",
            "name": "Mäkelä Oy",
            "financial_data": {"revenue": 10, "employees": null, "year": 2023},
            "visiting_address": null,
            "official_industries": [
                {"code": "62010", "description": "Programming"},
                {"code": "70200", "description": "Consulting"}
            ],
            "technology_data": [],
            "coordinates": [24.9, 60.1]
        })
    }

    fn fields(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn projection_table() {
        let rec = record();
        let cases: Vec<(&[&str], Value)> = vec![
            (
                &["business_id", "name"],
                json!({"business_id": "FI10000003", "name": "Mäkelä Oy"}),
            ),
            (
                &["financial_data.revenue", "financial_data.year"],
                json!({"financial_data": {"revenue": 10, "year": 2023}}),
            ),
            (
                &["official_industries.code"],
                json!({"official_industries": [{"code": "62010"}, {"code": "70200"}]}),
            ),
            (
                &["official_industries.code", "official_industries.description"],
                json!({"official_industries": [
                    {"code": "62010", "description": "Programming"},
                    {"code": "70200", "description": "Consulting"}
                ]}),
            ),
            (&["nope", "financial_data.nope", "name.x"], json!({})),
            (&["visiting_address.city"], json!({"visiting_address": null})),
            (&["technology_data.name"], json!({"technology_data": []})),
            (
                &["financial_data.revenue", "financial_data"],
                json!({"financial_data": {"revenue": 10, "employees": null, "year": 2023}}),
            ),
        ];
        for (paths, want) in cases {
            assert_eq!(project(&rec, &fields(paths)), want, "{paths:?}");
        }
        assert_eq!(project(&rec, &[]), rec);
    }

    #[test]
    fn values_at_fans_out_through_lists() {
        let rec = record();
        let mut out = Vec::new();
        values_at(&rec, &split("official_industries.code"), &mut out);
        assert_eq!(out, vec![&json!("62010"), &json!("70200")]);
        out.clear();
        values_at(&rec, &split("no.such.path"), &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn sort_keys_nulls_last_both_directions() {
        let rec = record();
        assert_eq!(
            SortKey::of(&rec, &split("financial_data.revenue")),
            Some(SortKey::Num(10.0))
        );
        assert_eq!(SortKey::of(&rec, &split("financial_data.employees")), None);
        assert_eq!(
            SortKey::of(&rec, &split("official_industries.code")),
            Some(SortKey::Str("62010".into()))
        );
        let one = Some(SortKey::Num(1.0));
        let two = Some(SortKey::Num(2.0));
        assert_eq!(compare_keys(&one, &two, false), Ordering::Less);
        assert_eq!(compare_keys(&one, &two, true), Ordering::Greater);
        assert_eq!(compare_keys(&None, &one, false), Ordering::Greater);
        assert_eq!(compare_keys(&None, &one, true), Ordering::Greater);
        assert_eq!(compare_keys(&one, &None, true), Ordering::Less);
    }
}
