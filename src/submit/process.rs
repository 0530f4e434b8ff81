//! The one place scheduler commands are started: it checks their exit status and keeps their
//! stderr for the message.

use std::path::Path;

use crate::diagnostic::AppError;

/// A scheduler command that could not be started or did not succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The command as the user would type it.
    pub command: String,
    /// Its exit code, or `None` if it could not be started or was killed.
    pub code: Option<i32>,
    /// Its stderr (or why it could not be started), trimmed.
    pub stderr: String,
    pub started: bool,
}

impl Failure {
    pub fn message(&self, scheduler: &str) -> String {
        if self.started {
            format!(
                "`{}` failed ({}): {}",
                self.command,
                self.code
                    .map_or("killed by a signal".to_string(), |c| format!(
                        "exit code {c}"
                    )),
                if self.stderr.is_empty() {
                    "it printed nothing on stderr"
                } else {
                    &self.stderr
                }
            )
        } else {
            format!(
                "cannot run `{}` ({}): is {scheduler} installed here? With `--dry-run`, hpcsub \
                 writes the run directory and prints the commands instead",
                self.command, self.stderr
            )
        }
    }

    pub fn into_error(self, scheduler: &str) -> AppError {
        AppError::Run(self.message(scheduler))
    }
}

/// Runs `program args...` in `dir`; its stdout, trimmed, if it exited 0.
pub fn run(dir: &Path, program: &str, args: &[&str]) -> Result<String, Failure> {
    let command = std::iter::once(program)
        .chain(args.iter().copied())
        .collect::<Vec<_>>()
        .join(" ");
    let output = std::process::Command::new(program)
        .args(args)
        .current_dir(dir)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| Failure {
            command: command.clone(),
            code: None,
            stderr: e.to_string(),
            started: false,
        })?;
    if !output.status.success() {
        return Err(Failure {
            command,
            code: output.status.code(),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
            started: true,
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failing_command_keeps_its_exit_code_and_stderr() {
        let failure = run(Path::new("/"), "sh", &["-c", "echo nope >&2; exit 3"]).unwrap_err();
        assert_eq!(failure.code, Some(3));
        assert_eq!(failure.stderr, "nope");
        assert!(failure.message("Slurm").contains("exit code 3): nope"));
    }

    #[test]
    fn a_missing_program_says_so() {
        let failure = run(Path::new("/"), "hpcsub-no-such-program", &[]).unwrap_err();
        assert!(!failure.started);
        assert!(
            failure
                .message("Slurm")
                .contains("is Slurm installed here?")
        );
    }

    #[test]
    fn stdout_of_a_successful_command() {
        assert_eq!(run(Path::new("/"), "echo", &["hi"]).unwrap(), "hi");
    }
}
