//! Parsing and validating the bodies and query strings of the organizations
//! and count endpoints into typed requests, with the 400s the real API gives
//! (limit out of range, unknown database, unknown `list`, parameters in the
//! query string, `order` on count, an offset past `--max-offset`). It does not run queries (`query.rs`).

use serde_json::{Map, Value};

use super::error::SandboxError;
use super::query::{Order, check_database};
use super::vql::Filter;

/// Page size when the body has no `limit`.
const DEFAULT_LIMIT: u64 = 100;

/// A validated organizations or count request.
#[derive(Debug)]
pub(crate) struct Request {
    pub filter: Filter,
    pub query: Value,
    pub database: String,
    pub fields: Vec<String>,
    pub limit: u64,
    pub offset: u64,
    pub order: Option<Order>,
}

/// Only `format=json` may sit in the query string of a POST.
pub(crate) fn check_query_string(raw: Option<&str>) -> Result<(), SandboxError> {
    for pair in raw.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        if key != "format" {
            return Err(SandboxError::invalid(
                "Include the parameters only in either the GET request or the POST payload, not both",
            ));
        }
        if value != "json" {
            return Err(SandboxError::invalid(format!(
                "format {value:?} is not supported by the sandbox: use format=json"
            )));
        }
    }
    Ok(())
}

fn body_object(body: &[u8]) -> Result<Map<String, Value>, SandboxError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(SandboxError::invalid("JSON parse error - expected an object")),
        Err(e) => Err(SandboxError::invalid(format!("JSON parse error - {e}"))),
    }
}

fn integer(body: &Map<String, Value>, key: &str) -> Result<Option<i64>, SandboxError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) if n.as_i64().is_some() => Ok(n.as_i64()),
        Some(other) => Err(SandboxError::invalid(format!("{key} must be an integer, got {other}"))),
    }
}

/// Parse an organizations request body.
pub(crate) fn organizations(body: &[u8]) -> Result<Request, SandboxError> {
    let map = body_object(body)?;
    let mut request = common(&map)?;
    request.fields = match map.get("fields") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|f| {
                f.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| SandboxError::invalid(format!("fields must be a list of strings, got {f}")))
            })
            .collect::<Result<_, _>>()?,
        Some(other) => {
            return Err(SandboxError::invalid(format!(
                "fields must be a list of strings, got {other}"
            )));
        }
    };
    let limit = integer(&map, "limit")?.unwrap_or(DEFAULT_LIMIT as i64);
    if !(1..=100).contains(&limit) {
        return Err(SandboxError::invalid("limit must be between 1 and 100"));
    }
    request.limit = limit as u64;
    let offset = integer(&map, "offset")?.unwrap_or(0);
    request.offset =
        u64::try_from(offset).map_err(|_| SandboxError::invalid(format!("offset must be 0 or more, got {offset}")))?;
    request.order = match map.get("order") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(Order::parse(s).ok_or_else(|| SandboxError::invalid("invalid order by value"))?),
        Some(_) => return Err(SandboxError::invalid("invalid order by value")),
    };
    Ok(request)
}

/// The `--max-offset` limit: an offset past `max` is a 400 naming both
/// (an offset equal to `max` is served; the limit is on the offset alone,
/// not on offset + limit).
pub(crate) fn check_offset(offset: u64, max: Option<u64>) -> Result<(), SandboxError> {
    match max {
        Some(max) if offset > max => Err(SandboxError::invalid(format!(
            "offset {offset} exceeds the maximum offset {max}"
        ))),
        _ => Ok(()),
    }
}

/// Parse a count request body (`order` is rejected).
pub(crate) fn count(body: &[u8]) -> Result<Request, SandboxError> {
    let map = body_object(body)?;
    if map.contains_key("order") {
        return Err(SandboxError::invalid("invalid order by value"));
    }
    common(&map)
}

fn common(map: &Map<String, Value>) -> Result<Request, SandboxError> {
    let query = super::lists::query_of(map)?;
    let database = match map.get("database") {
        Some(Value::String(db)) => db.clone(),
        Some(other) => {
            return Err(SandboxError::invalid(format!(
                "Invalid database {other}: expected one of FI, SE, NO, DK, NL"
            )));
        }
        None => {
            return Err(SandboxError::invalid("database is required: one of FI, SE, NO, DK, NL"));
        }
    };
    check_database(&database)?;
    Ok(Request {
        filter: Filter::parse(&query)?,
        query,
        database,
        fields: Vec::new(),
        limit: DEFAULT_LIMIT,
        offset: 0,
        order: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn detail(r: Result<Request, SandboxError>) -> String {
        match r {
            Ok(_) => "ok".into(),
            Err(SandboxError::BadRequest { detail, .. }) => detail,
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn organizations_body_table() {
        let cases: Vec<(Value, &str)> = vec![
            (json!({"query": {"?ALL": []}, "database": "FI"}), "ok"),
            (
                json!({"query": {"?ALL": []}, "database": "FI", "limit": 100, "offset": 5, "order": "-name", "aggregation": {}}),
                "ok",
            ),
            (
                json!({"query": {"?ALL": []}, "database": "FI", "limit": 101}),
                "limit must be between 1 and 100",
            ),
            (
                json!({"query": {"?ALL": []}, "database": "FI", "limit": 0}),
                "limit must be between 1 and 100",
            ),
            (
                json!({"query": {"?ALL": []}, "database": "FI", "limit": "10"}),
                "limit must be an integer",
            ),
            (
                json!({"query": {"?ALL": []}, "database": "FI", "offset": -1}),
                "offset must be 0 or more",
            ),
            (
                json!({"query": {"?ALL": []}, "database": "XX"}),
                "Invalid database \"XX\"",
            ),
            (json!({"query": {"?ALL": []}}), "database is required"),
            (json!({"database": "FI"}), "query is required"),
            (json!({"list": 12, "database": "FI"}), "list \"12\" not found"),
            (json!({"list": "everything", "database": "FI"}), "ok"),
            (
                json!({"query": {"?NOPE": 1}, "database": "FI"}),
                "unknown operator ?NOPE",
            ),
            (
                json!({"query": {"?ALL": []}, "database": "FI", "fields": "name"}),
                "fields must be a list",
            ),
            (
                json!({"query": {"?ALL": []}, "database": "FI", "order": ""}),
                "invalid order by value",
            ),
            (json!([1]), "expected an object"),
        ];
        for (body, want) in cases {
            let got = detail(organizations(body.to_string().as_bytes()));
            assert!(got.contains(want), "{body}: {got}");
        }
        assert!(detail(organizations(b"{not json")).starts_with("JSON parse error"));
    }

    #[test]
    fn defaults_and_values() {
        let r = organizations(br#"{"query": {"?ALL": []}, "database": "SE", "fields": ["name"], "offset": 200, "order": "-financial_data.revenue"}"#);
        let Ok(r) = r else { panic!("{r:?}") };
        assert_eq!((r.limit, r.offset, r.database.as_str()), (100, 200, "SE"));
        assert_eq!(r.fields, vec!["name".to_string()]);
        assert!(
            r.order
                .is_some_and(|o| o.descending && o.path == ["financial_data", "revenue"])
        );
    }

    #[test]
    fn offset_limit_table() {
        let cases = [
            (0, None, true),
            (u64::MAX, None, true),
            (1000, Some(1000), true),
            (1001, Some(1000), false),
            (1100, Some(1000), false),
            (0, Some(0), true),
            (1, Some(0), false),
        ];
        for (offset, max, ok) in cases {
            let got = check_offset(offset, max);
            assert_eq!(got.is_ok(), ok, "{offset} {max:?}");
            if let Err(SandboxError::BadRequest { detail, .. }) = got {
                assert_eq!(
                    detail,
                    format!("offset {offset} exceeds the maximum offset {}", max.unwrap_or(0))
                );
            }
        }
    }

    #[test]
    fn count_rejects_order() {
        assert_eq!(
            detail(count(br#"{"query": {"?ALL": []}, "database": "FI", "order": "name"}"#)),
            "invalid order by value"
        );
        assert_eq!(detail(count(br#"{"query": {"?ALL": []}, "database": "FI"}"#)), "ok");
    }

    #[test]
    fn query_string_table() {
        let cases = [
            (None, true),
            (Some(""), true),
            (Some("format=json"), true),
            (Some("format=csv"), false),
            (Some("limit=10"), false),
            (Some("format=json&offset=1"), false),
        ];
        for (qs, ok) in cases {
            assert_eq!(check_query_string(qs).is_ok(), ok, "{qs:?}");
        }
    }
}
