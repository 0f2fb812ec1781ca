//! The small pieces every "this file is wrong" message is made of, shared
//! by the job loader (`job/`), the schema loader (`schema/`) and the
//! fields-catalog check: the 1-based line of a byte offset
//! ([`LineIndex`]), the likely intended word for a typo ([`nearest`],
//! [`did_you_mean`]) and "a"/"an" before a TOML type name ([`article`]).
//! Reading the files and deciding what is wrong is the callers'.

/// Similarity (Jaro-Winkler, case-insensitive) a candidate needs to be suggested.
const THRESHOLD: f64 = 0.8;

/// Byte offset -> 1-based line number of one text.
pub(crate) struct LineIndex {
    /// Byte offset at which each line after the first starts.
    starts: Vec<usize>,
}

impl LineIndex {
    pub(crate) fn new(text: &str) -> LineIndex {
        let starts = text.match_indices('\n').map(|(i, _)| i + 1).collect();
        LineIndex { starts }
    }

    pub(crate) fn line(&self, offset: usize) -> usize {
        self.starts.partition_point(|&s| s <= offset) + 1
    }
}

/// The candidate closest to `word`, if it is close enough to be a likely typo.
pub(crate) fn nearest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let word = word.to_lowercase();
    candidates
        .iter()
        .map(|c| (*c, strsim::jaro_winkler(&word, &c.to_lowercase())))
        .filter(|(_, score)| *score >= THRESHOLD)
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(c, _)| c)
}

/// ` (did you mean "x"?)`, or nothing when no candidate is close.
pub(crate) fn did_you_mean(word: &str, candidates: &[&str]) -> String {
    match nearest(word, candidates) {
        Some(c) => format!(" (did you mean \"{c}\"?)"),
        None => String::new(),
    }
}

/// "a string", "an integer", ...
pub(crate) fn article(type_str: &str) -> String {
    match type_str.chars().next() {
        Some('a' | 'e' | 'i' | 'o' | 'u') => format!("an {type_str}"),
        _ => format!("a {type_str}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_index_maps_offsets_to_lines() {
        let idx = LineIndex::new("ab\ncd\n\nx");
        let cases = [(0, 1), (2, 1), (3, 2), (5, 2), (6, 3), (7, 4), (100, 4)];
        for (offset, line) in cases {
            assert_eq!(idx.line(offset), line, "offset {offset}");
        }
        assert_eq!(LineIndex::new("").line(0), 1);
        // A multi-byte character before the newline: offsets are bytes.
        assert_eq!(LineIndex::new("é\nx").line(3), 2);
    }

    #[test]
    fn suggestions_are_for_likely_typos_only() {
        let formats: &[&str] = &["parquet", "csv", "jsonl"];
        let cases: &[(&str, Option<&str>)] = &[
            ("parqet", Some("parquet")),
            ("CSV", Some("csv")),
            ("json", Some("jsonl")),
            ("zzzz", None),
            ("", None),
        ];
        for (word, want) in cases {
            assert_eq!(nearest(word, formats), *want, "word {word}");
        }
        assert_eq!(did_you_mean("parqet", formats), " (did you mean \"parquet\"?)");
        assert_eq!(did_you_mean("zzzz", formats), "");
        // Candidates are compared case-insensitively and returned as given.
        assert_eq!(nearest("on_type_eror", &["On_Type_Error"]), Some("On_Type_Error"));
    }

    #[test]
    fn articles() {
        let cases = [
            ("integer", "an integer"),
            ("string", "a string"),
            ("array", "an array"),
            ("", "a "),
        ];
        for (word, want) in cases {
            assert_eq!(article(word), want);
        }
    }
}
