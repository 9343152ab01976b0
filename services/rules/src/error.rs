//! The one error type of rule and fixture loading: a reason at a place in a file.

use std::path::{Path, PathBuf};

use crate::yaml::{Mark, Problem};

/// A problem in a rule or fixture file, displayed as `FILE:LINE:COL: reason`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}:{}:{}: {}", .file.display(), .line, .column, .reason)]
pub struct RuleError {
    /// The file.
    pub file: PathBuf,
    /// 1-based line, 0 when the problem concerns the whole file.
    pub line: u32,
    /// 1-based column, 0 when unknown.
    pub column: u32,
    /// What is wrong, lowercase.
    pub reason: String,
}

impl RuleError {
    /// An error about a whole file (line and column 0).
    pub fn file(file: &Path, reason: impl Into<String>) -> RuleError {
        RuleError { file: file.to_path_buf(), line: 0, column: 0, reason: reason.into() }
    }
}

/// Collects the errors of one file.
pub(crate) struct Diagnostics<'f> {
    file: &'f Path,
    errors: Vec<RuleError>,
}

impl<'f> Diagnostics<'f> {
    /// No errors yet.
    pub fn new(file: &'f Path) -> Diagnostics<'f> {
        Diagnostics { file, errors: Vec::new() }
    }

    /// The file the errors are about.
    pub fn file(&self) -> &'f Path {
        self.file
    }

    /// Records an error at `mark`.
    pub fn error(&mut self, mark: Mark, reason: impl Into<String>) {
        self.errors.push(RuleError {
            file: self.file.to_path_buf(),
            line: mark.line,
            column: mark.column,
            reason: reason.into(),
        });
    }

    /// Records the problems of the YAML parse.
    pub fn problems(&mut self, problems: Vec<Problem>) {
        for problem in problems {
            self.error(problem.mark, problem.reason);
        }
    }

    /// How many errors so far.
    pub fn count(&self) -> usize {
        self.errors.len()
    }

    /// The errors, in the order found.
    pub fn into_errors(self) -> Vec<RuleError> {
        self.errors
    }
}

/// Sorts errors by file, line and column, keeping the order of errors at one place.
pub(crate) fn sort(errors: &mut [RuleError]) {
    errors.sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_displays_file_line_column_reason() {
        let error = RuleError {
            file: PathBuf::from("rules/a.yaml"),
            line: 7,
            column: 5,
            reason: "unknown key `windw`".to_string(),
        };
        assert_eq!(error.to_string(), "rules/a.yaml:7:5: unknown key `windw`");
        assert_eq!(RuleError::file(Path::new("x.yaml"), "gone").to_string(), "x.yaml:0:0: gone");
    }
}
