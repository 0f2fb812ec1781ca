//! The keys a job file may contain, unknown-key detection, and the
//! "did you mean" suggestion (strsim Jaro-Winkler) used for keys, sections
//! and enum values. It does not read values or check their types.

use toml::de::DeTable;

use super::error::Problem;
use crate::diagnostics::{LineIndex, did_you_mean, nearest};

/// Keys allowed at the top level that are not sections.
pub(crate) const TOP_KEYS: &[&str] = &["name", "description"];

/// Each section and the keys it allows.
pub(crate) const SECTIONS: &[(&str, &[&str])] = &[
    ("api", &["base_url", "path", "timeout_secs", "records"]),
    (
        "auth",
        &[
            "method",
            "token_url",
            "client_id",
            "client_secret",
            "scope",
            "client_auth",
            "refresh_token",
        ],
    ),
    (
        "query",
        &[
            "database",
            "fields",
            "filter",
            "filter_file",
            "order",
            "page_size",
            "key",
            "extra",
            "check_fields",
            "list",
            "max_offset",
            "mode",
        ],
    ),
    ("export", &["poll_secs", "max_wait_secs"]),
    ("incremental", &["field", "start", "lag_secs"]),
    ("rate_limit", &["requests_per_second", "burst", "concurrency"]),
    (
        "retry",
        &["max_attempts", "initial_delay_ms", "max_delay_secs", "max_elapsed_secs"],
    ),
    (
        "output",
        &[
            "format",
            "path",
            "schema",
            "compression",
            "rows_per_file",
            "on_count_mismatch",
        ],
    ),
];

/// Problems for every key of the file that orgsync does not know: unknown
/// top-level keys, unknown sections, unknown keys inside each section.
pub(crate) fn unknown_keys(root: &DeTable<'_>, lines: &LineIndex) -> Vec<Problem> {
    let mut problems = Vec::new();
    let sections: Vec<&str> = SECTIONS.iter().map(|(s, _)| *s).collect();
    for (key, value) in root.iter() {
        let name: &str = key.get_ref();
        let line = lines.line(key.span().start);
        if TOP_KEYS.contains(&name) {
            continue;
        }
        if let Some((_, allowed)) = SECTIONS.iter().find(|(s, _)| *s == name) {
            if let Some(table) = value.get_ref().as_table() {
                section_keys(name, table, allowed, lines, &mut problems);
            }
            continue;
        }
        if value.get_ref().is_table() {
            let hint = match nearest(name, &sections) {
                Some(s) => format!(" (did you mean [{s}]?)"),
                None => String::new(),
            };
            problems.push(Problem::at(line, format!("unknown section [{name}]{hint}")));
        } else {
            let mut all: Vec<&str> = TOP_KEYS.to_vec();
            all.extend(&sections);
            problems.push(Problem::at(
                line,
                format!("unknown key \"{name}\" at the top level{}", did_you_mean(name, &all)),
            ));
        }
    }
    problems
}

fn section_keys(section: &str, table: &DeTable<'_>, allowed: &[&str], lines: &LineIndex, problems: &mut Vec<Problem>) {
    for key in table.keys() {
        let name: &str = key.get_ref();
        if !allowed.contains(&name) {
            problems.push(Problem::at(
                lines.line(key.span().start),
                format!("unknown key \"{name}\" in [{section}]{}", did_you_mean(name, allowed)),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_suggests_likely_typos_only() {
        let query = SECTIONS[2].1;
        let sections: Vec<&str> = SECTIONS.iter().map(|(s, _)| *s).collect();
        let cases: &[(&str, &[&str], Option<&str>)] = &[
            ("page_sise", query, Some("page_size")),
            ("fileds", query, Some("fields")),
            ("filter-file", query, Some("filter_file")),
            ("retries", &sections, Some("retry")),
            ("ratelimit", &sections, Some("rate_limit")),
            ("parqet", &["parquet", "csv", "jsonl"], Some("parquet")),
            ("CSV", &["parquet", "csv", "jsonl"], Some("csv")),
            ("zzzz", query, None),
            ("colour", &sections, None),
        ];
        for (word, candidates, want) in cases {
            assert_eq!(nearest(word, candidates), *want, "word {word}");
        }
    }

    #[test]
    fn unknown_keys_and_sections_are_found_with_lines() {
        let text = "name = \"x\"\nnmae = \"y\"\n[query]\npage_sise = 1\ndatabase = \"FI\"\n[retries]\nmax_attempts = 1\n[output]\nformat = \"csv\"\n";
        let root = DeTable::parse(text).expect("valid toml");
        let lines = LineIndex::new(text);
        let mut got = unknown_keys(root.get_ref(), &lines);
        got.sort_by_key(|p| p.line);
        assert_eq!(
            got,
            vec![
                Problem::at(2, "unknown key \"nmae\" at the top level (did you mean \"name\"?)"),
                Problem::at(4, "unknown key \"page_sise\" in [query] (did you mean \"page_size\"?)"),
                Problem::at(6, "unknown section [retries] (did you mean [retry]?)"),
            ]
        );
    }
}
