//! One slice of a submitted run (one array element or DAG proc): compute its samples with local
//! threads, or run its command tasks, and leave the result in `parts/` for the gather.

use std::path::PathBuf;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Instant;

use crate::diagnostic::AppError;
use crate::executor::claiming::Claiming;
use crate::executor::command::{self, TaskContext};
use crate::executor::environment;
use crate::executor::local;
use crate::kernel::rng::BLOCK_SAMPLES;
use crate::kernel::{Isa, Kernel};
use crate::plan;
use crate::progress::{Progress, Show, TaskProgress};
use crate::reduce::Accumulator;
use crate::run_dir::RunDir;
use crate::run_dir::claims::{self, Assignment, Claimer};
use crate::run_dir::parts::{
    self, Checkpoint, Part, checkpoint_path, expected_compute_part, expected_task_part,
};
use crate::spec::{Balance, ComputeSpec, DEFAULT_CHECKPOINT, TasksSpec};

/// What one slice did.
pub struct SliceOutcome {
    pub part: PathBuf,
    /// Task jobs: the tasks of the slice that failed (they are in the part, for the gather).
    pub failed_tasks: usize,
    /// Whether a valid part was there already (a retried DAG node or array runs every slice
    /// again), so nothing was computed.
    pub already_done: bool,
    /// The block a checkpoint let the slice start from, if it resumed.
    pub resumed_at: Option<u64>,
    /// A signal stopped the slice: its progress is in its checkpoint.
    pub stopped: Option<Stopped>,
}

/// A compute slice stopped by a signal, its progress saved.
pub struct Stopped {
    pub signal: i32,
    pub checkpoint: PathBuf,
    /// The first block not yet computed, of the slice's `first..end`.
    pub next_block: u64,
    pub end_block: u64,
}

/// The work between two looks at the clock and at signals: long enough that starting the
/// threads (and compiling their code) is lost in it, short enough to stop well within Slurm's
/// grace time. Each segment's size comes from the speed of the one before.
const SEGMENT_SECONDS: f64 = 0.5;
/// The first segment, which measures the speed.
const FIRST_SEGMENT_BLOCKS: u64 = 64;

/// The signal that asked this slice to stop (SIGTERM from a preemption or a requeue, SIGUSR1
/// from Slurm's `--signal` before the time limit), or 0.
static STOP: AtomicI32 = AtomicI32::new(0);

extern "C" fn note_stop(signal: libc::c_int) {
    STOP.store(signal, Ordering::SeqCst);
}

/// From now on SIGTERM and SIGUSR1 ask the slice to save its progress and stop.
fn stop_on_signals() {
    for signal in [libc::SIGTERM, libc::SIGUSR1] {
        // SAFETY: the handler only stores into an atomic, which is async-signal-safe.
        unsafe {
            libc::signal(signal, note_stop as *const () as libc::sighandler_t);
        }
    }
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
    let parts_dir = run_dir.parts();
    let expected = expected_compute_part(run_dir, compute.samples, slice);
    if parts::read(&parts_dir, &expected).is_ok() {
        return Ok(SliceOutcome {
            part: parts::path(&parts_dir, slice),
            failed_tasks: 0,
            already_done: true,
            resumed_at: None,
            stopped: None,
        });
    }
    stop_on_signals();
    let histogram = run_dir.spec.reduce.histogram;
    let range = plan::slice(compute.samples, run_dir.slices(), slice);
    let kernel = Kernel::new(&run_dir.spec, compute, isa);
    let (started, mut next_block, mut acc, resumed_at) =
        match Checkpoint::read(&parts_dir, &expected, histogram) {
            Some((checkpoint, acc)) => (
                checkpoint.started,
                checkpoint.next_block,
                acc,
                Some(checkpoint.next_block),
            ),
            None => (
                parts::unix_seconds(),
                range.first_block,
                Accumulator::new(kernel.shift, histogram),
                None,
            ),
        };
    let interval = run_dir
        .spec
        .resources
        .checkpoint
        .unwrap_or(DEFAULT_CHECKPOINT);
    let mut saved = Instant::now();
    let save = |next_block: u64, acc: &Accumulator| -> Result<PathBuf, AppError> {
        Checkpoint::new(&expected, next_block, acc, started)
            .write_atomically(&parts_dir)
            .map_err(write_error(slice))?;
        Ok(checkpoint_path(&parts_dir, slice))
    };
    // Blocks in segments, merged as they come: merging is exact, so any cut gives the bits of
    // one pass.
    let mut segment_blocks = FIRST_SEGMENT_BLOCKS;
    while next_block < range.end_block {
        let end_block = (next_block + segment_blocks).min(range.end_block);
        let segment = plan::Slice {
            index: slice,
            start: next_block * BLOCK_SAMPLES,
            end: (end_block * BLOCK_SAMPLES).min(range.end),
            first_block: next_block,
            end_block,
        };
        let began = Instant::now();
        acc.merge(&local::run_slice(
            &kernel,
            histogram,
            &segment,
            threads,
            &Progress::hidden(),
        ));
        let blocks_per_second =
            (end_block - next_block) as f64 / began.elapsed().as_secs_f64().max(1e-6);
        segment_blocks = ((blocks_per_second * SEGMENT_SECONDS) as u64).max(threads as u64);
        next_block = end_block;
        let signal = STOP.load(Ordering::SeqCst);
        if next_block < range.end_block && signal != 0 {
            return Ok(SliceOutcome {
                part: parts::path(&parts_dir, slice),
                failed_tasks: 0,
                already_done: false,
                resumed_at,
                stopped: Some(Stopped {
                    signal,
                    checkpoint: save(next_block, &acc)?,
                    next_block,
                    end_block: range.end_block,
                }),
            });
        }
        if next_block < range.end_block && saved.elapsed() >= interval {
            save(next_block, &acc)?;
            saved = Instant::now();
        }
    }
    let part = Part::of_accumulator(&expected, &acc, started)
        .write_atomically(&parts_dir)
        .map_err(write_error(slice))?;
    let _ = std::fs::remove_file(checkpoint_path(&parts_dir, slice));
    Ok(SliceOutcome {
        part,
        failed_tasks: 0,
        already_done: false,
        resumed_at,
        stopped: None,
    })
}

/// Runs the command tasks of one slice: with `balance: static` every `slices`-th task, with
/// `balance: dynamic` the batches it claims as it goes ([`claiming`]). If the slice already
/// has a valid part (a resubmission), only its failed tasks run again; the others keep their
/// outcomes. A part is written even if tasks failed: the gather reports them, and `resubmit`
/// runs them again.
pub fn run_tasks(
    run_dir: &RunDir,
    tasks: &TasksSpec,
    slice: u32,
    threads: usize,
) -> Result<SliceOutcome, AppError> {
    check_slice(run_dir, slice)?;
    let started = parts::unix_seconds();
    let parts_dir = run_dir.parts();
    let expected = expected_task_part(run_dir, tasks, slice);
    let dynamic = run_dir.spec.split.balance == Balance::Dynamic;
    let claimer = if dynamic {
        Some(
            Claimer::start(&parts_dir, slice, tasks.count)
                .map_err(|e| AppError::Run(format!("slice {slice} cannot claim tasks: {e}")))?,
        )
    } else {
        None
    };
    let own = || {
        if dynamic {
            Assignment::read(&parts_dir).tasks_of(slice)
        } else {
            plan::tasks_of_slice(tasks.count, run_dir.slices(), slice)
        }
    };
    let ids = own();
    let previous = parts::read(&parts_dir, &expected).ok();
    let had_part = previous.is_some();
    let journal = parts::journal_path(&parts_dir, slice);
    let mut kept = previous.map_or_else(Vec::new, |p| p.tasks);
    let journaled = parts::journaled(&journal);
    if !journaled.is_empty() {
        eprintln!(
            "hpcsub: slice {slice}: {} tasks finished before this start; they are kept",
            journaled.len()
        );
    }
    kept.extend(journaled);
    kept.retain(|o| o.failure.is_none() && ids.binary_search(&o.task).is_ok());
    kept.sort_by_key(|o| o.task);
    kept.dedup_by_key(|o| o.task);
    let to_run: Vec<u64> = ids
        .iter()
        .copied()
        .filter(|id| kept.binary_search_by_key(id, |o| o.task).is_err())
        .collect();
    let already_done = || SliceOutcome {
        part: parts::path(&parts_dir, slice),
        failed_tasks: 0,
        already_done: true,
        resumed_at: None,
        stopped: None,
    };
    if had_part && to_run.is_empty() && !dynamic {
        return Ok(already_done());
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
    let node = command::node_name();
    let context = TaskContext {
        tasks,
        workdir,
        logs: &logs,
        outputs: &outputs,
        environment: environment.as_deref(),
        journal: Some(&journal),
        ran_by: Some((slice, &node)),
    };
    let progress = TaskProgress::new(0, Show::Never);
    let mut outcomes = match claimer {
        Some(claimer) => {
            let released = parts_dir.clone();
            // Killed tasks have no outcome: the batches are free for the other slices the
            // moment this slice is stopped, rather than once it has been silent long enough.
            command::on_interrupt(Box::new(move || {
                let _ = claims::mark(&released, slice, "released");
            }));
            let source = Claiming::new(claimer, &parts_dir, run_dir.slices(), threads, to_run);
            let outcomes = command::collected(|deliver| {
                command::run_tasks_from(&context, &source, threads, &progress, deliver)
            });
            if let Some(error) = source.error() {
                eprintln!("hpcsub: slice {slice}: stopped claiming tasks: {error}");
            }
            outcomes
        }
        None => command::run_tasks(&context, &to_run, threads, &progress),
    };
    if dynamic && had_part && outcomes.is_empty() {
        claims::mark(&parts_dir, slice, "finished").map_err(write_error(slice))?;
        return Ok(already_done());
    }
    let failed_tasks = outcomes.iter().filter(|o| o.failure.is_some()).count();
    outcomes.extend(kept);
    outcomes.sort_by_key(|o| o.task);
    outcomes.dedup_by_key(|o| o.task);
    if dynamic {
        // A batch taken over while this slice was silent is its new owner's to report.
        let owned = own();
        outcomes.retain(|o| owned.binary_search(&o.task).is_ok());
    }
    let part = Part::of_tasks(&expected, outcomes, started)
        .write_atomically(&parts_dir)
        .map_err(write_error(slice))?;
    let _ = std::fs::remove_file(&journal);
    if dynamic {
        claims::mark(&parts_dir, slice, "finished").map_err(write_error(slice))?;
    }
    Ok(SliceOutcome {
        part,
        failed_tasks,
        already_done: false,
        resumed_at: None,
        stopped: None,
    })
}
