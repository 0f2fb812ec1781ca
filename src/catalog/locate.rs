//! Where a path is written in a job, schema or filter file: the 1-based
//! line, found in the file's text (the resolved job keeps no lines for its
//! values). A path is looked for quoted (`"a.b"` or `'a.b'`), within a
//! section and from a key's line on when those are given; failing that, the
//! key's line. Text only: it parses no TOML or JSON.

/// The section a line opens (`[query]` -> `query`, `[[columns]]` -> `columns`).
fn header(line: &str) -> Option<&str> {
    let t = line.trim();
    if !t.starts_with('[') || t.starts_with("[\"") || t.starts_with("['") {
        return None;
    }
    let inner = t.trim_start_matches('[');
    let end = inner.find(']')?;
    Some(inner[..end].trim())
}

/// Whether `line` assigns `key` (`key = ...`, `key=...`).
fn assigns(line: &str, key: &str) -> bool {
    line.trim_start()
        .strip_prefix(key)
        .is_some_and(|rest| rest.trim_start().starts_with('='))
}

/// The line of `needle` in `text`: in `section` (when given; `None` = any),
/// from the line assigning `key` on (when given), quoted. Falls back to the
/// key's line. `None` when neither is found.
pub(crate) fn line_of(text: &str, section: Option<&str>, key: Option<&str>, needle: &str) -> Option<usize> {
    let quoted = [format!("\"{needle}\""), format!("'{needle}'")];
    let mut current = "";
    let mut key_line = None;
    for (i, line) in text.lines().enumerate() {
        if let Some(h) = header(line) {
            current = h;
            if key_line.is_some() {
                break;
            }
            continue;
        }
        if section.is_some_and(|s| s != current) {
            continue;
        }
        if let Some(k) = key
            && key_line.is_none()
        {
            if !assigns(line, k) {
                continue;
            }
            key_line = Some(i + 1);
        }
        if quoted.iter().any(|q| line.contains(q.as_str())) {
            return Some(i + 1);
        }
    }
    key_line
}

#[cfg(test)]
mod tests {
    use super::*;

    const JOB: &str = r#"name = "x"

[query]
database = "FI"
fields = [
  "business_id",
  "financial_data.revenu",
]
filter = { "?EQ" = { "official_industries.code" = "62" }, "?GT" = { revenue = 1 } }
order = "business_id"
key = "business_id"

[incremental]
field = "modifications.basci"
"#;

    #[test]
    fn lines_table() {
        // (section, key, needle, line)
        type Case<'a> = (Option<&'a str>, Option<&'a str>, &'a str, Option<usize>);
        let cases: &[Case] = &[
            (Some("query"), Some("fields"), "financial_data.revenu", Some(7)),
            (Some("query"), Some("fields"), "business_id", Some(6)),
            (Some("query"), Some("filter"), "official_industries.code", Some(9)),
            (Some("query"), Some("filter"), "revenue", Some(9)),
            (Some("query"), Some("order"), "business_id", Some(10)),
            (Some("query"), Some("key"), "business_id", Some(11)),
            (Some("incremental"), Some("field"), "modifications.basci", Some(14)),
            (Some("incremental"), Some("start"), "x", None),
            (None, None, "name", None),
            (None, None, "x", Some(1)),
            (None, None, "modifications.basci", Some(14)),
        ];
        for (section, key, needle, want) in cases {
            assert_eq!(
                line_of(JOB, *section, *key, needle),
                *want,
                "{section:?} {key:?} {needle}"
            );
        }
    }

    #[test]
    fn schema_and_json_files() {
        let schema = "[[columns]]\nname = \"id\"\npath = \"business_id\"\n\n[[columns]]\nname = \"name\"\n";
        assert_eq!(line_of(schema, None, None, "business_id"), Some(3));
        assert_eq!(line_of(schema, None, None, "name"), Some(6));
        let json = "{\n  \"?ALL\": [\n    {\"?EQ\": {\"legal_entity\": \"Oy\"}}\n  ]\n}\n";
        assert_eq!(line_of(json, None, None, "legal_entity"), Some(3));
        assert_eq!(line_of("", None, None, "a"), None);
    }
}
