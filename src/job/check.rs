//! Small checking helpers shared by the phase-two validators: defaults,
//! ranges, enum choices with "did you mean", required keys. They push
//! problems and return a usable value so validation can go on and find the
//! next problem. They know nothing of any particular section.

use super::error::Problem;
use super::file::{Lined, Opt};
use crate::diagnostics::nearest;

/// Problems found so far, and which keys the file wrote.
pub(crate) struct Check<'a> {
    pub problems: &'a mut Vec<Problem>,
    pub present: &'a std::collections::BTreeSet<String>,
}

impl Check<'_> {
    pub(crate) fn push(&mut self, line: Option<usize>, message: impl Into<String>) {
        self.problems.push(Problem::near(line, message));
    }

    /// Whether `section.key` is written in the file (even if invalid).
    pub(crate) fn written(&self, section: &str, key: &str) -> bool {
        self.present.contains(&format!("{section}.{key}"))
    }

    /// A required key: reports it missing unless it was written (and so
    /// already reported as invalid).
    pub(crate) fn required<'v, T>(
        &mut self,
        v: &'v Opt<T>,
        section: &str,
        key: &str,
        section_line: Option<usize>,
    ) -> Option<&'v Lined<T>> {
        if v.is_none() && !self.written(section, key) {
            self.push(section_line, format!("missing required key \"{key}\" in [{section}]"));
        }
        v.as_ref()
    }

    /// An integer key with a default and an inclusive range.
    pub(crate) fn int(&mut self, v: &Opt<i64>, default: i64, label: &str, min: i64, max: i64, why: &str) -> i64 {
        let Some(v) = v else { return default };
        if (min..=max).contains(&v.value) {
            return v.value;
        }
        // Bounds that only exist because of the type (u32) read better one-sided.
        let huge = max >= i64::from(u32::MAX);
        let range = if huge && v.value < min {
            format!("at least {min}")
        } else if huge {
            format!("at most {max}")
        } else {
            format!("between {min} and {max}")
        };
        self.push(Some(v.line), format!("{label} must be {range}, not {}{why}", v.value));
        default
    }

    /// One of `options`, matched exactly; a near miss gets a suggestion.
    pub(crate) fn choice<T: Copy>(&mut self, v: &Lined<String>, label: &str, options: &[(&str, T)]) -> Option<T> {
        if let Some((_, t)) = options.iter().find(|(name, _)| *name == v.value) {
            return Some(*t);
        }
        let names: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
        let hint = match nearest(&v.value, &names) {
            Some(n) if !v.from_env => format!(" (did you mean \"{n}\"?)"),
            _ => String::new(),
        };
        self.push(
            Some(v.line),
            format!(
                "{label} = {} is not valid: use one of {}{hint}",
                v.shown(),
                names.join(", ")
            ),
        );
        None
    }

    /// A string that must not be empty; `None` (reported) when it is.
    pub(crate) fn non_empty<'v>(&mut self, v: &'v Lined<String>, label: &str) -> Option<&'v str> {
        if v.value.trim().is_empty() {
            self.push(Some(v.line), format!("{label} must not be empty"));
            None
        } else {
            Some(&v.value)
        }
    }
}
