//! The subcommands for task jobs (`tasks:`): run, check, gather and what to run again.

use std::path::PathBuf;
use std::time::Instant;

use super::{Output, Overrides, threads_for};
use crate::diagnostic::AppError;
use crate::executor::command::{self, TaskContext};
use crate::executor::launcher;
use crate::plan;
use crate::progress::TaskProgress;
use crate::reduce::gather;
use crate::reduce::task_results::{TaskOutcome, summarize};
use crate::report::TaskReport;
use crate::run_dir::{RESULT_FILE, RunDir};
use crate::spec::{JobSpec, TasksSpec};

/// Where the tasks of a `run` leave their logs: `--logs DIR`, or a temporary directory that is
/// kept only if a task failed (its log is then worth reading).
enum Logs {
    Given(PathBuf),
    Temporary(tempfile::TempDir),
}

impl Logs {
    fn new(given: Option<&PathBuf>, job: &str) -> Result<Logs, AppError> {
        match given {
            Some(dir) => {
                std::fs::create_dir_all(dir).map_err(|e| {
                    AppError::Usage(format!("--logs {}: cannot create it: {e}", dir.display()))
                })?;
                Ok(Logs::Given(dir.canonicalize().map_err(|e| {
                    AppError::Usage(format!("--logs {}: {e}", dir.display()))
                })?))
            }
            None => tempfile::Builder::new()
                .prefix(&format!("hpcsub-{job}-"))
                .tempdir()
                .map(Logs::Temporary)
                .map_err(|e| {
                    AppError::Run(format!("cannot create a directory for task logs: {e}"))
                }),
        }
    }

    fn path(&self) -> PathBuf {
        match self {
            Logs::Given(dir) => dir.clone(),
            Logs::Temporary(dir) => dir.path().to_path_buf(),
        }
    }

    /// The directory to report, if it stays; a temporary one is removed unless a task failed.
    fn settle(self, any_failed: bool) -> Option<String> {
        match self {
            Logs::Given(dir) => Some(dir.display().to_string()),
            Logs::Temporary(dir) if any_failed => Some(dir.keep().display().to_string()),
            Logs::Temporary(_) => None,
        }
    }
}

pub fn run(
    spec: &JobSpec,
    tasks: &TasksSpec,
    overrides: &Overrides,
    output: Output,
    launch: Option<&launcher::Launch>,
) -> Result<String, AppError> {
    let started = Instant::now();
    let threads = threads_for(spec);
    let workdir = std::env::current_dir()
        .map_err(|e| AppError::Run(format!("cannot read the current directory: {e}")))?;
    let logs = Logs::new(overrides.logs.as_ref(), &spec.name)?;
    let logs_path = logs.path();
    let context = TaskContext {
        tasks,
        workdir: &workdir,
        logs: &logs_path,
    };
    let (ranks, outcomes) = if launch.is_some() || output.force_mpi {
        let (size, outcomes, own_failures) = run_mpi(&context, threads, output, launch)?;
        match outcomes {
            Some(outcomes) => (size, outcomes),
            None => {
                logs.settle(own_failures);
                return Ok(String::new());
            }
        }
    } else {
        let ids: Vec<u64> = (0..tasks.count).collect();
        let progress = TaskProgress::new(tasks.count, !output.quiet);
        let outcomes = command::run_tasks(&context, &ids, threads, &progress);
        progress.finish();
        (1, outcomes)
    };
    let summary = summarize(&outcomes, tasks.result, &spec.reduce.statistics);
    let any_failed = !summary.failed.is_empty();
    let report = TaskReport {
        spec,
        tasks: tasks.count,
        ranks,
        threads,
        summary,
        logs: logs.settle(any_failed),
        elapsed_s: started.elapsed().as_secs_f64(),
    };
    let text = if output.json {
        report.to_json().to_string()
    } else {
        report.to_table()
    };
    if any_failed {
        Err(AppError::TasksFailed(text))
    } else {
        Ok(text)
    }
}

/// Rank 0 gets every outcome; each rank also learns whether any of its own tasks failed.
#[cfg(feature = "mpi")]
fn run_mpi(
    context: &TaskContext,
    threads: usize,
    output: Output,
    launch: Option<&launcher::Launch>,
) -> Result<(u32, Option<Vec<TaskOutcome>>, bool), AppError> {
    super::warn_if_bound(threads, launch);
    let outcome = crate::executor::mpi::run_tasks(context, threads, !output.quiet)?;
    Ok((outcome.size, outcome.outcomes, outcome.own_failures))
}

#[cfg(not(feature = "mpi"))]
fn run_mpi(
    _: &TaskContext,
    _: usize,
    _: Output,
    launch: Option<&launcher::Launch>,
) -> Result<(u32, Option<Vec<TaskOutcome>>, bool), AppError> {
    Err(super::mpi_missing(launch))
}

/// The argv of one task, as a JSON array: unambiguous about spaces and quotes.
fn argv_json(tasks: &TasksSpec, task: u64) -> String {
    let argv: Vec<String> = tasks.command.iter().map(|t| tasks.fill(t, task)).collect();
    serde_json::to_string(&argv).expect("strings always serialize")
}

pub fn check(spec: &JobSpec, tasks: &TasksSpec, json: bool) -> String {
    let threads = threads_for(spec);
    let plan = plan::make_for_tasks(spec, tasks, threads, spec.split.ranks);
    const SHOWN: u64 = 20;
    if json {
        let mut value = serde_json::to_value(&plan).expect("a plan always serializes");
        value["commands"] = (0..tasks.count.min(1000))
            .map(|task| {
                serde_json::json!({
                    "task": task,
                    "argv": tasks.command.iter().map(|t| tasks.fill(t, task)).collect::<Vec<_>>(),
                })
            })
            .collect();
        return serde_json::to_string_pretty(&value).expect("JSON");
    }
    let params: Vec<String> = tasks
        .params
        .iter()
        .map(|p| format!("{} ({} values)", p.name, p.values.len()))
        .collect();
    let mut out = format!(
        "{} is valid: {} task{}{}, result {}, {}, {} retr{}\n",
        spec.name,
        tasks.count,
        if tasks.count == 1 { "" } else { "s" },
        if params.is_empty() {
            String::new()
        } else {
            format!(" over {}", params.join(" x "))
        },
        tasks.result.name(),
        tasks
            .timeout
            .map_or("no timeout".to_string(), |t| format!("timeout {t:?}")),
        tasks.retries,
        if tasks.retries == 1 { "y" } else { "ies" },
    );
    out.push_str(&format!(
        "plan: {} slice{} (task i runs in slice i mod {}) x up to {} task{} at a time\n",
        plan.slices.len(),
        if plan.slices.len() == 1 { "" } else { "s" },
        plan.slices.len(),
        threads,
        if threads == 1 { "" } else { "s" },
    ));
    out.push_str("   task  slice  command (run without a shell)\n");
    for task in 0..tasks.count.min(SHOWN) {
        out.push_str(&format!(
            "  {task:>5}  {:>5}  {}\n",
            task % u64::from(spec.split.ranks),
            argv_json(tasks, task)
        ));
    }
    if tasks.count > SHOWN {
        out.push_str(&format!(
            "  ... {} more (use --json)\n",
            tasks.count - SHOWN
        ));
    }
    out
}

/// Slices with no valid part or with failed tasks, and the corrupt ones among them.
pub fn slices_to_rerun(run: &RunDir, tasks: &TasksSpec) -> super::Rerun {
    let gathered = gather::gather_tasks(run, tasks);
    let slices = u64::from(run.spec.split.ranks);
    let mut rerun: Vec<u32> = gathered.unusable();
    rerun.extend(
        gathered
            .total
            .iter()
            .filter(|o| o.failure.is_some())
            .map(|o| (o.task % slices) as u32),
    );
    rerun.sort_unstable();
    rerun.dedup();
    super::Rerun {
        slices: rerun,
        corrupt: gathered.corrupt.iter().map(|(s, _)| *s).collect(),
    }
}

/// Reduces the outcomes in `parts/`: exit 3 if slices are missing or corrupt, exit 1 (with the
/// reduced result of the others) if tasks failed; `result.json` only once every task succeeded.
pub fn gather(
    run_dir: &RunDir,
    tasks: &TasksSpec,
    started: Instant,
    json: bool,
) -> Result<String, AppError> {
    let gathered = gather::gather_tasks(run_dir, tasks);
    if !gathered.complete() {
        return Err(super::incomplete(run_dir, &gathered, json));
    }
    let spec = &run_dir.spec;
    let summary = summarize(&gathered.total, tasks.result, &spec.reduce.statistics);
    let any_failed = !summary.failed.is_empty();
    let report = TaskReport {
        spec,
        tasks: tasks.count,
        ranks: spec.split.ranks,
        threads: crate::submit::slurm::cpus_per_task(spec),
        summary,
        logs: Some(run_dir.logs().display().to_string()),
        elapsed_s: started.elapsed().as_secs_f64(),
    };
    let mut result = report.to_json();
    result["run_dir"] = run_dir.path.display().to_string().into();
    let text = if json {
        result.to_string()
    } else {
        report.to_table()
    };
    if any_failed {
        return Err(AppError::TasksFailed(text));
    }
    run_dir.write(RESULT_FILE, &result.to_string())?;
    Ok(text)
}
