//! Tests of `file.rs`: a good schema file loads; each kind of problem is
//! reported with its line; several problems are reported at once.

use std::path::Path;

use super::*;

fn fields(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn problems(text: &str, job_fields: &[&str]) -> Vec<(Option<usize>, String)> {
    match parse_schema(text, Path::new("s.toml"), &fields(job_fields)) {
        Ok(schema) => panic!("expected problems, got {schema:?}"),
        Err(e) => e.problems.into_iter().map(|p| (p.line, p.message)).collect(),
    }
}

const GOOD: &str = r#"
on_type_error = "null"

[[columns]]
name = "business_id"
type = "string"
nullable = false

[[columns]]
name = "revenue"
path = "financial_data.revenue"
type = "int64"

[[columns]]
name = "industry_codes"
path = "official_industries.code"
type = "list<string>"
"#;

#[test]
fn good_file_loads() {
    let schema = parse_schema(
        GOOD,
        Path::new("s.toml"),
        &fields(&["business_id", "financial_data", "official_industries.code"]),
    )
    .unwrap();
    assert_eq!(schema.on_type_error, OnTypeError::Null);
    assert_eq!(schema.source.as_deref(), Some(Path::new("s.toml")));
    let got: Vec<(&str, &str, ColumnType, bool)> = schema
        .columns
        .iter()
        .map(|c| (c.name.as_str(), c.path.as_str(), c.kind, c.nullable))
        .collect();
    assert_eq!(
        got,
        vec![
            ("business_id", "business_id", ColumnType::String, false),
            ("revenue", "financial_data.revenue", ColumnType::Int64, true),
            (
                "industry_codes",
                "official_industries.code",
                ColumnType::ListString,
                true
            ),
        ]
    );
    // No job fields: every path is requested, and they are the schema's paths.
    let schema = parse_schema(GOOD, Path::new("s.toml"), &[]).unwrap();
    assert_eq!(
        schema.paths(),
        ["business_id", "financial_data.revenue", "official_industries.code"]
    );
}

#[test]
fn default_policy_is_fail() {
    let text = "[[columns]]\nname = \"a\"\ntype = \"json\"\n";
    let schema = parse_schema(text, Path::new("s.toml"), &[]).unwrap();
    assert_eq!(schema.on_type_error, OnTypeError::Fail);
}

#[test]
fn problem_table() {
    let all = &["a", "b", "financial_data"][..];
    // (file text, job fields, expected line, text the message must contain)
    let cases: &[(&str, &[&str], Option<usize>, &str)] = &[
        (
            "[[columns]]\nname = \"a\"\ntype = \"integer\"\n",
            all,
            Some(3),
            "unknown type \"integer\" (did you mean \"int64\"?)",
        ),
        (
            "[[columns]]\nname = \"a\"\ntype = \"strng\"\n",
            all,
            Some(3),
            "(did you mean \"string\"?)",
        ),
        (
            "[[columns]]\nname = \"a\"\ntype = \"decimal\"\n",
            all,
            Some(3),
            "types are string, int64",
        ),
        (
            "[[columns]]\nname = \"a\"\ntype = \"int64\"\n[[columns]]\nname = \"a\"\npath = \"b\"\ntype = \"string\"\n",
            all,
            Some(5),
            "duplicate column name \"a\" (first defined on line 2)",
        ),
        (
            "[[columns]]\nname = \"x\"\npath = \"financial_data.revenue\"\ntype = \"int64\"\n[[columns]]\nname = \"y\"\npath = \"nope.z\"\ntype = \"int64\"\n",
            all,
            Some(7),
            "path \"nope.z\" is not among the job's [query] fields",
        ),
        (
            "[[columns]]\nname = \"a\"\ntype = \"int64\"\nnulable = true\n",
            all,
            Some(4),
            "unknown key \"nulable\" in column 1 (did you mean \"nullable\"?)",
        ),
        (
            "on_type_eror = \"null\"\n[[columns]]\nname = \"a\"\ntype = \"int64\"\n",
            all,
            Some(1),
            "unknown key \"on_type_eror\" (did you mean \"on_type_error\"?)",
        ),
        (
            "on_type_error = \"skip\"\n[[columns]]\nname = \"a\"\ntype = \"int64\"\n",
            all,
            Some(1),
            "on_type_error must be \"fail\" or \"null\", not \"skip\"",
        ),
        (
            "on_type_error = true\n[[columns]]\nname = \"a\"\ntype = \"int64\"\n",
            all,
            Some(1),
            "on_type_error must be a string",
        ),
        (
            "[[columns]]\nname = \"a\"\ntype = \"int64\"\nnullable = \"yes\"\n",
            all,
            Some(4),
            "nullable must be true or false, not a string",
        ),
        (
            "[[columns]]\nname = 5\ntype = \"int64\"\n",
            all,
            Some(2),
            "name must be a string, not an integer",
        ),
        (
            "[[columns]]\npath = \"a\"\ntype = \"int64\"\n",
            all,
            Some(1),
            "column 1 has no name",
        ),
        ("[[columns]]\nname = \"a\"\n", all, Some(2), "column \"a\" has no type"),
        (
            "[[columns]]\nname = \"a\"\npath = \"a..b\"\ntype = \"json\"\n",
            &[],
            Some(3),
            "empty segment",
        ),
        (
            "[[columns]]\nname = \"\"\ntype = \"json\"\n",
            &[],
            Some(2),
            "name must not be empty",
        ),
        ("on_type_error = \"fail\"\n", all, None, "no columns"),
        ("columns = 3\n", all, Some(1), "columns must be an array of tables"),
        (
            "[[columns]]\nname = \"a\"\ntype = \"int64\"\n[broken\n",
            all,
            Some(4),
            "invalid TOML",
        ),
    ];
    for (text, job_fields, line, needle) in cases {
        let found = problems(text, job_fields);
        assert!(
            found.iter().any(|(l, m)| l == line && m.contains(needle)),
            "expected line {line:?} containing {needle:?} in {found:?}\nfile:\n{text}"
        );
    }
}

#[test]
fn every_problem_at_once_sorted_by_line() {
    let text = "on_type_error = \"nul\"\n\
                [[columns]]\n\
                name = \"a\"\n\
                type = \"int\"\n\
                [[columns]]\n\
                name = \"a\"\n\
                type = \"string\"\n\
                [[columns]]\n\
                name = \"c\"\n\
                path = \"missing.path\"\n\
                type = \"bool\"\n";
    let err = parse_schema(text, Path::new("schemas/o.toml"), &fields(&["a"])).unwrap_err();
    let lines: Vec<Option<usize>> = err.problems.iter().map(|p| p.line).collect();
    assert_eq!(lines, [Some(1), Some(4), Some(6), Some(10)], "{err}");
    let shown = err.to_string();
    assert!(shown.starts_with("schemas/o.toml:1: on_type_error"), "{shown}");
    assert_eq!(shown.lines().count(), 4, "{shown}");
}

#[test]
fn unreadable_file_names_it() {
    let err = load_schema(Path::new("/nonexistent/schema.toml"), &[]).unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with("/nonexistent/schema.toml: cannot read the schema file"),
        "{text}"
    );
}

#[test]
fn the_repository_schema_serves_the_example_fields() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/organizations.toml");
    let schema = load_schema(&path, &[]).unwrap_or_else(|e| panic!("{e}"));
    assert!(schema.columns.iter().any(|c| c.name == "industry_codes"
        && c.kind == ColumnType::ListString
        && c.path.as_str() == "official_industries.code"));
    assert!(schema.columns.iter().any(|c| c.kind == ColumnType::Json));
    let business_id = schema.columns.iter().find(|c| c.name == "business_id");
    assert_eq!(business_id.map(|c| c.nullable), Some(false));
}
