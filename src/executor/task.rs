//! One array task of a submitted run: compute one slice with local threads, or run one slice's
//! command tasks, and leave the result in `parts/` for the gather.

use std::path::PathBuf;

use crate::diagnostic::AppError;
use crate::executor::command::{self, TaskContext};
use crate::executor::local;
use crate::kernel::{Isa, Kernel};
use crate::plan;
use crate::progress::{Progress, TaskProgress};
use crate::reduce::part::{self, Expected, Part};
use crate::run_dir::RunDir;
use crate::spec::{ComputeSpec, TasksSpec};

/// Threads for a task: `--threads`, else what Slurm gave the task, else what each slice asked
/// the scheduler for (`split.threads`, else one CPU).
pub fn threads(given: Option<usize>, spec_threads: Option<usize>) -> usize {
    given
        .or_else(|| std::env::var("SLURM_CPUS_PER_TASK").ok()?.parse().ok())
        .or(spec_threads)
        .unwrap_or(1)
}

fn check_slice(run_dir: &RunDir, slice_index: u32) -> Result<(), AppError> {
    let slices = run_dir.spec.split.ranks;
    if slice_index >= slices {
        return Err(AppError::Usage(format!(
            "--slice {slice_index} is out of range: this run has slices 0 to {}",
            slices - 1
        )));
    }
    Ok(())
}

fn write_error(slice: u32) -> impl Fn(std::io::Error) -> AppError {
    move |e| AppError::Run(format!("cannot write the part of slice {slice}: {e}"))
}

pub fn run(
    run_dir: &RunDir,
    compute: &ComputeSpec,
    slice_index: u32,
    threads: usize,
    isa: Isa,
) -> Result<PathBuf, AppError> {
    check_slice(run_dir, slice_index)?;
    let spec = &run_dir.spec;
    let slices = spec.split.ranks;
    let slice = plan::slice(compute.samples, slices, slice_index);
    let expected = Expected {
        job_hash: &run_dir.job_hash,
        slice: slice_index,
        slices,
        start: slice.start,
        end: slice.end,
    };
    // A retried DAG node or array runs every slice again; a slice with a valid part is done.
    if part::read(&run_dir.parts(), &expected).is_ok() {
        return Ok(part::path(&run_dir.parts(), slice_index));
    }
    let kernel = Kernel::new(spec, compute, isa);
    let acc = local::run_slice(
        &kernel,
        spec.reduce.histogram,
        &slice,
        threads,
        &Progress::hidden(),
    );
    Part::of_accumulator(&expected, &acc)
        .write_atomically(&run_dir.parts())
        .map_err(write_error(slice_index))
}

/// What a task job's part covers: task ids `0..count`, every `slices`-th from the slice index.
pub fn expected_task_part<'a>(run_dir: &'a RunDir, tasks: &TasksSpec, slice: u32) -> Expected<'a> {
    Expected {
        job_hash: &run_dir.job_hash,
        slice,
        slices: run_dir.spec.split.ranks,
        start: 0,
        end: tasks.count,
    }
}

/// Runs the command tasks of one slice. If the slice already has a valid part (a resubmission),
/// only its failed tasks run again; the others keep their outcomes. A part is written even if
/// tasks failed: the gather reports them, and `resubmit` runs them again.
pub fn run_tasks(
    run_dir: &RunDir,
    tasks: &TasksSpec,
    slice_index: u32,
    threads: usize,
) -> Result<(PathBuf, usize), AppError> {
    check_slice(run_dir, slice_index)?;
    let expected = expected_task_part(run_dir, tasks, slice_index);
    let ids = plan::tasks_of_slice(tasks.count, run_dir.spec.split.ranks, slice_index);
    let mut kept = match part::read(&run_dir.parts(), &expected) {
        Ok(previous) => previous.tasks,
        Err(_) => Vec::new(),
    };
    kept.retain(|o| o.failure.is_none() && ids.binary_search(&o.task).is_ok());
    let to_run: Vec<u64> = ids
        .iter()
        .copied()
        .filter(|id| !kept.iter().any(|o| o.task == *id))
        .collect();
    let workdir = run_dir.workdir()?;
    let logs = run_dir.logs();
    let context = TaskContext {
        tasks,
        workdir: &workdir,
        logs: &logs,
    };
    let mut outcomes = command::run_tasks(&context, &to_run, threads, &TaskProgress::new(0, false));
    let failed = outcomes.iter().filter(|o| o.failure.is_some()).count();
    outcomes.extend(kept);
    outcomes.sort_by_key(|o| o.task);
    let path = Part::of_tasks(&expected, outcomes)
        .write_atomically(&run_dir.parts())
        .map_err(write_error(slice_index))?;
    Ok((path, failed))
}
