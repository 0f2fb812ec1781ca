//! VQL, the subset the sandbox understands: parse a `query` JSON value into a
//! `Filter` (rejecting unknown operators and wrong shapes with a 400 naming
//! them) and evaluate it against a record. Unknown field paths never match
//! and never error. Ordering and projection live in `fields.rs`.

use std::cmp::Ordering;

use serde_json::Value;

use super::error::SandboxError;
use super::fields::{split, values_at};

/// A parsed VQL query.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Filter {
    All(Vec<Filter>),
    Any(Vec<Filter>),
    Not(Box<Filter>),
    Exists(Vec<String>),
    Test { path: Vec<String>, test: Test },
}

/// A test on the values found at one path.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Test {
    Eq(Value),
    In(Vec<Value>),
    Cmp(Ordering, bool, Value),
    Range(Value, Value),
    StartsWith(String),
    IContains(String),
}

/// Operators Vainu has that the sandbox does not implement.
const UNSUPPORTED: &[&str] = &["?MATCH", "?GEO_WITHIN_SPHERE"];

impl Filter {
    /// Parse a `query` value.
    pub(crate) fn parse(query: &Value) -> Result<Filter, SandboxError> {
        let Value::Object(map) = query else {
            return Err(SandboxError::invalid(format!(
                "Invalid query: expected an object with an operator such as ?ALL or ?EQ, got {query}"
            )));
        };
        let mut parts = map
            .iter()
            .map(|(op, operand)| parse_operator(op, operand))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Filter::All(parts)
        })
    }

    /// True when the filter matches everything (`{"?ALL": []}`).
    pub(crate) fn is_everything(&self) -> bool {
        matches!(self, Filter::All(parts) if parts.iter().all(Filter::is_everything))
    }

    /// Does `record` match?
    pub(crate) fn matches(&self, record: &Value) -> bool {
        match self {
            Filter::All(parts) => parts.iter().all(|f| f.matches(record)),
            Filter::Any(parts) => parts.iter().any(|f| f.matches(record)),
            Filter::Not(inner) => !inner.matches(record),
            Filter::Exists(path) => {
                let mut found = Vec::new();
                values_at(record, path, &mut found);
                found.iter().any(|v| !v.is_null())
            }
            Filter::Test { path, test } => {
                let mut found = Vec::new();
                values_at(record, path, &mut found);
                found
                    .iter()
                    .any(|v| test.holds(v) || matches!(v, Value::Array(items) if items.iter().any(|i| test.holds(i))))
            }
        }
    }
}

fn parse_operator(op: &str, operand: &Value) -> Result<Filter, SandboxError> {
    match op {
        "?ALL" | "?ANY" => {
            let queries = match operand {
                Value::Array(items) => items.iter().map(Filter::parse).collect::<Result<_, _>>()?,
                Value::Object(_) => vec![Filter::parse(operand)?],
                _ => return Err(shape(op, "a list of queries")),
            };
            Ok(if op == "?ALL" {
                Filter::All(queries)
            } else {
                Filter::Any(queries)
            })
        }
        "?NOT" => Ok(Filter::Not(Box::new(Filter::parse(operand)?))),
        "?EXISTS" => match operand {
            Value::String(path) => Ok(Filter::Exists(split(path))),
            _ => Err(shape(op, "a field path string")),
        },
        "?EQ" | "?IN" | "?GT" | "?GTE" | "?LT" | "?LTE" | "?RANGE" | "?STARTSWITH" | "?ICONTAINS" => {
            let Value::Object(map) = operand else {
                return Err(shape(op, "an object of {field: value}"));
            };
            if map.is_empty() {
                return Err(shape(op, "at least one {field: value}"));
            }
            let mut tests = map
                .iter()
                .map(|(path, v)| {
                    Ok(Filter::Test {
                        path: split(path),
                        test: parse_test(op, v)?,
                    })
                })
                .collect::<Result<Vec<_>, SandboxError>>()?;
            Ok(if tests.len() == 1 {
                tests.remove(0)
            } else {
                Filter::All(tests)
            })
        }
        _ if UNSUPPORTED.contains(&op) => Err(SandboxError::invalid(format!(
            "Invalid query: operator {op} is not supported by the sandbox"
        ))),
        _ if op.starts_with('?') => Err(SandboxError::invalid(format!("Invalid query: unknown operator {op}"))),
        _ => Err(SandboxError::invalid(format!(
            "Invalid query: expected an operator such as ?EQ, got key {op:?}"
        ))),
    }
}

fn parse_test(op: &str, v: &Value) -> Result<Test, SandboxError> {
    let scalar = |v: &Value| -> Result<Value, SandboxError> {
        match v {
            Value::Number(_) | Value::String(_) => Ok(v.clone()),
            _ => Err(shape(op, "a number or string per field")),
        }
    };
    let text = |v: &Value| -> Result<String, SandboxError> {
        v.as_str()
            .map(str::to_string)
            .ok_or_else(|| shape(op, "a string per field"))
    };
    Ok(match op {
        "?EQ" => Test::Eq(v.clone()),
        "?IN" => match v {
            Value::Array(items) => Test::In(items.clone()),
            _ => return Err(shape(op, "a list of values per field")),
        },
        "?GT" => Test::Cmp(Ordering::Greater, false, scalar(v)?),
        "?GTE" => Test::Cmp(Ordering::Greater, true, scalar(v)?),
        "?LT" => Test::Cmp(Ordering::Less, false, scalar(v)?),
        "?LTE" => Test::Cmp(Ordering::Less, true, scalar(v)?),
        "?RANGE" => match v.as_array().map(Vec::as_slice) {
            Some([from, to]) if bound(from) && bound(to) => Test::Range(from.clone(), to.clone()),
            _ => return Err(shape(op, "[from, to] per field")),
        },
        "?STARTSWITH" => Test::StartsWith(text(v)?),
        _ => Test::IContains(text(v)?.to_lowercase()),
    })
}

fn bound(v: &Value) -> bool {
    matches!(v, Value::Null | Value::Number(_) | Value::String(_))
}

fn shape(op: &str, expected: &str) -> SandboxError {
    SandboxError::invalid(format!("Invalid query: operator {op} expects {expected}"))
}

impl Test {
    fn holds(&self, v: &Value) -> bool {
        match self {
            Test::Eq(want) => json_eq(v, want),
            Test::In(wants) => wants.iter().any(|w| json_eq(v, w)),
            Test::Cmp(dir, or_equal, bound) => match compare(v, bound) {
                Some(Ordering::Equal) => *or_equal,
                Some(o) => o == *dir,
                None => false,
            },
            Test::Range(from, to) => {
                let above = from.is_null() || matches!(compare(v, from), Some(o) if o.is_ge());
                let below = to.is_null() || matches!(compare(v, to), Some(o) if o.is_le());
                !v.is_null() && above && below
            }
            Test::StartsWith(prefix) => v.as_str().is_some_and(|s| s.starts_with(prefix.as_str())),
            Test::IContains(text) => v.as_str().is_some_and(|s| s.to_lowercase().contains(text.as_str())),
        }
    }
}

/// Equality with numbers compared by value (1 == 1.0).
fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(_), Value::Number(_)) => compare(a, b) == Some(Ordering::Equal),
        _ => a == b,
    }
}

/// Numbers numerically, strings lexicographically, anything else incomparable.
fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(x), Some(y)) => Some(x.cmp(&y)),
            _ => x.as_f64()?.partial_cmp(&y.as_f64()?),
        },
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record() -> Value {
        json!({
            "business_id": "FI10000003",
            "name": "Mäkelä Sähkö Oy, Ab",
            "founded": null,
            "financial_data": {"revenue": 1500000, "employees": 12, "profit": -3000},
            "official_industries": [{"code": "62010"}, {"code": "70200"}],
            "technology_data": [{"name": "shopify"}, {"name": "react"}],
            "visiting_address": {"coordinates": [24.9, 60.1]},
            "modifications": {"basic": "2023-01-31T09:24:30.201000"}
        })
    }

    #[test]
    fn operators_table() {
        let rec = record();
        let cases: Vec<(Value, bool)> = vec![
            (json!({"?ALL": []}), true),
            (json!({"?ANY": []}), false),
            (json!({"?EQ": {"business_id": "FI10000003"}}), true),
            (json!({"?EQ": {"business_id": "FI10000004"}}), false),
            (json!({"?EQ": {"financial_data.employees": 12.0}}), true),
            (json!({"?EQ": {"official_industries.code": "70200"}}), true),
            (json!({"?EQ": {"unknown.path": "x"}}), false),
            (json!({"?IN": {"official_industries.code": ["1", "62010"]}}), true),
            (json!({"?IN": {"business_id": ["x", "y"]}}), false),
            (json!({"?GT": {"financial_data.revenue": 1500000}}), false),
            (json!({"?GTE": {"financial_data.revenue": 1500000}}), true),
            (json!({"?LT": {"financial_data.profit": 0}}), true),
            (json!({"?LTE": {"financial_data.profit": -3001}}), false),
            (json!({"?GT": {"modifications.basic": "2023-01-31T09:24:30"}}), true),
            (json!({"?GT": {"financial_data.revenue": "1"}}), false),
            (json!({"?RANGE": {"financial_data.employees": [12, 12]}}), true),
            (json!({"?RANGE": {"financial_data.employees": [13, 20]}}), false),
            (
                json!({"?RANGE": {"modifications.basic": ["2023-01-01T00:00:00", "2023-02-01T00:00:00"]}}),
                true,
            ),
            (
                json!({"?RANGE": {"modifications.basic": ["2023-02-01T00:00:00", null]}}),
                false,
            ),
            (json!({"?RANGE": {"visiting_address.coordinates": [60, 61]}}), true),
            (json!({"?EXISTS": "financial_data.revenue"}), true),
            (json!({"?EXISTS": "founded"}), false),
            (json!({"?EXISTS": "technology_data.name"}), true),
            (json!({"?EXISTS": "nope"}), false),
            (json!({"?STARTSWITH": {"technology_data.name": "shop"}}), true),
            (json!({"?STARTSWITH": {"technology_data.name": "Shop"}}), false),
            (json!({"?ICONTAINS": {"name": "SÄHKÖ"}}), true),
            (json!({"?ICONTAINS": {"name": "oy, ab"}}), true),
            (json!({"?ICONTAINS": {"name": "zzz"}}), false),
            (json!({"?NOT": {"?EQ": {"business_id": "FI10000003"}}}), false),
            (json!({"?NOT": {"?EQ": {"unknown": 1}}}), true),
            (
                json!({"?ANY": [{"?EQ": {"business_id": "x"}}, {"?EXISTS": "name"}]}),
                true,
            ),
            (
                json!({"?ALL": [{"?EQ": {"business_id": "FI10000003"}}, {"?EXISTS": "founded"}]}),
                false,
            ),
            (
                json!({"?EQ": {"business_id": "FI10000003", "financial_data.employees": 12}}),
                true,
            ),
            (
                json!({"?EQ": {"business_id": "FI10000003", "financial_data.employees": 13}}),
                false,
            ),
            (
                json!({"?EQ": {"business_id": "FI10000003"}, "?EXISTS": "founded"}),
                false,
            ),
        ];
        for (query, want) in cases {
            let filter = Filter::parse(&query);
            assert!(filter.is_ok(), "{query}: {filter:?}");
            let got = filter.map(|f| f.matches(&rec)).unwrap_or(!want);
            assert_eq!(got, want, "{query}");
        }
    }

    #[test]
    fn invalid_queries_table() {
        let cases: Vec<(Value, &str)> = vec![
            (json!({"?FOO": {"a": 1}}), "?FOO"),
            (json!({"?MATCH": {"a": 1}}), "?MATCH"),
            (json!({"name": "x"}), "name"),
            (json!([]), "expected an object"),
            (json!({"?ALL": [{"?BAR": 1}]}), "?BAR"),
            (json!({"?ALL": 3}), "?ALL"),
            (json!({"?IN": {"a": 1}}), "?IN"),
            (json!({"?RANGE": {"a": [1]}}), "?RANGE"),
            (json!({"?GT": {"a": [1]}}), "?GT"),
            (json!({"?EXISTS": 1}), "?EXISTS"),
            (json!({"?STARTSWITH": {"a": 1}}), "?STARTSWITH"),
            (json!({"?EQ": {}}), "?EQ"),
        ];
        for (query, needle) in cases {
            match Filter::parse(&query) {
                Err(SandboxError::BadRequest { detail, .. }) => {
                    assert!(detail.contains(needle), "{query}: {detail}")
                }
                other => panic!("{query}: expected a 400, got {other:?}"),
            }
        }
    }

    #[test]
    fn everything_detection() {
        let parse = |v: Value| Filter::parse(&v).map(|f| f.is_everything()).unwrap_or(false);
        assert!(parse(json!({"?ALL": []})));
        assert!(parse(json!({"?ALL": [{"?ALL": []}]})));
        assert!(!parse(json!({"?ANY": []})));
        assert!(!parse(json!({"?EXISTS": "name"})));
    }
}
