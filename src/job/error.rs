//! The one error of job loading: every problem found in one job file, each
//! with the line it is about. It does not decide what a problem is; the
//! reader, the key checker and the validator push problems here.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::exit::{Exit, ExitStatus};

/// Every problem of one job file (or one command-line path), reported at once.
///
/// Display: one problem per line, `FILE:LINE: message`, or `FILE: message`
/// when the problem has no line (a missing section, an unset override).
#[derive(Debug, thiserror::Error)]
#[error("{}", render(.file, .problems, .schema.as_ref()))]
pub struct LoadError {
    pub file: PathBuf,
    pub problems: Vec<Problem>,
    /// Problems of the job's schema file, printed with that file's lines.
    pub schema: Option<crate::schema::SchemaError>,
}

/// One thing wrong with a job file. `line` is 1-based.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub line: Option<usize>,
    pub message: String,
}

impl Problem {
    /// A problem at a line of the file.
    pub(crate) fn at(line: usize, message: impl Into<String>) -> Problem {
        Problem {
            line: Some(line),
            message: message.into(),
        }
    }

    /// A problem at a line when one is known, else about the whole file.
    pub(crate) fn near(line: Option<usize>, message: impl Into<String>) -> Problem {
        Problem {
            line,
            message: message.into(),
        }
    }
}

impl LoadError {
    /// An error with a single problem that has no line.
    pub(crate) fn whole(file: &Path, message: impl Into<String>) -> LoadError {
        LoadError {
            file: file.to_path_buf(),
            problems: vec![Problem::near(None, message)],
            schema: None,
        }
    }

    /// Problems sorted by line (file-level ones first), as they are printed.
    pub(crate) fn sorted(file: &Path, mut problems: Vec<Problem>) -> LoadError {
        problems.sort_by_key(|p| p.line);
        LoadError {
            file: file.to_path_buf(),
            problems,
            schema: None,
        }
    }
}

impl ExitStatus for LoadError {
    fn exit(&self) -> Exit {
        Exit::Invalid
    }
}

fn render(file: &Path, problems: &[Problem], schema: Option<&crate::schema::SchemaError>) -> String {
    let mut lines: Vec<String> = problems.iter().map(|p| Line(file, p).to_string()).collect();
    if let Some(schema) = schema {
        lines.push(schema.to_string());
    }
    lines.join("\n")
}

struct Line<'a>(&'a Path, &'a Problem);

impl fmt::Display for Line<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.1.line {
            Some(line) => write!(f, "{}:{}: {}", self.0.display(), line, self.1.message),
            None => write!(f, "{}: {}", self.0.display(), self.1.message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_one_problem_per_line_with_file_and_line() {
        let err = LoadError::sorted(
            Path::new("jobs/x.toml"),
            vec![
                Problem::at(14, "unknown key \"page_sise\" in [query]"),
                Problem::near(None, "no line here"),
                Problem::at(3, "first"),
            ],
        );
        assert_eq!(
            err.to_string(),
            "jobs/x.toml: no line here\n\
             jobs/x.toml:3: first\n\
             jobs/x.toml:14: unknown key \"page_sise\" in [query]"
        );
        assert_eq!(err.exit(), Exit::Invalid);
    }
}
