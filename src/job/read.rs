//! Phase one: TOML text -> [`RawJob`]. Parses with toml's spanned parser,
//! types each known key with serde (one value at a time, so every type error
//! is reported), replaces `${VAR}` in every string value, converts the
//! `filter` / `extra` tables to JSON, and collects unknown keys. It checks
//! no ranges, enums or cross-key rules; that is `validate.rs`.

use std::collections::BTreeSet;

use serde::de::DeserializeOwned;
use serde_json::{Map, Number, Value};
use toml::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

use super::error::Problem;
use super::file::{
    Lined, Opt, RawApi, RawAuth, RawExport, RawIncremental, RawJob, RawOutput, RawQuery, RawRateLimit, RawRetry,
};
use super::interpolate::interpolate;
use super::keys::unknown_keys;
use crate::diagnostics::{LineIndex, article};

/// Reads `text` into a [`RawJob`]. `None` (with one problem) when the text is
/// not TOML at all; otherwise every problem found is pushed to `problems`.
/// `sandbox`: the credential keys are kept as written, not interpolated.
pub(crate) fn read(
    text: &str,
    sandbox: bool,
    env: &dyn Fn(&str) -> Option<String>,
    problems: &mut Vec<Problem>,
) -> Option<RawJob> {
    let lines = LineIndex::new(text);
    let root = match DeTable::parse(text) {
        Ok(root) => root,
        Err(e) => {
            let line = e.span().map(|s| lines.line(s.start));
            let message = e.message().trim_end().replace('\n', "; ");
            problems.push(Problem::near(line, format!("invalid TOML: {message}")));
            return None;
        }
    };
    let root = root.get_ref();
    problems.extend(unknown_keys(root, &lines));
    let mut r = Reader {
        lines: &lines,
        env,
        problems,
    };
    let top = Sec {
        name: "",
        table: Some(root),
        line: None,
    };
    let job = RawJob {
        present: present_keys(root),
        name: r.string(&top, "name"),
        description: r.string(&top, "description"),
        api: r.api(root),
        auth: r.auth(root, sandbox),
        query: r.query(root),
        incremental: r.incremental(root),
        rate_limit: r.rate_limit(root),
        retry: r.retry(root),
        output: r.output(root),
        export: r.export(root),
    };
    Some(job)
}

/// One section (or the top level) of the file.
struct Sec<'a, 'i> {
    /// "" for the top level.
    name: &'static str,
    table: Option<&'a DeTable<'i>>,
    /// Line of the section header, when the section is present.
    line: Option<usize>,
}

impl Sec<'_, '_> {
    /// `page_size in [query]`, or `name` at the top level.
    fn label(&self, key: &str) -> String {
        if self.name.is_empty() {
            key.to_string()
        } else {
            format!("{key} in [{}]", self.name)
        }
    }

    /// `query.page_size`, or `name` at the top level.
    fn dotted(&self, key: &str) -> String {
        if self.name.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.name)
        }
    }
}

struct Reader<'a> {
    lines: &'a LineIndex,
    env: &'a dyn Fn(&str) -> Option<String>,
    problems: &'a mut Vec<Problem>,
}

impl<'a> Reader<'a> {
    fn section<'t, 'i>(&mut self, root: &'t DeTable<'i>, name: &'static str) -> Sec<'t, 'i> {
        let Some((key, value)) = root.get_key_value(name) else {
            return Sec {
                name,
                table: None,
                line: None,
            };
        };
        let line = self.lines.line(key.span().start);
        let table = value.get_ref().as_table();
        if table.is_none() {
            self.problems.push(Problem::at(
                line,
                format!(
                    "[{name}] must be a table (a [{name}] section), not {}",
                    article(value.get_ref().type_str())
                ),
            ));
        }
        Sec {
            name,
            table,
            line: Some(line),
        }
    }

    fn line(&self, v: &Spanned<DeValue<'_>>) -> usize {
        self.lines.line(v.span().start)
    }

    fn get<'t, 'i>(&self, sec: &Sec<'t, 'i>, key: &str) -> Option<&'t Spanned<DeValue<'i>>> {
        sec.table.and_then(|t| t.get(key))
    }

    fn wrong_type(&mut self, sec: &Sec<'_, '_>, key: &str, v: &Spanned<DeValue<'_>>, expected: &str) {
        let line = self.line(v);
        self.problems.push(Problem::at(
            line,
            format!(
                "{} must be {expected}, not {}",
                sec.label(key),
                article(v.get_ref().type_str())
            ),
        ));
    }

    /// A scalar typed by serde; a type mismatch is a problem.
    fn scalar<T: DeserializeOwned>(&mut self, sec: &Sec<'_, '_>, key: &str, expected: &str) -> Opt<T> {
        let v = self.get(sec, key)?;
        match T::deserialize(ValueDeserializer::from(v.clone())) {
            Ok(value) => Some(Lined::new(value, self.line(v))),
            Err(_) => {
                self.wrong_type(sec, key, v, expected);
                None
            }
        }
    }

    fn int(&mut self, sec: &Sec<'_, '_>, key: &str) -> Opt<i64> {
        self.scalar(sec, key, "an integer")
    }

    fn float(&mut self, sec: &Sec<'_, '_>, key: &str) -> Opt<f64> {
        self.scalar(sec, key, "a number")
    }

    /// A string as written, `${VAR}` not replaced.
    fn raw_string(&mut self, sec: &Sec<'_, '_>, key: &str) -> Opt<String> {
        self.scalar(sec, key, "a string")
    }

    /// A string with `${VAR}` replaced.
    fn string(&mut self, sec: &Sec<'_, '_>, key: &str) -> Opt<String> {
        let raw = self.raw_string(sec, key)?;
        let value = self.interpolate(&raw.value, raw.line, &sec.dotted(key))?;
        Some(Lined {
            from_env: value != raw.value || raw.value.contains('$'),
            value,
            line: raw.line,
        })
    }

    fn interpolate(&mut self, s: &str, line: usize, used_in: &str) -> Option<String> {
        match interpolate(s, self.env) {
            Ok(v) => Some(v),
            Err(errors) => {
                for e in errors {
                    self.problems.push(Problem::at(line, e.message(used_in)));
                }
                None
            }
        }
    }

    /// A list of strings, each with its own line and `${VAR}` replaced.
    fn string_list(&mut self, sec: &Sec<'_, '_>, key: &str) -> Opt<Vec<Lined<String>>> {
        let v = self.get(sec, key)?;
        let Some(items) = v.get_ref().as_array() else {
            self.wrong_type(sec, key, v, "a list of strings");
            return None;
        };
        let mut out = Vec::new();
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            let line = self.line(item);
            match item.get_ref().as_str() {
                Some(s) => match self.interpolate(s, line, &format!("{}[{i}]", sec.dotted(key))) {
                    Some(value) => out.push(Lined {
                        from_env: s.contains('$'),
                        value,
                        line,
                    }),
                    None => ok = false,
                },
                None => {
                    ok = false;
                    self.problems.push(Problem::at(
                        line,
                        format!(
                            "{} must be a list of strings, but item {} is {}",
                            sec.label(key),
                            i + 1,
                            article(item.get_ref().type_str())
                        ),
                    ));
                }
            }
        }
        ok.then(|| Lined::new(out, self.line(v)))
    }

    /// A string, or a TOML datetime in its text form (`start = 2024-01-01`).
    fn string_or_datetime(&mut self, sec: &Sec<'_, '_>, key: &str) -> Opt<String> {
        let v = self.get(sec, key)?;
        match v.get_ref().as_datetime() {
            Some(dt) => Some(Lined::new(dt.to_string(), self.line(v))),
            None => self.string(sec, key),
        }
    }

    /// A table as a JSON object, as `(key, value)` pairs with each key's line.
    fn json_table(&mut self, sec: &Sec<'_, '_>, key: &str) -> Opt<Vec<(Lined<String>, Value)>> {
        let v = self.get(sec, key)?;
        let Some(table) = v.get_ref().as_table() else {
            self.wrong_type(sec, key, v, "a table");
            return None;
        };
        let mut out = Vec::new();
        let mut ok = true;
        for (k, item) in table.iter() {
            let name: &str = k.get_ref();
            let path = format!("{}.{name}", sec.dotted(key));
            match self.json(item, &path) {
                Some(value) => out.push((Lined::new(name.to_string(), self.lines.line(k.span().start)), value)),
                None => ok = false,
            }
        }
        ok.then(|| Lined::new(out, self.line(v)))
    }

    /// A TOML value as JSON; strings interpolated, datetimes as their text.
    fn json(&mut self, v: &Spanned<DeValue<'_>>, path: &str) -> Option<Value> {
        let line = self.line(v);
        match v.get_ref() {
            DeValue::String(s) => self.interpolate(s, line, path).map(Value::String),
            DeValue::Integer(i) => match i64::from_str_radix(i.as_str(), i.radix()) {
                Ok(n) => Some(Value::Number(n.into())),
                Err(_) => {
                    self.problems
                        .push(Problem::at(line, format!("{path}: integer out of range")));
                    None
                }
            },
            DeValue::Float(f) => {
                let n = f.as_str().parse::<f64>().ok().and_then(Number::from_f64);
                if n.is_none() {
                    self.problems.push(Problem::at(
                        line,
                        format!("{path}: {f} cannot be written in JSON (nan and inf are not numbers there)"),
                    ));
                }
                n.map(Value::Number)
            }
            DeValue::Boolean(b) => Some(Value::Bool(*b)),
            DeValue::Datetime(dt) => Some(Value::String(dt.to_string())),
            DeValue::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                let mut ok = true;
                for (i, item) in items.iter().enumerate() {
                    match self.json(item, &format!("{path}[{i}]")) {
                        Some(x) => out.push(x),
                        None => ok = false,
                    }
                }
                ok.then_some(Value::Array(out))
            }
            DeValue::Table(table) => {
                let mut out = Map::new();
                let mut ok = true;
                for (k, item) in table.iter() {
                    let name: &str = k.get_ref();
                    match self.json(item, &format!("{path}.{name}")) {
                        Some(x) => {
                            out.insert(name.to_string(), x);
                        }
                        None => ok = false,
                    }
                }
                ok.then_some(Value::Object(out))
            }
        }
    }

    fn api(&mut self, root: &DeTable<'_>) -> RawApi {
        let s = self.section(root, "api");
        RawApi {
            base_url: self.string(&s, "base_url"),
            path: self.string(&s, "path"),
            timeout_secs: self.int(&s, "timeout_secs"),
            records: self.string(&s, "records"),
        }
    }

    fn auth(&mut self, root: &DeTable<'_>, sandbox: bool) -> RawAuth {
        let s = self.section(root, "auth");
        let credential = |r: &mut Self, key: &str| {
            if sandbox {
                r.raw_string(&s, key)
            } else {
                r.string(&s, key)
            }
        };
        RawAuth {
            line: s.line,
            client_id: credential(self, "client_id"),
            client_secret: credential(self, "client_secret"),
            refresh_token: credential(self, "refresh_token"),
            method: self.string(&s, "method"),
            token_url: self.string(&s, "token_url"),
            scope: self.string(&s, "scope"),
            client_auth: self.string(&s, "client_auth"),
        }
    }

    fn query(&mut self, root: &DeTable<'_>) -> RawQuery {
        let s = self.section(root, "query");
        let filter = self.get(&s, "filter").and_then(|v| {
            let line = self.line(v);
            match v.get_ref() {
                DeValue::Table(_) => self.json(v, "query.filter").map(|value| Lined::new(value, line)),
                _ => {
                    self.wrong_type(&s, "filter", v, "a table (a VQL object such as { \"?ALL\" = [] })");
                    None
                }
            }
        });
        RawQuery {
            line: s.line,
            database: self.string(&s, "database"),
            fields: self.string_list(&s, "fields"),
            filter,
            filter_file: self.string(&s, "filter_file"),
            order: self.string(&s, "order"),
            page_size: self.int(&s, "page_size"),
            key: self.string(&s, "key"),
            extra: self.json_table(&s, "extra"),
            check_fields: self.scalar(&s, "check_fields", "true or false"),
            list: self.string(&s, "list"),
            max_offset: self.int(&s, "max_offset"),
            mode: self.string(&s, "mode"),
        }
    }

    fn incremental(&mut self, root: &DeTable<'_>) -> Option<RawIncremental> {
        let s = self.section(root, "incremental");
        s.table?;
        Some(RawIncremental {
            line: s.line,
            field: self.string(&s, "field"),
            start: self.string_or_datetime(&s, "start"),
            lag_secs: self.int(&s, "lag_secs"),
        })
    }

    fn rate_limit(&mut self, root: &DeTable<'_>) -> RawRateLimit {
        let s = self.section(root, "rate_limit");
        RawRateLimit {
            requests_per_second: self.float(&s, "requests_per_second"),
            burst: self.int(&s, "burst"),
            concurrency: self.int(&s, "concurrency"),
        }
    }

    fn retry(&mut self, root: &DeTable<'_>) -> RawRetry {
        let s = self.section(root, "retry");
        RawRetry {
            max_attempts: self.int(&s, "max_attempts"),
            initial_delay_ms: self.int(&s, "initial_delay_ms"),
            max_delay_secs: self.int(&s, "max_delay_secs"),
            max_elapsed_secs: self.int(&s, "max_elapsed_secs"),
        }
    }

    fn export(&mut self, root: &DeTable<'_>) -> RawExport {
        let s = self.section(root, "export");
        RawExport {
            poll_secs: self.int(&s, "poll_secs"),
            max_wait_secs: self.int(&s, "max_wait_secs"),
        }
    }

    fn output(&mut self, root: &DeTable<'_>) -> RawOutput {
        let s = self.section(root, "output");
        RawOutput {
            format: self.string(&s, "format"),
            path: self.string(&s, "path"),
            schema: self.string(&s, "schema"),
            compression: self.string(&s, "compression"),
            rows_per_file: self.int(&s, "rows_per_file"),
            on_count_mismatch: self.string(&s, "on_count_mismatch"),
        }
    }
}

/// `name`, `query`, `query.page_size`... for every key written in the file.
fn present_keys(root: &DeTable<'_>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (key, value) in root.iter() {
        let name: &str = key.get_ref();
        out.insert(name.to_string());
        if let Some(table) = value.get_ref().as_table() {
            for k in table.keys() {
                let k: &str = k.get_ref();
                out.insert(format!("{name}.{k}"));
            }
        }
    }
    out
}
