//! One slice of a submitted run (one array element or DAG proc): compute its samples with local
//! threads, or run its command tasks, and leave the result in `parts/` for the gather.

use std::path::PathBuf;

use crate::diagnostic::AppError;
use crate::executor::command::{self, TaskContext};
use crate::executor::environment;
use crate::executor::local;
use crate::kernel::{Isa, Kernel};
use crate::plan;
use crate::progress::{Progress, TaskProgress};
use crate::run_dir::RunDir;
use crate::run_dir::parts::{self, Part, expected_compute_part, expected_task_part};
use crate::spec::{ComputeSpec, TasksSpec};

/// What one slice did.
pub struct SliceOutcome {
    pub part: PathBuf,
    /// Task jobs: the tasks of the slice that failed (they are in the part, for the gather).
    pub failed_tasks: usize,
    /// Whether a valid part was there already (a retried DAG node or array runs every slice
    /// again), so nothing was computed.
    pub already_done: bool,
}

fn check_slice(run_dir: &RunDir, slice: u32) -> Result<(), AppError> {
    let slices = run_dir.slices();
    if slice >= slices {
        return Err(AppError::Usage(format!(
            "slice {slice} is out of range: this run has slices 0 to {}",
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
    slice: u32,
    threads: usize,
    isa: Isa,
) -> Result<SliceOutcome, AppError> {
    check_slice(run_dir, slice)?;
    let started = parts::unix_seconds();
    let expected = expected_compute_part(run_dir, compute.samples, slice);
    if parts::read(&run_dir.parts(), &expected).is_ok() {
        return Ok(SliceOutcome {
            part: parts::path(&run_dir.parts(), slice),
            failed_tasks: 0,
            already_done: true,
        });
    }
    let range = plan::slice(compute.samples, run_dir.slices(), slice);
    let kernel = Kernel::new(&run_dir.spec, compute, isa);
    let acc = local::run_slice(
        &kernel,
        run_dir.spec.reduce.histogram,
        &range,
        threads,
        &Progress::hidden(),
    );
    let part = Part::of_accumulator(&expected, &acc, started)
        .write_atomically(&run_dir.parts())
        .map_err(write_error(slice))?;
    Ok(SliceOutcome {
        part,
        failed_tasks: 0,
        already_done: false,
    })
}

/// Runs the command tasks of one slice. If the slice already has a valid part (a resubmission),
/// only its failed tasks run again; the others keep their outcomes. A part is written even if
/// tasks failed: the gather reports them, and `resubmit` runs them again.
pub fn run_tasks(
    run_dir: &RunDir,
    tasks: &TasksSpec,
    slice: u32,
    threads: usize,
) -> Result<SliceOutcome, AppError> {
    check_slice(run_dir, slice)?;
    let started = parts::unix_seconds();
    let expected = expected_task_part(run_dir, tasks, slice);
    let ids = plan::tasks_of_slice(tasks.count, run_dir.slices(), slice);
    let previous = parts::read(&run_dir.parts(), &expected).ok();
    let had_part = previous.is_some();
    let mut kept = previous.map_or_else(Vec::new, |p| p.tasks);
    kept.retain(|o| o.failure.is_none() && ids.binary_search(&o.task).is_ok());
    let to_run: Vec<u64> = ids
        .iter()
        .copied()
        .filter(|id| !kept.iter().any(|o| o.task == *id))
        .collect();
    if had_part && to_run.is_empty() {
        return Ok(SliceOutcome {
            part: parts::path(&run_dir.parts(), slice),
            failed_tasks: 0,
            already_done: true,
        });
    }
    let logs = run_dir.logs();
    let outputs = run_dir.outputs();
    let workdir = &run_dir.manifest.workdir;
    // Named as a slice's log, so a gather lists it with the slice.
    let setup_log = logs.join(format!("setup_{slice}.err"));
    let environment = match &run_dir.spec.environment {
        Some(environment) => Some(
            environment::set_up(environment, workdir, &setup_log)
                .map_err(|e| AppError::Run(format!("slice {slice}: {e}")))?,
        ),
        None => None,
    };
    let context = TaskContext {
        tasks,
        workdir,
        logs: &logs,
        outputs: &outputs,
        environment: environment.as_deref(),
    };
    let mut outcomes = command::run_tasks(&context, &to_run, threads, &TaskProgress::new(0, false));
    let failed_tasks = outcomes.iter().filter(|o| o.failure.is_some()).count();
    outcomes.extend(kept);
    outcomes.sort_by_key(|o| o.task);
    let part = Part::of_tasks(&expected, outcomes, started)
        .write_atomically(&run_dir.parts())
        .map_err(write_error(slice))?;
    Ok(SliceOutcome {
        part,
        failed_tasks,
        already_done: false,
    })
}
