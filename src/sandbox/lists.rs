//! The sandbox's saved lists: a few fixed ids, each standing for a VQL
//! filter over the sandbox's data set (a list saved in the Vainu UI is, to
//! the API, a stored query). [`resolve`] turns a body's `list` into that
//! filter, for the organizations, count and async export endpoints alike;
//! [`query_of`] picks a body's `query` or resolves its `list`. An unknown id
//! is a 400 with a detail naming the known ids (the sandbox's choice: the
//! real API's answer for an unknown list is not documented). Lists are not
//! tied to a database: the body's `database` still applies.

use serde_json::{Map, Value, json};

use super::error::SandboxError;

/// Every saved list: id, what it holds, its filter.
pub fn lists() -> Vec<(&'static str, &'static str, Value)> {
    vec![
        (
            "fi-software-helsinki",
            "software companies (industry 62) in Helsinki",
            json!({"?ALL": [
                {"?EQ": {"official_industries.code": "62"}},
                {"?EQ": {"visiting_address.city": "Helsinki"}}
            ]}),
        ),
        (
            "large-employers",
            "250 employees or more",
            json!({"?GTE": {"financial_data.employees": 250}}),
        ),
        ("everything", "every organization", json!({"?ALL": []})),
    ]
}

/// The filter of the saved list `id` (a string, or a number as the UI's
/// numeric ids would be sent).
pub fn resolve(id: &Value) -> Result<Value, SandboxError> {
    let text = match id {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        other => {
            return Err(SandboxError::invalid(format!(
                "list must be the id of a saved list (a string), got {other}"
            )));
        }
    };
    lists()
        .into_iter()
        .find(|(known, _, _)| *known == text)
        .map(|(_, _, filter)| filter)
        .ok_or_else(|| {
            let known: Vec<&str> = lists().iter().map(|(id, _, _)| *id).collect();
            SandboxError::invalid(format!(
                "list \"{text}\" not found: the sandbox's saved lists are {}",
                known.join(", ")
            ))
        })
}

/// The VQL a request body asks for: its `query`, or its `list` resolved.
/// Both, or neither, is a 400.
pub fn query_of(body: &Map<String, Value>) -> Result<Value, SandboxError> {
    match (body.get("query"), body.get("list")) {
        (Some(_), Some(_)) => Err(SandboxError::invalid("send either query or list, not both")),
        (Some(query), None) => Ok(query.clone()),
        (None, Some(list)) => resolve(list),
        (None, None) => Err(SandboxError::invalid("query is required (or list)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detail(r: Result<Value, SandboxError>) -> String {
        match r {
            Ok(v) => v.to_string(),
            Err(SandboxError::BadRequest { detail, .. }) => detail,
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn query_of_table() {
        let body = |v: Value| v.as_object().cloned().unwrap_or_default();
        let cases: Vec<(Value, &str)> = vec![
            (json!({"query": {"?ALL": []}}), r#"{"?ALL":[]}"#),
            (json!({"list": "everything"}), r#"{"?ALL":[]}"#),
            (json!({"list": "large-employers"}), "financial_data.employees"),
            (
                json!({"list": "nope"}),
                "list \"nope\" not found: the sandbox's saved lists are fi-software-helsinki",
            ),
            (json!({"list": 12}), "list \"12\" not found"),
            (json!({"list": [1]}), "list must be the id of a saved list"),
            (json!({"list": "everything", "query": {}}), "either query or list"),
            (json!({"database": "FI"}), "query is required (or list)"),
        ];
        for (b, want) in cases {
            let got = detail(query_of(&body(b.clone())));
            assert!(got.contains(want), "{b}: {got}");
        }
    }

    #[test]
    fn every_list_is_valid_vql() {
        for (id, _, filter) in lists() {
            assert!(super::super::vql::Filter::parse(&filter).is_ok(), "{id}");
        }
    }
}
