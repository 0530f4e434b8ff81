//! One array task of a submitted run: compute one slice with local threads and leave its exact
//! accumulator in `parts/` for the gather.

use std::path::PathBuf;

use crate::diagnostic::AppError;
use crate::executor::local;
use crate::kernel::{Isa, Kernel};
use crate::plan;
use crate::progress::Progress;
use crate::reduce::part::{Expected, Part};
use crate::run_dir::RunDir;

/// Threads for a task: `--threads`, else what Slurm gave the task, else the job file's, else
/// every CPU this process may use (a task run by hand).
pub fn threads(given: Option<usize>, spec_threads: Option<usize>) -> usize {
    given
        .or_else(|| std::env::var("SLURM_CPUS_PER_TASK").ok()?.parse().ok())
        .or(spec_threads)
        .unwrap_or_else(crate::commands::available_cpus)
}

pub fn run(
    run_dir: &RunDir,
    slice_index: u32,
    threads: usize,
    isa: Isa,
) -> Result<PathBuf, AppError> {
    let spec = &run_dir.spec;
    let slices = spec.split.ranks;
    if slice_index >= slices {
        return Err(AppError::Usage(format!(
            "--slice {slice_index} is out of range: this run has slices 0 to {}",
            slices - 1
        )));
    }
    let slice = plan::slice(spec.compute.samples, slices, slice_index);
    let kernel = Kernel::new(spec, isa);
    let acc = local::run_slice(
        &kernel,
        spec.reduce.histogram,
        &slice,
        threads,
        &Progress::hidden(),
    );
    let expected = Expected {
        job_hash: &run_dir.job_hash,
        slice: slice_index,
        slices,
        start: slice.start,
        end: slice.end,
        histogram: spec.reduce.histogram,
    };
    Part::new(&expected, &acc)
        .write_atomically(&run_dir.parts())
        .map_err(|e| AppError::Run(format!("cannot write the part of slice {slice_index}: {e}")))
}
