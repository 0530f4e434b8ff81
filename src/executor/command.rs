//! The command executor: runs the tasks of a task job, up to `threads` at a time with dynamic
//! scheduling. Each task is its argv run without a shell, in its own process group (so a
//! timeout, Ctrl-C or SIGTERM kills its children too), with stdout and stderr in log files.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, Once, mpsc};
use std::time::{Duration, Instant};

use indexmap::IndexMap;

use crate::executor::descendants;
use crate::progress::TaskProgress;
use crate::reduce::task_results::{TaskOutcome, TaskValue, parse_output};
use crate::spec::{OUTDIR, TasksSpec};

/// Where tasks run and leave their logs.
pub struct TaskContext<'a> {
    pub tasks: &'a TasksSpec,
    /// The working directory of every task: where the job was run or submitted from.
    pub workdir: &'a Path,
    pub logs: &'a Path,
    /// Where each task's `{outdir}` is made, as `task-<id>/`.
    pub outputs: &'a Path,
    /// The whole environment of every task, when the job sets one up (`environment:`); else
    /// tasks inherit hpcsub's.
    pub environment: Option<&'a [(OsString, OsString)]>,
    /// Where each finished task's outcome is appended as it finishes (a submitted slice's
    /// journal), so a slice stopped midway reruns only the tasks that had not finished.
    pub journal: Option<&'a Path>,
}

/// The `{outdir}` of task `task`.
pub fn outdir(outputs: &Path, task: u64) -> PathBuf {
    outputs.join(format!("task-{task}"))
}

/// Lines of a failed task's stderr shown in the report.
const STDERR_TAIL_LINES: usize = 5;
/// Files of an `{outdir}` listed in the report.
const OUTPUTS_LISTED: usize = 1000;

/// Only the tail of a task's stdout is read for its result: enough for a JSON line holding a
/// histogram of some hundred thousand bins.
const OUTPUT_TAIL_BYTES: u64 = 8 << 20;

/// The process groups of the tasks running now, for the Ctrl-C / SIGTERM handler.
static RUNNING_GROUPS: Mutex<BTreeSet<i32>> = Mutex::new(BTreeSet::new());

/// On Ctrl-C or SIGTERM, kill every running task's process group and every process the tasks
/// started, then exit as interrupted: tasks run in their own process groups, which the
/// terminal's Ctrl-C does not reach, and their children may have left even those.
fn kill_tasks_on_interrupt() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        descendants::become_subreaper();
        let _ = ctrlc::set_handler(|| {
            let groups = RUNNING_GROUPS
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            for &group in groups.iter() {
                kill_group(group);
            }
            descendants::end_leftovers(&[]);
            eprintln!(
                "hpcsub: interrupted; killed {} running task{}",
                groups.len(),
                if groups.len() == 1 { "" } else { "s" }
            );
            std::process::exit(130);
        });
    });
}

fn kill_group(group: i32) {
    // SAFETY: kill() has no memory-safety preconditions; a negative pid names a process group.
    unsafe {
        libc::kill(-group, libc::SIGKILL);
    }
}

/// Runs tasks `ids` on up to `threads` threads; returns their outcomes by task id.
pub fn run_tasks(
    context: &TaskContext,
    ids: &[u64],
    threads: usize,
    progress: &TaskProgress,
) -> Vec<TaskOutcome> {
    kill_tasks_on_interrupt();
    let next = AtomicUsize::new(0);
    let workers = threads.clamp(1, ids.len().max(1));
    let (sender, receiver) = mpsc::channel();
    let mut outcomes = Vec::with_capacity(ids.len());
    std::thread::scope(|scope| {
        for _ in 0..workers {
            let sender = sender.clone();
            let next = &next;
            scope.spawn(move || {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&task) = ids.get(index) else { break };
                    progress.started();
                    let outcome = run_task(context, task);
                    progress.finished(outcome.failure.is_some());
                    // The receiver outlives every worker inside this scope.
                    let _ = sender.send(outcome);
                }
            });
        }
        drop(sender);
        let mut journal = context
            .journal
            .and_then(|path| OpenOptions::new().create(true).append(true).open(path).ok());
        loop {
            match receiver.recv_timeout(Duration::from_millis(100)) {
                Ok(outcome) => {
                    if let Some(file) = &mut journal {
                        let line = serde_json::to_string(&outcome).expect("outcomes serialize");
                        let _ = writeln!(file, "{line}");
                        let _ = file.sync_data();
                    }
                    outcomes.push(outcome);
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
            progress.refresh();
        }
    });
    // What these tasks left running (a daemon, a `setsid ... &`) ends with them; tasks of other
    // runs in this process (a workflow's steps) and what is under them are spared.
    let running: Vec<i32> = RUNNING_GROUPS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .iter()
        .copied()
        .collect();
    descendants::end_leftovers(&running);
    outcomes.sort_by_key(|o| o.task);
    outcomes
}

pub fn stdout_log(logs: &Path, task: u64) -> PathBuf {
    logs.join(format!("task-{task}.out"))
}

pub fn stderr_log(logs: &Path, task: u64) -> PathBuf {
    logs.join(format!("task-{task}.err"))
}

/// Runs one task, retrying as the job file allows.
pub fn run_task(context: &TaskContext, task: u64) -> TaskOutcome {
    let tasks = context.tasks;
    let out = stdout_log(context.logs, task);
    let err = stderr_log(context.logs, task);
    let started = Instant::now();
    let attempts_allowed = tasks.retries + 1;
    let mut attempts = 0;
    let outdir = tasks.uses(OUTDIR).then(|| outdir(context.outputs, task));
    let result = loop {
        attempts += 1;
        let prepared = match &outdir {
            Some(dir) => std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create its outdir {}: {e}", dir.display())),
            None => Ok(()),
        };
        match prepared.and_then(|()| attempt(context, task, &out, &err, outdir.as_deref())) {
            Ok(values) => break Ok(values),
            Err(reason) => {
                note(
                    &err,
                    &format!("hpcsub: attempt {attempts} of {attempts_allowed} failed: {reason}"),
                );
                if attempts >= attempts_allowed {
                    break Err(reason);
                }
            }
        }
    };
    let (values, failure) = match result {
        Ok(values) => (values, None),
        Err(reason) => (
            IndexMap::new(),
            Some(if attempts > 1 {
                format!("{reason} (after {attempts} attempts)")
            } else {
                reason
            }),
        ),
    };
    TaskOutcome {
        task,
        attempts,
        values,
        stderr_tail: if failure.is_some() {
            stderr_tail(&err)
        } else {
            Vec::new()
        },
        failure,
        log: err.display().to_string(),
        stdout: out.display().to_string(),
        elapsed_s: started.elapsed().as_secs_f64(),
        outputs: outdir.as_deref().map(listed_outputs).unwrap_or_default(),
    }
}

/// The last lines the task itself wrote to stderr (hpcsub's notes on attempts left out).
fn stderr_tail(log: &Path) -> Vec<String> {
    let Ok(text) = tail(log, 4096) else {
        return Vec::new();
    };
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with("hpcsub: attempt"))
        .collect();
    lines[lines.len().saturating_sub(STDERR_TAIL_LINES)..]
        .iter()
        .map(|l| l.chars().take(300).collect())
        .collect()
}

/// The files in an `{outdir}`, sorted, at most [`OUTPUTS_LISTED`].
fn listed_outputs(dir: &Path) -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .take(OUTPUTS_LISTED)
        .map(|entry| entry.path().display().to_string())
        .collect();
    files.sort();
    files
}

/// A line from hpcsub itself in a task's stderr log.
fn note(log: &Path, line: &str) {
    if let Ok(mut file) = OpenOptions::new().create(true).append(true).open(log) {
        let _ = writeln!(file, "{line}");
    }
}

fn attempt(
    context: &TaskContext,
    task: u64,
    out: &Path,
    err: &Path,
    outdir: Option<&Path>,
) -> Result<IndexMap<String, TaskValue>, String> {
    let outdir = outdir.map_or(String::new(), |d| d.display().to_string());
    let tasks = context.tasks;
    let log_error = |path: &Path, e: std::io::Error| format!("cannot open {}: {e}", path.display());
    let stdout = File::create(out).map_err(|e| log_error(out, e))?;
    let stderr = OpenOptions::new()
        .create(true)
        .append(true)
        .open(err)
        .map_err(|e| log_error(err, e))?;
    let argv: Vec<String> = tasks
        .command
        .iter()
        .map(|argument| tasks.fill(argument, task, &outdir))
        .collect();
    let mut command = Command::new(&argv[0]);
    command
        .args(&argv[1..])
        .current_dir(context.workdir)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .process_group(0);
    if let Some(environment) = context.environment {
        command
            .env_clear()
            .envs(environment.iter().map(|(k, v)| (k, v)));
    }
    command.env("HPCSUB_TASK", task.to_string());
    for (name, value) in &tasks.env {
        command.env(name, tasks.fill(value, task, &outdir));
    }
    let status = {
        // Registered while spawning too, so an interrupt cannot slip between spawn and record.
        let mut groups = RUNNING_GROUPS
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let child = command.spawn().map_err(|e| {
            format!(
                "cannot start `{}` (in {}): {e}",
                argv[0],
                context.workdir.display()
            )
        })?;
        groups.insert(child.id() as i32);
        drop(groups);
        let group = child.id() as i32;
        let status = wait(child, tasks.timeout);
        RUNNING_GROUPS
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .remove(&group);
        status?
    };
    if !status.success() {
        return Err(describe(status));
    }
    parse_output(tasks.result, &output_tail(out)?)
}

/// Waits for the child; past the timeout, kills its whole process group.
fn wait(mut child: std::process::Child, timeout: Option<Duration>) -> Result<ExitStatus, String> {
    let waited = |r: std::io::Result<ExitStatus>| r.map_err(|e| format!("cannot wait for it: {e}"));
    let Some(timeout) = timeout else {
        return waited(child.wait());
    };
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(1);
    loop {
        if let Some(status) = child
            .try_wait()
            .map_err(|e| format!("cannot wait for it: {e}"))?
        {
            return Ok(status);
        }
        let now = Instant::now();
        if now >= deadline {
            // Its descendants first, while they can still be found under it: some may have
            // left its process group.
            let below = descendants::of(child.id() as i32);
            kill_group(child.id() as i32);
            descendants::kill(&below);
            let _ = child.wait();
            return Err(format!(
                "timed out after {timeout:?}; its process group was killed"
            ));
        }
        std::thread::sleep(pause.min(deadline - now));
        pause = (pause * 2).min(Duration::from_millis(20));
    }
}

fn describe(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(signal)) => format!("killed by signal {signal} ({})", signal_name(signal)),
        (None, None) => format!("ended with {status}"),
    }
}

fn signal_name(signal: i32) -> &'static str {
    match signal {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGTERM => "SIGTERM",
        _ => "see `kill -l`",
    }
}

/// The last [`OUTPUT_TAIL_BYTES`] of a task's stdout, as text.
fn output_tail(path: &Path) -> Result<String, String> {
    tail(path, OUTPUT_TAIL_BYTES)
        .map_err(|e| format!("cannot read its stdout {}: {e}", path.display()))
}

/// The last `bytes` of a file, as text.
fn tail(path: &Path, bytes: u64) -> std::io::Result<String> {
    let mut file = File::open(path)?;
    let len = file.metadata()?.len();
    file.seek(SeekFrom::Start(len.saturating_sub(bytes)))?;
    let mut read = Vec::new();
    file.take(bytes).read_to_end(&mut read)?;
    Ok(String::from_utf8_lossy(&read).into_owned())
}
