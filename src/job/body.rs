//! The one request-body builder: what a job sends to the organizations
//! endpoint (pages), the count endpoint and the async export endpoint. The
//! caller passes the filter to send (the job's, with the incremental window
//! or a keyset window already applied); a job naming a saved `list` sends
//! `list` instead of `query` (and the filter is not used). It adds no `offset`/`limit`: the
//! pager adds them per page; count and export bodies never carry them.

use serde_json::{Map, Value};

use super::Job;

/// The endpoint a body is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFor {
    /// `POST /api/v3/organizations/`: `query`, `database`, `fields`,
    /// `order`, `extra` (the pager adds `offset`/`limit`).
    Pages,
    /// `POST .../count/`: `query` and `database` only; never `order` (the
    /// endpoint rejects it with 400 "invalid order by value"), `fields` or
    /// `extra`.
    Count,
    /// `POST .../async/`: the pages body (`order` and `extra` included),
    /// never `offset`/`limit`.
    Export,
}

/// The body of a request for `job` with `filter` as its `query` (or the
/// job's `list` in its place).
pub fn body(job: &Job, filter: &Value, target: BodyFor) -> Map<String, Value> {
    let mut body = Map::new();
    match &job.query.list {
        Some(list) => body.insert("list".into(), Value::String(list.clone())),
        None => body.insert("query".into(), filter.clone()),
    };
    body.insert("database".into(), Value::String(job.query.database.clone()));
    if target == BodyFor::Count {
        return body;
    }
    body.insert("fields".into(), Value::from(job.query.fields.clone()));
    if let Some(order) = &job.query.order {
        body.insert("order".into(), Value::String(order.clone()));
    }
    for (k, v) in &job.query.extra {
        body.insert(k.clone(), v.clone());
    }
    body
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::job::{LoadOptions, load_with_env};

    fn job(query: &str) -> Job {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("j.toml");
        let text = format!(
            "[auth]\nclient_id = \"id\"\nclient_secret = \"s\"\n[query]\ndatabase = \"FI\"\nfields = [\"business_id\", \"name\"]\n{query}\n[output]\nformat = \"csv\"\npath = \"out\"\n"
        );
        std::fs::write(&path, text).expect("write");
        load_with_env(&path, &LoadOptions::default(), &|_| None).expect("a valid job")
    }

    /// Which keys each endpoint's body carries, in order.
    #[test]
    fn bodies_table() {
        let full = job("order = \"business_id\"\nextra = { aggregation = { a = 1 } }");
        let bare = job("");
        let filter = json!({"?EQ": {"name": "x"}});
        let cases: &[(&Job, BodyFor, &[&str])] = &[
            (
                &full,
                BodyFor::Pages,
                &["query", "database", "fields", "order", "aggregation"],
            ),
            (
                &full,
                BodyFor::Export,
                &["query", "database", "fields", "order", "aggregation"],
            ),
            (&full, BodyFor::Count, &["query", "database"]),
            (&bare, BodyFor::Pages, &["query", "database", "fields"]),
            (&bare, BodyFor::Count, &["query", "database"]),
        ];
        let list = job("list = \"fi-software-helsinki\"\norder = \"name\"");
        for target in [BodyFor::Pages, BodyFor::Export, BodyFor::Count] {
            let b = body(&list, &filter, target);
            assert_eq!(b["list"], json!("fi-software-helsinki"), "{target:?}");
            assert!(!b.contains_key("query"), "{target:?}: a list body has no query");
            assert_eq!(b.contains_key("order"), target != BodyFor::Count);
        }
        for (job, target, keys) in cases {
            let b = body(job, &filter, *target);
            let got: Vec<&str> = b.keys().map(String::as_str).collect();
            assert_eq!(&got, keys, "{target:?}");
            assert_eq!(b["query"], filter);
            assert!(!b.contains_key("offset") && !b.contains_key("limit"));
        }
    }
}
