//! The one place hpcsub starts a program of someone else's (a scheduler's command, `mpirun`,
//! Graphviz's `dot`) and waits for it: the exit status is checked, and stderr is kept for the
//! message. Command tasks are the exception, with process groups and timeouts of their own
//! (`executor::command`).

use std::ffi::OsStr;
use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::diagnostic::AppError;

/// A program that could not be started or did not succeed.
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
    /// The message for people; `if_missing` says what to do when the program is not there.
    pub fn message(&self, if_missing: &str) -> String {
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
                "cannot run `{}` ({}): {if_missing}",
                self.command, self.stderr
            )
        }
    }

    pub fn into_error(self, if_missing: &str) -> AppError {
        AppError::Run(self.message(if_missing))
    }
}

/// Runs `program args...` (in `dir`, with `stdin` as its standard input if given); its stdout,
/// trimmed, if it exited 0.
pub fn run<S: AsRef<OsStr>>(
    program: &str,
    args: &[S],
    dir: Option<&Path>,
    stdin: Option<&[u8]>,
) -> Result<String, Failure> {
    let output = output(program, args, dir, stdin)?;
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
}

/// Runs `program args...` as [`run`] does; its stdout and stderr as bytes, if it exited 0.
pub fn output<S: AsRef<OsStr>>(
    program: &str,
    args: &[S],
    dir: Option<&Path>,
    stdin: Option<&[u8]>,
) -> Result<std::process::Output, Failure> {
    output_within(program, args, dir, stdin, None)
}

/// How long a scheduler's command may take: `sbatch` retries for minutes on a controller that
/// refuses more jobs ("Resource temporarily unavailable"), which must not look like a hang.
/// `HPCSUB_SCHEDULER_TIMEOUT` (seconds) overrides it.
pub fn scheduler_limit() -> Duration {
    std::env::var("HPCSUB_SCHEDULER_TIMEOUT")
        .ok()
        .and_then(|s| s.parse().ok())
        .map_or(Duration::from_secs(300), Duration::from_secs)
}

/// A scheduler's command: [`run`], given up on (killed, with what it said so far) past
/// [`scheduler_limit`].
pub fn run_scheduler<S: AsRef<OsStr>>(
    program: &str,
    args: &[S],
    dir: &Path,
) -> Result<String, Failure> {
    let output = output_within(program, args, Some(dir), None, Some(scheduler_limit()))?;
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
}

/// Everything a pipe gives until it closes.
fn read_all(pipe: Option<&mut impl std::io::Read>) -> Vec<u8> {
    let mut bytes = Vec::new();
    if let Some(pipe) = pipe {
        let _ = pipe.read_to_end(&mut bytes);
    }
    bytes
}

fn output_within<S: AsRef<OsStr>>(
    program: &str,
    args: &[S],
    dir: Option<&Path>,
    stdin: Option<&[u8]>,
    limit: Option<Duration>,
) -> Result<std::process::Output, Failure> {
    let command_line = std::iter::once(program.to_string())
        .chain(
            args.iter()
                .map(|a| a.as_ref().to_string_lossy().into_owned()),
        )
        .collect::<Vec<_>>()
        .join(" ");
    let failure = |code, stderr: String, started| Failure {
        command: command_line.clone(),
        code,
        stderr: stderr.trim().to_string(),
        started,
    };
    let mut command = Command::new(program);
    command
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(dir) = dir {
        command.current_dir(dir);
    }
    if limit.is_some() {
        // Its own process group, so that giving up ends what it started too (which would
        // otherwise keep its output open).
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
    }
    let mut child = command
        .spawn()
        .map_err(|e| failure(None, e.to_string(), false))?;
    // The input is written and the output read from other threads, so a program that answers
    // before it has read everything cannot block on a full pipe, and one past its limit can be
    // killed.
    let (mut out, mut err) = (child.stdout.take(), child.stderr.take());
    let (status, stdout, stderr) = std::thread::scope(|scope| {
        if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
            scope.spawn(move || {
                let _ = pipe.write_all(input);
            });
        }
        let stdout = scope.spawn(move || read_all(out.as_mut()));
        let stderr = scope.spawn(move || read_all(err.as_mut()));
        let started = Instant::now();
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break Ok(Some(status)),
                Ok(None) if limit.is_some_and(|l| started.elapsed() > l) => {
                    // SAFETY: kill() has no memory-safety preconditions; a negative pid names
                    // the child's process group.
                    unsafe {
                        libc::kill(-(child.id() as i32), libc::SIGKILL);
                    }
                    let _ = child.wait();
                    break Ok(None);
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(5)),
                Err(e) => break Err(e),
            }
        };
        (
            status,
            stdout.join().unwrap_or_default(),
            stderr.join().unwrap_or_default(),
        )
    });
    let status = status.map_err(|e| failure(None, e.to_string(), true))?;
    let Some(status) = status else {
        let said = String::from_utf8_lossy(&stderr);
        return Err(failure(
            None,
            format!(
                "gave up after {:.0} s without an answer{}",
                limit.unwrap_or_default().as_secs_f64(),
                if said.trim().is_empty() {
                    String::new()
                } else {
                    format!("; it said: {}", said.trim())
                }
            ),
            true,
        ));
    };
    let output = std::process::Output {
        status,
        stdout,
        stderr,
    };
    if !output.status.success() {
        return Err(failure(
            output.status.code(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
            true,
        ));
    }
    Ok(output)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failing_command_keeps_its_exit_code_and_stderr() {
        let failure = run("sh", &["-c", "echo nope >&2; exit 3"], None, None).unwrap_err();
        assert_eq!(failure.code, Some(3));
        assert_eq!(failure.stderr, "nope");
        assert!(failure.message("").contains("exit code 3): nope"));
    }

    #[test]
    fn a_missing_program_says_what_to_do() {
        let failure = run("hpcsub-no-such-program", &[] as &[&str], None, None).unwrap_err();
        assert!(!failure.started);
        assert!(failure.message("install it").ends_with(": install it"));
    }

    #[test]
    fn a_scheduler_command_that_stalls_is_given_up_on_with_what_it_said() {
        let started = Instant::now();
        let failure = output_within(
            "sh",
            &[
                "-c",
                "echo 'retrying: Resource temporarily unavailable' >&2; sleep 30",
            ],
            None,
            None,
            Some(Duration::from_millis(300)),
        )
        .unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(10));
        assert!(failure.stderr.contains("gave up after"), "{failure:?}");
        assert!(
            failure.stderr.contains("Resource temporarily unavailable"),
            "{failure:?}"
        );
    }

    #[test]
    fn stdout_of_a_successful_command_with_its_input() {
        assert_eq!(run("echo", &["hi"], None, None).unwrap(), "hi");
        let big = "x".repeat(1 << 20);
        let echoed = run(
            "cat",
            &[] as &[&str],
            Some(Path::new("/")),
            Some(big.as_bytes()),
        );
        assert_eq!(
            echoed.unwrap().len(),
            1 << 20,
            "a large input does not deadlock"
        );
    }
}
