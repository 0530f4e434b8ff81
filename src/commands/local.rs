//! Running a job of one step here: on threads, or as one rank of an MPI job (the `run`
//! command, and each step of a workflow run here).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;

use super::outcome::{Global, Outcome, Status};
use super::workflow_report::WorkflowReport;
use crate::diagnostic::AppError;
use crate::executor::command::{self, TaskContext};
use crate::executor::environment;
use crate::executor::local;
use crate::executor::ranks::{self, Ranks};
use crate::kernel::{Kernel, chosen_isa};
use crate::plan;
use crate::progress::{Progress, TaskProgress};
use crate::report::{RunReport, Spread, TaskRecorder, TaskReport, write_task_files};
use crate::spec::{ComputeSpec, JobSpec, OUTDIR, TasksSpec};

#[derive(Serialize)]
#[serde(untagged)]
pub enum RunOutcome {
    Compute(RunReport),
    Tasks(TaskReport),
    Workflow(WorkflowReport),
    /// A rank other than 0 of an MPI run: rank 0 reports for all.
    SecondaryRank,
}

impl Outcome for RunOutcome {
    fn text(&self) -> String {
        match self {
            RunOutcome::Compute(report) => report.to_table(),
            RunOutcome::Tasks(report) => report.to_table(),
            RunOutcome::Workflow(report) => report.text(),
            RunOutcome::SecondaryRank => String::new(),
        }
    }

    fn status(&self) -> Status {
        match self {
            RunOutcome::Tasks(report) if report.failed_count() > 0 => Status::Failed(format!(
                "{} of {} tasks failed",
                report.failed_count(),
                report.task_count
            )),
            RunOutcome::Workflow(report) => report.status(),
            _ => Status::Success,
        }
    }

    fn silent(&self) -> bool {
        matches!(self, RunOutcome::SecondaryRank)
    }
}

pub fn run_compute(
    spec: &JobSpec,
    compute: &ComputeSpec,
    ranks: Ranks<'_>,
    global: Global,
) -> Result<RunOutcome, AppError> {
    let started = Instant::now();
    let kernel = Kernel::new(spec, compute, chosen_isa()?);
    let threads = plan::threads(spec).here;
    const A_DAY: std::time::Duration = std::time::Duration::from_secs(86_400);
    if !matches!(ranks, Ranks::Session(_)) && !ranks::is_secondary_rank() {
        let estimate = local::estimate(&kernel, spec.reduce.histogram, compute.samples, threads);
        if estimate > A_DAY {
            eprintln!(
                "warning: {} samples will take about {} here on {threads} thread{}; Ctrl-C to stop, \
                 fewer samples (--samples), or more ranks (mpirun, submit)",
                compute.samples,
                local::readable(estimate),
                if threads == 1 { "" } else { "s" }
            );
        }
    }
    let (size, acc) = match &ranks {
        Ranks::Mpi(_) | Ranks::Session(_) => {
            let (launch, session) = match &ranks {
                Ranks::Mpi(launch) => (launch.as_ref(), None),
                Ranks::Session(session) => (None, Some(*session)),
                Ranks::One => unreachable!("matched above"),
            };
            match ranks::run_compute(
                spec,
                &kernel,
                compute.samples,
                threads,
                global.show(),
                launch,
                session,
            )? {
                Some(result) => result,
                None => return Ok(RunOutcome::SecondaryRank),
            }
        }
        Ranks::One => {
            let whole = plan::slice(compute.samples, 1, 0);
            let progress = Progress::new(compute.samples, global.show());
            let acc = local::run_slice(&kernel, spec.reduce.histogram, &whole, threads, &progress);
            progress.finish();
            (1, acc)
        }
    };
    Ok(RunOutcome::Compute(RunReport::new(
        spec,
        compute.samples,
        Spread::Ranks(size),
        threads,
        &acc,
        started.elapsed().as_secs_f64(),
    )))
}

/// Where the tasks of a `run` leave their logs: `--logs DIR`, or a temporary directory that is
/// kept only if a task failed (its log is then worth reading).
pub enum Logs {
    Given(PathBuf),
    Temporary(tempfile::TempDir),
}

impl Logs {
    pub fn new(given: Option<&PathBuf>, job: &str) -> Result<Logs, AppError> {
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

    pub fn path(&self) -> PathBuf {
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

/// Runs the tasks with their logs in `logs`, their `{outdir}`s under `outputs`, and
/// `tasks.jsonl` and `tasks.csv` in `records` (else beside the logs, if those are kept).
#[allow(clippy::too_many_arguments)]
pub fn run_tasks(
    spec: &JobSpec,
    tasks: &TasksSpec,
    workdir: &Path,
    logs: Logs,
    outputs: &Path,
    records: Option<&Path>,
    ranks: Ranks<'_>,
    global: Global,
) -> Result<RunOutcome, AppError> {
    let started = Instant::now();
    let threads = plan::threads(spec).here;
    let logs_path = logs.path();
    // Each rank of an MPI run keeps its own setup log and journal.
    let named = |stem: &str, extension: &str| match &ranks {
        Ranks::Mpi(Some(launch)) => format!("{stem}-rank-{}.{extension}", launch.rank),
        Ranks::Session(session) => format!("{stem}-rank-{}.{extension}", ranks::rank(session)),
        _ => format!("{stem}.{extension}"),
    };
    let environment = match &spec.environment {
        Some(environment) => {
            let log = named("setup", "log");
            match environment::set_up(environment, workdir, &logs_path.join(log)) {
                Ok(variables) => Some(variables),
                Err(e) => {
                    // Kept: the setup's log says why.
                    logs.settle(true);
                    return Err(AppError::Run(e));
                }
            }
        }
        None => None,
    };
    // Kept logs get a journal too: a program watching the run (the Python executor) learns of
    // each task as it finishes, not only at the end.
    let journal = match &logs {
        Logs::Given(_) => {
            let path = logs_path.join(named("tasks", "journal"));
            File::create(&path)
                .map_err(|e| AppError::Run(format!("cannot create {}: {e}", path.display())))?;
            Some(path)
        }
        Logs::Temporary(_) => None,
    };
    let context = TaskContext {
        tasks,
        workdir,
        logs: &logs_path,
        outputs,
        environment: environment.as_deref(),
        journal: journal.as_deref(),
        ran_by: None,
    };
    // A task's outputs are worth keeping as much as a failed task's logs.
    let keep_logs = |any_failed: bool| any_failed || tasks.uses(OUTDIR);
    let spool_error = |e: std::io::Error| {
        AppError::Run(format!(
            "cannot record the tasks' outcomes in {}: {e}",
            logs_path.display()
        ))
    };
    let mut recorder =
        TaskRecorder::new(tasks, &spec.reduce.statistics, &logs_path).map_err(spool_error)?;
    let (size, recorded) = match &ranks {
        Ranks::Mpi(_) | Ranks::Session(_) => {
            let (launch, session) = match &ranks {
                Ranks::Mpi(launch) => (launch.as_ref(), None),
                Ranks::Session(session) => (None, Some(*session)),
                Ranks::One => unreachable!("matched above"),
            };
            let (size, outcomes, own_failures) =
                ranks::run_tasks(&context, threads, global.show(), launch, session)?;
            match outcomes {
                Some(outcomes) => (size, recorder.record_all(outcomes)),
                None => {
                    logs.settle(keep_logs(own_failures));
                    return Ok(RunOutcome::SecondaryRank);
                }
            }
        }
        Ranks::One => {
            let ids: Vec<u64> = (0..tasks.count).collect();
            let progress = TaskProgress::new(tasks.count, global.show());
            // Each outcome is reduced and spooled as it arrives, so none is held to the end.
            let mut failure = None;
            command::run_tasks_from(
                &context,
                &command::Listed::new(&ids),
                threads,
                &progress,
                &mut |outcome| {
                    if failure.is_none()
                        && let Err(e) = recorder.arrive(outcome)
                    {
                        failure = Some(e);
                    }
                },
            );
            progress.finish();
            (1, failure.map_or_else(|| recorder.finish(), Err))
        }
    };
    let mut report = TaskReport::new(
        spec,
        tasks,
        Spread::Ranks(size),
        threads,
        recorded.map_err(spool_error)?,
        None,
        started.elapsed().as_secs_f64(),
    );
    report.logs = logs.settle(keep_logs(report.failed_count() > 0));
    if let Some(dir) = records
        .map(Path::to_path_buf)
        .or(report.logs.as_ref().map(PathBuf::from))
    {
        write_task_files(&dir, &report.tasks).map_err(|e| {
            AppError::Run(format!(
                "cannot write tasks.jsonl and tasks.csv in {}: {e}",
                dir.display()
            ))
        })?;
    }
    Ok(RunOutcome::Tasks(report))
}
