//! The fields catalog as orgsync reads it: one [`Entry`] per path (from
//! `api.v3.path`), whether it can be filtered on (`application_availability`
//! has `filter` or `search`) or returned (`export` or `profile`), the
//! permissions it needs, its type (`meta_data.type`, and for arrays
//! `meta_data.item_type` when given), category and databases; and the
//! mapping of catalog types to column types. Parsing is lenient: an entry
//! without a path is skipped, a missing availability means "usable". It
//! never panics on any input (a proptest says so). No HTTP here.

use std::collections::HashMap;

use serde_json::Value;

use crate::schema::ColumnType;

/// One field of the catalog.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The dotted path used in `fields` and filters (`api.v3.path`).
    pub path: String,
    /// `names.translations.en`.
    pub name: Option<String>,
    /// `application_availability`; `None` when the entry has none.
    pub availability: Option<Vec<String>>,
    /// `requires_permission`: non-empty means an entitlement is needed.
    pub permissions: Vec<String>,
    /// `meta_data.type`, lower-cased.
    pub kind: Option<String>,
    /// `meta_data.item_type` (arrays), lower-cased.
    pub item_kind: Option<String>,
    /// `main_category`.
    pub category: Option<String>,
    /// `databases`; empty when the entry does not say.
    pub databases: Vec<String>,
    /// The entry as served (what `orgsync fields --json` prints).
    pub raw: Value,
}

impl Entry {
    fn has(&self, words: &[&str]) -> bool {
        self.availability
            .as_ref()
            .is_none_or(|a| a.iter().any(|x| words.contains(&x.to_lowercase().as_str())))
    }

    /// Usable in a VQL filter (`filter` or `search`).
    pub fn filterable(&self) -> bool {
        self.has(&["filter", "search"])
    }

    /// Returned in records (`export` or `profile`).
    pub fn returnable(&self) -> bool {
        self.has(&["export", "profile"])
    }

    /// Served for `database` (an entry that lists no databases is served for all).
    pub fn in_database(&self, database: &str) -> bool {
        self.databases.is_empty() || self.databases.iter().any(|d| d.eq_ignore_ascii_case(database))
    }

    fn is_array(&self) -> bool {
        matches!(self.kind.as_deref(), Some("array" | "list" | "nested"))
            || self
                .kind
                .as_deref()
                .is_some_and(|k| k.starts_with("array") || k.starts_with("list"))
    }

    /// The column type of this entry's own value, when its type says.
    pub fn column_type(&self) -> Option<ColumnType> {
        map_type(self.kind.as_deref()?, self.item_kind.as_deref())
    }
}

/// What the catalog says of a path.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Lookup<'a> {
    /// The catalog has this path.
    Exact(&'a Entry),
    /// Not itself an entry, but the object holding entries (`financial_data`
    /// when only `financial_data.revenue` is listed).
    Parent,
    Unknown,
}

/// The whole catalog.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    entries: Vec<Entry>,
    by_path: HashMap<String, usize>,
}

impl Catalog {
    pub fn new(entries: Vec<Entry>) -> Catalog {
        let mut by_path = HashMap::new();
        for (i, e) in entries.iter().enumerate() {
            by_path.entry(e.path.clone()).or_insert(i);
        }
        Catalog { entries, by_path }
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    pub fn get(&self, path: &str) -> Option<&Entry> {
        self.by_path.get(path).map(|&i| &self.entries[i])
    }

    pub fn lookup(&self, path: &str) -> Lookup<'_> {
        if let Some(e) = self.get(path) {
            return Lookup::Exact(e);
        }
        let prefix = format!("{path}.");
        if self.entries.iter().any(|e| e.path.starts_with(&prefix)) {
            Lookup::Parent
        } else {
            Lookup::Unknown
        }
    }

    /// The catalog's paths, for "did you mean".
    pub fn paths(&self) -> Vec<&str> {
        self.entries.iter().map(|e| e.path.as_str()).collect()
    }

    /// The column type of `path` from the catalog, `None` where the catalog
    /// has none (then the first page decides). A path through an array
    /// (an ancestor entry of type array) yields a list of the leaf's type.
    pub fn column_type(&self, path: &str) -> Option<ColumnType> {
        let own = match self.lookup(path) {
            Lookup::Exact(e) => e.column_type()?,
            Lookup::Parent => ColumnType::Json,
            Lookup::Unknown => return None,
        };
        let segments: Vec<&str> = path.split('.').collect();
        let through_array = (1..segments.len())
            .filter_map(|n| self.get(&segments[..n].join(".")))
            .any(Entry::is_array);
        Some(if through_array { listify(own) } else { own })
    }
}

/// A path through a list of objects yields a list of the leaf's values.
fn listify(kind: ColumnType) -> ColumnType {
    match kind {
        ColumnType::String | ColumnType::Date | ColumnType::Timestamp => ColumnType::ListString,
        ColumnType::Int64 => ColumnType::ListInt64,
        ColumnType::Float64 => ColumnType::ListFloat64,
        _ => ColumnType::Json,
    }
}

fn scalar_type(kind: &str) -> Option<ColumnType> {
    Some(match kind {
        "string" | "str" | "text" | "keyword" | "char" | "url" | "email" => ColumnType::String,
        "integer" | "int" | "long" | "bigint" => ColumnType::Int64,
        "float" | "double" | "decimal" | "number" => ColumnType::Float64,
        "boolean" | "bool" => ColumnType::Bool,
        "date" => ColumnType::Date,
        "datetime" | "date_time" | "timestamp" => ColumnType::Timestamp,
        "object" | "dict" | "json" | "map" => ColumnType::Json,
        _ => return None,
    })
}

/// A catalog type (and item type, for arrays) as a column type: integer ->
/// int64, float/decimal -> float64, boolean -> bool, date -> date, datetime
/// -> timestamp, string -> string, object -> json, arrays -> list of the
/// item type when it is string/integer/float, else json. `array<T>` /
/// `list[T]` spell the item type inline. Unknown types: `None`.
pub fn map_type(kind: &str, item: Option<&str>) -> Option<ColumnType> {
    let kind = kind.trim().to_lowercase();
    for head in ["array", "list"] {
        if let Some(rest) = kind.strip_prefix(head) {
            let inline = rest.trim_matches(|c| matches!(c, '<' | '>' | '[' | ']' | '(' | ')' | ' '));
            let item = if inline.is_empty() {
                item.map(|i| i.trim().to_lowercase())
            } else {
                Some(inline.to_string())
            };
            return Some(match item.as_deref().and_then(scalar_type) {
                Some(ColumnType::String) => ColumnType::ListString,
                Some(ColumnType::Int64) => ColumnType::ListInt64,
                Some(ColumnType::Float64) => ColumnType::ListFloat64,
                _ => ColumnType::Json,
            });
        }
    }
    if kind == "nested" {
        return Some(ColumnType::Json);
    }
    scalar_type(&kind)
}

fn string_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |v, k| v.get(k))?.as_str()
}

fn strings(v: Option<&Value>) -> Option<Vec<String>> {
    match v? {
        Value::Array(items) => Some(items.iter().filter_map(|i| i.as_str().map(str::to_string)).collect()),
        Value::String(s) => Some(vec![s.clone()]),
        _ => None,
    }
}

fn entry(raw: &Value) -> Option<Entry> {
    let path = string_at(raw, &["api", "v3", "path"])?.trim();
    if path.is_empty() {
        return None;
    }
    let lower = |s: &str| s.trim().to_lowercase();
    Some(Entry {
        path: path.to_string(),
        name: string_at(raw, &["names", "translations", "en"]).map(str::to_string),
        availability: strings(raw.get("application_availability")),
        permissions: strings(raw.get("requires_permission")).unwrap_or_default(),
        kind: string_at(raw, &["meta_data", "type"]).map(lower),
        item_kind: string_at(raw, &["meta_data", "item_type"]).map(lower),
        category: string_at(raw, &["main_category"]).map(str::to_string),
        databases: strings(raw.get("databases")).unwrap_or_default(),
        raw: raw.clone(),
    })
}

/// Parses a catalog answer: a JSON array of entries (or the array under
/// `results` / `result`). Entries without `api.v3.path` are skipped.
pub fn parse_catalog(bytes: &[u8]) -> Result<Catalog, String> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))?;
    let items = match &value {
        Value::Array(items) => items,
        Value::Object(map) => match map.get("results").or_else(|| map.get("result")) {
            Some(Value::Array(items)) => items,
            _ => return Err("a JSON object without a \"results\" list; expected a list of fields".into()),
        },
        _ => return Err("expected a JSON list of fields".into()),
    };
    let entries: Vec<Entry> = items.iter().filter_map(entry).collect();
    if entries.is_empty() && !items.is_empty() {
        return Err(format!("none of its {} entries has an api.v3.path", items.len()));
    }
    Ok(Catalog::new(entries))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn type_mapping_table() {
        use ColumnType::*;
        let cases: &[(&str, Option<&str>, Option<ColumnType>)] = &[
            ("integer", None, Some(Int64)),
            ("Integer", None, Some(Int64)),
            ("float", None, Some(Float64)),
            ("decimal", None, Some(Float64)),
            ("boolean", None, Some(Bool)),
            ("date", None, Some(Date)),
            ("datetime", None, Some(Timestamp)),
            ("string", None, Some(String)),
            ("object", None, Some(Json)),
            ("array", Some("string"), Some(ListString)),
            ("array", Some("integer"), Some(ListInt64)),
            ("array", Some("float"), Some(ListFloat64)),
            ("array", Some("object"), Some(Json)),
            ("array", None, Some(Json)),
            ("array<decimal>", None, Some(ListFloat64)),
            ("list[string]", None, Some(ListString)),
            ("nested", None, Some(Json)),
            ("geo_point", None, None),
            ("", None, None),
        ];
        for (kind, item, want) in cases {
            assert_eq!(map_type(kind, *item), *want, "{kind} {item:?}");
        }
    }

    fn catalog() -> Catalog {
        let e = |path: &str, kind: &str, item: Option<&str>| json!({"api": {"v3": {"path": path}}, "meta_data": {"type": kind, "item_type": item}});
        let body = json!([
            e("business_id", "string", None),
            e("official_industries", "array", Some("object")),
            e("official_industries.code", "string", None),
            e("financial_data.revenue", "integer", None),
            e("visiting_address.coordinates", "array", Some("float")),
            e("modifications.basic", "datetime", None),
            e("odd", "geo_point", None),
            {"no": "path"},
        ]);
        parse_catalog(body.to_string().as_bytes()).unwrap()
    }

    #[test]
    fn column_types_by_path() {
        use ColumnType::*;
        let c = catalog();
        let cases: &[(&str, Option<ColumnType>)] = &[
            ("business_id", Some(String)),
            ("official_industries", Some(Json)),
            ("official_industries.code", Some(ListString)),
            ("financial_data.revenue", Some(Int64)),
            ("financial_data", Some(Json)),
            ("visiting_address.coordinates", Some(ListFloat64)),
            ("modifications.basic", Some(Timestamp)),
            ("odd", None),
            ("nothing.here", None),
        ];
        for (path, want) in cases {
            assert_eq!(c.column_type(path), *want, "{path}");
        }
        assert_eq!(c.entries().len(), 7, "the entry without a path is skipped");
    }

    #[test]
    fn availability_permissions_and_databases() {
        let body = json!([
            {"api": {"v3": {"path": "a"}}, "application_availability": ["filter", "export"]},
            {"api": {"v3": {"path": "b"}}, "application_availability": ["search"], "databases": ["FI"]},
            {"api": {"v3": {"path": "c"}}, "application_availability": ["profile"], "requires_permission": ["contacts"]},
            {"api": {"v3": {"path": "d"}}},
        ]);
        let c = parse_catalog(body.to_string().as_bytes()).unwrap();
        let row = |p: &str| {
            let e = c.get(p).unwrap();
            (
                e.filterable(),
                e.returnable(),
                e.permissions.clone(),
                e.in_database("SE"),
            )
        };
        assert_eq!(row("a"), (true, true, vec![], true));
        assert_eq!(row("b"), (true, false, vec![], false));
        assert_eq!(row("c"), (false, true, vec!["contacts".to_string()], true));
        assert_eq!(row("d"), (true, true, vec![], true), "no availability: usable");
        assert_eq!(c.lookup("a"), Lookup::Exact(c.get("a").unwrap()));
        assert_eq!(c.lookup("zz"), Lookup::Unknown);
    }

    #[test]
    fn bodies_that_are_not_catalogs() {
        let cases: &[(&str, bool)] = &[
            ("[]", true),
            (r#"{"results": []}"#, true),
            (r#"{"detail": "Not found."}"#, false),
            ("null", false),
            ("not json", false),
            (r#"[{"x": 1}]"#, false),
        ];
        for (body, ok) in cases {
            assert_eq!(parse_catalog(body.as_bytes()).is_ok(), *ok, "{body}");
        }
    }

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|i| json!(i)),
            prop_oneof![
                Just("api".to_string()),
                Just("path".to_string()),
                Just("array".to_string()),
                Just("integer".to_string()),
                ".*",
            ]
            .prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map(
                    prop_oneof![
                        Just("api".to_string()),
                        Just("v3".to_string()),
                        Just("path".to_string()),
                        Just("meta_data".to_string()),
                        Just("type".to_string()),
                        Just("item_type".to_string()),
                        Just("application_availability".to_string()),
                        Just("results".to_string()),
                        "[a-z]{1,3}",
                    ],
                    inner,
                    0..5
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn parser_never_panics_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
            let _ = parse_catalog(&bytes);
        }

        #[test]
        fn parser_never_panics_on_json(v in arb_json(), path in "[a-z.]{0,12}") {
            if let Ok(c) = parse_catalog(v.to_string().as_bytes()) {
                let _ = c.column_type(&path);
                let _ = c.lookup(&path);
            }
        }
    }
}
