//! `hpcsub gather`: reduce the parts of a submitted run into `result.json`.

use std::path::PathBuf;

use super::outcome::Global;
use super::submitted::{self, Gathered};
use crate::diagnostic::AppError;

/// Reduce the parts of a submitted run; exit 3 and list the slices that are not done, and why.
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  hpcsub gather runs/quadratic-20261124T113500Z\n  hpcsub gather runs/quadratic-20261124T113500Z --json"
)]
pub struct Args {
    run_dir: PathBuf,
}

pub fn gather(args: &Args, global: Global) -> Result<Gathered, AppError> {
    let run = submitted::open(&args.run_dir, true)?;
    let (queue, note) = submitted::queue_or_note(&run);
    if let Some(note) = note.filter(|_| !global.quiet && !global.json) {
        eprintln!("note: {note}");
    }
    submitted::gather(&run, &queue)
}
