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
        format!(
            "slice {} of {}: {} thread{plural}, {done}{failed} -> {}",
            self.slice, self.slices, self.threads, self.part
        )
    }
}

pub fn slice(args: &Args) -> Result<SliceDone, AppError> {
    let run = submitted::open(&args.run_dir, true)?;
    let threads = plan::threads_of_slice(args.threads, run.manifest.threads_per_slice);
    let started = Instant::now();
    let outcome = match &run.spec.work {
        Work::Compute(compute) => slice::run(&run, compute, args.index, threads, chosen_isa()?)?,
        Work::Tasks(tasks) => slice::run_tasks(&run, tasks, args.index, threads)?,
    };
    Ok(SliceDone {
        slice: args.index,
        slices: run.slices(),
        threads,
        elapsed_s: started.elapsed().as_secs_f64(),
        part: outcome.part.display().to_string(),
        failed_tasks: outcome.failed_tasks,
        already_done: outcome.already_done,
    })
}
