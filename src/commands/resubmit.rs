//! `hpcsub resubmit`: submit again only the slices that failed or are missing, and a new gather.

use std::path::PathBuf;

use super::outcome::Global;
use super::submit::{Handed, Handing, hand};
use super::submitted;
use crate::diagnostic::AppError;

/// Submit again only the slices that failed or are missing (never those still queued), and a
/// new gather.
#[derive(clap::Args)]
#[command(after_help = "Example:\n  hpcsub resubmit runs/quadratic-20261124T113500Z --wait")]
pub struct Args {
    run_dir: PathBuf,
    #[command(flatten)]
    handing: Handing,
}

pub fn resubmit(args: &Args, global: Global) -> Result<Handed, AppError> {
    if !args.run_dir.is_dir() {
        return Err(AppError::Usage(format!(
            "{} is not a run directory",
            args.run_dir.display()
        )));
    }
    let _lock = crate::run_dir::lock(&args.run_dir)?;
    if let Some((workflow, dir)) = super::steps::open_workflow(&args.run_dir)? {
        return super::steps::resubmit(
            &workflow,
            &dir,
            args.handing.dry_run,
            args.handing.wait,
            global,
        )
        .map(Handed::from);
    }
    let mut run = submitted::open(&args.run_dir, false)?;
    let collected = submitted::collect(&run);
    let seen = collected.as_ref().map(|c| c.seen(&run));
    let (queue, note) = submitted::queue_or_note(&run);
    if let Some(note) = note {
        return Err(AppError::Run(format!(
            "{note}; not resubmitting, since slices still queued would run twice"
        )));
    }
    let survey = crate::submit::survey(&run, seen.as_ref(), &queue);
    let rerun = survey.to_rerun();
    if rerun.is_empty() {
        return Ok(Handed::Finished(Box::new(submitted::gather(&run, &queue)?)));
    }
    if !args.handing.dry_run {
        submitted::remove_corrupt_parts(&run, seen.as_ref())?;
    }
    hand(&mut run, rerun, &args.handing, global)
}
