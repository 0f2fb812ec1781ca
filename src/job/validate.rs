//! Phase two: [`RawJob`] -> [`Job`]. Checks every key's value, range and
//! cross-key rule, collects every problem, reads the filter file and checks
//! that the schema file exists (it does not parse the schema: that is the
//! schema loader's job, which also fills `fields` when they are omitted).
//! [api] and [auth] are in `api.rs`.

use std::collections::BTreeSet;
use std::num::{NonZeroU32, NonZeroUsize};
use std::path::Path;
use std::time::Duration;

use chrono::{NaiveDate, NaiveDateTime};
use serde_json::{Map, Value};

use super::api;
use super::check::Check;
use super::deep;
use super::error::Problem;
use super::file::{self, Lined, RawIncremental, RawJob, RawQuery, RawRateLimit, RawRetry};
use super::model::{Incremental, Job, Query, RateLimit, Retry};
use super::output::{output, schema};
use crate::diagnostics::did_you_mean;

/// The databases the API serves.
const DATABASES: [&str; 5] = ["FI", "SE", "NO", "DK", "NL"];

/// The documented ranges of job-file numbers (README, job file reference).
/// Every number from a job file goes into time or size arithmetic; these
/// bounds keep that arithmetic far from overflow.
pub(crate) const MAX_REQUESTS_PER_SECOND: f64 = 10_000.0;
const MAX_BURST: i64 = 1000;
const MAX_ATTEMPTS: i64 = 100;
const MAX_INITIAL_DELAY_MS: i64 = 60_000;
const MAX_DELAY_SECS: i64 = 3600;
const MAX_ELAPSED_SECS: i64 = 86_400;
const MAX_LAG_SECS: i64 = 365 * 86_400;

/// Body keys orgsync writes itself; `extra` may not set them.
const OWNED_BODY_KEYS: [&str; 7] = ["query", "list", "database", "fields", "limit", "offset", "order"];

/// Validates `raw` read from `source`. `None` when there were problems (all
/// of them pushed to `problems`).
pub(crate) fn validate(
    raw: &RawJob,
    source: &Path,
    sandbox: bool,
    env: &dyn Fn(&str) -> Option<String>,
    problems: &mut Vec<Problem>,
) -> Option<Job> {
    let before = problems.len();
    let dir = source.parent().unwrap_or(Path::new(""));
    let mut c = Check {
        problems,
        present: &raw.present,
    };
    let name = name(raw, source, &mut c);
    let description = raw.description.as_ref().map(|d| d.value.clone());
    let (base_url, api) = api::api(&raw.api, env, &mut c);
    let auth = api::auth(&raw.auth, base_url.as_ref(), sandbox, &mut c);
    let schema = schema(&raw.output, dir, &mut c);
    let query = query(&raw.query, dir, raw.output.schema.is_some(), &mut c);
    let incremental = raw.incremental.as_ref().map(|i| incremental(i, &mut c));
    deep::list_with_incremental(raw, &mut c);
    let rate_limit = rate_limit(&raw.rate_limit, &mut c);
    let retry = retry(&raw.retry, &mut c);
    let output = output(&raw.output, schema, &mut c);
    let mode = super::export::mode(&raw.query, &mut c);
    let export = super::export::export(&raw.export, &mut c);

    if c.problems.len() > before {
        return None;
    }
    Some(Job {
        name: name?,
        description,
        source: source.to_path_buf(),
        api: api?,
        auth: auth?,
        query: query.map(|q| Query { mode, ..q })?,
        incremental: incremental.flatten(),
        rate_limit,
        retry,
        output: output?,
        export,
        schema: None,
    })
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

fn name(raw: &RawJob, source: &Path, c: &mut Check<'_>) -> Option<String> {
    if let Some(n) = &raw.name {
        if valid_name(&n.value) {
            return Some(n.value.clone());
        }
        c.push(
            Some(n.line),
            format!(
                "name = {} is not a valid job name: use only a-z, 0-9, _ and -",
                n.shown()
            ),
        );
        return None;
    }
    if raw.present.contains("name") {
        return None;
    }
    let stem = source
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    if valid_name(&stem) {
        Some(stem)
    } else {
        c.push(
            None,
            format!(
                "the file name \"{stem}\" is not a valid job name (only a-z, 0-9, _ and -): \
                 set name = \"...\" at the top of the file"
            ),
        );
        None
    }
}

/// A dotted field path: non-empty segments, no whitespace.
fn valid_field_path(s: &str) -> bool {
    !s.is_empty()
        && s.split('.')
            .all(|seg| !seg.is_empty() && !seg.chars().any(char::is_whitespace))
}

fn query(raw: &RawQuery, dir: &Path, has_schema: bool, c: &mut Check<'_>) -> Option<Query> {
    let database = c.required(&raw.database, "query", "database", raw.line).and_then(|d| {
        if DATABASES.contains(&d.value.as_str()) {
            return Some(d.value.clone());
        }
        let upper = d.value.to_uppercase();
        let hint = if d.from_env {
            String::new()
        } else if DATABASES.contains(&upper.as_str()) {
            format!(" (did you mean \"{upper}\"?)")
        } else {
            did_you_mean(&d.value, &DATABASES)
        };
        c.push(
            Some(d.line),
            format!(
                "database = {} in [query] is not valid: use one of {}{hint}",
                d.shown(),
                DATABASES.join(", ")
            ),
        );
        None
    });

    let fields = fields(raw, has_schema, c);

    let list = deep::list(raw, c);
    let max_offset = deep::max_offset(raw, c);
    let filter = match (&raw.filter, &raw.filter_file) {
        _ if raw.list.is_some() => Some(file::default_filter()),
        (Some(_), Some(ff)) => {
            c.push(Some(ff.line), "set either filter or filter_file in [query], not both");
            None
        }
        (Some(f), None) => Some(f.value.clone()),
        (None, Some(ff)) => filter_file(ff, dir, c),
        (None, None) if c.written("query", "filter") || c.written("query", "filter_file") => None,
        (None, None) => Some(file::default_filter()),
    };

    let order = match &raw.order {
        None => Some(None),
        Some(o) => c.non_empty(o, "order in [query]").map(|s| Some(s.to_string())),
    };
    let page_size = c.int(
        &raw.page_size,
        file::default_page_size(),
        "page_size in [query]",
        1,
        100,
        " (the API caps limit at 100)",
    );

    let key = raw.key.as_ref().map_or(Some(None), |k| {
        let key = c.non_empty(k, "key in [query]")?;
        if let Some(fields) = &fields
            && !fields.is_empty()
            && !fields.iter().any(|f| f == key)
        {
            let names: Vec<&str> = fields.iter().map(String::as_str).collect();
            c.push(
                Some(k.line),
                format!(
                    "key = {} in [query] must be one of fields{}",
                    k.shown(),
                    if k.from_env {
                        String::new()
                    } else {
                        did_you_mean(key, &names)
                    }
                ),
            );
            return None;
        }
        Some(Some(key.to_string()))
    });

    let extra = raw.extra.as_ref().map_or(Some(Map::new()), |e| {
        let mut map = Map::new();
        let mut ok = true;
        for (k, v) in &e.value {
            if OWNED_BODY_KEYS.contains(&k.value.as_str()) {
                c.push(
                    Some(k.line),
                    format!(
                        "extra.{} in [query] is a body key orgsync sets itself: remove it (use the [query] keys instead)",
                        k.value
                    ),
                );
                ok = false;
            } else {
                map.insert(k.value.clone(), v.clone());
            }
        }
        ok.then_some(map)
    });

    Some(Query {
        database: database?,
        fields: fields?,
        filter: filter?,
        list: list?,
        max_offset: max_offset?,
        order: order?,
        page_size: u32::try_from(page_size).ok()?,
        key: key?,
        extra: extra?,
        check_fields: raw.check_fields.as_ref().is_none_or(|c| c.value),
        mode: Default::default(),
    })
}

fn fields(raw: &RawQuery, has_schema: bool, c: &mut Check<'_>) -> Option<Vec<String>> {
    let Some(list) = &raw.fields else {
        if c.written("query", "fields") {
            return None;
        }
        if has_schema {
            return Some(Vec::new());
        }
        c.push(
            raw.line,
            "missing required key \"fields\" in [query]: list the fields to export, or set schema in [output]",
        );
        return None;
    };
    if list.value.is_empty() && !has_schema {
        c.push(
            Some(list.line),
            "fields in [query] is empty: list the fields to export, or set schema in [output]",
        );
        return None;
    }
    let mut seen = BTreeSet::new();
    let mut ok = true;
    for field in &list.value {
        let line = Some(field.line);
        if !valid_field_path(&field.value) {
            c.push(
                line,
                format!(
                    "field {} in [query] is not a dotted path like \"financial_data.revenue\"",
                    field.shown()
                ),
            );
            ok = false;
        } else if !seen.insert(field.value.as_str()) {
            c.push(
                line,
                format!("field {} is listed twice in [query] fields", field.shown()),
            );
            ok = false;
        }
    }
    ok.then(|| list.value.iter().map(|f| f.value.clone()).collect())
}

/// Reads and parses the filter file, relative to the job file's folder.
fn filter_file(ff: &Lined<String>, dir: &Path, c: &mut Check<'_>) -> Option<Value> {
    let rel = c.non_empty(ff, "filter_file in [query]")?;
    let path = dir.join(rel);
    let line = Some(ff.line);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) => {
            c.push(line, format!("cannot read filter_file {}: {e}", path.display()));
            return None;
        }
    };
    match serde_json::from_str::<Value>(&text) {
        Ok(v @ Value::Object(_)) => Some(v),
        Ok(other) => {
            let kind = match other {
                Value::Array(_) => "an array",
                Value::String(_) => "a string",
                Value::Number(_) => "a number",
                Value::Bool(_) => "a boolean",
                _ => "null",
            };
            c.push(
                line,
                format!(
                    "filter_file {} must hold a JSON object (a VQL filter such as {{\"?ALL\": []}}), not {kind}",
                    path.display()
                ),
            );
            None
        }
        Err(e) => {
            c.push(line, format!("filter_file {} is not valid JSON: {e}", path.display()));
            None
        }
    }
}

/// `2024-01-01T00:00:00` (fractions allowed, `T` or space, optional `Z`) or `2024-01-01`.
fn parse_start(s: &str) -> Option<NaiveDateTime> {
    let s = s.trim();
    let s = s.strip_suffix('Z').unwrap_or(s);
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M"] {
        if let Ok(dt) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(dt);
        }
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
}

fn incremental(raw: &RawIncremental, c: &mut Check<'_>) -> Option<Incremental> {
    let field = c.required(&raw.field, "incremental", "field", raw.line).and_then(|f| {
        let f_str = c.non_empty(f, "field in [incremental]")?;
        if valid_field_path(f_str) {
            Some(f_str.to_string())
        } else {
            c.push(
                Some(f.line),
                format!(
                    "field {} in [incremental] is not a dotted path like \"modifications.basic\"",
                    f.shown()
                ),
            );
            None
        }
    });
    let start = c
        .required(&raw.start, "incremental", "start", raw.line)
        .and_then(|s| {
            let parsed = parse_start(&s.value);
            if parsed.is_none() {
                c.push(
                    Some(s.line),
                    format!(
                        "start = {} in [incremental] is not a zone-less ISO 8601 datetime: write \"2024-01-01T00:00:00\" or \"2024-01-01\" (read as UTC)",
                        s.shown()
                    ),
                );
            }
            parsed
        });
    let lag = c.int(
        &raw.lag_secs,
        file::default_lag_secs(),
        "lag_secs in [incremental]",
        0,
        MAX_LAG_SECS,
        "",
    );
    Some(Incremental {
        field: field?,
        start: start?,
        lag: Duration::from_secs(lag.unsigned_abs()),
    })
}

fn rate_limit(raw: &RawRateLimit, c: &mut Check<'_>) -> RateLimit {
    let rps = match &raw.requests_per_second {
        Some(v) if v.value.is_finite() && v.value > 0.0 && v.value <= MAX_REQUESTS_PER_SECOND => v.value,
        Some(v) => {
            c.push(
                Some(v.line),
                format!(
                    "requests_per_second in [rate_limit] must be a number above 0 and at most {MAX_REQUESTS_PER_SECOND}, not {}",
                    v.value
                ),
            );
            file::default_requests_per_second()
        }
        None => file::default_requests_per_second(),
    };
    let burst = c.int(
        &raw.burst,
        file::default_burst(),
        "burst in [rate_limit]",
        1,
        MAX_BURST,
        "",
    );
    let concurrency = c.int(
        &raw.concurrency,
        file::default_concurrency(),
        "concurrency in [rate_limit]",
        1,
        64,
        "",
    );
    RateLimit {
        requests_per_second: rps,
        burst: u32::try_from(burst)
            .ok()
            .and_then(NonZeroU32::new)
            .unwrap_or(NonZeroU32::MIN),
        concurrency: usize::try_from(concurrency)
            .ok()
            .and_then(NonZeroUsize::new)
            .unwrap_or(NonZeroUsize::MIN),
    }
}

fn retry(raw: &RawRetry, c: &mut Check<'_>) -> Retry {
    let max_attempts = c.int(
        &raw.max_attempts,
        file::default_max_attempts(),
        "max_attempts in [retry]",
        1,
        MAX_ATTEMPTS,
        "",
    );
    let initial = c.int(
        &raw.initial_delay_ms,
        file::default_initial_delay_ms(),
        "initial_delay_ms in [retry]",
        0,
        MAX_INITIAL_DELAY_MS,
        "",
    );
    let max_delay = c.int(
        &raw.max_delay_secs,
        file::default_max_delay_secs(),
        "max_delay_secs in [retry]",
        0,
        MAX_DELAY_SECS,
        "",
    );
    let max_elapsed = c.int(
        &raw.max_elapsed_secs,
        file::default_max_elapsed_secs(),
        "max_elapsed_secs in [retry]",
        0,
        MAX_ELAPSED_SECS,
        "",
    );
    Retry {
        max_attempts: u32::try_from(max_attempts).unwrap_or(u32::MAX),
        initial_delay: Duration::from_millis(initial.unsigned_abs()),
        max_delay: Duration::from_secs(max_delay.unsigned_abs()),
        max_elapsed: Duration::from_secs(max_elapsed.unsigned_abs()),
    }
}
