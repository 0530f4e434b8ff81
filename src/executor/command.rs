//! The command executor: runs the tasks of a task job, up to `threads` at a time with dynamic
//! scheduling. Each task is its argv run without a shell, in its own process group (so a
//! timeout, Ctrl-C or SIGTERM kills its children too), with stdout and stderr in log files.
//!
//! With `tasks.worker`, each thread instead keeps one process of the command (a *worker*)
//! serving its tasks one after another, so an interpreter's start-up (a Python process and its
//! imports: tens of milliseconds) is paid once per thread rather than once per task. For each
//! task hpcsub writes one JSON line on the worker's stdin,
//! `{"task": 3, "attempt": 1, "stdout": PATH, "stderr": PATH, "outdir": DIR, "placeholders":
//! {...}}`; the worker runs it with its own stdout written to the first file (created or
//! truncated) and its stderr appended to the second, and answers one line
//! `{"task": 3, "exit": CODE}` on its original stdout. hpcsub then reads the task's result
//! from its stdout file as for any task. A worker that dies or outlives the timeout is killed
//! with its process group, that attempt fails with the reason, and a fresh worker takes the next.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, Once, mpsc};
use std::time::{Duration, Instant};

use indexmap::IndexMap;

use crate::executor::descendants;
use crate::progress::TaskProgress;
use crate::reduce::task_results::{TaskOutcome, TaskValue, parse_output};
use crate::spec::{OUTDIR, TasksSpec};

/// Where tasks run and leave their logs.
#[derive(Clone, Copy)]
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
    /// The slice running these tasks and its node, recorded in each outcome.
    pub ran_by: Option<(u32, &'a str)>,
}

/// This machine's name, as a task's record gives it: what `hostname` prints.
pub fn node_name() -> String {
    let mut buffer = [0u8; 256];
    // SAFETY: gethostname writes at most `buffer.len()` bytes into the buffer it is given.
    let written = unsafe { libc::gethostname(buffer.as_mut_ptr().cast(), buffer.len()) };
    if written != 0 {
        return "unknown".into();
    }
    let end = buffer.iter().position(|&b| b == 0).unwrap_or(buffer.len());
    String::from_utf8_lossy(&buffer[..end]).into_owned()
}

/// The `{outdir}` of task `task`.
pub fn outdir(outputs: &Path, task: u64) -> PathBuf {
    outputs.join(format!("task-{task}"))
}

/// How long a finished task's journal line may wait before it is synced to disk.
const JOURNAL_SYNC: Duration = Duration::from_millis(50);

/// Lines of a failed task's stderr shown in the report.
const STDERR_TAIL_LINES: usize = 5;
/// Files of an `{outdir}` listed in the report.
const OUTPUTS_LISTED: usize = 1000;

/// Only the tail of a task's stdout is read for its result: enough for a JSON line holding a
/// histogram of some hundred thousand bins.
const OUTPUT_TAIL_BYTES: u64 = 8 << 20;

/// The process groups of the tasks running now, for the Ctrl-C / SIGTERM handler.
static RUNNING_GROUPS: Mutex<BTreeSet<i32>> = Mutex::new(BTreeSet::new());

/// Set by the Ctrl-C / SIGTERM handler before it kills the running tasks: a task that ends
/// after that died with its slice, and is neither recorded nor retried, so that the journal
/// and the scheduler's state (TIMEOUT, preempted) say what happened rather than "failed".
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// What else the Ctrl-C / SIGTERM handler does once the tasks are killed, before it exits.
static ON_INTERRUPT: Mutex<Vec<Box<dyn Fn() + Send>>> = Mutex::new(Vec::new());

/// Has Ctrl-C or SIGTERM run `hook` after killing the running tasks (a dynamically balanced
/// slice releases its batches so).
pub fn on_interrupt(hook: Box<dyn Fn() + Send>) {
    ON_INTERRUPT
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .push(hook);
}

/// On Ctrl-C or SIGTERM, kill every running task's process group and every process the tasks
/// started, then exit as interrupted: tasks run in their own process groups, which the
/// terminal's Ctrl-C does not reach, and their children may have left even those.
fn kill_tasks_on_interrupt() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        descendants::become_subreaper();
        let _ = ctrlc::set_handler(|| {
            INTERRUPTED.store(true, Ordering::SeqCst);
            let groups = RUNNING_GROUPS
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            for &group in groups.iter() {
                kill_group(group);
            }
            descendants::end_leftovers(&[]);
            for hook in ON_INTERRUPT
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .iter()
            {
                hook();
            }
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

/// Where the threads running tasks take their next one from.
pub trait TaskSource: Sync {
    /// The next task to run, or `None` when none is left. Outcomes that come with it (those
    /// that a taken-over batch's former owner finished) go to `adopt`.
    fn next(&self, adopt: &mut dyn FnMut(TaskOutcome)) -> Option<u64>;
    /// A task it gave took `elapsed_s` seconds.
    fn finished(&self, _elapsed_s: f64) {}
    /// At most how many tasks it will give, so that no more threads start than that.
    fn most(&self) -> usize;
}

/// Tasks known in advance.
pub struct Listed<'a> {
    ids: &'a [u64],
    next: AtomicUsize,
}

impl<'a> Listed<'a> {
    pub fn new(ids: &'a [u64]) -> Listed<'a> {
        Listed {
            ids,
            next: AtomicUsize::new(0),
        }
    }
}

impl TaskSource for Listed<'_> {
    fn next(&self, _adopt: &mut dyn FnMut(TaskOutcome)) -> Option<u64> {
        self.ids
            .get(self.next.fetch_add(1, Ordering::Relaxed))
            .copied()
    }

    fn most(&self) -> usize {
        self.ids.len()
    }
}

/// Runs tasks `ids` on up to `threads` threads; returns their outcomes by task id.
pub fn run_tasks(
    context: &TaskContext,
    ids: &[u64],
    threads: usize,
    progress: &TaskProgress,
) -> Vec<TaskOutcome> {
    collected(|deliver| run_tasks_from(context, &Listed::new(ids), threads, progress, deliver))
}

/// What `run` delivered, by task id.
pub fn collected(run: impl FnOnce(&mut dyn FnMut(TaskOutcome))) -> Vec<TaskOutcome> {
    let mut outcomes = Vec::new();
    run(&mut |outcome| outcomes.push(outcome));
    outcomes.sort_by_key(|o| o.task);
    outcomes
}

/// Runs the tasks that `source` gives on up to `threads` threads, each thread taking the next
/// as it comes free; hands each outcome (and each adopted one) to `deliver` on this thread, in
/// the order they finish.
pub fn run_tasks_from(
    context: &TaskContext,
    source: &dyn TaskSource,
    threads: usize,
    progress: &TaskProgress,
    deliver: &mut dyn FnMut(TaskOutcome),
) {
    kill_tasks_on_interrupt();
    let workers = threads.clamp(1, source.most().max(1));
    let (sender, receiver) = mpsc::channel();
    std::thread::scope(|scope| {
        for _ in 0..workers {
            let sender = sender.clone();
            scope.spawn(move || {
                let mut worker = None;
                // The receiver outlives every thread inside this scope.
                while let Some(task) = source.next(&mut |adopted| {
                    let _ = sender.send(adopted);
                }) {
                    progress.started();
                    let outcome = run_task(context, task, &mut worker);
                    if outcome.failure.is_some() && died_with_the_slice() {
                        break;
                    }
                    progress.finished(outcome.failure.is_some());
                    source.finished(outcome.elapsed_s);
                    let _ = sender.send(outcome);
                }
                if let Some(worker) = worker {
                    worker.finish();
                }
            });
        }
        drop(sender);
        let mut journal = context
            .journal
            .and_then(|path| OpenOptions::new().create(true).append(true).open(path).ok());
        // Each line is written as its task finishes, for readers watching the run; it reaches
        // the disk at most JOURNAL_SYNC later, so that tasks of a millisecond are not slowed
        // by one sync each.
        let mut synced = Instant::now();
        let mut unsynced = false;
        loop {
            match receiver.recv_timeout(Duration::from_millis(50)) {
                Ok(outcome) => {
                    if let Some(file) = &mut journal {
                        let mut line = serde_json::to_string(&outcome).expect("outcomes serialize");
                        line.push('\n');
                        let _ = file.write_all(line.as_bytes());
                        unsynced = true;
                    }
                    deliver(outcome);
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
            if let Some(file) = &mut journal
                && unsynced
                && synced.elapsed() >= JOURNAL_SYNC
            {
                let _ = file.sync_data();
                synced = Instant::now();
                unsynced = false;
            }
            progress.refresh();
        }
        if let Some(file) = &mut journal
            && unsynced
        {
            let _ = file.sync_data();
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
}

pub fn stdout_log(logs: &Path, task: u64) -> PathBuf {
    logs.join(format!("task-{task}.out"))
}

pub fn stderr_log(logs: &Path, task: u64) -> PathBuf {
    logs.join(format!("task-{task}.err"))
}

/// Runs one task, retrying as the job file allows; `worker` is this thread's worker process
/// (`tasks.worker`), started when first needed.
fn run_task(context: &TaskContext, task: u64, worker: &mut Option<Worker>) -> TaskOutcome {
    TERMINATED.with(|terminated| terminated.set(false));
    let tasks = context.tasks;
    let out = stdout_log(context.logs, task);
    let err = stderr_log(context.logs, task);
    let started = Instant::now();
    let attempts_allowed = tasks.retries + 1;
    let mut attempts = 0;
    // A worker is told its task's outdir whatever its command says.
    let outdir = (tasks.uses(OUTDIR) || tasks.worker).then(|| outdir(context.outputs, task));
    let result = loop {
        attempts += 1;
        let prepared = match &outdir {
            Some(dir) => std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create its outdir {}: {e}", dir.display())),
            None => Ok(()),
        };
        let attempted = prepared.and_then(|()| {
            if tasks.worker {
                let request = Request {
                    task,
                    attempt: attempts,
                    out: &out,
                    err: &err,
                    outdir: outdir.as_deref(),
                };
                attempt_in_worker(context, &request, worker)
            } else {
                attempt(context, task, &out, &err, outdir.as_deref())
            }
        });
        match attempted {
            Ok(values) => break Ok(values),
            Err(reason) => {
                note(
                    &err,
                    &format!("hpcsub: attempt {attempts} of {attempts_allowed} failed: {reason}"),
                );
                if attempts >= attempts_allowed || died_with_the_slice() {
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
        slice: context.ran_by.map(|(slice, _)| slice),
        node: context.ran_by.map(|(_, node)| node.to_string()),
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

/// One attempt of one task, as a worker is asked to run it.
struct Request<'a> {
    task: u64,
    attempt: u32,
    out: &'a Path,
    err: &'a Path,
    outdir: Option<&'a Path>,
}

/// The longest answer line read from a worker: it should be a few dozen bytes.
const WORKER_LINE_BYTES: u64 = 64 << 10;
/// How long a worker may take to exit once its stdin is closed, before it is killed.
const WORKER_EXIT_GRACE: Duration = Duration::from_secs(5);

/// Numbers the workers this process starts, for their log files' names.
static WORKERS_STARTED: AtomicUsize = AtomicUsize::new(0);

/// A process of the command serving tasks one after another (`tasks.worker`).
struct Worker {
    child: Child,
    /// Its stdin; `None` once closed, which tells it to exit.
    requests: Option<ChildStdin>,
    /// Its answer lines, read by a thread of their own so that waiting can time out; `None`
    /// once its stdout closed.
    answers: mpsc::Receiver<Option<String>>,
    /// Where what it writes on stderr between tasks goes.
    log: PathBuf,
}

impl Worker {
    fn start(context: &TaskContext) -> Result<Worker, String> {
        let tasks = context.tasks;
        let number = WORKERS_STARTED.fetch_add(1, Ordering::Relaxed);
        let log = context
            .logs
            .join(format!("worker-{}-{number}.err", std::process::id()));
        let stderr = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .map_err(|e| format!("cannot open {}: {e}", log.display()))?;
        // Validation leaves only placeholders that are the same for every task.
        let argv: Vec<String> = tasks
            .command
            .iter()
            .map(|argument| tasks.fill(argument, 0, ""))
            .collect();
        let mut command = Command::new(&argv[0]);
        command
            .args(&argv[1..])
            .current_dir(context.workdir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .process_group(0);
        if let Some(environment) = context.environment {
            command
                .env_clear()
                .envs(environment.iter().map(|(k, v)| (k, v)));
        }
        for (name, value) in &tasks.env {
            command.env(name, tasks.fill(value, 0, ""));
        }
        let mut groups = RUNNING_GROUPS
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut child = command.spawn().map_err(|e| {
            format!(
                "cannot start the worker `{}` (in {}): {e}",
                argv[0],
                context.workdir.display()
            )
        })?;
        groups.insert(child.id() as i32);
        drop(groups);
        let requests = child.stdin.take();
        let stdout = child.stdout.take().expect("stdout is piped");
        let (sender, answers) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout);
            loop {
                let mut line = String::new();
                match (&mut lines).take(WORKER_LINE_BYTES).read_line(&mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        if sender.send(Some(line)).is_err() {
                            return;
                        }
                    }
                }
            }
            let _ = sender.send(None);
        });
        Ok(Worker {
            child,
            requests,
            answers,
            log,
        })
    }

    fn group(&self) -> i32 {
        self.child.id() as i32
    }

    /// Kills it with its process group and everything it started.
    fn kill(mut self) {
        let below = descendants::of(self.group());
        kill_group(self.group());
        descendants::kill(&below);
        let _ = self.child.wait();
        self.forget();
    }

    /// How it ended by itself (its stdout closed); one that lives on is killed.
    fn ended(mut self) -> String {
        let deadline = Instant::now() + Duration::from_millis(200);
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                _ => break None,
            }
        };
        match status {
            Some(status) => {
                // What it started may outlive it in its group.
                kill_group(self.group());
                self.forget();
                describe(status)
            }
            None => {
                self.kill();
                "it closed its stdout and was killed".into()
            }
        }
    }

    fn forget(&self) {
        RUNNING_GROUPS
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .remove(&self.group());
    }

    /// No more tasks: its stdin closes, which ends it; one that lingers is killed.
    fn finish(mut self) {
        drop(self.requests.take());
        let deadline = Instant::now() + WORKER_EXIT_GRACE;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                kill_group(self.group());
                self.forget();
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        note(
            &self.log,
            "hpcsub: the worker did not exit within 5 s of its stdin closing; killed",
        );
        self.kill();
    }
}

/// One attempt of a task in this thread's worker (`tasks.worker`), started if there is none.
fn attempt_in_worker(
    context: &TaskContext,
    request: &Request,
    worker: &mut Option<Worker>,
) -> Result<IndexMap<String, TaskValue>, String> {
    let tasks = context.tasks;
    let task = request.task;
    if worker.is_none() {
        *worker = Some(Worker::start(context)?);
    }
    let running = worker.as_mut().expect("started above");
    let outdir = request
        .outdir
        .map_or(String::new(), |d| d.display().to_string());
    let mut placeholders = serde_json::Map::new();
    placeholders.insert("task".into(), task.to_string().into());
    placeholders.insert(OUTDIR.into(), outdir.clone().into());
    for (name, value) in tasks.point(task) {
        placeholders.insert(name.into(), value.into());
    }
    let line = serde_json::json!({
        "task": task,
        "attempt": request.attempt,
        "stdout": request.out,
        "stderr": request.err,
        "outdir": outdir,
        "placeholders": placeholders,
    });
    // One write: the pipe is unbuffered, and `writeln!` would make a system call per piece.
    let line = format!("{line}\n");
    let sent = match running.requests.as_mut() {
        Some(requests) => requests.write_all(line.as_bytes()),
        None => Err(std::io::ErrorKind::BrokenPipe.into()),
    };
    let deadline = tasks.timeout.map(|timeout| Instant::now() + timeout);
    let answer = if sent.is_err() {
        None
    } else {
        loop {
            let wait = deadline.map_or(Duration::from_secs(3600), |d| {
                d.saturating_duration_since(Instant::now())
            });
            match running.answers.recv_timeout(wait) {
                Ok(answer) => break answer,
                Err(mpsc::RecvTimeoutError::Timeout) if deadline.is_some() => {
                    let timeout = tasks.timeout.expect("a deadline has a timeout");
                    worker.take().expect("running").kill();
                    return Err(format!(
                        "timed out after {timeout:?}; its worker's process group was killed"
                    ));
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break None,
            }
        }
    };
    let Some(answer) = answer else {
        let how = worker.take().expect("running").ended();
        return Err(format!("its worker ended while running it: {how}"));
    };
    let code = serde_json::from_str::<serde_json::Value>(&answer)
        .ok()
        .filter(|value| value["task"].as_u64() == Some(task))
        .and_then(|value| value["exit"].as_i64());
    let Some(code) = code else {
        worker.take().expect("running").kill();
        return Err(format!(
            "its worker answered `{}` instead of {{\"task\": {task}, \"exit\": CODE}}; it was killed",
            answer.trim().chars().take(200).collect::<String>()
        ));
    };
    if code != 0 {
        return Err(format!("exit status {code}"));
    }
    parse_output(tasks.result, &output_tail(request.out)?)
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

thread_local! {
    /// Whether a process of the task this thread ran last was killed by SIGTERM.
    static TERMINATED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether the task this thread just ran was stopped with its slice: a Ctrl-C or SIGTERM came
/// first, or its process was killed by SIGTERM and the slice's own SIGTERM follows at once.
/// Slurm's time limit, `scancel` and a preemption signal every process of the job at the same
/// moment, so the task's death can be seen before the handler runs; then a task that died with
/// its slice would be recorded as failed, and the scheduler's TIMEOUT or PREEMPTED never seen.
fn died_with_the_slice() -> bool {
    const GRACE: Duration = Duration::from_secs(1);
    if TERMINATED.with(|terminated| terminated.replace(false)) {
        let started = Instant::now();
        while !INTERRUPTED.load(Ordering::SeqCst) && started.elapsed() < GRACE {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    INTERRUPTED.load(Ordering::SeqCst)
}

fn describe(status: ExitStatus) -> String {
    if status.signal() == Some(libc::SIGTERM) {
        TERMINATED.with(|terminated| terminated.set(true));
    }
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
