//! What a published snapshot says about the data's shape, for the
//! manifest and the run's warnings: columns that are null in every record
//! (`empty_columns`: a misspelt field or one that needs a permission), and
//! how the schema changed since the last successful run (`schema_changes`).
//! Pure functions; the run logs and records what they return.

use std::collections::BTreeMap;

use crate::sink::{EMPTY_COLUMN_MIN_RECORDS, SchemaChange, SchemaColumn};

/// Columns null in all of `records` records, in column order; none when
/// the snapshot has fewer than [`EMPTY_COLUMN_MIN_RECORDS`] records.
pub fn empty_columns(columns: &[SchemaColumn], nulls: &BTreeMap<String, u64>, records: u64) -> Vec<String> {
    if records < EMPTY_COLUMN_MIN_RECORDS {
        return Vec::new();
    }
    columns
        .iter()
        .filter(|c| nulls.get(&c.name).copied().unwrap_or(0) >= records)
        .map(|c| c.name.clone())
        .collect()
}

/// The columns added, removed or retyped between `before` (the last
/// successful run's schema) and `now`, by column name: removed and retyped
/// in `before`'s order, then added in `now`'s.
pub fn schema_changes(before: &[SchemaColumn], now: &[SchemaColumn]) -> Vec<SchemaChange> {
    let mut out = Vec::new();
    for b in before {
        match now.iter().find(|n| n.name == b.name) {
            None => out.push(SchemaChange {
                column: b.name.clone(),
                change: "removed".into(),
                from: Some(b.kind.clone()),
                to: None,
            }),
            Some(n) if n.kind != b.kind => out.push(SchemaChange {
                column: b.name.clone(),
                change: "type_changed".into(),
                from: Some(b.kind.clone()),
                to: Some(n.kind.clone()),
            }),
            Some(_) => {}
        }
    }
    for n in now.iter().filter(|n| !before.iter().any(|b| b.name == n.name)) {
        out.push(SchemaChange {
            column: n.name.clone(),
            change: "added".into(),
            from: None,
            to: Some(n.kind.clone()),
        });
    }
    out
}

/// One line for the warning: `a (added, int64), b (int64 -> string)`.
pub fn describe(changes: &[SchemaChange]) -> String {
    changes
        .iter()
        .map(|c| match (c.change.as_str(), &c.from, &c.to) {
            ("type_changed", Some(f), Some(t)) => format!("{} ({f} -> {t})", c.column),
            (what, f, t) => format!("{} ({what}, {})", c.column, t.as_ref().or(f.as_ref()).map_or("", |s| s)),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(name: &str, kind: &str) -> SchemaColumn {
        SchemaColumn {
            name: name.into(),
            path: name.into(),
            kind: kind.into(),
            nullable: true,
            null_count: None,
        }
    }

    #[test]
    fn empty_columns_table() {
        let cols = [col("a", "string"), col("b", "int64"), col("c", "json")];
        let nulls: BTreeMap<String, u64> = [("a".to_string(), 100), ("b".to_string(), 99)].into();
        let cases: &[(u64, &[&str])] = &[(100, &["a"]), (99, &[]), (0, &[]), (101, &[])];
        for (records, want) in cases {
            assert_eq!(empty_columns(&cols, &nulls, *records), *want, "{records} records");
        }
    }

    #[test]
    fn schema_changes_table() {
        let change = |c: &str, what: &str, f: Option<&str>, t: Option<&str>| SchemaChange {
            column: c.into(),
            change: what.into(),
            from: f.map(Into::into),
            to: t.map(Into::into),
        };
        let cases: Vec<(Vec<SchemaColumn>, Vec<SchemaColumn>, Vec<SchemaChange>)> = vec![
            (vec![col("a", "string")], vec![col("a", "string")], vec![]),
            (
                vec![col("a", "string"), col("b", "int64")],
                vec![col("a", "string"), col("c", "date")],
                vec![
                    change("b", "removed", Some("int64"), None),
                    change("c", "added", None, Some("date")),
                ],
            ),
            (
                vec![col("a", "int64")],
                vec![col("a", "float64")],
                vec![change("a", "type_changed", Some("int64"), Some("float64"))],
            ),
            (
                vec![],
                vec![col("a", "json")],
                vec![change("a", "added", None, Some("json"))],
            ),
        ];
        for (before, now, want) in cases {
            assert_eq!(schema_changes(&before, &now), want, "{before:?} -> {now:?}");
        }
        let d = describe(&schema_changes(
            &[col("a", "int64"), col("b", "string")],
            &[col("a", "float64"), col("c", "date")],
        ));
        assert_eq!(d, "a (int64 -> float64), b (removed, string), c (added, date)");
    }
}
