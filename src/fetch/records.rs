//! Where the records sit in an organizations response: a bare JSON array,
//! or the array under `result` / `results` (`records = "auto"`), or under a
//! key the job names. An envelope's `count` is returned as a hint.

use serde_json::Value;

use crate::job::RecordsAt;

/// The records of one page and the envelope's total count, if it sent one.
pub fn extract_records(body: Value, at: &RecordsAt) -> Result<(Vec<Value>, Option<u64>), String> {
    match (body, at) {
        (Value::Array(records), RecordsAt::Auto) => Ok((records, None)),
        (Value::Object(mut map), at) => {
            let count = map.get("count").and_then(Value::as_u64);
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
                    Some(Value::Array(records)) => return Ok((records, count)),
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
            (json!({"data": [{"a": 1}], "count": 3}), &data, Ok((1, Some(3)))),
            (json!({"detail": "x"}), &auto, Err("the object has keys [\"detail\"]")),
            (json!({"result": {"a": 1}}), &auto, Err("\"result\" is an object")),
            (json!([{"a": 1}]), &data, Err("expected an object with \"data\"")),
            (json!("text"), &auto, Err("got a string")),
        ];
        for (body, at, want) in cases {
            let got = extract_records(body.clone(), at);
            match (got, want) {
                (Ok((records, count)), Ok((n, c))) => {
                    assert_eq!((records.len(), count), (n, c), "{body}");
                }
                (Err(msg), Err(part)) => assert!(msg.contains(part), "{msg} lacks {part}"),
                (got, want) => panic!("{body}: got {got:?}, want {want:?}"),
            }
        }
    }
}
