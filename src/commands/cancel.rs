//! `hpcsub cancel`: cancel every job of a submitted run.

use std::path::PathBuf;

use serde::Serialize;

use super::outcome::Outcome;
use super::steps;
use crate::diagnostic::AppError;
use crate::run_dir::RunDir;

/// Cancel every job of a submitted run.
#[derive(clap::Args)]
#[command(after_help = "Example:\n  hpcsub cancel runs/quadratic-20261124T113500Z")]
pub struct Args {
    run_dir: PathBuf,
}

#[derive(Serialize)]
pub struct Cancelled {
    run_dir: String,
    job_ids: Vec<String>,
}

impl Outcome for Cancelled {
    fn text(&self) -> String {
        format!(
            "{}: cancelled jobs {}",
            self.run_dir,
            self.job_ids.join(", ")
        )
    }
}

pub fn cancel(args: &Args) -> Result<Cancelled, AppError> {
    let runs: Vec<RunDir> = match steps::open_workflow(&args.run_dir)? {
        Some((workflow, dir)) => workflow
            .steps
            .iter()
            .map(|step| RunDir::open(&dir.step(&step.name)))
            .collect::<Result<_, _>>()?,
        None => vec![RunDir::open(&args.run_dir)?],
    };
    let job_ids: Vec<String> = runs.iter().flat_map(|r| r.manifest.job_ids()).collect();
    if job_ids.is_empty() {
        return Err(AppError::Run(format!(
            "{}: nothing to cancel: this run has no job recorded (it was never submitted, or \
             its submission failed before the scheduler took a job)",
            args.run_dir.display()
        )));
    }
    for run in runs.iter().filter(|r| !r.manifest.job_ids().is_empty()) {
        crate::submit::backend(run.manifest.scheduler).cancel(run)?;
    }
    Ok(Cancelled {
        run_dir: args.run_dir.display().to_string(),
        job_ids,
    })
}
