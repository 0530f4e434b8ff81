//! `hpcsub slice`: compute one slice of a submitted run (what each array element runs).

use std::path::PathBuf;
use std::time::Instant;

use serde::Serialize;

use super::outcome::Outcome;
use super::submitted;
use crate::diagnostic::AppError;
use crate::executor::slice;
use crate::kernel::chosen_isa;
use crate::plan;
use crate::spec::Work;

/// Compute one slice of a submitted run (what each array element runs).
#[derive(clap::Args)]
#[command(after_help = "Example:\n  hpcsub slice runs/quadratic-20261124T113500Z --index 3")]
pub struct Args {
    run_dir: PathBuf,
    /// The slice to compute, 0-based.
    #[arg(long, alias = "slice")]
    index: u32,
    /// Threads (default: SLURM_CPUS_PER_TASK, else the CPUs each slice asked for).
    #[arg(long)]
    threads: Option<usize>,
}

#[derive(Serialize)]
pub struct SliceDone {
    slice: u32,
    slices: u32,
    threads: usize,
    elapsed_s: f64,
    part: String,
    /// Task jobs: tasks of this slice that failed (the gather reports them).
    failed_tasks: usize,
    /// A valid part was there already, so nothing was computed.
    already_done: bool,
    /// The block it resumed from, if a checkpoint of an earlier start was there.
    #[serde(skip_serializing_if = "Option::is_none")]
    resumed_at_block: Option<u64>,
}

impl Outcome for SliceDone {
    fn text(&self) -> String {
        let plural = if self.threads == 1 { "" } else { "s" };
        let done = if self.already_done {
            "already done".to_string()
        } else {
            format!("{:.3} s", self.elapsed_s)
        };
        let failed = match self.failed_tasks {
            0 => String::new(),
            1 => ", 1 task failed".to_string(),
            n => format!(", {n} tasks failed"),
        };
        let resumed = self.resumed_at_block.map_or(String::new(), |b| {
            format!(", resumed from its checkpoint at block {b}")
        });
        format!(
            "slice {} of {}: {} thread{plural}, {done}{failed}{resumed} -> {}",
            self.slice, self.slices, self.threads, self.part
        )
    }
}

/// A slice stopped by a signal, its progress saved. Before a time limit (Slurm's
/// `--signal=B:USR1@...`), the array element asks to be queued again, to go on from there.
fn stopped_error(slice: u32, stopped: &slice::Stopped) -> AppError {
    let requeued = match std::env::var("SLURM_JOB_ID") {
        Ok(job) if stopped.signal == libc::SIGUSR1 => {
            let dir = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
            match crate::process::run_scheduler("scontrol", &["requeue", &job], &dir) {
                Ok(_) => format!("; Slurm job {job} was queued again to resume"),
                Err(failure) => format!(
                    "; asking Slurm to requeue it failed: {}",
                    failure.message("")
                ),
            }
        }
        _ => String::new(),
    };
    AppError::Checkpointed(format!(
        "slice {slice}: stopped by signal {} at block {} (of {}); its progress is in {}, and a \
         new start resumes from it{requeued}",
        stopped.signal,
        stopped.next_block,
        stopped.end_block,
        stopped.checkpoint.display()
    ))
}

pub fn slice(args: &Args) -> Result<SliceDone, AppError> {
    let run = submitted::open(&args.run_dir, true)?;
    let threads = plan::threads_of_slice(args.threads, run.manifest.threads_per_slice);
    let started = Instant::now();
    let outcome = match &run.spec.work {
        Work::Compute(compute) => slice::run(&run, compute, args.index, threads, chosen_isa()?)?,
        Work::Tasks(tasks) => slice::run_tasks(&run, tasks, args.index, threads)?,
    };
    if let Some(stopped) = &outcome.stopped {
        return Err(stopped_error(args.index, stopped));
    }
    Ok(SliceDone {
        resumed_at_block: outcome.resumed_at,
        slice: args.index,
        slices: run.slices(),
        threads,
        elapsed_s: started.elapsed().as_secs_f64(),
        part: outcome.part.display().to_string(),
        failed_tasks: outcome.failed_tasks,
        already_done: outcome.already_done,
    })
}
