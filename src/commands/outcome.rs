//! What a command returns and how it is shown: every handler returns a typed outcome, and
//! [`print`] turns it (or the error) into text for people or one JSON object on one line.

use std::io::Write as _;
use std::process::ExitCode;

use serde::Serialize;
use serde_json::{Value, json};

use crate::diagnostic::{AppError, EXIT_INCOMPLETE, EXIT_RUN_FAILED};
use crate::progress::Show;

/// The two switches every subcommand takes.
#[derive(Clone, Copy, Debug, Default, clap::Args)]
pub struct Global {
    /// Print one JSON object on one line on stdout, errors included.
    #[arg(long, global = true)]
    pub json: bool,
    /// Hide progress bars and notes.
    #[arg(long, short, global = true)]
    pub quiet: bool,
    /// Progress on stderr: a bar on a terminal (auto), one JSON object per line (json), or none.
    #[arg(long, global = true, value_enum, default_value_t, value_name = "WHEN")]
    pub progress: Show,
}

impl Global {
    /// How progress is shown: as `--progress` says, unless `--quiet`.
    pub fn show(&self) -> Show {
        if self.quiet {
            Show::Never
        } else {
            self.progress
        }
    }
}

/// How a command ended that produced a report worth reading.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    Success,
    /// Exit 1: the run finished, but some of its tasks failed.
    Failed(String),
    /// Exit 3: slices are missing or unusable.
    Incomplete(String),
}

pub trait Outcome: Serialize {
    /// The report for people.
    fn text(&self) -> String;

    fn status(&self) -> Status {
        Status::Success
    }

    /// Remarks for people on stderr, hidden by `--quiet` (JSON carries what matters).
    fn notes(&self) -> Vec<String> {
        Vec::new()
    }

    /// Whether nothing at all is printed (ranks other than 0 of an MPI run).
    fn silent(&self) -> bool {
        false
    }
}

fn error_kind(err: &AppError) -> &'static str {
    match err {
        AppError::JobFile(_) => "job_file",
        AppError::Usage(_) => "usage",
        AppError::Run(_) => "run",
        AppError::Checkpointed(_) => "checkpointed",
    }
}

/// `{"error": {...}}` for `--json`, with the place of a job-file error.
pub fn error_json(err: &AppError) -> Value {
    let mut error = json!({
        "kind": error_kind(err),
        "exit_code": err.exit_code(),
        "message": match err {
            AppError::JobFile(d) => d.diagnostic.message.clone(),
            other => other.to_string(),
        },
    });
    if let AppError::JobFile(d) = err {
        error["file"] = d.path.display().to_string().into();
        error["line"] = d.diagnostic.location.line.into();
        error["column"] = d.diagnostic.location.column.into();
        error["hint"] = d.diagnostic.help.clone().into();
        error["rendered"] = d.to_string().into();
    }
    json!({ "error": error })
}

/// One line (or block) on stdout; a reader that went away (`| head`) is not an error.
fn say(text: &str) {
    let _ = writeln!(std::io::stdout(), "{text}");
}

/// An outcome as `--json` prints it: its own fields, and why the command failed if it did.
#[derive(Serialize)]
struct Reported<'a, O: Serialize> {
    #[serde(flatten)]
    outcome: &'a O,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<Value>,
}

/// One JSON object on one line of stdout, written as it is serialized: a report of a million
/// tasks is never held whole in memory.
fn say_json(value: &impl Serialize) -> Result<(), serde_json::Error> {
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    match serde_json::to_writer(&mut out, value) {
        Ok(()) => {
            let _ = writeln!(out);
            let _ = out.flush();
            Ok(())
        }
        // A reader that went away is not an error; a report that cannot be read back is.
        Err(e) if e.is_io() => Ok(()),
        Err(e) => Err(e),
    }
}

/// Prints a command's outcome or error as `global` asks; the exit code to end with.
pub fn print<O: Outcome>(
    result: Result<O, AppError>,
    global: Global,
    quiet_errors: bool,
) -> ExitCode {
    match result {
        Ok(outcome) if outcome.silent() => ExitCode::SUCCESS,
        Ok(outcome) => {
            let status = outcome.status();
            let (code, problem) = match &status {
                Status::Success => (0, None),
                Status::Failed(message) => (EXIT_RUN_FAILED, Some(("failed", message))),
                Status::Incomplete(message) => (EXIT_INCOMPLETE, Some(("incomplete", message))),
            };
            if global.json {
                let error = problem.map(
                    |(kind, message)| json!({"kind": kind, "exit_code": code, "message": message}),
                );
                if let Err(e) = say_json(&Reported {
                    outcome: &outcome,
                    error,
                }) {
                    let err = AppError::Run(format!("cannot write the report: {e}"));
                    eprintln!("{err}");
                    return ExitCode::from(err.exit_code() as u8);
                }
            } else {
                if !global.quiet {
                    for note in outcome.notes() {
                        eprintln!("note: {note}");
                    }
                }
                let text = outcome.text();
                if !text.trim().is_empty() {
                    say(text.trim_end());
                }
            }
            ExitCode::from(code as u8)
        }
        Err(err) => {
            if global.json {
                say(&error_json(&err).to_string());
            } else if !quiet_errors {
                eprintln!("{err}");
            }
            ExitCode::from(err.exit_code() as u8)
        }
    }
}
