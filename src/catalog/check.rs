//! The check of a job against the fields catalog: every path the job uses
//! (`fields`, the schema file's columns, the filter or filter file,
//! `order`, `key`, `[incremental] field`), where it is written (file:line),
//! and what the catalog says of it. Problems: a path the catalog does not
//! have (with the nearest catalog path suggested), a filter path that
//! cannot be filtered on, a returned path that cannot be returned, a path
//! not served for the job's database. Warnings: a path that needs a
//! permission. It fetches nothing; `client.rs` does.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::locate::line_of;
use super::model::{Catalog, Lookup};
use crate::diagnostics::nearest;
use crate::job::{Job, LoadError, Problem};

/// How a job uses a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// In `[query] fields`: returned.
    Field,
    /// A schema file column's path: returned.
    Column,
    /// In the VQL filter (inline or `filter_file`).
    Filter,
    /// `[query] order`.
    Order,
    /// `[query] key`: returned (de-duplication reads it).
    Key,
    /// `[incremental] field`: filtered on (`?RANGE`).
    Incremental,
}

impl Role {
    fn label(self) -> &'static str {
        match self {
            Role::Field => "field in [query] fields",
            Role::Column => "column path in the schema file",
            Role::Filter => "filter path",
            Role::Order => "order in [query]",
            Role::Key => "key in [query]",
            Role::Incremental => "field in [incremental]",
        }
    }

    fn returned(self) -> bool {
        matches!(self, Role::Field | Role::Column | Role::Key)
    }

    fn filtered(self) -> bool {
        matches!(self, Role::Filter | Role::Incremental)
    }
}

/// One use of a path, and where it is written.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct PathUse {
    pub file: PathBuf,
    pub line: Option<usize>,
    pub role: Role,
    pub path: String,
}

/// One problem or warning, at file:line.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub file: PathBuf,
    pub line: Option<usize>,
    pub message: String,
}

/// Everything the check found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CheckReport {
    pub problems: Vec<Finding>,
    pub warnings: Vec<Finding>,
}

impl CheckReport {
    /// One `FILE:LINE: message` line per problem, grouped by file, sorted
    /// by line (the job loader's rendering).
    pub fn render_problems(&self) -> String {
        render(&self.problems)
    }

    /// The same for warnings, each message starting with `warning: `.
    pub fn render_warnings(&self) -> String {
        let warnings: Vec<Finding> = self
            .warnings
            .iter()
            .map(|w| Finding {
                message: format!("warning: {}", w.message),
                ..w.clone()
            })
            .collect();
        render(&warnings)
    }
}

fn render(findings: &[Finding]) -> String {
    let mut files: Vec<&Path> = Vec::new();
    for f in findings {
        if !files.contains(&f.file.as_path()) {
            files.push(&f.file);
        }
    }
    files
        .into_iter()
        .map(|file| {
            let problems = findings
                .iter()
                .filter(|f| f.file == file)
                .map(|f| Problem::near(f.line, f.message.clone()))
                .collect();
            LoadError::sorted(file, problems).to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every field path in a VQL filter: the keys under comparison operators
/// (`{"?EQ": {"a.b": 1}}`), through `?ALL` / `?ANY` / `?NOT` lists and
/// objects, sub-documents of `?MATCH` (relative to their path), and
/// operators that take a path as a string (`{"?EXISTS": "a.b"}`).
pub fn filter_paths(filter: &Value) -> Vec<String> {
    let mut out = Vec::new();
    walk(filter, "", &mut out);
    let mut seen = BTreeSet::new();
    out.retain(|p| seen.insert(p.clone()));
    out
}

fn join(prefix: &str, path: &str) -> String {
    if prefix.is_empty() {
        path.to_string()
    } else {
        format!("{prefix}.{path}")
    }
}

fn walk(v: &Value, prefix: &str, out: &mut Vec<String>) {
    match v {
        Value::Array(items) => items.iter().for_each(|i| walk(i, prefix, out)),
        Value::Object(map) => {
            for (k, val) in map {
                if k.starts_with('?') {
                    match val {
                        Value::String(s) if !s.is_empty() => out.push(join(prefix, s)),
                        Value::Object(args) => {
                            for (path, operand) in args {
                                if path.starts_with('?') {
                                    walk(
                                        &Value::Object([(path.clone(), operand.clone())].into_iter().collect()),
                                        prefix,
                                        out,
                                    );
                                } else {
                                    let full = join(prefix, path);
                                    if operand
                                        .as_object()
                                        .is_some_and(|o| o.keys().any(|k| k.starts_with('?')))
                                    {
                                        walk(operand, &full, out);
                                    }
                                    out.push(full);
                                }
                            }
                        }
                        other => walk(other, prefix, out),
                    }
                } else {
                    // A bare `{"path": {...}}` condition (a sub-document).
                    let full = join(prefix, k);
                    out.push(full.clone());
                    if val.is_object() {
                        walk(val, &full, out);
                    }
                }
            }
        }
        _ => {}
    }
}

/// The path `order` sorts by (a leading `-` means descending).
fn order_path(order: &str) -> &str {
    order.trim().trim_start_matches(['-', '+'])
}

/// What the job file itself writes: `fields` (when written) and `filter_file`.
fn written(text: &str) -> (Option<Vec<String>>, Option<String>) {
    let Ok(table) = text.parse::<toml::Table>() else {
        return (None, None);
    };
    let query = table.get("query").and_then(toml::Value::as_table);
    let fields = query
        .and_then(|q| q.get("fields"))
        .and_then(toml::Value::as_array)
        .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect());
    let filter_file = query
        .and_then(|q| q.get("filter_file"))
        .and_then(toml::Value::as_str)
        .map(str::to_string);
    (fields, filter_file)
}

/// Every path `job` uses, with where it is written.
pub fn job_uses(job: &Job) -> Vec<PathUse> {
    let source = job.source.clone();
    let text = std::fs::read_to_string(&source).unwrap_or_default();
    let (written_fields, filter_file) = written(&text);
    let at = |section, key, path: &str| line_of(&text, Some(section), Some(key), path);
    let mut uses = Vec::new();
    let mut push = |file: &Path, line, role, path: &str| {
        uses.push(PathUse {
            file: file.to_path_buf(),
            line,
            role,
            path: path.to_string(),
        })
    };
    let in_file = written_fields.unwrap_or_default();
    for f in &in_file {
        push(&source, at("query", "fields", f), Role::Field, f);
    }
    if let (Some(schema), Some(schema_path)) = (&job.schema, &job.output.schema) {
        let schema_text = std::fs::read_to_string(schema_path).unwrap_or_default();
        for c in &schema.columns {
            if !in_file.iter().any(|f| f == c.path.as_str()) {
                let line = line_of(&schema_text, None, None, c.path.as_str());
                push(schema_path, line, Role::Column, c.path.as_str());
            }
        }
    } else {
        for f in job.query.fields.iter().filter(|f| !in_file.contains(f)) {
            push(&source, None, Role::Field, f);
        }
    }
    let filter = filter_paths(&job.query.filter);
    match filter_file {
        Some(rel) => {
            let path = source.parent().unwrap_or(Path::new("")).join(&rel);
            let ff_text = std::fs::read_to_string(&path).unwrap_or_default();
            for p in &filter {
                let line = line_of(&ff_text, None, None, p);
                push(&path, line, Role::Filter, p);
            }
        }
        None => {
            for p in &filter {
                push(&source, at("query", "filter", p), Role::Filter, p);
            }
        }
    }
    if let Some(order) = &job.query.order {
        let p = order_path(order);
        push(&source, at("query", "order", p), Role::Order, p);
    }
    if let Some(key) = &job.query.key {
        push(&source, at("query", "key", key), Role::Key, key);
    }
    if let Some(inc) = &job.incremental {
        push(
            &source,
            at("incremental", "field", &inc.field),
            Role::Incremental,
            &inc.field,
        );
    }
    uses.sort();
    uses.dedup();
    uses
}

/// Checks `uses` against `catalog` for `database`.
pub fn check_uses(uses: &[PathUse], catalog: &Catalog, database: &str) -> CheckReport {
    let mut report = CheckReport::default();
    let paths = catalog.paths();
    for u in uses {
        let mut problem = |message: String| {
            report.problems.push(Finding {
                file: u.file.clone(),
                line: u.line,
                message,
            })
        };
        let label = u.role.label();
        let entry = match catalog.lookup(&u.path) {
            Lookup::Exact(e) => e,
            Lookup::Parent => continue,
            Lookup::Unknown => {
                let hint = match nearest(&u.path, &paths) {
                    Some(n) => format!(" (did you mean \"{n}\"?)"),
                    None => String::from("; `orgsync fields --search ...` lists the catalog"),
                };
                problem(format!(
                    "{label} \"{}\" is not in the API's fields catalog{hint}: the API ignores unknown paths \
                     silently, so it would give an empty column or an unfiltered result",
                    u.path
                ));
                continue;
            }
        };
        if u.role.filtered() && !entry.filterable() {
            problem(format!(
                "{label} \"{}\" cannot be filtered on (its application_availability in the catalog has no \
                 \"filter\" or \"search\"): filter on another field",
                u.path
            ));
        }
        if u.role.returned() && !entry.returnable() {
            problem(format!(
                "{label} \"{}\" cannot be returned (its application_availability in the catalog has no \
                 \"export\" or \"profile\"): remove it from the exported fields",
                u.path
            ));
        }
        if !entry.in_database(database) {
            problem(format!(
                "{label} \"{}\" is not available in database {database} (the catalog lists it for {})",
                u.path,
                entry.databases.join(", ")
            ));
        }
        if !entry.permissions.is_empty() {
            report.warnings.push(Finding {
                file: u.file.clone(),
                line: u.line,
                message: format!(
                    "{label} \"{}\" needs the permission {} (requires_permission in the catalog): \
                     without it the API answers 403",
                    u.path,
                    entry.permissions.join(", ")
                ),
            });
        }
    }
    report
}

/// [`job_uses`] then [`check_uses`] for the job's database.
pub fn check_job(job: &Job, catalog: &Catalog) -> CheckReport {
    check_uses(&job_uses(job), catalog, &job.query.database)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::parse_catalog;
    use serde_json::json;

    #[test]
    fn filter_paths_table() {
        let cases: Vec<(Value, Vec<&str>)> = vec![
            (json!({"?ALL": []}), vec![]),
            (json!({"?EQ": {"business_id": "FI1"}}), vec!["business_id"]),
            (
                json!({"?ALL": [{"?EQ": {"a.b": 1}}, {"?ANY": [{"?GT": {"c": 2}}, {"?IN": {"d": [1, 2]}}]}]}),
                vec!["a.b", "c", "d"],
            ),
            (json!({"?NOT": {"?EQ": {"x": 1}}}), vec!["x"]),
            (json!({"?RANGE": {"m.basic": ["a", "b"]}}), vec!["m.basic"]),
            (json!({"?EXISTS": "founded"}), vec!["founded"]),
            (
                json!({"?MATCH": {"ind": {"?EQ": {"code": "62"}}}}),
                vec!["ind.code", "ind"],
            ),
            (json!({"?EQ": {"a": 1, "b": 2}, "?GT": {"a": 0}}), vec!["a", "b"]),
            (json!("nonsense"), vec![]),
        ];
        for (filter, want) in cases {
            assert_eq!(filter_paths(&filter), want, "{filter}");
        }
    }

    fn catalog() -> Catalog {
        let body = json!([
            {"api": {"v3": {"path": "business_id"}}, "application_availability": ["filter", "export"]},
            {"api": {"v3": {"path": "financial_data.revenue"}}, "application_availability": ["filter", "export"]},
            {"api": {"v3": {"path": "visiting_address.coordinates"}}, "application_availability": ["export"]},
            {"api": {"v3": {"path": "search_text"}}, "application_availability": ["search"]},
            {"api": {"v3": {"path": "contacts.email"}}, "application_availability": ["export"],
             "requires_permission": ["contacts"]},
            {"api": {"v3": {"path": "fi_only"}}, "databases": ["FI"]},
        ]);
        parse_catalog(body.to_string().as_bytes()).unwrap()
    }

    fn one(role: Role, path: &str) -> PathUse {
        PathUse {
            file: PathBuf::from("j.toml"),
            line: Some(3),
            role,
            path: path.into(),
        }
    }

    #[test]
    fn check_table() {
        // (use, database, problem contains, warning contains)
        let cases: Vec<(PathUse, &str, Option<&str>, Option<&str>)> = vec![
            (one(Role::Field, "business_id"), "FI", None, None),
            (one(Role::Field, "financial_data"), "FI", None, None),
            (
                one(Role::Field, "financial_data.revenu"),
                "FI",
                Some(
                    "field in [query] fields \"financial_data.revenu\" is not in the API's fields catalog (did you mean \"financial_data.revenue\"?)",
                ),
                None,
            ),
            (
                one(Role::Filter, "busines_id"),
                "FI",
                Some("filter path \"busines_id\" is not in the API's fields catalog (did you mean \"business_id\"?)"),
                None,
            ),
            (one(Role::Field, "zzzz"), "FI", Some("orgsync fields --search"), None),
            (
                one(Role::Filter, "visiting_address.coordinates"),
                "FI",
                Some("cannot be filtered on"),
                None,
            ),
            (
                one(Role::Incremental, "visiting_address.coordinates"),
                "FI",
                Some("cannot be filtered on"),
                None,
            ),
            (one(Role::Field, "search_text"), "FI", Some("cannot be returned"), None),
            (one(Role::Column, "search_text"), "FI", Some("cannot be returned"), None),
            (one(Role::Filter, "search_text"), "FI", None, None),
            (one(Role::Order, "search_text"), "FI", None, None),
            (
                one(Role::Field, "contacts.email"),
                "FI",
                None,
                Some("needs the permission contacts"),
            ),
            (
                one(Role::Field, "fi_only"),
                "SE",
                Some("not available in database SE"),
                None,
            ),
            (one(Role::Field, "fi_only"), "FI", None, None),
        ];
        let c = catalog();
        for (u, db, problem, warning) in cases {
            let r = check_uses(std::slice::from_ref(&u), &c, db);
            match problem {
                Some(p) => {
                    assert_eq!(r.problems.len(), 1, "{u:?}: {r:?}");
                    assert!(r.problems[0].message.contains(p), "{u:?}: {}", r.problems[0].message);
                    assert_eq!(r.problems[0].line, Some(3));
                }
                None => assert!(r.problems.is_empty(), "{u:?}: {r:?}"),
            }
            match warning {
                Some(w) => assert!(r.warnings.len() == 1 && r.warnings[0].message.contains(w), "{r:?}"),
                None => assert!(r.warnings.is_empty(), "{u:?}: {r:?}"),
            }
        }
    }

    #[test]
    fn problems_render_per_file_sorted_by_line() {
        let f = |file: &str, line, m: &str| Finding {
            file: file.into(),
            line,
            message: m.into(),
        };
        let r = CheckReport {
            problems: vec![
                f("j.toml", Some(9), "b"),
                f("s.toml", Some(2), "c"),
                f("j.toml", Some(4), "a"),
            ],
            warnings: vec![],
        };
        assert_eq!(r.render_problems(), "j.toml:4: a\nj.toml:9: b\ns.toml:2: c");
    }

    #[test]
    fn order_paths() {
        assert_eq!(order_path("-financial_data.revenue"), "financial_data.revenue");
        assert_eq!(order_path("business_id"), "business_id");
    }
}
