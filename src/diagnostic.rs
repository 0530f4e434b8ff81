//! User-facing errors: every problem a user can cause is reported as `file:line:column: message`
//! with the offending source line, a caret, and a hint where one is obvious.

use std::fmt;
use std::path::{Path, PathBuf};

/// Exit code for anything the user wrote wrong (job file, command-line values).
pub const EXIT_BAD_INPUT: i32 = 2;
/// Exit code for a run that started but could not finish.
pub const EXIT_RUN_FAILED: i32 = 1;
/// Exit code for a gather that found slices missing or corrupt.
pub const EXIT_INCOMPLETE: i32 = 3;
/// Exit code for a slice that saved its progress and stopped when asked to (HTCondor's
/// `checkpoint_exit_code` restarts it).
pub const EXIT_CHECKPOINTED: i32 = 85;

/// A 1-based position in a source file; `column` counts characters, not bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Location {
    pub line: usize,
    pub column: usize,
}

impl Location {
    pub const START: Location = Location { line: 1, column: 1 };

    /// The location `chars` characters to the right of this one, for positions inside a
    /// single-line scalar such as an expression.
    pub fn shifted(self, chars: usize) -> Location {
        Location {
            line: self.line,
            column: self.column + chars,
        }
    }
}

/// A problem in a job file, located precisely.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    pub location: Location,
    pub message: String,
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn new(location: Location, message: impl Into<String>) -> Self {
        Diagnostic {
            location,
            message: message.into(),
            help: None,
        }
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

/// A diagnostic together with the file it is about, ready to print.
#[derive(Debug)]
pub struct FileDiagnostic {
    pub path: PathBuf,
    pub source: Option<String>,
    pub diagnostic: Diagnostic,
}

impl FileDiagnostic {
    pub fn new(path: &Path, source: Option<&str>, diagnostic: Diagnostic) -> Self {
        FileDiagnostic {
            path: path.to_path_buf(),
            source: source.map(str::to_owned),
            diagnostic,
        }
    }
}

impl fmt::Display for FileDiagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Diagnostic {
            location,
            message,
            help,
        } = &self.diagnostic;
        write!(
            f,
            "{}:{}:{}: error: {}",
            self.path.display(),
            location.line,
            location.column,
            message
        )?;
        let source_line = self
            .source
            .as_deref()
            .and_then(|text| text.lines().nth(location.line.saturating_sub(1)));
        if let Some(line) = source_line {
            let gutter = location.line.to_string().len();
            let printable: String = line
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect();
            let caret_pad = " ".repeat(location.column.saturating_sub(1));
            write!(
                f,
                "\n{:gutter$} |\n{} | {}\n{:gutter$} | {}^",
                "", location.line, printable, "", caret_pad
            )?;
        }
        if let Some(help) = help {
            write!(f, "\n  help: {help}")?;
        }
        Ok(())
    }
}

/// Every way a command can fail, each with the exit code the user sees.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    JobFile(Box<FileDiagnostic>),
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Run(String),
    /// A slice stopped by a signal after saving its progress.
    #[error("{0}")]
    Checkpointed(String),
}

impl AppError {
    pub fn exit_code(&self) -> i32 {
        match self {
            AppError::JobFile(_) | AppError::Usage(_) => EXIT_BAD_INPUT,
            AppError::Run(_) => EXIT_RUN_FAILED,
            AppError::Checkpointed(_) => EXIT_CHECKPOINTED,
        }
    }
}

impl From<FileDiagnostic> for AppError {
    fn from(diagnostic: FileDiagnostic) -> Self {
        AppError::JobFile(Box::new(diagnostic))
    }
}

/// The closest candidate to `word`, if it is close enough to be a plausible typo.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let allowed = (word.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .map(|candidate| (strsim::damerau_levenshtein(word, candidate), candidate))
        .filter(|(distance, _)| *distance <= allowed)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_shows_location_source_line_caret_and_help() {
        let diag = FileDiagnostic::new(
            Path::new("job.yaml"),
            Some("name: q\ncompute:\n  samplez: 3\n"),
            Diagnostic::new(Location { line: 3, column: 3 }, "unknown key `samplez`")
                .with_help("did you mean `samples`?"),
        );
        let text = diag.to_string();
        assert!(text.starts_with("job.yaml:3:3: error: unknown key `samplez`"));
        assert!(text.contains("3 |   samplez: 3"));
        assert!(text.contains("  |   ^"));
        assert!(text.ends_with("help: did you mean `samples`?"));
    }

    #[test]
    fn did_you_mean_finds_typos_only() {
        assert_eq!(
            did_you_mean("sampels", ["samples", "vars", "expr"]),
            Some("samples")
        );
        assert_eq!(did_you_mean("zzz", ["samples", "vars", "expr"]), None);
        assert_eq!(did_you_mean("aa", ["ab", "pi", "e"]), Some("ab"));
        assert_eq!(did_you_mean("zz", ["pi", "e"]), None);
    }
}
