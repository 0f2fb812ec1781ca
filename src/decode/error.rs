//! [`DecodeError`]: why a page could not be turned into a batch. Every
//! variant is what the `Value` path reports (the streaming decoder never
//! reports an error of its own: it hands such pages to the `Value` path),
//! with the record's API offset and the column for a type mismatch. It does
//! not add the request's URL: the caller knows it.

use crate::schema::TypeMismatch;

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The body is not JSON.
    #[error("the response body is not valid JSON ({source}); the API sent something else than records")]
    Json {
        #[source]
        source: serde_json::Error,
    },
    /// One line of a JSON Lines stream is not JSON (`line` from 1).
    #[error("line {line} of the JSON Lines stream is not valid JSON ({source})")]
    Line {
        line: usize,
        #[source]
        source: serde_json::Error,
    },
    /// One line of a JSON Lines stream is JSON but not an object: not a
    /// record (`line` from 1).
    #[error("line {line} of the JSON Lines stream is not a JSON object: not a record")]
    NotObject { line: usize },
    /// JSON, but not where the records are expected (see `api.records`).
    #[error("unexpected response shape: {0}; set api.records to the key that holds the records")]
    Shape(String),
    /// A value that does not fit its column.
    #[error("record at offset {}, column \"{}\": {}", .0.record, .0.column, .0)]
    Type(TypeMismatch),
    /// Building the Arrow arrays failed (a bug: the builders are typed).
    #[error("building the Arrow batch failed: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_error_names_offset_column_and_value() {
        let err = DecodeError::Type(TypeMismatch {
            record: 1234,
            column: "revenue".into(),
            expected: "int64",
            value: "\"12\"".into(),
            why: "expected a JSON integer that fits in 64 bits",
        });
        let text = err.to_string();
        for part in ["offset 1234", "\"revenue\"", "\"12\"", "int64"] {
            assert!(text.contains(part), "{text} lacks {part}");
        }
    }
}
