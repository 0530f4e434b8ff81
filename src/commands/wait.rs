//! `hpcsub wait`: wait until a submitted run has left the queue, then gather it, as
//! `submit --wait` does for a run it has just submitted.

use std::path::PathBuf;

use super::gather::GatherOutcome;
use super::outcome::Global;
use super::{steps, submitted};
use crate::diagnostic::AppError;

/// Wait until every job of a submitted run has left the queue, then gather it.
#[derive(clap::Args)]
#[command(after_help = "Example:\n  hpcsub wait runs/quadratic-20261124T113500Z --json")]
pub struct Args {
    run_dir: PathBuf,
}

pub fn wait(args: &Args, global: Global) -> Result<GatherOutcome, AppError> {
    if let Some((workflow, dir)) = steps::open_workflow(&args.run_dir)? {
        return steps::wait_for_workflow(&workflow, &dir, global).map(GatherOutcome::Workflow);
    }
    let run = submitted::open(&args.run_dir, true)?;
    // Every submission's jobs: slices an earlier one queued may still be running after a
    // resubmission.
    let waited = run.manifest.job_ids();
    if waited.is_empty() {
        return Err(AppError::Run(format!(
            "{}: nothing to wait for: this run has no job recorded (it was never submitted, or \
             its submission failed before the scheduler took a job)",
            args.run_dir.display()
        )));
    }
    submitted::wait_and_gather(&run, &waited, global).map(|g| GatherOutcome::Run(Box::new(g)))
}
