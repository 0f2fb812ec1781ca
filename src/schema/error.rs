//! The errors of the schema module: [`SchemaError`], every problem of one
//! schema file with its line (printed like a job file's `LoadError`), and
//! [`TypeMismatch`], one record value that does not fit its column. It does
//! not decide what a problem is, nor what a mismatch leads to.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::exit::{Exit, ExitStatus};

/// Every problem of one schema file, reported at once.
///
/// Display: one problem per line, `FILE:LINE: message`, or `FILE: message`
/// when the problem has no line (an unreadable file, no columns at all).
#[derive(Debug, thiserror::Error)]
#[error("{}", render(.file, .problems))]
pub struct SchemaError {
    pub file: PathBuf,
    pub problems: Vec<SchemaProblem>,
}

/// One thing wrong with a schema file. `line` is 1-based.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaProblem {
    pub line: Option<usize>,
    pub message: String,
}

impl SchemaProblem {
    pub(crate) fn at(line: usize, message: impl Into<String>) -> SchemaProblem {
        SchemaProblem {
            line: Some(line),
            message: message.into(),
        }
    }

    pub(crate) fn near(line: Option<usize>, message: impl Into<String>) -> SchemaProblem {
        SchemaProblem {
            line,
            message: message.into(),
        }
    }
}

impl SchemaError {
    /// An error with one problem about the whole file.
    pub(crate) fn whole(file: &Path, message: impl Into<String>) -> SchemaError {
        SchemaError {
            file: file.to_path_buf(),
            problems: vec![SchemaProblem::near(None, message)],
        }
    }

    /// Problems sorted by line (file-level ones first), as they are printed.
    pub(crate) fn sorted(file: &Path, mut problems: Vec<SchemaProblem>) -> SchemaError {
        problems.sort_by_key(|p| p.line);
        SchemaError {
            file: file.to_path_buf(),
            problems,
        }
    }
}

impl ExitStatus for SchemaError {
    fn exit(&self) -> Exit {
        Exit::Invalid
    }
}

fn render(file: &Path, problems: &[SchemaProblem]) -> String {
    let mut out = String::new();
    for (i, p) in problems.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        match p.line {
            Some(line) => out.push_str(&format!("{}:{line}: {}", file.display(), p.message)),
            None => out.push_str(&format!("{}: {}", file.display(), p.message)),
        }
    }
    out
}

/// A record value that does not fit its column (under `on_type_error =
/// "fail"`, or in a column that is not nullable).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeMismatch {
    /// The record's API offset (in export mode: its line in the download,
    /// from 0), as the writer was told it.
    pub record: u64,
    /// The output column's name.
    pub column: String,
    /// The column's type name (`int64`, `list<string>`...).
    pub expected: &'static str,
    /// The value as JSON text, shortened to about 80 characters.
    pub value: String,
    /// Why it does not fit, and what to do.
    pub why: &'static str,
}

impl fmt::Display for TypeMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "value {} does not fit type {} ({})",
            self.value, self.expected, self.why
        )
    }
}

impl std::error::Error for TypeMismatch {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_one_line_per_problem_sorted() {
        let err = SchemaError::sorted(
            Path::new("schemas/x.toml"),
            vec![
                SchemaProblem::at(9, "second"),
                SchemaProblem::near(None, "whole file"),
                SchemaProblem::at(2, "first"),
            ],
        );
        assert_eq!(
            err.to_string(),
            "schemas/x.toml: whole file\nschemas/x.toml:2: first\nschemas/x.toml:9: second"
        );
        assert_eq!(err.exit(), Exit::Invalid);
    }
}
