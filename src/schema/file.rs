//! Schema files (SPEC section 4): TOML text -> a validated [`Schema`], with
//! every problem reported at once, each with its line: invalid TOML, unknown
//! keys (nearest valid key suggested), wrong value types, unknown column
//! types (nearest type suggested), bad `on_type_error`, empty or malformed
//! names and paths, duplicate column names, and paths the job does not ask
//! the API for. It does not convert records; see `convert.rs`.

use std::fs;
use std::ops::Range;
use std::path::{Path, PathBuf};

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::column::{Column, ColumnType, FieldPath};
use super::error::{SchemaError, SchemaProblem};
use crate::diagnostics::{LineIndex, article, did_you_mean};

/// What a value that does not fit its column leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnTypeError {
    /// The run fails (exit 1), naming record, column and value.
    #[default]
    Fail,
    /// The value is written as null, counted per column in the manifest,
    /// and warned about once per column.
    Null,
}

impl OnTypeError {
    /// The name used in schema files.
    pub fn name(self) -> &'static str {
        match self {
            OnTypeError::Fail => "fail",
            OnTypeError::Null => "null",
        }
    }

    pub fn parse(s: &str) -> Option<OnTypeError> {
        match s {
            "fail" => Some(OnTypeError::Fail),
            "null" => Some(OnTypeError::Null),
            _ => None,
        }
    }
}

/// A loaded, validated schema file.
#[derive(Debug, Clone, PartialEq)]
pub struct Schema {
    /// Output columns, in file order.
    pub columns: Vec<Column>,
    pub on_type_error: OnTypeError,
    /// The file it came from (`None` for an inferred schema).
    pub source: Option<PathBuf>,
}

impl Schema {
    /// The distinct column paths, in column order: what to ask the API for
    /// when the job gives no `fields`.
    pub fn paths(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::with_capacity(self.columns.len());
        for c in &self.columns {
            if !out.iter().any(|p| p == c.path.as_str()) {
                out.push(c.path.as_str().to_string());
            }
        }
        out
    }
}

const TOP_KEYS: &[&str] = &["on_type_error", "columns"];
const COLUMN_KEYS: &[&str] = &["name", "path", "type", "nullable"];

/// Names people write for the types, mapped to orgsync's.
const TYPE_ALIASES: &[(&str, &str)] = &[
    ("str", "string"),
    ("text", "string"),
    ("varchar", "string"),
    ("utf8", "string"),
    ("int", "int64"),
    ("integer", "int64"),
    ("long", "int64"),
    ("bigint", "int64"),
    ("i64", "int64"),
    ("float", "float64"),
    ("double", "float64"),
    ("number", "float64"),
    ("f64", "float64"),
    ("boolean", "bool"),
    ("datetime", "timestamp"),
    ("date32", "date"),
    ("object", "json"),
    ("list", "json"),
    ("array", "json"),
    ("list<int>", "list<int64>"),
    ("list<integer>", "list<int64>"),
    ("list<float>", "list<float64>"),
    ("list<double>", "list<float64>"),
    ("list<str>", "list<string>"),
];

/// Loads and validates the schema file at `path`. `fields`: the job's
/// requested fields (empty = the job gave none, so every path is requested).
pub fn load_schema(path: &Path, fields: &[String]) -> Result<Schema, SchemaError> {
    let text = fs::read_to_string(path).map_err(|e| {
        SchemaError::whole(
            path,
            format!("cannot read the schema file: {e}; check [output] schema in the job file"),
        )
    })?;
    parse_schema(&text, path, fields)
}

/// Like [`load_schema`], from text already read; `source` names it in errors.
pub fn parse_schema(text: &str, source: &Path, fields: &[String]) -> Result<Schema, SchemaError> {
    let lines = LineIndex::new(text);
    let root = match DeTable::parse(text) {
        Ok(root) => root,
        Err(e) => {
            let line = e.span().map(|s| lines.line(s.start));
            let message = e.message().trim_end().replace('\n', "; ");
            return Err(SchemaError::sorted(
                source,
                vec![SchemaProblem::near(line, format!("invalid TOML: {message}"))],
            ));
        }
    };
    let mut r = Reader {
        lines: &lines,
        problems: Vec::new(),
    };
    let root = root.get_ref();
    r.unknown_keys(root, TOP_KEYS, "");
    let on_type_error = r.on_type_error(root);
    let columns = r.columns(root, fields);
    if r.problems.is_empty() {
        Ok(Schema {
            columns,
            on_type_error,
            source: Some(source.to_path_buf()),
        })
    } else {
        Err(SchemaError::sorted(source, r.problems))
    }
}

struct Reader<'a> {
    lines: &'a LineIndex,
    problems: Vec<SchemaProblem>,
}

impl Reader<'_> {
    fn line(&self, span: Range<usize>) -> usize {
        self.lines.line(span.start)
    }

    fn push(&mut self, span: Range<usize>, message: String) {
        let line = self.line(span);
        self.problems.push(SchemaProblem::at(line, message));
    }

    fn unknown_keys(&mut self, table: &DeTable<'_>, allowed: &[&str], within: &str) {
        for key in table.keys() {
            let name = key.get_ref().as_ref();
            if !allowed.contains(&name) {
                let message = format!(
                    "unknown key \"{name}\"{within}{}; allowed: {}",
                    did_you_mean(name, allowed),
                    allowed.join(", ")
                );
                self.push(key.span(), message);
            }
        }
    }

    fn on_type_error(&mut self, root: &DeTable<'_>) -> OnTypeError {
        let Some(v) = root.get("on_type_error") else {
            return OnTypeError::Fail;
        };
        match v.get_ref().as_str().map(|s| (s, OnTypeError::parse(s))) {
            Some((_, Some(policy))) => policy,
            Some((s, None)) => {
                let hint = did_you_mean(s, &["fail", "null"]);
                self.push(
                    v.span(),
                    format!("on_type_error must be \"fail\" or \"null\", not \"{s}\"{hint}"),
                );
                OnTypeError::Fail
            }
            None => {
                let message = format!(
                    "on_type_error must be a string (\"fail\" or \"null\"), not {}",
                    article(v.get_ref().type_str())
                );
                self.push(v.span(), message);
                OnTypeError::Fail
            }
        }
    }

    fn columns(&mut self, root: &DeTable<'_>, fields: &[String]) -> Vec<Column> {
        let Some(v) = root.get("columns") else {
            self.problems.push(SchemaProblem::near(
                None,
                "no columns: add at least one [[columns]] table with name and type",
            ));
            return Vec::new();
        };
        let Some(items) = v.get_ref().as_array() else {
            let message = format!(
                "columns must be an array of tables ([[columns]] sections), not {}",
                article(v.get_ref().type_str())
            );
            self.push(v.span(), message);
            return Vec::new();
        };
        if items.is_empty() {
            self.push(v.span(), "columns is empty: add at least one [[columns]] table".into());
        }
        let mut out = Vec::with_capacity(items.len());
        let mut names: Vec<(String, usize)> = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let name = item.get_ref().get("name");
            // The line of the `name` key itself, so the message points at it.
            let line = self.line(name.map_or(item.span(), |v| v.span()));
            if let Some(name) = name.and_then(|v| v.get_ref().as_str()) {
                match names.iter().find(|(n, _)| n == name) {
                    Some((_, first)) => self.problems.push(SchemaProblem::at(
                        line,
                        format!(
                            "duplicate column name \"{name}\" (first defined on line {first}): \
                             output column names must be unique"
                        ),
                    )),
                    None => names.push((name.to_string(), line)),
                }
            }
            if let Some(column) = self.column(item, i + 1, fields) {
                out.push(column);
            }
        }
        out
    }

    /// Column number `n` (1-based); `None` when it has a problem.
    fn column(&mut self, item: &Spanned<DeValue<'_>>, n: usize, fields: &[String]) -> Option<Column> {
        let Some(table) = item.get_ref().as_table() else {
            let message = format!(
                "columns entry {n} must be a table ([[columns]]), not {}",
                article(item.get_ref().type_str())
            );
            self.push(item.span(), message);
            return None;
        };
        let label = format!("column {n}");
        self.unknown_keys(table, COLUMN_KEYS, &format!(" in {label}"));
        let name = self.string(table, "name", &label);
        let label = match &name {
            Some(name) => format!("column \"{name}\""),
            None => label,
        };
        let path = self.string(table, "path", &label);
        let kind = self.kind(table, &label);
        let nullable = self.nullable(table, &label);
        let mut ok = kind.is_some() && nullable.is_some();
        let Some(name) = name else {
            if table.get("name").is_none() {
                self.push(item.span(), format!("{label} has no name: add name = \"...\""));
            }
            return None;
        };
        if name.trim().is_empty() {
            let span = table.get("name").map_or(item.span(), |v| v.span());
            self.push(span, format!("{label}: name must not be empty"));
            ok = false;
        }
        let path_text = path.unwrap_or_else(|| name.clone());
        let path_span = table
            .get("path")
            .or_else(|| table.get("name"))
            .map_or(item.span(), |v| v.span());
        if path_text.split('.').any(|s| s.trim().is_empty()) {
            self.push(
                path_span.clone(),
                format!("{label}: path \"{path_text}\" has an empty segment; write it like financial_data.revenue"),
            );
            ok = false;
        } else if !requested(&path_text, fields) {
            self.push(
                path_span,
                format!(
                    "{label}: path \"{path_text}\" is not among the job's [query] fields ({}); \
                     add it to fields or remove this column",
                    fields.join(", ")
                ),
            );
            ok = false;
        }
        if !ok {
            return None;
        }
        Some(Column {
            name,
            path: FieldPath::parse(&path_text),
            kind: kind?,
            nullable: nullable?,
        })
    }

    /// An optional string key; a non-string is a problem.
    fn string(&mut self, table: &DeTable<'_>, key: &str, label: &str) -> Option<String> {
        let v = table.get(key)?;
        match v.get_ref().as_str() {
            Some(s) => Some(s.to_string()),
            None => {
                let message = format!(
                    "{label}: {key} must be a string, not {}",
                    article(v.get_ref().type_str())
                );
                self.push(v.span(), message);
                None
            }
        }
    }

    fn kind(&mut self, table: &DeTable<'_>, label: &str) -> Option<ColumnType> {
        let Some(v) = table.get("type") else {
            let span = table.get("name").map_or(0..0, |v| v.span());
            let names: Vec<&str> = ColumnType::ALL.iter().map(|t| t.name()).collect();
            self.push(
                span,
                format!("{label} has no type: add type = one of {}", names.join(", ")),
            );
            return None;
        };
        let text = self.string(table, "type", label)?;
        let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        if let Some(kind) = ColumnType::parse(&compact.to_ascii_lowercase()) {
            return Some(kind);
        }
        let names: Vec<&str> = ColumnType::ALL.iter().map(|t| t.name()).collect();
        let lower = compact.to_ascii_lowercase();
        let hint = match TYPE_ALIASES.iter().find(|(alias, _)| *alias == lower) {
            Some((_, real)) => format!(" (did you mean \"{real}\"?)"),
            None => did_you_mean(&text, &names),
        };
        self.push(
            v.span(),
            format!("{label}: unknown type \"{text}\"{hint}; types are {}", names.join(", ")),
        );
        None
    }

    fn nullable(&mut self, table: &DeTable<'_>, label: &str) -> Option<bool> {
        let Some(v) = table.get("nullable") else {
            return Some(true);
        };
        match v.get_ref().as_bool() {
            Some(b) => Some(b),
            None => {
                let message = format!(
                    "{label}: nullable must be true or false, not {}",
                    article(v.get_ref().type_str())
                );
                self.push(v.span(), message);
                None
            }
        }
    }
}

/// Whether the API returns `path` for a job asking for `fields`: it is one
/// of them, or lies under one (`financial_data` brings `financial_data.revenue`).
fn requested(path: &str, fields: &[String]) -> bool {
    fields.is_empty()
        || fields
            .iter()
            .any(|f| path == f || path.strip_prefix(f.as_str()).is_some_and(|rest| rest.starts_with('.')))
}

#[cfg(test)]
#[path = "file_tests.rs"]
mod tests;
